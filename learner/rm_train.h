/* rm_train.h: `grpo rm-train`, the reward model of RLHF step 2: the
 * transformer with a scalar head (model.h: MODEL_HEAD_SCALAR) trained with
 * the Bradley-Terry loss (bt_loss.h) on comparison pairs (comparisons.h),
 * reporting held-out pairwise accuracy.
 *
 * A step draws batch_size pairs uniformly (with replacement, fixed by
 * (run.seed, step, row): no sampler state to save) from the training
 * pairs and runs the chosen and rejected sequences through one
 * model_forward_values of 2 x batch_size rows (chosen at row 2i, rejected
 * at 2i + 1, right-padded to the step's longest), reads each reward at its
 * sequence's last token (EOS), and backpropagates the mean loss through
 * model_backward_values. AdamW with [rm]'s schedule (update.h).
 *
 * The start: [rm] init's checkpoint (a policy: its trunk is kept and the
 * head swapped for a scalar one, w = b = 0, so every pair starts tied; a
 * reward model: continued as it is), or fresh [model] weights with a
 * scalar head. The held-out pairs: [rm] eval's file (--eval) when given,
 * else the pairs of --data whose prompt's hash falls in [rm] holdout's
 * share (task_id_is_eval(task_item_id(prompt)): a prompt's pairs are all
 * on one side, and the same prompts are held out as the JSONL task holds
 * out at the same share).
 *
 * Files in run.dir: the reward model <out> (default rm.ckpt: CONF HEAD
 * TOKN PARM + META, atomically), its resume checkpoint <out minus
 * .ckpt>.resume.ckpt (every checkpoint_every steps and on
 * SIGTERM/SIGINT/SIGUSR1; removed once <out> is written; the same command
 * continues bit-exactly), and rm_metrics.jsonl: one JSON object per step
 * (step, loss, train_acc, lr, grad_norm, tokens, elapsed_s; eval_acc on
 * evaluation steps), after {"step":0,"eval_acc":...} for the start, cut
 * back to the resumed step on resume. */
#ifndef LEARNER_RM_TRAIN_H
#define LEARNER_RM_TRAIN_H

#include "cli.h"
#include "config.h"
#include "optim.h"

/* The [rm] section (rm_settings.c). */
typedef struct {
    char data[CFG_STR_MAX];  /* training pairs (--data) */
    char eval[CFG_STR_MAX];  /* held-out pairs (--eval); "" = holdout share of data */
    float holdout;           /* share of data's prompts held out when eval is "" */
    char init[CFG_STR_MAX];  /* "" = fresh [model] weights; a policy or reward model */
    int steps, batch;        /* batch: pairs per step (2 x batch sequences) */
    OptimSettings opt;
    int eval_every;          /* held-out accuracy every N steps (0 = end only) */
    int eval_pairs;          /* ... on the first N held-out pairs (0 = all) */
    int log_every;           /* progress line every N steps */
    int checkpoint_every;    /* resume checkpoint every N steps (0 = only on a signal) */
    int max_nonfinite_steps;
} RmSettings;
extern const CfgSection rm_section;

/* What a run did, for callers that check it learned. */
typedef struct {
    double first_loss, last_loss; /* step 1's; the mean of the last min(10, steps) */
    double train_acc;             /* mean pairwise accuracy of those last steps' batches */
    double eval_acc;              /* held-out, after the last step */
    int n_train, n_eval;          /* pairs */
    long steps;
    double seconds;               /* training wall time, over resumes */
} RmReport;

/* Trains per cfg ([model], [rm], [run]) holding run.dir's lock and writes
 * the reward model to out_path. Returns 0; EXIT_USAGE when run.dir is in
 * use, [rm] data is unset, a pair file is refused (comparisons.h), a
 * split is empty, [rm] init cannot be used or the resume checkpoint is
 * refused; EXIT_REQUEUE after writing the resume checkpoint on a stop
 * signal; EXIT_RUN_DIR when a file in run.dir cannot be written;
 * EXIT_NONFINITE without writing when max_nonfinite_steps steps in a row
 * had a non-finite gradient. report may be NULL. */
int rm_train_run(Config *cfg, const char *out_path, RmReport *report);

/* `grpo rm-train --data PAIRS.jsonl [--eval PAIRS.jsonl] [--out FILE]`:
 * rm_train_run into --out or <run.dir>/rm.ckpt. */
int rm_train_command(Config *cfg, const CliArgs *a);

#endif
