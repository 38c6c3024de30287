/* learner.h: the learner rank's loop in synchronous GRPO: broadcast
 * weights, collect the step's groups from every actor (any arrival order,
 * bad messages counted and dropped), train, evaluate, log, checkpoint. */
#ifndef LEARNER_LEARNER_H
#define LEARNER_LEARNER_H

#include "comm.h"
#include "config.h"

/* Runs the learner (rank 0); returns the process exit status. */
int learner_run(const Config *cfg, const Comm *comm);

#endif
