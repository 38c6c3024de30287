/* plan.h: what every rank of `grpo train` must agree on, learner and
 * actors alike: how many steps, how a step's prompts split across the
 * actors, the group size, the mode (synchronous or asynchronous, and the
 * staleness bound), when weights are checksummed and the model evaluated,
 * the deadlines, the starting checkpoint, and the names of the phase
 * timers every rank reports. Its keys sit in [grpo]; the learner's own
 * [grpo] keys (the objective, the optimizer) are in learner/. */
#ifndef PROTO_PLAN_H
#define PROTO_PLAN_H

#include <stddef.h>

#include "config.h"

typedef struct {
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

/* Groups actor rank `rank` (1..size-1) produces per step: the step's
 * prompts_per_step split as evenly as possible, lower ranks first. */
int plan_quota(const TrainPlan *p, int rank, int size);

/* Whether size ranks can run the plan (1 learner + at least one actor,
 * every actor at least one prompt per step): 0, or -1 with why. */
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
