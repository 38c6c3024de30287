/* trainer_run.h: the life of a one-process trainer (sft, rm-train) in its
 * run.dir: the lock, the stop signals (a stop is a resume checkpoint after
 * the step in progress, never a kill with nothing saved), its tokenizer,
 * and what it says about its resume checkpoint. */
#ifndef LEARNER_TRAINER_RUN_H
#define LEARNER_TRAINER_RUN_H

#include "run_lock.h"
#include "stop_signals.h"
#include "tokenizer.h"

typedef struct {
    RunLock lock;
    StopSignals old_sig; /* the handlers caught over, back at trainer_end */
} TrainerRun;

/* Takes run_dir's lock (its exit status if another run holds it), then
 * catches the stop signals, ignores SIGXFSZ (a file-size limit is then a
 * reported EFBIG, not a silent kill) and deletes the temp files writes
 * killed mid-way left in run_dir; 0. */
int trainer_begin(TrainerRun *t, const char *run_dir);
/* Puts the old signal handlers back and releases the lock. */
void trainer_end(TrainerRun *t);

/* The tokenizer of the init checkpoint (an imported BPE one too), or with
 * no init or one that cannot be read (model_start then says why) the
 * character tokenizer; malloc'd (tokenizer_free, then xfree). */
Tokenizer *trainer_tokenizer(const char *init);

/* Reports a *_resume_load's outcome (who: "sft"): on resumed < 0 the error
 * and EXIT_USAGE; otherwise 0, having said where it resumed and the
 * harmless config changes. */
int trainer_resumed(const char *who, int resumed, const char *path, long step,
                    const char *harmless, const char *err);

/* After a stop signal wrote path at step: says so and gives EXIT_REQUEUE,
 * the status a batch script requeues the job on. */
int trainer_requeue(const char *who, const char *path, long step);

/* The result is on disk: deletes the resume checkpoint at path (a warning
 * if it cannot). */
void trainer_drop_resume(const char *path);

#endif
