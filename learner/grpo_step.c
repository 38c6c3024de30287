/* grpo_step.c: the learner's update on one rollout batch (see grpo_step.h).
 *
 * Order of work, per step, one static function per phase:
 *   1. take_groups: sort groups by (actor rank, sequence number), so arrival
 *      order never changes the result and runs are bit-reproducible; lay out
 *      rows (lengths, shipped log-probs) and group advantages
 *      (grpo_loss.c: group_advantages);
 *   2. batch_statistics: rewards, lengths, staleness (metrics only);
 *   3. plan_minibatches: contiguous runs of whole groups;
 *   4. fresh_pass, per minibatch: reference log-probs (if beta > 0) and the
 *      policy's recomputed log-probs, compared with what the actors shipped
 *      (the |logp_learner - logp_actor| health metric); log-probs are
 *      under [sampler] logprob (full, or the top-k / top-p truncated
 *      distribution: sample_dist.h), as the actors report them;
 *   5. importance_weights: pi_learner / pi_actor statistics and, with
 *      tis_cap, the truncated weights;
 *   6. mu inner epochs x minibatches of minibatch_update: forward, J and
 *      w = dJ/dlogp per token (grpo_loss_compute), model_backward(w),
 *      AdamW. The ratio is against the actors' shipped log-probs (the
 *      behaviour policy), or with tis_cap against the learner's recompute. */
#include "grpo_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void learner_init(Learner *L, Model *policy, const Model *ref, const Config *cfg) {
    memset(L, 0, sizeof *L);
    L->policy = policy;
    L->ref = ref;
    L->plan = train_plan(cfg);
    L->gs = grpo_settings(cfg);
    L->ss = sampling_settings(cfg);
    const TrainPlan *plan = L->plan;
    const GrpoSettings *gs = L->gs;
    const SamplingSettings *ss = L->ss;
    CHECK(policy->grads != NULL);
    CHECK(plan->prompts_per_step >= 1 && plan->group_size >= 1 && gs->minibatches >= 1);
    adamw_init(&L->opt, policy->n_params);
    int T = policy->cfg.max_seq_len;
    L->max_rows = plan->prompts_per_step * plan->group_size;
    L->max_tok = L->max_rows * ss->max_new_tokens;
    /* a step never has more minibatches than groups (learner_step takes the min) */
    L->max_minibatches = gs->minibatches < plan->prompts_per_step ? gs->minibatches
                                                                  : plan->prompts_per_step;
    L->dist = sample_dist_scoring(ss->temperature, ss->top_k, ss->top_p, ss->logprob);
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
    L->mbs = xmalloc(sizeof(Minibatch) * (size_t)L->max_minibatches);
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
    xfree(L->mbs);
    memset(L, 0, sizeof *L);
}

static int group_order(const void *a, const void *b) {
    const Group *x = a, *y = b;
    if (x->actor_rank != y->actor_rank) return x->actor_rank < y->actor_rank ? -1 : 1;
    if (x->seq_no != y->seq_no) return x->seq_no < y->seq_no ? -1 : 1;
    return 0;
}

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

/* The inverse of gather_tokens: per-token src into the batch's (B, T) dst. */
static void scatter_tokens(const Learner *L, const Minibatch *mb, const float *src, float *dst) {
    long t = mb->tok0;
    for (int r = 0; r < mb->rows; r++)
        for (int j = 0; j < L->len[mb->row0 + r]; j++) dst[batch_index(&L->batch, r, j)] = src[t++];
}

/* Forward of model over the current batch; logp into L->logp, under the
 * distribution the actors report theirs under (L->dist). The reference is
 * scored under the same one, so the KL compares like with like and is 0
 * when the policy equals the reference; the scored token is always in the
 * kept set (model_kernels.h), so logp_ref stays finite. */
static void forward(Learner *L, const Model *m, float *entropy) {
    model_forward_dist(m, L->fs, L->batch.tokens, L->batch.targets, L->batch.B, L->batch.T,
                       &L->dist, L->logp, entropy);
}

/* Phase 1: sorts the n groups into L->sorted and lays out one row per
 * completion: its length, advantage and shipped log-probs. Returns the
 * number of completion tokens; *zero_var counts the groups without signal. */
static long take_groups(Learner *L, const Group *groups, int n, int *zero_var) {
    const GrpoSettings *gs = L->gs;
    memcpy(L->sorted, groups, sizeof(Group) * (size_t)n);
    qsort(L->sorted, (size_t)n, sizeof(Group), group_order);
    L->n_sorted = n;
    const int nc = L->sorted[0].n_components;
    int rows = 0;
    long ntok = 0;
    *zero_var = 0;
    for (int i = 0; i < n; i++) {
        const Group *g = &L->sorted[i];
        CHECK(g->G == L->plan->group_size && g->n_components == nc);
        CHECK(rows + g->G <= L->max_rows);
        *zero_var += group_advantages(g->reward, g->G, (PgAlgo)gs->algo, (AdvStd)gs->adv_std,
                                      gs->adv_eps, L->adv + rows);
        int64_t off = 0;
        for (int k = 0; k < g->G; k++) {
            int len = g->completion_len[k];
            CHECK(ntok + len <= L->max_tok);
            L->len[rows++] = len;
            memcpy(L->old + ntok, g->old_logprobs + off, sizeof(float) * (size_t)len);
            off += len;
            ntok += len;
        }
    }
    return ntok;
}

/* Phase 2: reward, length and staleness statistics of the sorted groups. */
static void batch_statistics(const Learner *L, int n, uint64_t policy_version, StepMetrics *out) {
    int rows = 0, truncated = 0, nc = L->sorted[0].n_components;
    long ntok = 0;
    double rsum = 0, rsq = 0, csum[REWARD_MAX_COMPONENTS] = {0}, csq[REWARD_MAX_COMPONENTS] = {0};
    CHECK(nc >= 0 && nc <= REWARD_MAX_COMPONENTS);
    for (int i = 0; i < n; i++) {
        const Group *g = &L->sorted[i];
        for (int k = 0; k < g->G; k++) {
            int len = g->completion_len[k];
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
    out->len_mean = (double)ntok / rows;
    out->truncated_frac = (double)truncated / rows;
    out->tokens = ntok;
}

/* Phase 3: splits the n sorted groups into contiguous runs of whole groups
 * (L->mbs); returns how many. */
static int plan_minibatches(Learner *L, int n) {
    int M = L->gs->minibatches < n ? L->gs->minibatches : n;
    CHECK(M >= 1 && M <= L->max_minibatches);
    for (int k = 0, row = 0; k < M; k++) {
        Minibatch *mb = &L->mbs[k];
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
    return M;
}

/* Phase 4: reference and recomputed log-probs (L->refp, L->cur) of every
 * token at the step's starting weights, with the entropy and the
 * learner-vs-actor log-prob difference. */
static void fresh_pass(Learner *L, int M, long ntok, StepMetrics *out) {
    const int use_ref = L->gs->beta > 0;
    double ent_sum = 0, diff_sum = 0, diff_max = 0;
    for (int k = 0; k < M; k++) {
        const Minibatch *mb = &L->mbs[k];
        build_batch(L, mb);
        if (use_ref) {
            forward(L, L->ref, NULL);
            gather_tokens(L, mb, L->logp, L->refp);
        }
        forward(L, L->policy, L->entropy);
        gather_tokens(L, mb, L->logp, L->cur);
        gather_tokens(L, mb, L->entropy, L->w); /* w as scratch */
        for (long t = mb->tok0; t < mb->tok0 + mb->ntok; t++) {
            double d = fabs((double)L->cur[t] - L->old[t]);
            diff_sum += d;
            if (d > diff_max) diff_max = d;
            ent_sum += L->w[t];
        }
        out->learner_tokens += (long)L->batch.B * L->batch.T * (use_ref ? 2 : 1);
    }
    out->logp_diff_max = diff_max;
    out->logp_diff_mean = ntok ? diff_sum / ntok : 0;
    out->entropy = ntok ? ent_sum / ntok : 0;
}

/* Phase 5: importance ratios pi_learner / pi_actor of the shipped tokens.
 * With tis_cap the learner's recompute becomes the proximal policy and the
 * ratio, truncated at the cap, weights each token (grpo_loss.h: is_weight).
 * Returns the log-probs the clipped ratio is taken against. */
static const float *importance_weights(Learner *L, long ntok, StepMetrics *out) {
    const float cap = L->gs->tis_cap;
    double is_sum = 0, is_min = INFINITY, is_max = 0;
    long n_trunc = 0;
    for (long t = 0; t < ntok; t++) {
        double r = exp((double)L->cur[t] - L->old[t]);
        is_sum += r;
        if (r < is_min) is_min = r;
        if (r > is_max) is_max = r;
        if (cap > 0) {
            L->prox[t] = L->cur[t];
            L->isw[t] = (float)(r < cap ? r : cap);
            n_trunc += r > cap;
        }
    }
    out->is_mean = ntok ? is_sum / ntok : 1;
    out->is_min = ntok ? is_min : 1;
    out->is_max = ntok ? is_max : 1;
    out->is_truncated_frac = ntok ? (double)n_trunc / ntok : 0;
    return cap > 0 ? L->prox : L->old;
}

/* The objective's options from the config; is_weight is set per minibatch. */
static GrpoLossConfig loss_config(const Learner *L) {
    const GrpoSettings *gs = L->gs;
    GrpoLossConfig gl = grpo_loss_config_defaults();
    gl.algo = (PgAlgo)gs->algo;
    gl.eps_low = gs->eps_low;
    gl.eps_high = gs->eps_high;
    gl.beta = gs->beta;
    gl.norm = (LossNorm)gs->loss_norm;
    gl.max_new_tokens = L->ss->max_new_tokens;
    return gl;
}

/* Phase 6, one minibatch: J and w = dJ/dlogp from its current log-probs,
 * backward, one optimizer update. fresh = 1 when L->batch and L->cur still
 * hold this minibatch's forward from the fresh pass (one minibatch, first
 * epoch), which is then not repeated. */
static void minibatch_update(Learner *L, const Minibatch *mb, int fresh, const float *logp_old,
                             long total_updates, GrpoLossStats *st, StepMetrics *out) {
    const GrpoSettings *gs = L->gs;
    double t0;
    if (!fresh) {
        t0 = now_seconds();
        build_batch(L, mb);
        forward(L, L->policy, NULL);
        gather_tokens(L, mb, L->logp, L->cur);
        out->t_forward += now_seconds() - t0;
        out->learner_tokens += (long)L->batch.B * L->batch.T;
    }
    GrpoLossConfig gl = loss_config(L);
    if (gs->tis_cap > 0) gl.is_weight = L->isw + mb->tok0;
    grpo_loss_compute(L->w + mb->tok0, st, &gl, L->cur + mb->tok0, logp_old + mb->tok0,
                      gs->beta > 0 ? L->refp + mb->tok0 : NULL, L->adv + mb->row0,
                      L->len + mb->row0, mb->rows);
    scatter_tokens(L, mb, L->w, L->batch.weights);
    t0 = now_seconds();
    model_backward(L->policy, L->fs, L->batch.weights);
    double t1 = now_seconds();
    UpdateStats us = model_update(L->policy, &L->opt, &gs->opt, L->opt_steps, total_updates);
    /* a skipped update leaves AdamW's step count alone, and so the
     * schedule: opt_steps must stay equal to opt.t (resume restores it so) */
    L->opt_steps += !us.skipped;
    out->nonfinite_skipped += us.skipped;
    out->t_backward += t1 - t0;
    out->t_optim += now_seconds() - t1;
    out->grad_norm = us.grad_norm;
    out->lr = us.lr;
}

int learner_step(Learner *L, const Group *groups, int n, uint64_t policy_version,
                 StepMetrics *out) {
    const GrpoSettings *gs = L->gs;
    memset(out, 0, sizeof *out);
    CHECK(n >= 1 && n <= L->plan->prompts_per_step);
    int zero_var;
    const long ntok = take_groups(L, groups, n, &zero_var);
    batch_statistics(L, n, policy_version, out);
    out->zero_var_frac = (double)zero_var / n;
    const int M = plan_minibatches(L, n);

    double t0 = now_seconds();
    fresh_pass(L, M, ntok, out);
    const float *logp_old = importance_weights(L, ntok, out);
    out->t_forward += now_seconds() - t0;

    const long total_updates = (long)L->plan->steps * gs->inner_epochs * M;
    GrpoLossStats all = {0}, first = {0};
    for (int e = 0; e < gs->inner_epochs; e++)
        for (int k = 0; k < M; k++) {
            GrpoLossStats st;
            minibatch_update(L, &L->mbs[k], e == 0 && M == 1, logp_old, total_updates, &st, out);
            grpo_stats_merge(&all, &st);
            if (e == 0) grpo_stats_merge(&first, &st);
        }
    out->kl = first.kl_mean;
    out->objective = first.objective;
    out->clip_low = all.clip_frac_low;
    out->clip_high = all.clip_frac_high;
    out->ratio_max_dev = all.ratio_max_dev;
    L->step++;
    int stop = nonfinite_tally(&L->nonfinite, out->nonfinite_skipped, gs->max_nonfinite_steps);
    out->nonfinite_in_a_row = L->nonfinite.in_a_row;
    return stop;
}

const float *learner_batch_group(const Learner *L, int i, const Group **g) {
    CHECK(i >= 0 && i < L->n_sorted);
    *g = &L->sorted[i];
    /* every group has group_size rows (take_groups checks) */
    return L->adv + (size_t)i * (size_t)L->plan->group_size;
}
