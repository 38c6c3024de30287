/* plan.h: what every rank of `grpo train` must agree on, learner and
 * actors alike: which ranks learn and which act (the layout), how many
 * steps, how a step's prompts split across the actors and its groups
 * across the learners, the group size, the mode (synchronous or asynchronous, and the
 * staleness bound), when weights are checksummed and the model evaluated,
 * the deadlines, the starting checkpoint, and the names of the phase
 * timers every rank reports. Its keys sit in [grpo]; the learner's own
 * [grpo] keys (the objective, the optimizer) are in learner/. */
#ifndef PROTO_PLAN_H
#define PROTO_PLAN_H

#include <stddef.h>

#include "config.h"

/* Who does what. separate: ranks 0..K-1 learn ([grpo] learners = K,
 * data-parallel: each takes a share of every step's groups and the K
 * gradients are summed), ranks K..N-1 act, and learner 0 broadcasts the
 * weights. colocated: every rank acts and then learns, in phases, with the
 * weights already in place (K = N, no weight broadcast). Rank 0 is always
 * learner 0, the lead: it collects the groups, writes the checkpoints and
 * the logs, and decides when to stop. */
typedef enum { LAYOUT_SEPARATE = 0, LAYOUT_COLOCATED = 1, LAYOUT_COUNT } Layout;
extern const char *const layout_names[];

typedef struct {
    int learners;          /* K, separate layout (colocated: every rank) */
    int layout;            /* Layout */
    int steps;             /* learner steps */
    int prompts_per_step;  /* B groups per step, split across the actors */
    int group_size;        /* G completions per prompt */
    int async;             /* 1: actors generate while the learner trains */
    int max_staleness;     /* async: oldest admissible policy lag, in versions */
    int eval_every;        /* held-out evaluation every E steps (0 = end only) */
    int checksum_every;    /* bit-identical weights on all ranks every K versions */
    float deadline_s;      /* every wait gives up (naming who) after this */
    char init[CFG_STR_MAX];/* starting checkpoint ("" = <run.dir>/sft.ckpt) */
} TrainPlan;

extern const CfgSection plan_section;
static inline const TrainPlan *train_plan(const Config *c) { return config_get(c, &plan_section); }

/* A rank's roles in a job of size ranks: its learner index (0..K-1, or -1)
 * and actor index (0..n_actors-1, or -1). */
typedef struct {
    int learner, n_learners;
    int actor, n_actors;
    int first_actor;       /* world rank of actor 0 */
} Roles;
Roles plan_roles(const TrainPlan *p, int rank, int size);

/* The prompts of every step are numbered 0..prompts_per_step-1 (the slot);
 * slot i of step s is training prompt (s - 1) * prompts_per_step + i of
 * the run, whoever samples it. Actor a of n takes slots [*lo, *hi): the
 * step split as evenly as possible, lower actors first. */
void plan_actor_slots(const TrainPlan *p, int a, int n_actors, int *lo, int *hi);
/* Groups actor rank `rank` produces per step (hi - lo of its slots); 0
 * for a rank that does not act. */
int plan_quota(const TrainPlan *p, int rank, int size);

/* Whether size ranks can run the plan (at least one learner and one actor,
 * every actor at least one prompt per step, every learner at least one
 * group; learners > 1 and colocated are synchronous only): 0, or -1 with
 * why. */
int plan_check_ranks(const TrainPlan *p, int size, char *why, size_t cap);

/* Path of the starting checkpoint: init, or <run_dir>/sft.ckpt. */
void plan_init_path(const TrainPlan *p, const char *run_dir, char *out, size_t cap);

/* 1 if the learner evaluates (and, in sync mode, the actors take part)
 * after learner step `step`. */
int plan_eval_due(const TrainPlan *p, long step);

/* Phase timers every rank reports at the end (seconds), CoMD style. */
enum { PHASE_GENERATE, PHASE_VERIFY, PHASE_SEND, PHASE_WAIT, PHASE_LEARN, PHASE_BCAST,
       PHASE_EVAL, PHASE_COUNT };
extern const char *const phase_names[PHASE_COUNT];

#endif
