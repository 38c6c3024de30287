/* rm_resume.h: the resume checkpoint of `grpo rm-train`.
 *
 * <out minus .ckpt>.resume.ckpt (sft_resume_path's rule), written
 * atomically (checkpoint.h) every [rm] checkpoint_every steps and on
 * SIGTERM/SIGINT/SIGUSR1, removed once the reward model is written:
 *   CONF HEAD TOKN PARM  the reward model (ckpt_put_model)
 *   ADAM                 AdamW's step count and moments
 *   STEP                 i64 steps completed
 *   RMTP                 i64 non-finite steps in a row, i64 non-finite
 *                        total, f64 first loss, f64 sum of the tail
 *                        losses, f64 sum of the tail accuracies, i64 tail
 *                        count, f64 training seconds so far
 *   META                 the effective config: a resume under a config
 *                        that would train differently is refused, naming
 *                        the keys.
 * The batches are a function of (run.seed, step), so nothing else is
 * needed for the continuation to be bit-exact. The pair files are named by
 * path only: editing them between the kill and the resume is not
 * detected. */
#ifndef LEARNER_RM_RESUME_H
#define LEARNER_RM_RESUME_H

#include <stddef.h>

#include "config.h"
#include "model.h"
#include "optim.h"
#include "tokenizer.h"
#include "update.h"

typedef struct {
    long step;                /* steps completed */
    NonfiniteTally nonfinite;
    double first_loss, tail_loss, tail_acc;
    long tail_n;
    double train_seconds;
} RmProgress;

/* Writes the resume checkpoint to path (atomic). 0, or -1 with err. */
int rm_resume_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                    const RmProgress *p, const Config *cfg, char *err, size_t errlen);

/* Loads path into m (its shape, head and tokenizer must be m's and tok's),
 * opt and p if cfg trains as the saved config did. 0 when there is no
 * file, 1 when loaded (harmless differences in harmless), -1 with err
 * naming the file and the reason. */
int rm_resume_load(const char *path, Model *m, const Tokenizer *tok, AdamW *opt, RmProgress *p,
                   const Config *cfg, char *harmless, size_t harmless_len, char *err,
                   size_t errlen);

#endif
