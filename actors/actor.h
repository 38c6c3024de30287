/* actor.h: an actor rank's loop: receive weights, roll out its share of
 * each step's prompts, ship each group to the learner, evaluate a share of
 * the held-out set when asked, until told to stop. In the colocated layout
 * the same rank also learns (CoLearner). */
#ifndef ACTORS_ACTOR_H
#define ACTORS_ACTOR_H

#include <stdint.h>

#include "comm.h"
#include "config.h"
#include "eval_report.h"
#include "eval_samples.h"
#include "model.h"
#include "wire.h"

/* Colocated layout, ranks other than 0: the rank's learner half, wired in
 * by deploy/ (actors/ does not see learner/). The actor samples with
 * `model`, the policy the rank learns in place, instead of a copy of its
 * own, and no weights are ever sent to it. */
typedef struct {
    Model *model;
    void (*start)(void *ctx); /* after a start the learner did not refuse: take its state */
    void (*learn)(void *ctx); /* after this rank's groups of a step are sent: the step */
    void *ctx;
} CoLearner;

/* Runs the actor loop (co: NULL, or the rank's learner half); returns the
 * process exit status. */
int actor_run(const Config *cfg, Comm *comm, const CoLearner *co);

/* The same actor without its loop, for rank 0 of the colocated layout,
 * whose loop is the learner's: it samples with co->model (co->start and
 * co->learn are not called) and sends nothing. */
typedef struct Actor Actor;
Actor *actor_open(const Config *cfg, Comm *comm, const CoLearner *co);
void actor_close(Actor *A);
/* Groups per step: its slots of the step's prompts (plan.h). */
int actor_quota(const Actor *A);
/* Rolls out its slots of step with the model's weights of version into
 * out[0 .. quota) (the caller group_free's them). */
void actor_rollout(Actor *A, long step, uint64_t version, Group *out);
/* Evaluates its share of the held-out set (cmd WIRE_CMD_EVAL or _PASS_K)
 * with the model's weights of version: tally and samples (keep is
 * initialised here; the caller frees it). */
void actor_evaluate(Actor *A, uint32_t cmd, uint64_t version, EvalTally *t, EvalSampleSet *keep);
/* Its phase timers (PHASE_COUNT, plan.h), once, at the end. */
const double *actor_phases(Actor *A);

#endif
