/* run_state.h: training checkpoints that resume exactly.
 *
 * A training checkpoint is <run.dir>/ckpt-<step>.ckpt (checkpoint.h format)
 * holding everything the run needs to continue as if never stopped:
 *   CONF TOKN PARM  the policy
 *   ADAM            optimizer moments and step count
 *   STEP            i64 step, u64 policy version, i32 ranks of the run that
 *                   wrote it (information only: it resumes with any), u32
 *                   flags (RUN_STATE_*)
 *   ACTR            empty (RUN_STATE_KEYED). Files of older builds, whose
 *                   actors sampled from per-rank streams, held each actor's
 *                   RNG and data cursors here, 48 bytes per actor; they
 *                   still load, and the resume says it is not bit-exact
 *   RSUM            f64 demonstrator accuracy, f64 starting accuracy, f64
 *                   training seconds so far (for the final report)
 *   META            the effective config (INI text): the resume check
 * and with [grpo] algo = ppo (ppo_step.h) the value model and its state:
 *   VCNF VHED VPRM  the value model's CONF, HEAD and PARM (checkpoint.h),
 *                   under V-tags; its tokenizer is the policy's TOKN
 *   VADM            its AdamW (ADAM's layout)
 *   PPOS            PPO_STATE_DOUBLES f64: the current beta, then the
 *                   adaptive KL controller's state (zeros when fixed)
 * The reference model is identified by its path in META and reloaded, and
 * so is a reward model an actor scores with (its rm:PATH is in META's
 * [reward] scorers): both are frozen.
 *
 * Resume takes the newest checkpoint that loads, so a kill during a write
 * (which leaves only a temp file) or a corrupt newest file falls back to
 * the previous one; every other checkpoint is verified too and one that
 * does not load is moved aside to <name>.corrupt. From then on run.dir
 * holds only checkpoints that load, and the pruning after each save (the
 * newest `keep` are kept) never trades a good checkpoint for a bad one. */
#ifndef LEARNER_RUN_STATE_H
#define LEARNER_RUN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "model.h"
#include "optim.h"
#include "tokenizer.h"

/* Bytes per actor in the ACTR of older builds' checkpoints. */
enum { ACTOR_STATE_BYTES = 48 };

/* STEP flags. KEYED: every rollout's randomness is keyed by (seed, step,
 * prompt, completion) (rollout.h), so the step alone says where the actors
 * resume, with any number of them. ASYNC: written in asynchronous mode,
 * where the groups in flight (sampled with older weights) are lost and
 * resampled after the resume with the checkpoint's weights, so a resume
 * from it is not bit-exact. */
enum { RUN_STATE_ASYNC = 1u << 0, RUN_STATE_KEYED = 1u << 1 };

typedef struct {
    long step;                 /* learner steps completed */
    uint64_t version;          /* policy version of PARM */
    int n_ranks;               /* of the run that wrote it */
    uint32_t flags;            /* RUN_STATE_* */
    double demo_acc, start_acc, train_seconds;
    /* algo = ppo: the learner's value model and its state (borrowed; set
     * before writing or resuming), NULL for GRPO. Written with the
     * policy; a resume then requires and restores it. */
    struct PpoState *ppo;
} RunState;

void run_state_free(RunState *s);

/* The path of the training checkpoint of step in dir. */
void run_checkpoint_path(const char *dir, long step, char *out, size_t cap);

/* Writes ckpt-<step>.ckpt atomically into dir, then deletes older ones so
 * that the newest keep remain: the one just written always stays, and
 * files of a later step than it are left alone (they are not this run's).
 * Returns 0, or -1 with err naming the path and the reason. */
int run_checkpoint_save(const char *dir, int keep, const Model *m, const Tokenizer *tok,
                        const AdamW *opt, const RunState *s, const Config *cfg, char *err,
                        size_t errlen);

/* Writes one training checkpoint to path (atomic; no rotation). Returns 0
 * or -1 with err. */
int run_checkpoint_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                         const RunState *s, const Config *cfg, char *err, size_t errlen);

typedef enum {
    RESUME_ERROR = -2,   /* a bad checkpoint could not be moved aside (err) */
    RESUME_REFUSED = -1, /* checkpoints exist, none loads, restart = 0 (err) */
    RESUME_NONE = 0,     /* no training checkpoint in dir: a fresh start */
    RESUME_LOADED = 1,   /* one was loaded (path) */
    RESUME_RESTART = 2,  /* none loads, restart = 1: all moved aside, start over */
} ResumeResult;

/* Looks for training checkpoints in dir, newest first, and loads the first
 * that reads cleanly: params into m (shape must match), optimizer into opt
 * (initialised to m->n_params), state into s, and the saved config into
 * saved; path is set to its name. Every other checkpoint is verified; the
 * ones that do not load are reported on stderr and moved aside (*.corrupt)
 * unless none loads and restart is 0: then nothing is touched and the
 * start is refused (err says why and names [grpo] restart). */
ResumeResult run_checkpoint_resume(const char *dir, int restart, Model *m, AdamW *opt,
                                   RunState *s, Config *saved, char *path, size_t cap, char *err,
                                   size_t errlen);

/* Why a resume from s is not bit-exact, or NULL when it is. */
const char *run_state_inexact_reason(const RunState *s);

#endif
