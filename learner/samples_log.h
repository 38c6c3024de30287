/* samples_log.h: <run.dir>/samples.jsonl, what a user reads to see what the
 * model writes while it trains. At every held-out evaluation of a step: the
 * first group of the step's batch as the learner trained on it, one line
 * per completion, with the advantage the loss used (grpo_step.h:
 * learner_batch_group; version is the policy that sampled it):
 *   {"kind":"train","step":10,"version":9,"actor":1,"seq":36,"index":0,
 *    "prompt":"...","completion":"...","reward_total":1,
 *    "reward":{"accuracy":1,"format":1},"advantage":0.577,"tokens":57,
 *    "truncated":false}
 * then the greedy completions of the first [eval] samples held-out prompts
 * (the actors make them: eval_samples.h; version is the policy evaluated):
 *   {"kind":"eval","step":10,"version":10,"index":0,"prompt":"...",
 *    "completion":"...","correct":1,"tokens":57,
 *    "reward":{"accuracy":1,"format":1}}
 * and one console line for each. */
#ifndef LEARNER_SAMPLES_LOG_H
#define LEARNER_SAMPLES_LOG_H

#include <stdio.h>

#include "eval_samples.h"
#include "run_files.h"
#include "tokenizer.h"
#include "wire.h"

/* Appends one line per sample of set to f (each write checked, whole lines
 * only: run_files.h) with the component names comp_names[0..n_components),
 * then prints an excerpt of the first sample to console (NULL: none).
 * Returns 0, or -1 with err naming the file and the reason. */
int samples_log_write(LineFile *f, const char *const *comp_names, long step,
                      const EvalSampleSet *set, FILE *console, char *err, size_t errlen);

/* Appends one "train" line per completion of g (texts decoded with tok),
 * adv holding the G advantages the loss used, then prints the group's
 * rewards and advantages on one console line (NULL: none). Returns 0, or
 * -1 with err naming the file and the reason. */
int samples_log_write_group(LineFile *f, const char *const *comp_names, long step, const Group *g,
                            const float *adv, const Tokenizer *tok, FILE *console, char *err,
                            size_t errlen);

#endif
