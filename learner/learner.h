/* learner.h: the learner rank's loop in synchronous GRPO: broadcast
 * weights, collect the step's groups from every actor (any arrival order,
 * bad messages counted and dropped), train, evaluate, log, checkpoint. */
#ifndef LEARNER_LEARNER_H
#define LEARNER_LEARNER_H

#include <stdint.h>

#include "comm.h"
#include "config.h"
#include "eval_report.h"
#include "eval_samples.h"
#include "model.h"
#include "wire.h"

/* Exit statuses of grpo (learner and sft; under mpirun the job's status):
 *    0  finished
 *    1  setup error stopped by die() (a file, an allocation, a check)
 *    2  usage or config error, a run.dir in use by another run, a refused
 *       resume or restart (EXIT_USAGE)
 *    3  weights differ between ranks (EXIT_WEIGHTS)
 *    4  a rank went silent past grpo.deadline_s (EXIT_SILENT)
 *    5  grpo.max_empty_steps consecutive steps without a valid group: the
 *       actors' data is unusable (EXIT_EMPTY_STEPS)
 *    6  grpo.max_nonfinite_steps (sft.max_nonfinite_steps) steps in a row with a
 *       NaN/inf gradient (EXIT_NONFINITE, update.h: SFT shares it)
 *    7  the run directory is not writable: disk full, quota, permissions,
 *       or its lock cannot be taken (EXIT_RUN_DIR)
 *   75  stopped by SIGUSR1/SIGTERM after writing its checkpoint: "not
 *       finished, requeue me" (EX_TEMPFAIL; EXIT_REQUEUE)
 * Only 75 means "run me again": a batch script must not requeue the others. */
enum {
    EXIT_USAGE = 2,
    EXIT_WEIGHTS = 3,
    EXIT_SILENT = 4,
    EXIT_EMPTY_STEPS = 5,
    EXIT_RUN_DIR = 7,
    EXIT_REQUEUE = 75,
};

/* Installs the SIGUSR1/SIGTERM handlers, on every rank before MPI_Init (a
 * signal that comes earlier kills the rank): the learner checks at the end
 * of each step, checkpoints and stops; the actors never act on them (they
 * must survive until the learner has gathered their state and stops
 * them). Ignores SIGXFSZ (a file-size limit becomes a reported write
 * error). */
void learner_catch_signals(void);

/* Colocated layout: rank 0 acts too. Its actor half, wired in by deploy/
 * (learner/ does not see actors/): it samples with the policy the lead
 * learns, in place. */
typedef struct {
    void (*open)(void *ctx, Model *policy); /* once the policy is loaded */
    int (*quota)(void *ctx);                /* its groups per step */
    void (*rollout)(void *ctx, long step, uint64_t version, Group *out);
    void (*evaluate)(void *ctx, uint32_t cmd, uint64_t version, EvalTally *t,
                     EvalSampleSet *keep);
    const double *(*phases)(void *ctx);     /* PHASE_COUNT timers, at the end */
    void (*close)(void *ctx);
    void *ctx;
} LocalActor;

/* Runs the learner (rank 0, learner 0 of the learners' group `learners`,
 * NULL when it learns alone) holding run.dir's lock (run_lock.h); local is
 * its actor half in the colocated layout, else NULL. Returns the process
 * exit status (above). A start it refuses (run.dir in use, a refused
 * restart, an unwritable run.dir) tells the other ranks, so every rank
 * leaves cleanly with that status. */
int learner_run(Config *cfg, Comm *comm, CommGroup *learners, const LocalActor *local);

#endif
