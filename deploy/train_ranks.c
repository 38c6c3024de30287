#include "train_ranks.h"

#include "actor.h"
#include "learner.h"
#include "learner_peer.h"
#include "plan.h"
#include "util.h"

/* ---- rank 0 colocated: the lead's actor half --------------------------- */

typedef struct {
    const Config *cfg;
    Comm *comm;
    Actor *actor;
} LeadActor;

static void lead_open(void *ctx, Model *policy) {
    LeadActor *la = ctx;
    CoLearner co = {policy, NULL, NULL, NULL};
    la->actor = actor_open(la->cfg, la->comm, &co);
}
static int lead_quota(void *ctx) { return actor_quota(((LeadActor *)ctx)->actor); }
static void lead_rollout(void *ctx, long step, uint64_t version, Group *out) {
    actor_rollout(((LeadActor *)ctx)->actor, step, version, out);
}
static void lead_evaluate(void *ctx, uint32_t cmd, uint64_t version, EvalTally *t,
                          EvalSampleSet *keep) {
    actor_evaluate(((LeadActor *)ctx)->actor, cmd, version, t, keep);
}
static const double *lead_phases(void *ctx) { return actor_phases(((LeadActor *)ctx)->actor); }
static void lead_close(void *ctx) {
    LeadActor *la = ctx;
    actor_close(la->actor);
    la->actor = NULL;
}

/* ---- ranks > 0 colocated: the actor's learner half --------------------- */

static void peer_start(void *ctx) { learner_peer_start(ctx); }
static void peer_learn(void *ctx) { learner_peer_step(ctx); }

int train_rank(Config *cfg, Comm *comm) {
    const TrainPlan *plan = train_plan(cfg);
    const Roles ro = plan_roles(plan, comm->rank, comm->size);
    /* collective: every rank takes part, the actors get NULL */
    CommGroup *learners = comm_group_first(comm, ro.n_learners);
    int rc;
    if (comm->rank == 0) {
        LeadActor la = {cfg, comm, NULL};
        LocalActor local = {lead_open, lead_quota, lead_rollout, lead_evaluate,
                            lead_phases, lead_close, &la};
        rc = learner_run(cfg, comm, learners, ro.actor == 0 ? &local : NULL);
    } else if (ro.learner > 0 && ro.actor >= 0) {
        LearnerPeer *p = learner_peer_new(cfg, comm, learners);
        CoLearner co = {learner_peer_policy(p), peer_start, peer_learn, p};
        rc = actor_run(cfg, comm, &co);
        learner_peer_free(p);
    } else if (ro.learner > 0) {
        rc = learner_peer_run(cfg, comm, learners);
    } else {
        rc = actor_run(cfg, comm, NULL);
    }
    comm_group_free(learners);
    return rc;
}
