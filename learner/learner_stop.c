/* learner_stop.c: how the learner rank saves the run and stops: its
 * checkpoints, the stop signals (SIGUSR1/SIGTERM: checkpoint and exit 75),
 * a wait that ran past the deadline (a silent actor), and a wait that a
 * stop signal interrupts because it cannot end (a rank died: mpirun sends
 * the others SIGTERM, then SIGKILL a second later). learner.c calls these
 * at its safe points; comm.h calls the last two from inside its waits. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "learner.h"
#include "learner_run.h"
#include "run_files.h"
#include "util.h"

/* The one piece of process-wide state, because a signal handler can reach
 * nothing else. (Blocking the signals and polling sigpending would need no
 * handler, but OpenBLAS starts its threads when the library loads, before
 * main could block anything, and a process-directed SIGTERM would then be
 * delivered to one of them and kill the rank.) The learner reads it once
 * per step (learner_stop_signal) into its Run, and comm.h's waits poll it. */
static volatile sig_atomic_t pending_stop;

static void on_stop_signal(int sig) { pending_stop = sig; }

void learner_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* a file-size limit (ulimit -f) then fails the write with EFBIG, which
     * is reported naming the file, instead of killing the rank unexplained */
    signal(SIGXFSZ, SIG_IGN);
}

/* The stop signal received so far, or 0. */
int learner_stop_signal(void) { return (int)pending_stop; }


/* Writes ckpt-<step>.ckpt from the run's state (R->rs.actor_state and
 * flags set by the caller); its name goes to path. Returns 0, or
 * EXIT_RUN_DIR after saying why. */
static int save_run(Run *R, char *path, size_t cap) {
    char err[900];
    R->rs.n_ranks = R->comm->size;
    R->rs.step = R->L.step;
    R->rs.version = R->version;
    R->rs.train_seconds = now_seconds() - R->t_start;
    run_checkpoint_path(R->run->dir, R->L.step, path, cap);
    R->last_saved_step = R->L.step;
    /* the metrics first: on disk, they never lag behind a checkpoint */
    int status = 0;
    if (R->metrics_ready && metrics_sync(&R->ml, err, sizeof err) != 0) {
        fprintf(stderr, "error: run directory not writable: %s\n", err);
        status = EXIT_RUN_DIR;
    }
    if (run_checkpoint_save(R->run->dir, R->gs->keep_checkpoints, &R->policy, R->tok, &R->L.opt,
                            &R->rs, R->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "error: run directory not writable: %s\n", err);
        return EXIT_RUN_DIR;
    }
    if (status) fprintf(stderr, "error: learner: wrote %s (step %ld) before stopping\n", path,
                        R->L.step);
    return status;
}

/* Writes the checkpoint of the step just completed. The actors hold no
 * state a resume needs (their rollouts are keyed by step and prompt,
 * rollout.h), so it is exact in synchronous mode; asynchronous checkpoints
 * are flagged (run_state.h: the groups in flight are lost). Returns
 * save_run's status. */
int run_save_checkpoint(Run *R) {
    R->rs.flags = R->plan->async ? RUN_STATE_ASYNC : 0;
    char path[CFG_STR_MAX + 64];
    int status = save_run(R, path, sizeof path);
    if (status == 0 && R->plan->async)
        printf("note: %s (asynchronous mode) resumes not bit-exact: the groups in flight are "
               "resampled with its weights\n", path);
    return status;
}

/* A wait ran past the deadline: say what, name the actors that no longer
 * answer, save what we can, stop every rank. */
void run_give_up(Run *R, const char *what) {
    fprintf(stderr, "error: learner: %s\n", what);
    int *silent = xcalloc((size_t)R->comm->size, sizeof(int));
    int n = comm_find_silent(silent, R->comm->size, 3.0);
    for (int i = 0; i < n; i++) {
        char msg[300] = "(before its first message)";
        if (R->intake_ready) intake_describe(&R->in, silent[i], msg, sizeof msg);
        fprintf(stderr, "error: learner: actor rank %d does not answer: %s\n", silent[i], msg);
    }
    xfree(silent);
    char path[CFG_STR_MAX + 64];
    run_checkpoint_path(R->run->dir, R->L.step, path, sizeof path);
    if (!R->intake_ready) /* setup refused or unfinished: nothing (of ours) to save */
        fprintf(stderr, "error: learner: stopping all ranks\n");
    else if (run_save_checkpoint(R) == 0)
        fprintf(stderr, "error: learner: wrote %s (step %ld); stopping all ranks\n", path,
                R->L.step);
    else
        fprintf(stderr, "error: learner: no checkpoint written; stopping all ranks\n");
    comm_abort(EXIT_SILENT);
}

static void on_comm_timeout(const char *what, void *ctx) { run_give_up(ctx, what); }

/* A stop signal came and a wait did not end within the grace: a rank has
 * died (under mpirun the others get SIGTERM, then SIGKILL a second later)
 * or cannot be reached. Save what the run has, if its state is whole (not
 * in the middle of a data-parallel update), and stop every rank. */
static void on_comm_interrupt(const char *what, void *ctx) {
    Run *R = ctx;
    fprintf(stderr, "error: learner: signal %d while waiting for %s, which does not come: a rank "
                    "is gone or stuck\n", (int)pending_stop, what);
    char path[CFG_STR_MAX + 64];
    run_checkpoint_path(R->run->dir, R->L.step, path, sizeof path);
    if (!R->intake_ready || R->L.busy)
        fprintf(stderr, "error: learner: no consistent state to save (%s); the newest checkpoint "
                "in %s is what the run has\n", R->L.busy ? "in the middle of a step" : "at setup",
                R->run->dir);
    else {
        /* the step is trained but its metrics line not yet written (that
         * comes after the publication and the evaluation): write it now,
         * so the resumed run's log has every step */
        char err[900];
        if (R->step_log) {
            StepLog *s = R->step_log;
            s->elapsed = now_seconds() - R->t_start;
            s->step_seconds = now_seconds() - R->step_t0;
            R->step_log = NULL;
            if (metrics_step(&R->ml, s, err, sizeof err) != 0 ||
                metrics_sync(&R->ml, err, sizeof err) != 0)
                fprintf(stderr, "error: run directory not writable: %s\n", err);
        }
        if (R->L.step == R->last_saved_step || run_save_checkpoint(R) == 0)
            fprintf(stderr, "error: learner: %s holds step %ld, the last one completed\n", path,
                    R->L.step);
    }
    fprintf(stderr, "error: learner: stopping all ranks with status %d\n", EXIT_REQUEUE);
    comm_abort(EXIT_REQUEUE);
}

/* Between the polls of the wait for a step's groups: the asynchronous
 * loop's reports, and a stop signal, which ends the wait (1). */
int run_wait_idle(void *ctx) {
    Run *R = ctx;
    if (R->plan->async) async_check_reports(R);
    if (!R->stop_signal) R->stop_signal = learner_stop_signal();
    return R->stop_signal != 0;
}

/* A signal came while the actors were still rolling out step: the step
 * has not started, so the checkpoint of the last completed one is what
 * the run has; write it unless it is on disk, and stop with EXIT_REQUEUE.
 * This is also what saves a run when a rank dies: mpirun then sends every
 * other rank SIGTERM, and SIGKILL a second later, while the learner waits
 * for the dead actor's groups. */
int run_stop_while_waiting(Run *R, long step) {
    char path[CFG_STR_MAX + 64];
    run_checkpoint_path(R->run->dir, R->L.step, path, sizeof path);
    int status = 0;
    if (R->L.step > R->last_saved_step || access(path, F_OK) != 0) status = run_save_checkpoint(R);
    if (status) return status;
    printf("signal %d came while the actors rolled out step %ld (that step is not taken)\n",
           R->stop_signal, step);
    printf("signal %d: checkpointed step %ld to %s; exiting with status %d so a batch script "
           "requeues the job (train resumes automatically)\n",
           R->stop_signal, R->L.step, path, EXIT_REQUEUE);
    fflush(stdout);
    return EXIT_REQUEUE;
}


void learner_watch_waits(Run *R, Comm *comm) {
    comm_set_deadline(comm, R->plan->deadline_s, on_comm_timeout, R);
    comm_set_interrupt(comm, learner_stop_signal, 0.2, on_comm_interrupt, R);
}
