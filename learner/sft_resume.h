/* sft_resume.h: the resume checkpoint that lets `grpo sft` survive a kill.
 *
 * <out>.resume.ckpt, next to the output (sft_resume_path), is written every
 * [sft] checkpoint_every steps and on SIGTERM/SIGINT/SIGUSR1, atomically
 * (checkpoint.h), and removed once the output is written. It holds what
 * makes the continuation bit-exact:
 *   CONF TOKN PARM  the model
 *   ADAM            i64 t, then n_params x f32 m, n_params x f32 v (the
 *                   layout of run_state.h's training checkpoints)
 *   STEP            i64 steps completed
 *   RNG_            the demonstrator's xoshiro state (4 x u64)
 *   SFTP            i64 non-finite steps in a row, i64 non-finite total,
 *                   f64 first loss, f64 sum of the tail losses, i64 tail
 *                   count, f64 training seconds so far (the report)
 *   META            the effective config: a resume under a config that
 *                   would train differently is refused, naming the keys.
 * A file of [sft] data is named by its path only: editing its lines between
 * the kill and the resume is not detected. */
#ifndef LEARNER_SFT_RESUME_H
#define LEARNER_SFT_RESUME_H

#include <stddef.h>

#include "config.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "tokenizer.h"
#include "update.h"

typedef struct {
    long step;                /* steps completed */
    Rng demo_rng;
    NonfiniteTally nonfinite;
    double first_loss, tail_loss;
    long tail_n;
    double train_seconds;
} SftProgress;

/* <out_path minus a trailing ".ckpt">.resume.ckpt: runs/x/sft.ckpt ->
 * runs/x/sft.resume.ckpt. */
void sft_resume_path(const char *out_path, char *buf, size_t cap);

/* Writes the resume checkpoint to path (atomic). 0, or -1 with err. */
int sft_resume_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                     const SftProgress *p, const Config *cfg, char *err, size_t errlen);

/* Loads path into m (the shape and tokenizer must be m's and tok's), opt
 * (sized for m) and p, if cfg trains exactly as the saved config did.
 * Returns 0 when there is no file, 1 when loaded (harmless config
 * differences listed in harmless, "" if none), or -1 with err naming the
 * file and the reason (unreadable, another shape, a changed run-defining
 * key: "[sft] lr: 0.002 -> 0.001"). */
int sft_resume_load(const char *path, Model *m, const Tokenizer *tok, AdamW *opt, SftProgress *p,
                    const Config *cfg, char *harmless, size_t harmless_len, char *err,
                    size_t errlen);


#endif
