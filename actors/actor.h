/* actor.h: an actor rank's loop: receive weights, roll out its share of
 * each step's prompts, ship each group to the learner, evaluate a share of
 * the held-out set when asked, until told to stop. */
#ifndef ACTORS_ACTOR_H
#define ACTORS_ACTOR_H

#include <stdint.h>

#include "comm.h"
#include "config.h"

/* Runs the actor loop; returns the process exit status. */
int actor_run(const Config *cfg, Comm *comm);

#endif
