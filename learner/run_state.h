/* run_state.h: training checkpoints that resume exactly.
 *
 * A training checkpoint is <run.dir>/ckpt-<step>.ckpt (checkpoint.h format)
 * holding everything the run needs to continue as if never stopped:
 *   CONF TOKN PARM  the policy
 *   ADAM            optimizer moments and step count
 *   STEP            i64 step, u64 policy version, i32 ranks, i32 reserved
 *   ACTR            every actor's sampler RNG and data cursors (wire.h 4b),
 *                   48 bytes per actor in rank order
 *   RSUM            f64 demonstrator accuracy, f64 starting accuracy, f64
 *                   training seconds so far (for the final report)
 *   META            the effective config (INI text): the resume check
 * The reference model is identified by its path in META and reloaded. The
 * last `keep` checkpoints are kept; resume takes the newest one that loads,
 * so a kill during a write (which leaves only a temp file) or a corrupt
 * newest file falls back to the previous one. */
#ifndef LEARNER_RUN_STATE_H
#define LEARNER_RUN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "model.h"
#include "optim.h"
#include "tokenizer.h"

enum { ACTOR_STATE_BYTES = 48 };

typedef struct {
    long step;                 /* learner steps completed */
    uint64_t version;          /* policy version of PARM */
    int n_ranks;
    uint8_t *actor_state;      /* (n_ranks - 1) x ACTOR_STATE_BYTES, owned */
    double demo_acc, start_acc, train_seconds;
} RunState;

void run_state_free(RunState *s);

/* Writes ckpt-<step>.ckpt atomically into dir, then deletes all but the
 * newest keep checkpoints. Dies naming the path on failure. */
void run_checkpoint_save(const char *dir, int keep, const Model *m, const Tokenizer *tok,
                         const AdamW *opt, const RunState *s, const Config *cfg);

/* Writes one training checkpoint to path (atomic; no rotation). */
void run_checkpoint_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                          const RunState *s, const Config *cfg);

/* Looks for training checkpoints in dir, newest first, and loads the first
 * that reads cleanly: params into m (shape must match), optimizer into opt
 * (initialised to m->n_params), state into s, and the saved config into
 * saved. Unreadable ones are reported on stderr and skipped. Returns 1 if
 * one was loaded (path written), 0 if there is none. */
int run_checkpoint_resume(const char *dir, Model *m, AdamW *opt, RunState *s, Config *saved,
                          char *path, size_t cap);

#endif
