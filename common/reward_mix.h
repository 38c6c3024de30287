/* reward_mix.h: the hybrid reward of a rollout, the task's verifier plus
 * the [reward] scorers (scorer.h), and the [reward] section.
 *
 *   total = verifier total + (correct ? sum_i weight_i x value_i : 0)
 *
 * The scorers only rank among correct completions. With std-normalised
 * group advantages an additive term would make an all-wrong group whose
 * lengths (or reward-model scores) differ push as hard as a group that
 * differs in correctness; gated, such a group keeps the verifier's equal
 * totals and gets no gradient, and a correct completion never falls below
 * the verifier's correct total. The *_cot tasks gate their format term the
 * same way (task_cot.h). Every scorer's value is still reported as a
 * component, for correct and wrong completions alike. */
#ifndef COMMON_REWARD_MIX_H
#define COMMON_REWARD_MIX_H

#include "config.h"
#include "scorer.h"
#include "task.h"

typedef struct {
    char scorers[CFG_STR_MAX]; /* scorer.h syntax; "" = the verifier alone */
} RewardSettings;

extern const CfgSection reward_section;
static inline const RewardSettings *reward_settings(const Config *c) {
    return config_get(c, &reward_section);
}

/* Appends each scorer's value to r, the task's verdict on completion of
 * item (task_verify_batch), as component t->n_components + i, and adds the
 * gated sum to r->total (see above). scorers may be NULL or empty; an open
 * set otherwise. */
void reward_mix_apply(const Task *t, const ScorerSet *scorers, const TaskItem *item,
                      const char *completion, const int *tokens, int n_tokens, int finished,
                      Reward *r);

/* Verifies completion of item with t, then appends each scorer's value as
 * component t->n_components + i and adds the gated sum to the total (see
 * above). tokens[0..n_tokens) is the completion as sampled; scorers may be
 * NULL or empty (the verifier's reward unchanged); an open set otherwise. */
void reward_mix_score(const Task *t, const ScorerSet *scorers, const TaskItem *item,
                      const char *completion, const int *tokens, int n_tokens, int finished,
                      Reward *out);

/* The names of the components reward_mix_score reports, the task's then
 * the scorers'; returns their count (<= REWARD_MAX_COMPONENTS). */
int reward_mix_names(const Task *t, const ScorerSet *scorers,
                     const char *names[REWARD_MAX_COMPONENTS]);

#endif
