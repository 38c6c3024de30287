/* run_lock.h: one writer per run directory.
 *
 * `grpo train` (its learner rank) and `grpo sft` hold an exclusive flock on
 * <run.dir>/.lock for as long as they run; the file holds "pid P host H"
 * of the holder, so a second run into the same directory is refused with
 * who has it. flock, not O_EXCL: the kernel drops the lock when the holder
 * exits, however it dies, so a lock file left by a killed run never blocks
 * the next one (a SLURM requeue, say). The descriptor is close-on-exec, so
 * a child (gnuplot) never inherits the lock. */
#ifndef LEARNER_RUN_LOCK_H
#define LEARNER_RUN_LOCK_H

#include <stddef.h>

typedef struct {
    int fd; /* -1: not held */
} RunLock;

enum { RUN_LOCK_OK = 0, RUN_LOCK_BUSY = 1, RUN_LOCK_ERROR = -1 };

/* Takes the lock of dir (which must exist). Returns RUN_LOCK_OK;
 * RUN_LOCK_BUSY with err naming the holder's pid and host and the lock
 * file; or RUN_LOCK_ERROR with err (the lock file cannot be created,
 * locked or written). */
int run_lock_acquire(RunLock *l, const char *dir, char *err, size_t errlen);
/* run_lock_acquire for a command's start: 0, or the exit status to stop
 * with (EXIT_USAGE when another run holds dir, EXIT_RUN_DIR when the lock
 * cannot be taken), after printing why. */
int run_lock_take(RunLock *l, const char *dir);
/* Releases a held lock (no-op otherwise). */
void run_lock_release(RunLock *l);

#endif
