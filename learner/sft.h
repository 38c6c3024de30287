/* sft.h: the supervised warm start: fine-tune a fresh model on the task's
 * imperfect demonstrator, or on JSON-lines demonstration files ([sft] data,
 * sft_data.h), then report held-out accuracy on the task. */
#ifndef LEARNER_SFT_H
#define LEARNER_SFT_H

#include "cli.h"
#include "config.h"
#include "eval_report.h"
#include "optim.h"

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
} SftReport;

/* sft_run, also filling *report (may be NULL). */
int sft_run_report(Config *cfg, const char *out_path, const Evaluator *eval,
                   SftReport *report);

/* `grpo sft [--out FILE] [--data FILE[:W] ...]`: sft_run into --out or
 * <run.dir>/sft.ckpt (--data is [sft] data, cli.h). */
int sft_command(Config *cfg, const CliArgs *a, const Evaluator *eval);

#endif
