/* grpo_step.c: the learner's update on one rollout batch (see grpo_step.h).
 *
 * Order of work, per step:
 *   1. sort groups by (actor rank, sequence number): arrival order never
 *      changes the result, so runs are bit-reproducible;
 *   2. group advantages (grpo_loss.c: group_advantages);
 *   3. fresh-data pass, per minibatch: reference log-probs (if beta > 0) and
 *      the policy's recomputed log-probs, compared with what the actors
 *      shipped (the |logp_learner - logp_actor| health metric);
 *   4. mu inner epochs x minibatches: forward, J and w = dJ/dlogp per token
 *      (grpo_loss_compute), model_backward(w), AdamW. The ratio is always
 *      against the actors' shipped log-probs: the behaviour policy. */
#include "grpo_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "update.h"
#include "util.h"

void learner_init(Learner *L, Model *policy, const Model *ref, const Config *cfg) {
    memset(L, 0, sizeof *L);
    L->policy = policy;
    L->ref = ref;
    L->plan = train_plan(cfg);
    L->gs = grpo_settings(cfg);
    L->ss = sampling_settings(cfg);
    const TrainPlan *plan = L->plan;
    CHECK(policy->grads != NULL);
    adamw_init(&L->opt, policy->n_params);
    int T = policy->cfg.max_seq_len;
    L->max_rows = plan->prompts_per_step * plan->group_size;
    L->max_tok = L->max_rows * L->ss->max_new_tokens;
    L->fs = forward_state_new(&policy->cfg, L->max_rows, T);
    batch_init(&L->batch, L->max_rows, T);
    L->logp = xmalloc(sizeof(float) * (size_t)L->max_rows * T);
    L->entropy = xmalloc(sizeof(float) * (size_t)L->max_rows * T);
    L->cur = xmalloc(sizeof(float) * (size_t)L->max_tok);
    L->old = xmalloc(sizeof(float) * (size_t)L->max_tok);
    L->refp = xmalloc(sizeof(float) * (size_t)L->max_tok);
    L->w = xmalloc(sizeof(float) * (size_t)L->max_tok);
    L->prox = xmalloc(sizeof(float) * (size_t)L->max_tok);
    L->isw = xmalloc(sizeof(float) * (size_t)L->max_tok);
    L->adv = xmalloc(sizeof(float) * (size_t)L->max_rows);
    L->len = xmalloc(sizeof(int) * (size_t)L->max_rows);
    L->sorted = xmalloc(sizeof(Group) * (size_t)plan->prompts_per_step);
}

void learner_free(Learner *L) {
    adamw_free(&L->opt);
    forward_state_free(L->fs);
    batch_free(&L->batch);
    xfree(L->logp);
    xfree(L->entropy);
    xfree(L->cur);
    xfree(L->old);
    xfree(L->refp);
    xfree(L->w);
    xfree(L->prox);
    xfree(L->isw);
    xfree(L->adv);
    xfree(L->len);
    xfree(L->sorted);
    memset(L, 0, sizeof *L);
}

static int group_order(const void *a, const void *b) {
    const Group *x = a, *y = b;
    if (x->actor_rank != y->actor_rank) return x->actor_rank < y->actor_rank ? -1 : 1;
    if (x->seq_no != y->seq_no) return x->seq_no < y->seq_no ? -1 : 1;
    return 0;
}

/* A minibatch: groups [g0, g1), rows [row0, row0 + rows), tokens from tok0. */
typedef struct {
    int g0, g1, row0, rows;
    long tok0, ntok;
} Minibatch;

/* Lays the minibatch's sequences into L->batch. */
static void build_batch(Learner *L, const Minibatch *mb) {
    batch_clear(&L->batch);
    for (int i = mb->g0; i < mb->g1; i++) {
        const Group *g = &L->sorted[i];
        int64_t off = 0;
        for (int k = 0; k < g->G; k++) {
            batch_add(&L->batch, g->prompt, g->prompt_len, g->tokens + off, g->completion_len[k]);
            off += g->completion_len[k];
        }
    }
    batch_layout(&L->batch);
}

/* Copies per-position values (B, T) of the batch to per-token dst. */
static void gather_tokens(const Learner *L, const Minibatch *mb, const float *src, float *dst) {
    long t = mb->tok0;
    for (int r = 0; r < mb->rows; r++)
        for (int j = 0; j < L->len[mb->row0 + r]; j++) dst[t++] = src[batch_index(&L->batch, r, j)];
}

/* Forward of model over the current batch; logp into L->logp. */
static void forward(Learner *L, const Model *m, float *entropy) {
    float temp = L->ss->temperature > 0 ? L->ss->temperature : 1.0f;
    model_forward(m, L->fs, L->batch.tokens, L->batch.targets, L->batch.B, L->batch.T, temp, L->logp,
                  entropy);
}

void learner_step(Learner *L, const Group *groups, int n, uint64_t policy_version,
                  StepMetrics *out) {
    memset(out, 0, sizeof *out);
    CHECK(n >= 1 && n <= L->plan->prompts_per_step);
    memcpy(L->sorted, groups, sizeof(Group) * (size_t)n);
    qsort(L->sorted, (size_t)n, sizeof(Group), group_order);

    /* rows, old log-probs, advantages, reward statistics */
    int rows = 0, nc = L->sorted[0].n_components;
    long ntok = 0;
    double rsum = 0, rsq = 0, csum[REWARD_MAX_COMPONENTS] = {0}, csq[REWARD_MAX_COMPONENTS] = {0};
    int zero_var = 0, truncated = 0;
    float adv[4096];
    for (int i = 0; i < n; i++) {
        const Group *g = &L->sorted[i];
        CHECK(g->G == L->plan->group_size && g->G <= 4096 && g->n_components == nc);
        zero_var += group_advantages(g->reward, g->G, (PgAlgo)L->gs->algo, (AdvStd)L->gs->adv_std,
                                     L->gs->adv_eps, adv);
        int64_t off = 0;
        for (int k = 0; k < g->G; k++) {
            int len = g->completion_len[k];
            CHECK(ntok + len <= L->max_tok);
            L->len[rows] = len;
            L->adv[rows] = adv[k];
            memcpy(L->old + ntok, g->old_logprobs + off, sizeof(float) * (size_t)len);
            off += len;
            ntok += len;
            rows++;
            rsum += g->reward[k];
            rsq += (double)g->reward[k] * g->reward[k];
            for (int q = 0; q < nc; q++) {
                double v = g->reward_comp[k * nc + q];
                csum[q] += v;
                csq[q] += v * v;
            }
            if (len > out->len_max) out->len_max = len;
            truncated += g->finish[k] == WIRE_FINISH_LENGTH;
        }
        double stale = (double)(policy_version - g->policy_version);
        out->staleness_mean += stale / n;
        if ((int)stale > out->staleness_max) out->staleness_max = (int)stale;
        out->staleness_hist[stale < 7 ? (int)stale : 7]++;
    }
    out->n_groups = n;
    out->n_completions = rows;
    out->n_components = nc;
    out->reward_mean = rsum / rows;
    out->reward_std = sqrt(fmax(0, rsq / rows - out->reward_mean * out->reward_mean));
    for (int q = 0; q < nc; q++) {
        out->comp_mean[q] = csum[q] / rows;
        out->comp_std[q] = sqrt(fmax(0, csq[q] / rows - out->comp_mean[q] * out->comp_mean[q]));
    }
    out->accuracy = nc > 0 ? out->comp_mean[0] : 0;
    out->zero_var_frac = (double)zero_var / n;
    out->len_mean = (double)ntok / rows;
    out->truncated_frac = (double)truncated / rows;
    out->tokens = ntok;

    /* minibatches: contiguous runs of whole groups */
    int M = L->gs->minibatches < n ? L->gs->minibatches : n;
    Minibatch mbs[M];
    for (int k = 0, row = 0; k < M; k++) {
        Minibatch *mb = &mbs[k];
        mb->g0 = k * n / M;
        mb->g1 = (k + 1) * n / M;
        mb->row0 = row;
        mb->rows = 0;
        for (int i = mb->g0; i < mb->g1; i++) mb->rows += L->sorted[i].G;
        row += mb->rows;
        mb->tok0 = 0;
        for (int r = 0; r < mb->row0; r++) mb->tok0 += L->len[r];
        mb->ntok = 0;
        for (int r = mb->row0; r < mb->row0 + mb->rows; r++) mb->ntok += L->len[r];
    }

    GrpoLossConfig gl = grpo_loss_config_defaults();
    gl.algo = (PgAlgo)L->gs->algo;
    gl.eps_low = L->gs->eps_low;
    gl.eps_high = L->gs->eps_high;
    gl.beta = L->gs->beta;
    gl.norm = (LossNorm)L->gs->loss_norm;
    gl.max_new_tokens = L->ss->max_new_tokens;
    int use_ref = L->gs->beta > 0;

    /* fresh-data pass: reference, recomputed log-probs, entropy */
    double t0 = now_seconds(), ent_sum = 0, diff_sum = 0, diff_max = 0;
    for (int k = 0; k < M; k++) {
        build_batch(L, &mbs[k]);
        if (use_ref) {
            forward(L, L->ref, NULL);
            gather_tokens(L, &mbs[k], L->logp, L->refp);
        }
        forward(L, L->policy, L->entropy);
        gather_tokens(L, &mbs[k], L->logp, L->cur);
        gather_tokens(L, &mbs[k], L->entropy, L->w); /* w as scratch */
        for (long t = mbs[k].tok0; t < mbs[k].tok0 + mbs[k].ntok; t++) {
            double d = fabs((double)L->cur[t] - L->old[t]);
            diff_sum += d;
            if (d > diff_max) diff_max = d;
            ent_sum += L->w[t];
        }
        out->learner_tokens += (long)L->batch.B * L->batch.T * (use_ref ? 2 : 1);
    }
    /* importance ratios of the shipped tokens; with tis_cap the learner's
     * recompute becomes the proximal policy and the ratio, truncated,
     * weights each token (grpo_loss.h: is_weight) */
    double is_sum = 0, is_min = INFINITY, is_max = 0;
    long n_trunc = 0;
    for (long t = 0; t < ntok; t++) {
        double r = exp((double)L->cur[t] - L->old[t]);
        is_sum += r;
        if (r < is_min) is_min = r;
        if (r > is_max) is_max = r;
        if (L->gs->tis_cap > 0) {
            L->prox[t] = L->cur[t];
            L->isw[t] = (float)(r < L->gs->tis_cap ? r : L->gs->tis_cap);
            n_trunc += r > L->gs->tis_cap;
        }
    }
    out->is_mean = ntok ? is_sum / ntok : 1;
    out->is_min = ntok ? is_min : 1;
    out->is_max = ntok ? is_max : 1;
    out->is_truncated_frac = ntok ? (double)n_trunc / ntok : 0;
    const float *logp_old = L->gs->tis_cap > 0 ? L->prox : L->old;
    if (L->gs->tis_cap > 0) gl.is_weight = L->isw;
    out->logp_diff_max = diff_max;
    out->logp_diff_mean = ntok ? diff_sum / ntok : 0;
    out->entropy = ntok ? ent_sum / ntok : 0;
    out->t_forward += now_seconds() - t0;

    /* mu inner epochs over the minibatches */
    long total_updates = (long)L->plan->steps * L->gs->inner_epochs * M;
    GrpoLossStats all = {0}, first = {0};
    for (int e = 0; e < L->gs->inner_epochs; e++) {
        for (int k = 0; k < M; k++) {
            const Minibatch *mb = &mbs[k];
            if (!(e == 0 && M == 1)) { /* with one minibatch the fresh pass is this forward */
                t0 = now_seconds();
                build_batch(L, mb);
                forward(L, L->policy, NULL);
                gather_tokens(L, mb, L->logp, L->cur);
                out->t_forward += now_seconds() - t0;
                out->learner_tokens += (long)L->batch.B * L->batch.T;
            }
            GrpoLossStats st;
            GrpoLossConfig glm = gl;
            if (glm.is_weight) glm.is_weight += mb->tok0;
            grpo_loss_compute(L->w + mb->tok0, &st, &glm, L->cur + mb->tok0, logp_old + mb->tok0,
                              use_ref ? L->refp + mb->tok0 : NULL, L->adv + mb->row0,
                              L->len + mb->row0, mb->rows);
            grpo_stats_merge(&all, &st);
            if (e == 0) grpo_stats_merge(&first, &st);
            long t = mb->tok0;
            for (int r = 0; r < mb->rows; r++)
                for (int j = 0; j < L->len[mb->row0 + r]; j++)
                    L->batch.weights[batch_index(&L->batch, r, j)] = L->w[t++];
            t0 = now_seconds();
            model_backward(L->policy, L->fs, L->batch.weights);
            double t1 = now_seconds();
            UpdateStats us = model_update(L->policy, &L->opt, &L->gs->opt, L->opt_steps++,
                                          total_updates);
            out->t_backward += t1 - t0;
            out->t_optim += now_seconds() - t1;
            out->grad_norm = us.grad_norm;
            out->lr = us.lr;
        }
    }
    out->kl = first.kl_mean;
    out->objective = first.objective;
    out->clip_low = all.clip_frac_low;
    out->clip_high = all.clip_frac_high;
    out->ratio_max_dev = all.ratio_max_dev;
    L->step++;
}
