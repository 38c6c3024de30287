/* learner.h: the learner rank's loop in synchronous GRPO: broadcast
 * weights, collect the step's groups from every actor (any arrival order,
 * bad messages counted and dropped), train, evaluate, log, checkpoint. */
#ifndef LEARNER_LEARNER_H
#define LEARNER_LEARNER_H

#include "comm.h"
#include "config.h"

/* Exit status of a run stopped by SIGUSR1/SIGTERM after writing its
 * checkpoint: "not finished, requeue me" (EX_TEMPFAIL). */
enum { EXIT_REQUEUE = 75 };

/* Installs the SIGUSR1/SIGTERM handlers (every rank: actors must survive
 * the signal until the learner has gathered their state and stops them). */
void learner_catch_signals(void);

/* Runs the learner (rank 0); returns the process exit status: 0 when
 * finished, EXIT_REQUEUE when stopped by a signal after a checkpoint. */
int learner_run(Config *cfg, const Comm *comm);

#endif
