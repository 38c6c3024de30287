/* grpo_step.h: one learner step on a rollout batch of groups: advantages,
 * reference and recomputed log-probs, mu inner epochs over minibatches of
 * the clipped GRPO objective (grpo_loss.c) through the model's weighted
 * log-likelihood backward, AdamW. No MPI: the learner loop and one-process
 * tests share it. */
#ifndef LEARNER_GRPO_STEP_H
#define LEARNER_GRPO_STEP_H

#include "batch.h"
#include "config.h"
#include "grpo_settings.h"
#include "grpo_loss.h"
#include "model.h"
#include "optim.h"
#include "plan.h"
#include "sampling.h"
#include "task.h"
#include "sample_dist.h"
#include "update.h"
#include "wire.h"

#include "learner_state.h"

/* Sets up the learner for at most [grpo] prompts_per_step groups of
 * group_size. Borrows policy (which must have grads) and ref. */
void learner_init(Learner *L, Model *policy, const Model *ref, const Config *cfg);
void learner_free(Learner *L);

/* Makes L learner p->index of p->count data-parallel learners (copied). */
void learner_set_peers(Learner *L, const LearnerPeers *p);

/* Trains on n groups (any arrival order: they are sorted by prompt index,
 * seq_no, first, so results never depend on timing or on the actors). An update
 * whose gradient is not finite is skipped (update.h) and counted in out.
 * Returns 1 when cfg->max_nonfinite_steps steps in a row have skipped one
 * (the caller stops the run with EXIT_NONFINITE), else 0. */
int learner_step(Learner *L, const Group *groups, int n, uint64_t policy_version,
                  StepMetrics *out);

/* After learner_step: group i of its batch in batch order (by prompt
 * index) into *g, and returns the G advantages the
 * loss used for its completions (PPO: each completion's mean per-token
 * advantage). The group's arrays are the caller's (valid
 * until it frees the groups it passed); the advantages until the next step. */
const float *learner_batch_group(const Learner *L, int i, const Group **g);

#endif
