/* scorer.h: reward scorers beside the task's verifier, for R1's final RL
 * stage (the verifier plus a learned reward model). A scorer maps one
 * completion to a value in [0, 1]; a ScorerSet is the `[reward] scorers`
 * list, each scorer with its weight. How the values enter the reward is
 * reward_mix.h's business, not a scorer's.
 *
 * Two steps, so that a rank that only needs the component names (the
 * learner, for its metrics) never loads what a scorer needs to score (the
 * reward model's weights): scorer_set_parse reads the list; the ranks that
 * score call scorer_set_open, which gives each scorer its state.
 *
 * The list is comma separated entries NAME:WEIGHT, or NAME:ARG:WEIGHT for
 * a kind that takes an argument (the weight is after the last ':', so ARG
 * may hold ':'). Kinds (scorer.c):
 *   length          brevity, 1 - completion tokens / [sampler] max_new_tokens
 *   rm:PATH         a reward model (reward_model.h: a scalar-head checkpoint
 *                   trained from comparisons) loaded once from PATH by each
 *                   rank that scores; the value is sigmoid(raw reward) of
 *                   BOS + prompt + completion + EOS: the contract is [0, 1],
 *                   and a Bradley-Terry model's raw reward is a logit
 *                   (sigmoid(r) = P(win against a raw reward of 0)). A
 *                   policy checkpoint at PATH is refused at open.
 *
 * ScoreFn is called once per completion (reward_mix_apply, from the
 * rollout's loop); there is no batch hook: the reward model runs one
 * forward per pair for its determinism (reward_model_score), so a batch
 * would save only the calls. */
#ifndef COMMON_SCORER_H
#define COMMON_SCORER_H

#include <stddef.h>

#include "config.h"
#include "task.h"

enum {
    /* the verifier's components plus the scorers' must fit one Reward */
    SCORER_MAX = REWARD_MAX_COMPONENTS - TASK_MAX_COMPONENTS,
    SCORER_NAME_MAX = 16,
    SCORER_ARG_MAX = CFG_STR_MAX,
};

/* One completion's value in [0, 1]. ctx: the scorer's state from open;
 * prompt and completion: the texts the verifier reads (the completion up
 * to the stop string, without EOS); tokens[0..n_tokens): the completion as
 * sampled (EOS included when the model emitted it); finished: 1 if the
 * model stopped by itself, 0 if cut at the length limit. */
typedef float (*ScoreFn)(void *ctx, const char *prompt, const char *completion, const int *tokens,
                         int n_tokens, int finished);

typedef struct ScorerKind ScorerKind; /* scorer.c: open, score, close of a kind */

typedef struct {
    char name[SCORER_NAME_MAX]; /* the reward component's name: "length" */
    char arg[SCORER_ARG_MAX];   /* the kind's argument ("" for none) */
    float weight;               /* finite, >= 0; 0 reports the value without training on it */
    ScoreFn score;
    void *ctx;                  /* NULL until scorer_set_open */
    const ScorerKind *kind;
} Scorer;

typedef struct {
    int n;
    int opened;
    Scorer s[SCORER_MAX];
} ScorerSet;

/* Parses list (the value of [reward] scorers; "" is the empty set) into
 * out, without opening anything. 0, or -1 with err naming the key and the
 * entry at fault: an unknown name, a missing or non-numeric, infinite or
 * negative weight, an argument a kind does not take or lacks, a name
 * listed twice, more than SCORER_MAX entries. PATH of rm:PATH is not read
 * here (the learner parses the list but never loads the model). */
int scorer_set_parse(const char *list, ScorerSet *out, char *err, size_t errlen);

/* Gives every scorer of set its state, reading what it needs from cfg
 * (length: [sampler] max_new_tokens; rm: the checkpoint at PATH). 0, or -1
 * with err naming the scorer (rm: the file and what is wrong); then
 * nothing is left open. */
int scorer_set_open(ScorerSet *set, const Config *cfg, char *err, size_t errlen);
/* Frees what scorer_set_open made; the set keeps its names and weights. */
void scorer_set_close(ScorerSet *set);

/* Scorer i's value of one completion (arguments as ScoreFn). Dies naming
 * the scorer if the set is not open or the value is not in [0, 1]: a
 * scorer that breaks its contract must not turn into a reward. */
float scorer_value(const ScorerSet *set, int i, const char *prompt, const char *completion,
                   const int *tokens, int n_tokens, int finished);

#endif
