/* distill.h: token-level distillation (`grpo distill`): a fresh student of
 * the [model] shape learns to match a frozen teacher checkpoint's
 * next-token distributions (the forward KL of distill_loss.h, the mean over
 * completion tokens) on the task's training prompts with completions
 * sampled from the teacher, then reports held-out accuracy on the task. */
#ifndef LEARNER_DISTILL_H
#define LEARNER_DISTILL_H

#include "cli.h"
#include "completer.h"
#include "config.h"
#include "eval_report.h"
#include "optim.h"

/* The [distill] section (distill_settings.c). */
typedef struct {
    char teacher[CFG_STR_MAX]; /* teacher checkpoint (--teacher sets it) */
    int steps, batch;
    OptimSettings opt;
    float temperature;         /* of the teacher's softmax in the KL */
    int heldout;               /* held-out teacher samples the KL is reported on */
    int eval_every;            /* held-out KL every N steps (0: start and end only) */
    int max_nonfinite_steps;
} DistillSettings;
extern const CfgSection distill_section;

/* What a run's held-out KL did, for callers that check it learned. */
typedef struct {
    double heldout_kl_first; /* before the first step */
    double heldout_kl_last;  /* after the last */
    long steps;
} DistillReport;

/* Trains per cfg ([model], [task], [sampler] for the teacher's samples,
 * [distill]) holding run.dir's lock, writes the student to out_path
 * (atomically, ckpt_write), prints progress and the held-out evaluation (by
 * eval). Samples the teacher through complete (the sampler is the actors').
 * Returns 0; EXIT_USAGE when run.dir is in use, [distill] teacher is unset
 * or does not load, or its tokenizer is not the student's; EXIT_RUN_DIR
 * when the lock or the checkpoint cannot be written; EXIT_NONFINITE
 * without writing when [distill] max_nonfinite_steps steps in a row had a
 * non-finite gradient. report may be NULL. */
int distill_run(const Config *cfg, const char *out_path, const Completer *complete,
                const Evaluator *eval, DistillReport *report);

/* Loads the teacher checkpoint at path into m (read-only: nothing is
 * written back), refusing one whose tokenizer differs from tok, the
 * student's (the KL compares distributions over one vocabulary). 0, or -1
 * with err naming the file (and both tokenizers); m is then not built. */
int distill_load_teacher(const char *path, const Tokenizer *tok, Model *m, char *err,
                         size_t errlen);

/* `grpo distill --teacher T.ckpt [--out S.ckpt]`: distill_run into --out
 * or <run.dir>/distill.ckpt. */
int distill_command(Config *cfg, const CliArgs *a, const Completer *complete,
                    const Evaluator *eval);

#endif
