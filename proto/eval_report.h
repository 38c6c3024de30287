/* eval_report.h: held-out evaluation results, as the actors that run an
 * evaluation report them and the learner that logs them reads them.
 *
 * An EvalTally holds sums, so the shares of several actors add up to the
 * tally of the whole held-out set; EvalResult holds the means a user reads.
 * On the wire (TAG_EVAL, actor -> learner) a tally is exactly
 * EVAL_REPORT_BYTES:
 *   off size  field
 *    0   4    magic      "GEVL"
 *    4   4    k          u32 samples per prompt of the sampled pass (0 = none)
 *    8   8    version    u64 policy version evaluated
 *   16   8    n_prompts  f64 prompts evaluated
 *   24   8    greedy_ok  f64 prompts answered correctly, greedy
 *   32  32    comp       4 x f64 sums of each reward component, greedy
 *                           (the verifier's: TASK_MAX_COMPONENTS; held-out
 *                           evaluation does not run the extra scorers)
 *   64   8    len        f64 sum of greedy completion lengths (tokens)
 *   72   8    sampled_ok f64 correct samples of the sampled pass
 *   80   8    passed     f64 prompts with >= 1 correct sample
 *   88   4    asked      u32 prompts asked for ([eval] prompts)
 *   92   4    whole      u32 1: the held-out set is the whole split */
#ifndef PROTO_EVAL_REPORT_H
#define PROTO_EVAL_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "task.h"
#include "tokenizer.h"

enum { EVAL_REPORT_BYTES = 96 };

typedef struct {
    int k;
    int asked, whole_split;   /* of the held-out set (task_eval_set) */
    uint64_t version;
    double n_prompts, greedy_ok, comp[TASK_MAX_COMPONENTS], len, sampled_ok, passed;
} EvalTally;

typedef struct {
    int n_prompts;     /* distinct held-out prompts evaluated (task_eval_set) */
    int asked;         /* what was asked for: n_prompts unless the split is smaller */
    int whole_split;   /* 1: the prompts were the entire held-out split */
    int k;
    double greedy_acc;                           /* fraction correct, greedy */
    double greedy_reward[TASK_MAX_COMPONENTS]; /* mean of each component, greedy */
    double greedy_format;                        /* shorthand for component 1 if any */
    double sampled_acc;                          /* mean correctness of the k samples */
    double pass_at_k;                            /* fraction with >= 1 correct of k */
    double mean_len;                             /* greedy completion tokens */
} EvalResult;

/* Evaluation as a callback, for trainers that must not depend on the
 * sampler (SFT in learner/): greedy accuracy on n_prompts held-out items,
 * or with n_prompts = 0 the configured evaluation ([eval] prompts, with
 * pass@k). */
typedef struct {
    void (*run)(const void *ctx, const Model *m, const Tokenizer *tok, const Task *t,
                int n_prompts, EvalResult *out);
    const void *ctx;
} Evaluator;

/* acc += t (k and version from t). */
void eval_tally_add(EvalTally *acc, const EvalTally *t);
/* The means of a tally over n_components reward components. */
void eval_result_from_tally(const EvalTally *t, int n_components, EvalResult *out);

void eval_report_encode(const EvalTally *t, uint8_t out[EVAL_REPORT_BYTES]);
/* 0, or -1 with err (length, magic, a negative or non-finite count). */
int eval_report_decode(const uint8_t *in, size_t len, EvalTally *t, char *err, size_t errlen);

/* Prints one summary line: "<label> held-out on 287 distinct prompts (the
 * whole held-out split; 500 asked): greedy accuracy ..., pass@k ...". */
void eval_print(const char *label, const EvalResult *r, const Task *t);

#endif
