#include "learner_peer.h"

#include <string.h>

#include "checkpoint.h"
#include "plan.h"
#include "ppo_step.h"
#include "relay.h"
#include "run_settings.h"
#include "sampling.h"
#include "tokenizer.h"
#include "util.h"
#include "weights.h"
#include "weights_sync.h"

/* ---- the learners' collectives, as grpo_step.h's LearnerPeers ---------- */

static void sum_floats(void *ctx, float *buf, size_t n) { comm_group_sum_floats(ctx, buf, n); }
static void sum_doubles(void *ctx, double *buf, int n) { comm_group_sum_doubles(ctx, buf, n); }
static void max_doubles(void *ctx, double *buf, int n) { comm_group_max_doubles(ctx, buf, n); }

void learner_join(Learner *L, CommGroup *g) {
    if (!g || comm_group_size(g) == 1) return;
    LearnerPeers p = {comm_group_rank(g), comm_group_size(g), sum_floats, sum_doubles,
                      max_doubles, g};
    learner_set_peers(L, &p);
}

void learners_share_state(CommGroup *g, Learner *L, uint64_t *version) {
    if (!g || comm_group_size(g) == 1) return;
    uint64_t head[4] = {(uint64_t)L->step, (uint64_t)L->opt_steps, (uint64_t)L->opt.t, *version};
    comm_group_bcast_bytes(g, head, sizeof head);
    L->step = (long)head[0];
    L->opt_steps = (long)head[1];
    L->opt.t = (long)head[2];
    *version = head[3];
    comm_group_bcast_floats(g, L->policy->params, L->policy->n_params);
    comm_group_bcast_floats(g, L->opt.m, L->opt.n);
    comm_group_bcast_floats(g, L->opt.v, L->opt.n);
    if (L->ppo) { /* the value model, its AdamW and the KL state (ppo_step.h) */
        struct PpoState *p = L->ppo;
        uint64_t vt[2] = {(uint64_t)p->opt_steps, (uint64_t)p->opt.t};
        comm_group_bcast_bytes(g, vt, sizeof vt);
        p->opt_steps = (long)vt[0];
        p->opt.t = (long)vt[1];
        double st[PPO_STATE_DOUBLES];
        ppo_state_pack(p, st);
        comm_group_bcast_bytes(g, st, sizeof st);
        char err[300];
        if (ppo_state_unpack(p, st, err, sizeof err) != 0) die("learner 0's %s", err);
        comm_group_bcast_floats(g, p->value->params, p->value->n_params);
        comm_group_bcast_floats(g, p->opt.m, p->opt.n);
        comm_group_bcast_floats(g, p->opt.v, p->opt.n);
    }
}

/* ---- learners 1..K-1 ---------------------------------------------------- */

struct LearnerPeer {
    const Config *cfg;
    const Comm *comm;
    CommGroup *g;
    Model policy, ref;
    Model value;          /* algo = ppo: the value model; else empty */
    Tokenizer tok, ref_tok;
    Learner L;
    WireCodec *codec;
    WireLimits lim;
    Group *groups;        /* (prompts_per_step) the step's batch */
    uint64_t version;
    double phase[PHASE_COUNT];
};

LearnerPeer *learner_peer_new(const Config *cfg, const Comm *comm, CommGroup *g) {
    CHECK(g && comm_group_rank(g) > 0);
    LearnerPeer *p = xcalloc(1, sizeof *p);
    const TrainPlan *plan = train_plan(cfg);
    char init[CFG_STR_MAX + 16], refp[CFG_STR_MAX + 16];
    p->cfg = cfg;
    p->comm = comm;
    p->g = g;
    plan_init_path(plan, run_settings(cfg)->dir, init, sizeof init);
    grpo_ref_path(grpo_settings(cfg), init, refp, sizeof refp);
    ckpt_load_model_or_die(init, &p->policy, &p->tok);
    ckpt_load_model_or_die(refp, &p->ref, &p->ref_tok);
    model_alloc_grads(&p->policy);
    char err[900], vpath[CFG_STR_MAX + 16];
    if (grpo_settings(cfg)->algo == ALGO_PPO &&
        ppo_value_load(cfg, init, &p->tok, &p->policy.cfg, &p->value, vpath, sizeof vpath, err,
                       sizeof err) != 0)
        die("learner rank %d: %s", comm->rank, err);
    learner_init(&p->L, &p->policy, &p->ref, cfg);
    if (p->value.params) ppo_attach(&p->L, &p->value, cfg);
    learner_join(&p->L, g);
    p->codec = wire_codec_new(3);
    p->lim = wire_limits_for_run(p->tok.vocab_size, plan->group_size, p->policy.cfg.max_seq_len,
                                 sampling_settings(cfg)->max_new_tokens, p->tok.bos_id);
    p->groups = xcalloc((size_t)plan->prompts_per_step, sizeof(Group));
    return p;
}

void learner_peer_free(LearnerPeer *p) {
    if (!p) return;
    learner_free(&p->L);
    wire_codec_free(p->codec);
    xfree(p->groups);
    model_free(&p->policy);
    model_free(&p->ref);
    if (p->value.params) model_free(&p->value);
    tokenizer_free(&p->tok);
    tokenizer_free(&p->ref_tok);
    xfree(p);
}

Model *learner_peer_policy(LearnerPeer *p) { return &p->policy; }

void learner_peer_start(LearnerPeer *p) { learners_share_state(p->g, &p->L, &p->version); }

void learner_peer_step(LearnerPeer *p) {
    double t0 = now_seconds();
    const int n = relay_recv(p->g, p->codec, &p->lim, p->groups, train_plan(p->cfg)->prompts_per_step);
    double t1 = now_seconds();
    p->phase[PHASE_WAIT] += t1 - t0;
    /* the lead's step, with the lead's batch: the same update, or the
     * same empty step */
    if (n > 0) {
        StepMetrics m;
        learner_step(&p->L, p->groups, n, p->version, &m);
    } else {
        p->L.step++;
    }
    p->version++;
    for (int i = 0; i < n; i++) group_free(&p->groups[i]);
    p->phase[PHASE_LEARN] += now_seconds() - t1;
}

const double *learner_peer_phases(const LearnerPeer *p) { return p->phase; }

int learner_peer_run(const Config *cfg, Comm *comm, CommGroup *g) {
    LearnerPeer *p = learner_peer_new(cfg, comm, g);
    const TrainPlan *plan = train_plan(cfg);
    uint64_t start = 0;
    comm_bcast_bytes(comm, &start, sizeof start);
    if (start != WIRE_START_REFUSED) {
        learner_peer_start(p);
        float *lead = xmalloc(sizeof(float) * p->policy.n_params);
        for (;;) {
            double t0 = now_seconds();
            uint64_t v = 0;
            uint32_t cmd = control_recv(comm, lead, p->policy.n_params, &v);
            p->phase[PHASE_WAIT] += now_seconds() - t0;
            if (cmd == WIRE_CMD_STOP) break;
            if (cmd == WIRE_CMD_GENERATE) {
                learner_peer_step(p);
            } else if (cmd == WIRE_CMD_WEIGHTS) {
                /* data-parallel learners never diverge: the same sums give
                 * the same update on every learner; prove it each step */
                if (v != p->version ||
                    memcmp(lead, p->policy.params, sizeof(float) * p->policy.n_params) != 0)
                    die("learner rank %d: after step %ld its weights (version %llu) differ from "
                        "learner 0's (version %llu): the data-parallel update diverged",
                        comm->rank, p->L.step, (unsigned long long)p->version,
                        (unsigned long long)v);
                if (v % (uint64_t)plan->checksum_every == 0)
                    weights_check_all(comm, p->policy.params, p->policy.n_params, v, NULL, 0);
            }
            /* EVAL*: the actors' work */
        }
        xfree(lead);
        comm_gather_doubles(comm, p->phase, PHASE_COUNT, NULL);
    }
    learner_peer_free(p);
    return 0;
}
