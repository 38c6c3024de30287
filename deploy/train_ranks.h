/* train_ranks.h: `grpo train` on one rank: what the rank is in the layout
 * (plan.h: Roles) and the loop it runs. The colocated layout joins an
 * actor and a learner in one rank; learner/ and actors/ do not see each
 * other, so the two halves are wired together here. */
#ifndef DEPLOY_TRAIN_RANKS_H
#define DEPLOY_TRAIN_RANKS_H

#include "comm.h"
#include "config.h"

/* Runs this rank's part (after MPI_Init and the rank check); returns its
 * exit status. */
int train_rank(Config *cfg, Comm *comm);

#endif
