/* pipeline_child.h: one stage command as a child process, its output
 * both on the terminal (each line prefixed with the stage) and appended to
 * the stage's log.txt, and the stop signals the pipeline catches passed on
 * to it. The child runs in its own process group, so a Ctrl-C on the
 * terminal reaches the pipeline alone and the child gets the signal it
 * handles: SIGUSR1 for a launcher (mpirun forwards it to every rank; the
 * learner checkpoints and exits 75; mpirun itself would kill the ranks on
 * a SIGTERM, so it also runs with SIGTERM blocked, as the SLURM scripts
 * start it), SIGTERM for a direct child. */
#ifndef DEPLOY_PIPELINE_CHILD_H
#define DEPLOY_PIPELINE_CHILD_H

/* Catches SIGTERM, SIGINT and SIGUSR1 (no SA_RESTART) for the pipeline. */
void pipeline_catch_signals(void);
/* The last stop signal received, or 0. */
int pipeline_stop_signal(void);

/* Runs argv (argv[0] a path or a name found on PATH) and waits for it.
 * launcher: 1 if argv starts with the MPI launcher. Returns the exit
 * status, 128 + the signal if a signal ended it, or 127 if it could not
 * start (said on stderr); *seconds gets its wall time. */
int pipeline_child_run(char *const argv[], int launcher, const char *log_path,
                       const char *prefix, double *seconds);

#endif
