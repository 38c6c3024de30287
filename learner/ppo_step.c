/* ppo_step.c: the PPO half of the learner step (ppo_step.h). The math is
 * in ppo_rewards.c, gae.c, value_loss.c and kl_controller.c; this file
 * runs the value model over the learner's batch layout and wires them in.
 *
 * Per step (grpo_step.c calls each at its phase):
 *   fresh pass     V_old(t) = value model at the position scoring o_t
 *   advantages     r_t = -beta k1_t [+ R at the last token]   (kl_mode reward;
 *                        loss: r_t = R at the last token, k3 in the loss)
 *                  A, returns = GAE(r, V_old, gamma, lam)      (V after the end = 0)
 *                  A <- (A - mean) / (std + eps) over the batch's tokens  (whiten)
 *   per minibatch  the clipped surrogate with A_t (grpo_loss.c); the value
 *                  model's forward, L_V = value_coef * token mean of
 *                  0.5 max((V - ret)^2, (V_clip - ret)^2), backward, AdamW
 *   step end       beta <- KL controller(KL per sequence)  (kl_target > 0)
 *
 * The reference log-probs and the policy's recompute (L->refp, L->cur) are
 * the fresh pass's, at the step's starting weights: k1 = logp_old -
 * logp_ref of the policy that sampled (on-policy, the actors' log-probs to
 * float precision). */
#include "ppo_step.h"

#include "learner_tokens.h"

#include <math.h>
#include <string.h>

#include "checkpoint.h"
#include "gae.h"
#include "grpo_loss.h"
#include "plan.h"
#include "update.h"
#include "util.h"

/* Whitening's guard against a tiny std (the batch's tokens all but equal). */
static const double WHITEN_EPS = 1e-8;

int ppo_value_load(const Config *cfg, const char *init_path, const Tokenizer *tok,
                   const ModelConfig *policy, Model *value, char *path, size_t cap, char *err,
                   size_t errlen) {
    ppo_value_init_path(ppo_settings(cfg), init_path, path, cap);
    Checkpoint ck;
    if (ckpt_read(&ck, path, err, errlen) != 0) return -1;
    Model m;
    Tokenizer *own = xcalloc(1, sizeof *own);
    int rc = ckpt_get_model(&ck, path, &m, own, err, errlen);
    ckpt_free(&ck);
    if (rc == 0 && (!tokenizer_same(own, tok) || m.cfg.vocab_size != policy->vocab_size)) {
        set_err(err, errlen, "[ppo] value_init %s: its tokenizer (vocab_size %d) is not the "
                "policy's (vocab_size %d): the value model must read the policy's tokens",
                path, m.cfg.vocab_size, policy->vocab_size);
        model_free(&m);
        rc = -1;
    } else if (rc == 0 && m.cfg.max_seq_len < policy->max_seq_len) {
        set_err(err, errlen, "[ppo] value_init %s: max_seq_len %d is shorter than the policy's "
                "%d: the value model must see whole sequences", path, m.cfg.max_seq_len,
                policy->max_seq_len);
        model_free(&m);
        rc = -1;
    }
    tokenizer_free(own);
    xfree(own);
    if (rc != 0) return -1;
    if (m.cfg.head == MODEL_HEAD_SCALAR) {
        *value = m; /* a reward model: its head is the starting value */
    } else {
        model_swap_head(value, &m, MODEL_HEAD_SCALAR); /* a policy: trunk + zero head */
        model_free(&m);
    }
    model_alloc_grads(value);
    return 0;
}

void ppo_attach(Learner *L, Model *value, const Config *cfg) {
    CHECK(L->gs->algo == ALGO_PPO && !L->ppo);
    CHECK(value->grads != NULL && value->cfg.head == MODEL_HEAD_SCALAR);
    CHECK(value->cfg.max_seq_len >= L->policy->cfg.max_seq_len);
    struct PpoState *p = xcalloc(1, sizeof *p);
    p->ps = ppo_settings(cfg);
    p->value = value;
    adamw_init(&p->opt, value->n_params);
    const int T = L->policy->cfg.max_seq_len;
    p->fs = forward_state_new(&value->cfg, L->max_rows, T);
    p->values = xmalloc(sizeof(float) * (size_t)L->max_rows * T);
    float **tok[] = {&p->v_old, &p->v, &p->dv, &p->rew, &p->ret, &p->adv};
    for (size_t i = 0; i < sizeof tok / sizeof *tok; i++)
        *tok[i] = xcalloc((size_t)L->max_tok > 0 ? (size_t)L->max_tok : 1, sizeof(float));
    p->beta = L->gs->beta;
    if (p->ps->kl_target > 0) {
        char err[256];
        if (kl_controller_init(&p->kc, KL_CTL_ADAPTIVE, p->beta, p->ps->kl_target,
                               p->ps->kl_horizon, err, sizeof err) != 0)
            die("[ppo] kl_target: %s", err);
        p->adaptive = 1;
    }
    L->ppo = p;
}

void ppo_detach(Learner *L) {
    struct PpoState *p = L->ppo;
    if (!p) return;
    adamw_free(&p->opt);
    forward_state_free(p->fs);
    xfree(p->values);
    xfree(p->v_old);
    xfree(p->v);
    xfree(p->dv);
    xfree(p->rew);
    xfree(p->ret);
    xfree(p->adv);
    xfree(p);
    L->ppo = NULL;
}

double ppo_beta(const Learner *L) { return L->ppo->beta; }

void ppo_chunk_values(Learner *L, int lo, int hi, float *dst) {
    struct PpoState *p = L->ppo;
    /* each row its own positions, no padding (batch_layout's n_pos) */
    model_forward_values(p->value, p->fs, L->batch.tokens, L->batch.n_pos, L->batch.B,
                         L->batch.T, p->values);
    learner_gather_tokens(L, lo, hi, p->values, dst);
}

/* The completion's terminal reward R: its reward from the wire (the
 * verifier's, mixed with any scorers: reward_mix.h). */
static float row_reward(const Learner *L, int r) {
    const int g = L->row_group[r];
    return L->sorted[g].reward[r - g * L->plan->group_size];
}

/* Rows [*r0, *r1) of minibatch k that this learner computes (its shards
 * are contiguous; with one learner, the whole minibatch; possibly none
 * when the minibatch has fewer groups than there are learners), and
 * their tokens [*t0, *t0 + *nt) in the per-token arrays. */
static void share_rows(const Learner *L, int k, int *r0, int *r1, long *t0, long *nt) {
    const Minibatch *mb = &L->mbs[k];
    const Shard *sh = &L->shards[mb->sh0];
    *r0 = sh[0].row0;
    *r1 = sh[mb->nsh - 1].row0 + sh[mb->nsh - 1].rows;
    *t0 = *r1 > *r0 ? L->tok_of[*r0] : 0;
    *nt = *r1 > *r0 ? L->tok_of[*r1 - 1] + L->len[*r1 - 1] - *t0 : 0;
}

/* Sums over the learners (no call with one). */
static void peer_sum(const Learner *L, double *v, int n) {
    if (L->peers.count > 1) L->peers.sum_doubles(L->peers.ctx, v, n);
}

void ppo_advantages(Learner *L, int M, StepMetrics *out) {
    struct PpoState *p = L->ppo;
    const PpoSettings *ps = p->ps;
    p->n_rows = L->n_sorted * L->plan->group_size;
    p->n_minibatches = M;
    memset(&p->first, 0, sizeof p->first);
    memset(&p->all, 0, sizeof p->all);
    /* the reference is scored when a KL weight is in force (uses_ref) */
    const int have_ref = p->beta > 0;
    const double beta_r = ps->kl_mode == PPO_KL_REWARD ? p->beta : 0.0;
    float *score = xmalloc(sizeof(float) * (size_t)(p->n_rows > 0 ? p->n_rows : 1));
    for (int r = 0; r < p->n_rows; r++) score[r] = row_reward(L, r);
    /* per minibatch, this learner's rows: rewards, GAE, first sums
     * (advantage, return, return - V_old, tokens, KL per sequence, rows) */
    double s1[6] = {0};
    for (int k = 0; k < M; k++) {
        int r0, r1;
        long t0, nt;
        share_rows(L, k, &r0, &r1, &t0, &nt);
        if (r1 <= r0) continue;
        PpoRewardStats rst;
        ppo_token_rewards(p->rew + t0, &rst, L->cur + t0, have_ref ? L->refp + t0 : NULL,
                          score + r0, beta_r, L->len + r0, r1 - r0);
        gae_compute(p->adv + t0, p->ret + t0, p->rew + t0, p->v_old + t0, L->len + r0, r1 - r0,
                    ps->gamma, ps->lam);
        s1[0] += whiten_sum(p->adv + t0, nt);
        s1[1] += whiten_sum(p->ret + t0, nt);
        for (long t = t0; t < t0 + nt; t++) s1[2] += (double)p->ret[t] - p->v_old[t];
        s1[3] += (double)nt;
        s1[4] += rst.kl_seq_mean * rst.n_seqs;
        s1[5] += rst.n_seqs;
    }
    xfree(score);
    peer_sum(L, s1, 6);
    const double n = s1[3] > 0 ? s1[3] : 1.0;
    const double m_adv = s1[0] / n, m_ret = s1[1] / n, m_err = s1[2] / n;
    /* second sums: squared deviations (two passes: no cancellation) */
    double s2[3] = {0};
    for (int k = 0; k < M; k++) {
        int r0, r1;
        long t0, nt;
        share_rows(L, k, &r0, &r1, &t0, &nt);
        s2[0] += whiten_sum_sq_dev(p->adv + t0, nt, m_adv);
        s2[1] += whiten_sum_sq_dev(p->ret + t0, nt, m_ret);
        for (long t = t0; t < t0 + nt; t++) {
            const double d = ((double)p->ret[t] - p->v_old[t]) - m_err;
            s2[2] += d * d;
        }
    }
    peer_sum(L, s2, 3);
    const double sd_adv = sqrt(s2[0] / n);
    out->ppo = 1;
    out->adv_mean = m_adv;
    out->adv_std = sd_adv;
    out->return_mean = m_ret;
    /* 1 - Var(R - V_old) / Var(R) (value_loss.h: explained_variance, summed
     * over the learners' shares); undefined when every return is equal */
    out->explained_variance = s2[1] > 0 ? 1.0 - s2[2] / s2[1] : NAN;
    out->kl_seq = have_ref && s1[5] > 0 ? s1[4] / s1[5] : 0;
    out->beta = p->beta;
    p->kl_seq = out->kl_seq;
    for (int k = 0; k < M; k++) {
        int r0, r1;
        long t0, nt;
        share_rows(L, k, &r0, &r1, &t0, &nt);
        if (ps->whiten) whiten_apply(p->adv + t0, nt, m_adv, sd_adv, WHITEN_EPS);
        /* each row's mean advantage: what samples.jsonl shows for it */
        for (int r = r0; r < r1; r++) {
            double a = 0;
            for (long t = L->tok_of[r]; t < L->tok_of[r] + L->len[r]; t++) a += p->adv[t];
            L->adv[r] = L->len[r] ? (float)(a / L->len[r]) : 0.0f;
        }
    }
}

void ppo_chunk_value_loss(Learner *L, const Minibatch *mb, int lo, int hi, ValueLossStats *st) {
    struct PpoState *p = L->ppo;
    ppo_chunk_values(L, lo, hi, p->v);
    memset(st, 0, sizeof *st);
    /* one call per run of rows consecutive in the per-token arrays (as
     * grpo_step.c's chunk_loss), normalised by the minibatch's tokens */
    for (int i = lo; i < hi;) {
        const int r0 = L->order[i];
        int k = 1;
        long nt = L->len[r0];
        while (i + k < hi && L->order[i + k] == r0 + k) nt += L->len[r0 + k++];
        const long t0 = L->tok_of[r0];
        ValueLossStats s;
        value_loss_compute(p->dv + t0, &s, p->v + t0, p->v_old + t0, p->ret + t0, nt, mb->ntok,
                           p->ps->value_clip, p->ps->value_coef);
        value_stats_merge(st, &s);
        i += k;
    }
    memset(p->values, 0, sizeof(float) * (size_t)L->batch.B * L->batch.T);
    learner_scatter_tokens(L, lo, hi, p->dv, p->values);
    model_backward_values(p->value, p->fs, p->values);
}

void ppo_value_update(Learner *L, long total_updates, StepMetrics *out) {
    struct PpoState *p = L->ppo;
    const LearnerPeers *q = &L->peers;
    if (q->count > 1) { /* the value model's gradient over every learner's share */
        const double t0 = now_seconds();
        q->sum_floats(q->ctx, p->value->grads, p->value->n_params);
        out->t_allreduce += now_seconds() - t0;
    }
    UpdateStats us = model_update(p->value, &p->opt, &p->ps->opt, p->opt_steps, total_updates);
    p->opt_steps += !us.skipped; /* = opt.t, as the policy's */
    out->nonfinite_skipped += us.skipped;
}

void ppo_step_end(Learner *L, StepMetrics *out) {
    struct PpoState *p = L->ppo;
    const int M = p->n_minibatches > 0 ? p->n_minibatches : 1;
    /* over every learner's share: first epoch's loss, all updates' clip */
    double v[3] = {p->first.loss, p->all.clip_frac * (double)p->all.n_tokens,
                   (double)p->all.n_tokens};
    peer_sum(L, v, 3);
    out->value_loss = v[0] / M; /* each minibatch's loss is its token mean */
    out->value_clip_frac = v[2] > 0 ? v[1] / v[2] : 0;
    if (p->adaptive) p->beta = kl_controller_update(&p->kc, p->kl_seq, p->n_rows);
}

void ppo_state_pack(const struct PpoState *p, double *out) {
    memset(out, 0, sizeof(double) * PPO_STATE_DOUBLES);
    out[0] = p->beta;
    if (p->adaptive) kl_controller_pack(&p->kc, out + 1);
}

int ppo_state_unpack(struct PpoState *p, const double *in, char *err, size_t errlen) {
    if (!isfinite(in[0]) || in[0] < 0) {
        set_err(err, errlen, "PPO state: beta = %g is not a finite number >= 0", in[0]);
        return -1;
    }
    if (p->adaptive) {
        KlController kc;
        if (kl_controller_unpack(&kc, in + 1, err, errlen) != 0) return -1;
        if (kc.beta != in[0]) {
            set_err(err, errlen, "PPO state: beta %g differs from the KL controller's %g", in[0],
                    kc.beta);
            return -1;
        }
        p->kc = kc;
    }
    p->beta = in[0];
    return 0;
}
