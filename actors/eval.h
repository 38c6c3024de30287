/* eval.h: held-out evaluation: greedy accuracy, sampled accuracy, pass@k
 * and mean reward per component, on eval-split prompts that no training
 * stream ever draws (task.h splits by prompt hash). Evaluation is sampling
 * plus verifying, so it lives with the sampler: in `grpo train` every
 * actor evaluates a share of the held-out set (eval_share) and reports a
 * tally (proto/eval_report.h) that the learner sums; `grpo eval` and SFT
 * evaluate the whole set in one process (evaluate). */
#ifndef ACTORS_EVAL_H
#define ACTORS_EVAL_H

#include <stdint.h>

#include "cli.h"
#include "config.h"
#include "eval_report.h"
#include "eval_samples.h"
#include "model.h"
#include "sampler.h"
#include "task.h"
#include "tokenizer.h"

/* The [eval] section. */
typedef struct {
    int prompts;  /* held-out prompts */
    int pass_k;   /* samples per prompt for pass@k */
    int samples;  /* held-out prompts whose greedy completions go to samples.jsonl */
} EvalSettings;
extern const CfgSection eval_section;
static inline const EvalSettings *eval_settings(const Config *c) {
    return config_get(c, &eval_section);
}

/* Rows of the KV cache an evaluation with k samples per prompt holds (for
 * the memory pre-flight). */
int eval_batch_rows(int k);

/* Share [*lo, *hi) of held-out items 0..n-1 that actor idx of n_actors
 * evaluates. Shares are whole evaluation batches, and each batch's
 * sampled pass draws from its own stream, so the sum of the shares is the
 * same tally whatever the number of actors. */
void eval_share(int n, int idx, int n_actors, int *lo, int *hi);

/* Evaluates items [lo, hi) of the held-out set (task.h: distinct
 * eval-split prompts; lo a multiple of the batch, as eval_share gives):
 * greedy, then k samples each (k = 0 skips the sampled pass). sc gives temperature/top-k/
 * top-p for sampling, max_new_tokens for both passes and the stop string
 * (cut before verifying); seed fixes the sampled pass. With keep not
 * NULL, the greedy completions of the items with index < n_keep in
 * [lo, hi) are added to it (eval_samples.h). */
void eval_tally(const Model *m, const Tokenizer *tok, const Task *t, const TaskEvalSet *set,
                const SamplerConfig *sc, int lo, int hi, int k, uint64_t seed, int n_keep,
                EvalSampleSet *keep, EvalTally *out);

/* The whole held-out set for n_prompts prompts in this process (the whole
 * split if it is smaller; the number used is out->n_prompts). Dies naming
 * the task if the split is empty, or the file and line of a prompt tok
 * cannot encode. */
void evaluate(const Model *m, const Tokenizer *tok, const Task *t, const SamplerConfig *sc,
              int n_prompts, int k, uint64_t seed, EvalResult *out);

/* An Evaluator that calls evaluate() with cfg's sampler settings and seed. */
Evaluator local_evaluator(const Config *cfg);

/* `grpo eval --checkpoint FILE`: the configured evaluation of a
 * checkpoint. `grpo sample --checkpoint FILE --prompt TEXT [-n N]`: N
 * completions with their log-probs. (eval_command.c) */
int eval_command(Config *cfg, const CliArgs *a);
int sample_command(Config *cfg, const CliArgs *a);

#endif
