/* actor.h: an actor rank's loop in synchronous GRPO: receive weights,
 * roll out its share of the step's prompts, ship each group to the
 * learner, repeat until told to stop. */
#ifndef ACTORS_ACTOR_H
#define ACTORS_ACTOR_H

#include <stdint.h>

#include "comm.h"
#include "config.h"

/* Phase timers every rank reports at the end (seconds), CoMD style. */
enum { PHASE_GENERATE, PHASE_VERIFY, PHASE_SEND, PHASE_WAIT, PHASE_LEARN, PHASE_BCAST,
       PHASE_EVAL, PHASE_COUNT };
extern const char *const phase_names[PHASE_COUNT];

/* Groups actor rank `rank` (1..size-1) produces per step: the step's
 * prompts_per_step split as evenly as possible, lower ranks first. */
int actor_quota(const Config *cfg, int rank, int size);

/* The learner's first broadcast (a u64) is the byte count of the actors'
 * saved state that follows (0: a fresh run), or ACTOR_START_REFUSED: the
 * learner refused to start (its message says why) and the actors leave. */
#define ACTOR_START_REFUSED UINT64_MAX

/* Runs the actor loop; returns the process exit status. */
int actor_run(const Config *cfg, const Comm *comm);

#endif
