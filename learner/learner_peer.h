/* learner_peer.h: learners 1..K-1 of the data-parallel learners (plan.h).
 * Each holds the same policy, reference and AdamW state as learner 0 (the
 * lead, learner.c), receives every step's batch from it (relay.h), learns
 * its share and joins the gradient sum (grpo_step.h: LearnerPeers), so its
 * weights stay bit-identical to the lead's without a broadcast. It writes
 * nothing: the lead keeps the run directory, the logs and the
 * checkpoints, which therefore hold the state of every learner. */
#ifndef LEARNER_LEARNER_PEER_H
#define LEARNER_LEARNER_PEER_H

#include <stdint.h>

#include "comm.h"
#include "config.h"
#include "grpo_step.h"
#include "model.h"

/* Makes L learner comm_group_rank(g) of the group's data-parallel
 * learners (no-op for a NULL group or a group of one). */
void learner_join(Learner *L, CommGroup *g);

/* Learner 0 sends, the others receive: L's step counts, AdamW state and
 * policy weights, and the policy version (after a resume, or a fresh
 * start), so every learner starts from the lead's state. */
void learners_share_state(CommGroup *g, Learner *L, uint64_t *version);

typedef struct LearnerPeer LearnerPeer;

/* Loads the starting and reference models and sets up the learner of this
 * rank (learner 1..K-1 of group g). */
LearnerPeer *learner_peer_new(const Config *cfg, const Comm *comm, CommGroup *g);
void learner_peer_free(LearnerPeer *p);
/* The policy it learns in place (the colocated actor samples with it). */
Model *learner_peer_policy(LearnerPeer *p);
/* After the lead's start word (a start it did not refuse): its state. */
void learner_peer_start(LearnerPeer *p);
/* One step: the lead's batch, this learner's share of it, the gradient
 * sum, the update. */
void learner_peer_step(LearnerPeer *p);
/* Seconds spent learning and waiting (PHASE_COUNT timers, plan.h). */
const double *learner_peer_phases(const LearnerPeer *p);

/* Separate layout: the whole loop of a learner-only rank: follow the
 * lead's commands (check that the weights it broadcasts equal its own,
 * learn every step), until told to stop. Returns the exit status. */
int learner_peer_run(const Config *cfg, Comm *comm, CommGroup *g);

#endif
