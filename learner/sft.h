/* sft.h: the supervised warm start: fine-tune a fresh model on the task's
 * imperfect demonstrator, or on JSON-lines demonstration files ([sft] data,
 * sft_data.h), then report held-out accuracy on the task. */
#ifndef LEARNER_SFT_H
#define LEARNER_SFT_H

#include "batch.h"
#include "cli.h"
#include "config.h"
#include "eval_report.h"
#include "model.h"
#include "optim.h"

/* How a step's completion tokens are weighted. TOKEN: each 1/N, N the
 * completion tokens of the step (a file's mixture weight is its share of
 * the examples, so a file of 3-token answers beside 90-token traces gets
 * ~1% of the gradient). SEQUENCE: each 1/(B len_r), every example the
 * same share of the loss whatever its length (the weight is the file's
 * share of the loss). */
typedef enum { SFT_NORM_TOKEN, SFT_NORM_SEQUENCE } SftLossNorm;
extern const char *const sft_loss_norm_names[]; /* token, sequence */

/* The [sft] section (sft_settings.c). */
typedef struct {
    int steps, batch;
    OptimSettings opt;
    int eval_every;   /* held-out greedy accuracy every N steps (0 = end only) */
    int eval_prompts; /* ... on this many prompts */
    int max_nonfinite_steps; /* stop after this many non-finite steps in a row */
    char data[CFG_STR_MAX];  /* "" = the task's demonstrator, else sft_data.h's spec */
    char init[CFG_STR_MAX];  /* "" = fresh random weights, else a checkpoint to start from */
    int checkpoint_every;    /* resume checkpoint every N steps (0 = only on a signal) */
    int demos;               /* demonstrations `grpo demos` writes (sft_demos.h) */
    int micro_batches;       /* a step's rows in this many length-sorted forward passes */
    int loss_norm;           /* SftLossNorm */
} SftSettings;
extern const CfgSection sft_section;

/* Trains per cfg ([model], [task], [sft]), holding run.dir's lock
 * (run_lock.h), writes the checkpoint to out_path, prints progress and the
 * held-out evaluations (by eval: the sampler is the actors', and SFT does
 * not depend on it). With [sft] init the model is that checkpoint's: its
 * shape is recorded in cfg (model_config_adopt). A resume checkpoint next
 * to out_path (sft_resume.h) is continued from, and removed once out_path
 * is written. Returns 0; EXIT_USAGE when run.dir is in use by another run,
 * [sft] init cannot be used (unreadable, another tokenizer, a
 * contradicting [model] override) or the resume checkpoint is refused (a
 * config that trains differently, named); EXIT_REQUEUE after writing the
 * resume checkpoint on SIGTERM/SIGINT/SIGUSR1 (the step in progress
 * finishes; handlers are restored on return); EXIT_RUN_DIR when the lock
 * or a checkpoint cannot be written (learner.h); or EXIT_NONFINITE
 * (update.h) without writing the checkpoint when [sft]
 * max_nonfinite_steps steps in a row had a non-finite gradient; other
 * setup errors stop the program with a message. */
int sft_run(Config *cfg, const char *out_path, const Evaluator *eval);

/* What a run's loss did, for callers that check training worked. */
typedef struct {
    double first_loss; /* of step 1 */
    double last_loss;  /* mean of the last min(10, steps) steps */
    long steps;        /* steps taken */
    long long tokens;    /* this process: tokens of the sequences as written */
    long long positions; /* ... positions the forward passes ran, padding included */
} SftReport;

/* sft_run, also filling *report (may be NULL). */
int sft_run_report(Config *cfg, const char *out_path, const Evaluator *eval,
                   SftReport *report);

/* One step's gradient. rows holds the step's B sequences as drawn
 * (batch_add; no layout needed); they are sorted by length (k = 1 keeps
 * the drawing order) and cut into min(k, B) chunks of consecutive rows,
 * each laid out in chunk padded only to its own longest row and run
 * forward and backward on fs, every completion target (EOS included)
 * weighted by norm: 1/N, N the completion tokens of all B rows, or
 * 1/(B len_r), len_r its own row's. model_backward accumulates, so
 * m->grads gains the gradient of the step's mean completion NLL (over
 * tokens, or the mean over rows of each row's mean), the same for every
 * k up to float summation order.
 * chunk and fs must hold sft_chunk_rows(B, k) rows of rows->max_len
 * tokens, logp that many rows x max_len floats. Returns the loss (that
 * mean NLL); adds the positions computed (rows x padded length, summed
 * over chunks) to *positions. */
double sft_step_grad(Model *m, ForwardState *fs, const SeqBatch *rows, int k, SftLossNorm norm,
                     SeqBatch *chunk, float *logp, long long *positions);
/* Rows of the largest of sft_step_grad's chunks: ceil(B / min(k, B)). */
static inline int sft_chunk_rows(int B, int k) {
    if (k > B) k = B;
    return (B + k - 1) / k;
}

/* `grpo sft [--out FILE] [--data FILE[:W] ...]`: sft_run into --out or
 * <run.dir>/sft.ckpt (--data is [sft] data, cli.h). */
int sft_command(Config *cfg, const CliArgs *a, const Evaluator *eval);

#endif
