/* eval.h: held-out evaluation: greedy accuracy, sampled accuracy, pass@k
 * and mean reward per component, on eval-split prompts that no training
 * stream ever draws (task.h splits by prompt hash). */
#ifndef LEARNER_EVAL_H
#define LEARNER_EVAL_H

#include "model.h"
#include "sampler.h"
#include "task.h"
#include "tokenizer.h"

typedef struct {
    int n_prompts;     /* distinct held-out prompts evaluated (task_eval_set) */
    int asked;         /* what the caller asked for: n_prompts unless the split is smaller */
    int whole_split;   /* 1: the prompts were the entire held-out split */
    int k;
    double greedy_acc;                           /* fraction correct, greedy */
    double greedy_reward[REWARD_MAX_COMPONENTS]; /* mean of each component, greedy */
    double greedy_format;                        /* shorthand for component 1 if any */
    double sampled_acc;                          /* mean correctness of the k samples */
    double pass_at_k;                            /* fraction with >= 1 correct of k */
    double mean_len;                             /* greedy completion tokens */
} EvalResult;

/* Evaluates m on the held-out set of t for n_prompts prompts (task.h:
 * distinct eval-split prompts, the whole split if it is smaller; the
 * number used is out->n_prompts). k = 0 skips the sampled pass. sc gives
 * temperature/top-k/top-p for sampling, max_new_tokens for both passes and
 * the stop string (cut before verifying); seed fixes the sampled pass.
 * Dies naming the task if the split is empty, or the file and line of a
 * prompt tok cannot encode. */
void evaluate(const Model *m, const Tokenizer *tok, const Task *t, const SamplerConfig *sc,
              int n_prompts, int k, uint64_t seed, EvalResult *out);

/* Prints one summary line: "<label> held-out on 287 distinct prompts (the
 * whole held-out split; 500 asked): greedy accuracy ..., pass@k ...". */
void eval_print(const char *label, const EvalResult *r, const Task *t);


#endif
