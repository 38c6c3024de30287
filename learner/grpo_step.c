/* grpo_step.c: the learner's update on one rollout batch (see grpo_step.h).
 *
 * Order of work, per step, one static function per phase:
 *   1. take_groups: sort groups by prompt (the run's prompt index, seq_no),
 *      so neither arrival order nor which actor sampled a prompt changes
 *      the result and runs are bit-reproducible; lay out
 *      rows (lengths, shipped log-probs) and group advantages
 *      (grpo_loss.c: group_advantages);
 *   2. batch_statistics: rewards, lengths, staleness (metrics only);
 *   3. plan_minibatches: contiguous runs of whole groups, each split into
 *      [grpo] micro_batches chunks of whole groups where it can (as [sft]
 *      micro_batches: every forward and backward runs per chunk, each
 *      group's prompt once and no padding, and model_backward adds the
 *      chunks' gradients up; the loss's normalisers stay the minibatch's,
 *      so J, w and the gradient are the one-batch ones up to float
 *      summation order; micro_batches = 1 is the one batch, bit for bit);
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
 *      behaviour policy), or with tis_cap against the learner's recompute.
 *      With one minibatch the first epoch's J, w and backward run inside the
 *      fresh pass, per chunk, on that chunk's fresh forward (fused), so no
 *      forward is repeated; the update then only applies the gradient.
 *
 * [grpo] algo = ppo (L->ppo, ppo_step.h) adds to the same phases: take_groups
 * leaves the advantages to it; the fresh pass also runs the value model
 * (V_old); after it, ppo_advantages computes per-token GAE advantages
 * (GrpoLossConfig.adv_tok replaces the group's broadcast advantage); each
 * minibatch update also trains the value model (its loss per chunk, its
 * own AdamW after the policy's); the step ends with the KL controller.
 * PPO never fuses (its advantages need the whole fresh pass first). */
#include "grpo_step.h"
#include "learner_tokens.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ppo_step.h"
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
    L->tok_of = xmalloc(sizeof(long) * (size_t)L->max_rows);
    L->row_group = xmalloc(sizeof(int) * (size_t)L->max_rows);
    L->row_off = xmalloc(sizeof(int64_t) * (size_t)L->max_rows);
    L->order = xmalloc(sizeof(int) * (size_t)L->max_rows);
    L->sorted = xmalloc(sizeof(Group) * (size_t)plan->prompts_per_step);
    L->mbs = xmalloc(sizeof(Minibatch) * (size_t)L->max_minibatches);
    LearnerPeers alone = {0, 1, NULL, NULL, NULL, NULL};
    learner_set_peers(L, &alone);
}

void learner_set_peers(Learner *L, const LearnerPeers *p) {
    CHECK(p->count >= 1 && p->index >= 0 && p->index < p->count);
    CHECK(p->count == 1 || (p->sum_floats && p->sum_doubles && p->max_doubles));
    L->peers = *p;
    /* S' = S rounded up to a multiple of K: every learner the same number */
    const int S = L->gs->grad_shards, K = p->count;
    L->n_shards = K * ((S + K - 1) / K);
    xfree(L->shards);
    L->shards = xmalloc(sizeof(Shard) * (size_t)L->max_minibatches * (size_t)(L->n_shards / K));
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
    xfree(L->tok_of);
    xfree(L->row_group);
    xfree(L->row_off);
    xfree(L->order);
    xfree(L->sorted);
    xfree(L->mbs);
    xfree(L->shards);
    for (int i = 0; i < L->gcap; i++) xfree(L->gsum[i]);
    xfree(L->gsum);
    if (L->ppo) ppo_detach(L);
    xfree(L->glevel);
    memset(L, 0, sizeof *L);
}

/* By the run's prompt index (seq_no), the same whichever actor sent a
 * group: batch order, and so the result, depend on the prompts alone. */
static int group_order(const void *a, const void *b) {
    const Group *x = a, *y = b;
    if (x->seq_no != y->seq_no) return x->seq_no < y->seq_no ? -1 : 1;
    return 0;
}

/* Rows [*lo, *hi) of L->order: chunk c of the shard. Whole groups while
 * there are at least as many groups as chunks (a group's rows share their
 * prompt's positions only inside one forward: batch.layout), else an even
 * split of the rows. Every group has the same number of rows. */
static void chunk_rows(const Shard *sh, int c, int *lo, int *hi) {
    const int n = sh->chunks <= sh->groups ? sh->groups : sh->rows;
    const int unit = sh->chunks <= sh->groups ? sh->rows / sh->groups : 1;
    *lo = sh->row0 + unit * (int)((int64_t)c * n / sh->chunks);
    *hi = sh->row0 + unit * (int)((int64_t)(c + 1) * n / sh->chunks);
}

/* ---- the shard tree -------------------------------------------------------
 * With one local shard per minibatch the policy's gradient buffer holds its
 * gradient directly. With more, each shard's gradient (computed from zero
 * in the policy's buffer) is moved onto a stack and equal levels are added
 * pairwise as they appear (a binary counter), so n shards are summed as
 * the fixed tree ((s0 + s1) + (s2 + s3)) ...; learner j of K = 2 computes
 * exactly the j-th subtree, and the allreduce adds the two halves: the
 * same bits as one learner with the same S. */
static void shard_done(Learner *L, const Minibatch *mb) {
    if (mb->nsh == 1) return;
    const size_t n = L->policy->n_params;
    if (L->gtop == L->gcap) {
        L->gcap = L->gcap ? 2 * L->gcap : 4;
        float **g = xcalloc((size_t)L->gcap, sizeof *g);
        int *lv = xcalloc((size_t)L->gcap, sizeof *lv);
        for (int i = 0; i < L->gtop; i++) {
            g[i] = L->gsum[i];
            lv[i] = L->glevel[i];
        }
        xfree(L->gsum);
        xfree(L->glevel);
        L->gsum = g;
        L->glevel = lv;
    }
    if (!L->gsum[L->gtop]) L->gsum[L->gtop] = xmalloc(sizeof(float) * n);
    memcpy(L->gsum[L->gtop], L->policy->grads, sizeof(float) * n);
    L->glevel[L->gtop++] = 0;
    model_zero_grads(L->policy);
    while (L->gtop >= 2 && L->glevel[L->gtop - 1] == L->glevel[L->gtop - 2]) {
        float *a = L->gsum[L->gtop - 2], *b = L->gsum[L->gtop - 1];
        for (size_t i = 0; i < n; i++) a[i] += b[i];
        L->glevel[L->gtop - 2]++;
        L->gtop--;
    }
}

/* The minibatch's gradient (this learner's shards) into the policy's
 * buffer: what remains on the stack, added from the top down. */
static void shards_finish(Learner *L, const Minibatch *mb) {
    if (mb->nsh == 1) return;
    const size_t n = L->policy->n_params;
    CHECK(L->gtop >= 1);
    while (L->gtop >= 2) {
        float *a = L->gsum[L->gtop - 2], *b = L->gsum[L->gtop - 1];
        for (size_t i = 0; i < n; i++) a[i] += b[i];
        L->gtop--;
    }
    memcpy(L->policy->grads, L->gsum[0], sizeof(float) * n);
    L->gtop = 0;
}

/* Lays the sequences of rows L->order[lo, hi) into L->batch, padded to
 * their longest. */
static void build_batch(Learner *L, int lo, int hi) {
    batch_clear(&L->batch);
    for (int i = lo; i < hi; i++) {
        const int r = L->order[i];
        const Group *g = &L->sorted[L->row_group[r]];
        batch_add(&L->batch, g->prompt, g->prompt_len, g->tokens + L->row_off[r], L->len[r]);
    }
    batch_layout(&L->batch);
}

/* Positions the value model's forward runs on the current batch: every
 * row's own, no padding (ppo_chunk_values). */
static long batch_positions(const SeqBatch *b) {
    long n = 0;
    for (int r = 0; r < b->B; r++) n += b->n_pos[r];
    return n;
}

/* Forward of model over the current batch; logp into L->logp (at the
 * completion tokens only: the head skips the prompts, batch.first; the
 * trunk runs each distinct prompt once and no padding, batch.layout), under the
 * distribution the actors report theirs under (L->dist). The reference is
 * scored under the same one, so the KL compares like with like and is 0
 * when the policy equals the reference; the scored token is always in the
 * kept set (model_kernels.h), so logp_ref stays finite. */
static void forward(Learner *L, const Model *m, float *entropy) {
    model_forward_batch(m, L->fs, &L->batch, &L->dist, L->logp, entropy);
}

/* 1 if the G rewards are all equal (a group without GRPO signal: the
 * zero_var_frac metric, also reported for PPO). */
static int rewards_all_equal(const float *r, int G) {
    for (int i = 1; i < G; i++)
        if (r[i] != r[0]) return 0;
    return 1;
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
        if (gs->algo == ALGO_PPO) /* per-token advantages later: ppo_advantages */
            *zero_var += rewards_all_equal(g->reward, g->G);
        else
            *zero_var += group_advantages(g->reward, g->G, (PgAlgo)gs->algo,
                                          (AdvStd)gs->adv_std, gs->adv_eps, L->adv + rows);
        int64_t off = 0;
        for (int k = 0; k < g->G; k++) {
            int len = g->completion_len[k];
            CHECK(ntok + len <= L->max_tok);
            L->tok_of[rows] = ntok;
            L->row_group[rows] = i;
            L->row_off[rows] = off;
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
            if (g->status[k] != REWARD_OK) {
                out->status_count[g->status[k]]++;
                out->status_failed++;
            }
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

/* Tokens group i's forwards run: its rows' prompt plus completion. */
static int64_t group_cost(const Learner *L, int i) {
    const Group *g = &L->sorted[i];
    int64_t c = 0;
    for (int k = 0; k < g->G; k++) c += g->prompt_len + g->completion_len[k];
    return c;
}

/* The first group of shard s of S of minibatch mb: the group boundary
 * whose share of the minibatch's tokens (group_cost) before it is nearest
 * s / S (ties: the earlier), so the shards, and the learners computing
 * them, get about equal work whatever the groups' lengths (equal lengths:
 * the split by group count). A function of the batch and S only, never of
 * which learner asks: shard_done's tree, and so the bits, stay K's own. */
static int shard_start(const Learner *L, const Minibatch *mb, int s, int S) {
    if (s <= 0) return mb->g0;
    if (s >= S) return mb->g1;
    int64_t total = 0;
    for (int i = mb->g0; i < mb->g1; i++) total += group_cost(L, i);
    const int64_t target = (int64_t)s * total; /* in units of 1 / S token */
    int64_t cum = 0, best_err = target;        /* boundary g0: cum 0 */
    int best = mb->g0;
    for (int i = mb->g0; i < mb->g1; i++) {
        cum += group_cost(L, i);
        const int64_t err = cum * S > target ? cum * S - target : target - cum * S;
        if (err < best_err) {
            best_err = err;
            best = i + 1;
        }
    }
    return best;
}

/* Phase 3: splits the n sorted groups into contiguous runs of whole groups
 * (L->mbs) and orders each one's rows for its chunks (Minibatch); returns
 * how many. */
static int plan_minibatches(Learner *L, int n) {
    int M = L->gs->minibatches < n ? L->gs->minibatches : n;
    CHECK(M >= 1 && M <= L->max_minibatches);
    CHECK(L->gs->micro_batches >= 1);
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
        /* this learner's shards: whole groups, contiguous in batch order,
         * about equal in tokens */
        const int K = L->peers.count, j = L->peers.index;
        /* micro_batches counts the minibatch's chunks over all its S'
         * shards, so K learners run chunks of the same rows as one: a
         * learner's share is not cut K times finer (smaller, slower sgemms) */
        const int S = L->n_shards, per = S / K;
        const int chunks = (L->gs->micro_batches + S - 1) / S;
        mb->sh0 = k * per;
        mb->nsh = per;
        for (int r = mb->row0; r < mb->row0 + mb->rows; r++) L->order[r] = r;
        for (int q = 0; q < per; q++) {
            const int s_ = j * per + q;
            const int sg0 = shard_start(L, mb, s_, S), sg1 = shard_start(L, mb, s_ + 1, S);
            Shard *sh = &L->shards[mb->sh0 + q];
            sh->row0 = mb->row0;
            for (int i = mb->g0; i < sg0; i++) sh->row0 += L->sorted[i].G;
            sh->rows = 0;
            for (int i = sg0; i < sg1; i++) sh->rows += L->sorted[i].G;
            sh->groups = sg1 - sg0;
            sh->chunks = chunks < sh->rows ? chunks : sh->rows;
        }
    }
    return M;
}

/* The objective's options from the config; is_weight is set per call. */
static GrpoLossConfig loss_config(const Learner *L) {
    const GrpoSettings *gs = L->gs;
    GrpoLossConfig gl = grpo_loss_config_defaults();
    gl.algo = (PgAlgo)gs->algo;
    gl.eps_low = gs->eps_low;
    gl.eps_high = gs->eps_high;
    gl.beta = gs->beta;
    if (L->ppo) /* kl_mode = reward puts the KL in the advantages instead */
        gl.beta = L->ppo->ps->kl_mode == PPO_KL_LOSS ? (float)ppo_beta(L) : 0.0f;
    gl.norm = (LossNorm)gs->loss_norm;
    gl.max_new_tokens = L->ss->max_new_tokens;
    return gl;
}

/* Whether the reference's log-probs are needed: a KL weight in force. */
static int uses_ref(const Learner *L) {
    return L->ppo ? ppo_beta(L) > 0 : L->gs->beta > 0;
}

/* Token t's ratio pi_learner / pi_actor; with tis_cap also its proximal
 * log-prob and truncated weight (importance_weights). */
static double is_token(Learner *L, long t) {
    const float cap = L->gs->tis_cap;
    const double r = exp((double)L->cur[t] - L->old[t]);
    if (cap > 0) {
        L->prox[t] = L->cur[t];
        L->isw[t] = (float)(r < cap ? r : cap);
    }
    return r;
}

/* The log-probs the clipped ratio is taken against (importance_weights). */
static const float *ratio_base(const Learner *L) {
    return L->gs->tis_cap > 0 ? L->prox : L->old;
}

/* J and w = dJ/dlogp of the rows L->order[lo, hi) of minibatch mb, from
 * L->cur; *st gets their stats. The normalisers are the whole minibatch's
 * (its rows and tokens), so the chunks' J and w add up to the minibatch's.
 * One grpo_loss_compute per run of consecutive rows (the per-token arrays
 * hold rows in batch order): with one chunk, one call over the minibatch. */
static void chunk_loss(Learner *L, const Minibatch *mb, int lo, int hi, const float *logp_old,
                       GrpoLossStats *st) {
    const GrpoSettings *gs = L->gs;
    GrpoLossConfig gl = loss_config(L);
    gl.norm_seqs = mb->rows;
    gl.norm_tokens = mb->ntok;
    memset(st, 0, sizeof *st);
    for (int i = lo; i < hi;) {
        const int r0 = L->order[i];
        int n = 1;
        while (i + n < hi && L->order[i + n] == r0 + n) n++;
        const long t0 = L->tok_of[r0];
        if (gs->tis_cap > 0) gl.is_weight = L->isw + t0;
        if (L->ppo) gl.adv_tok = L->ppo->adv + t0;
        GrpoLossStats s;
        grpo_loss_compute(L->w + t0, &s, &gl, L->cur + t0, logp_old + t0,
                          uses_ref(L) ? L->refp + t0 : NULL, L->adv + r0, L->len + r0, n);
        grpo_stats_merge(st, &s);
        i += n;
    }
}

/* Backward of the chunk in L->batch / L->fs with its tokens' weights L->w. */
static void chunk_backward(Learner *L, int lo, int hi, StepMetrics *out) {
    learner_scatter_tokens(L, lo, hi, L->w, L->batch.weights);
    const double t0 = now_seconds();
    model_backward(L->policy, L->fs, L->batch.weights);
    out->t_backward += now_seconds() - t0;
}

/* Per-token sums of this learner's share (summed over the learners once
 * per step: reduce_step). */
typedef struct {
    double ent, diff, is, n_trunc;   /* sums */
    double diff_max, is_min, is_max; /* extremes */
} TokenTally;

/* Phase 4: reference and recomputed log-probs (L->refp, L->cur) of every
 * token of this learner's share at the step's starting weights, with the
 * entropy and the learner-vs-actor log-prob difference. fused (one
 * minibatch): each chunk's J, w and backward of the first epoch run here
 * on its fresh forward, the stats into *fst (minibatch_update then only
 * applies the gradient). */
static void fresh_pass(Learner *L, int M, int fused, GrpoLossStats *fst, TokenTally *tt,
                       StepMetrics *out) {
    const int use_ref = uses_ref(L);
    memset(fst, 0, sizeof *fst);
    for (int k = 0; k < M; k++) {
        const Minibatch *mb = &L->mbs[k];
        for (int q = 0; q < mb->nsh; q++) {
            const Shard *sh = &L->shards[mb->sh0 + q];
            for (int c = 0; c < sh->chunks; c++) {
                int lo, hi;
                chunk_rows(sh, c, &lo, &hi);
                build_batch(L, lo, hi);
                if (use_ref) {
                    forward(L, L->ref, NULL);
                    learner_gather_tokens(L, lo, hi, L->logp, L->refp);
                }
                forward(L, L->policy, L->entropy);
                learner_gather_tokens(L, lo, hi, L->logp, L->cur);
                learner_gather_tokens(L, lo, hi, L->entropy, L->w); /* w as scratch */
                for (int i = lo; i < hi; i++) {
                    const int r = L->order[i];
                    for (long t = L->tok_of[r]; t < L->tok_of[r] + L->len[r]; t++) {
                        double d = fabs((double)L->cur[t] - L->old[t]);
                        tt->diff += d;
                        if (d > tt->diff_max) tt->diff_max = d;
                        tt->ent += L->w[t];
                    }
                }
                out->learner_tokens += (long)L->batch.layout.n_rows * (use_ref ? 2 : 1);
                if (L->ppo) { /* V_old, at the step's starting value weights */
                    ppo_chunk_values(L, lo, hi, L->ppo->v_old);
                    out->learner_tokens += batch_positions(&L->batch);
                }
                if (fused) {
                    for (int i = lo; i < hi; i++) {
                        const int r = L->order[i];
                        for (long t = L->tok_of[r]; t < L->tok_of[r] + L->len[r]; t++)
                            is_token(L, t);
                    }
                    GrpoLossStats cs;
                    chunk_loss(L, mb, lo, hi, ratio_base(L), &cs);
                    grpo_stats_merge(fst, &cs);
                    chunk_backward(L, lo, hi, out);
                }
            }
            if (fused) shard_done(L, mb);
        }
    }
}

/* Phase 5: importance ratios pi_learner / pi_actor of the shipped tokens
 * of this learner's share. With tis_cap the learner's recompute becomes
 * the proximal policy and the ratio, truncated at the cap, weights each
 * token (grpo_loss.h: is_weight). Returns the log-probs the clipped ratio
 * is taken against. */
static const float *importance_weights(Learner *L, int M, TokenTally *tt) {
    const float cap = L->gs->tis_cap;
    tt->is_min = INFINITY;
    for (int k = 0; k < M; k++) {
        const Minibatch *mb = &L->mbs[k];
        const Shard *sh = &L->shards[mb->sh0];
        /* its shards are contiguous: rows from the first's to the last's end */
        const int r0 = sh[0].row0, r1 = sh[mb->nsh - 1].row0 + sh[mb->nsh - 1].rows;
        for (int r = r0; r < r1; r++)
            for (long t = L->tok_of[r]; t < L->tok_of[r] + L->len[r]; t++) {
                double q = is_token(L, t);
                tt->is += q;
                if (q < tt->is_min) tt->is_min = q;
                if (q > tt->is_max) tt->is_max = q;
                if (cap > 0) tt->n_trunc += q > cap;
            }
    }
    return ratio_base(L);
}

/* The step's statistics over every learner's share: sums and extremes
 * across the learners (one sum_doubles and one max_doubles call), then the
 * means over the batch's ntok tokens into out. */
enum { STATS_SUMS = 6 };
static void stats_to_sums(const GrpoLossStats *s, double *v) {
    const double n = (double)s->n_tokens;
    v[0] = s->objective;
    v[1] = s->kl_mean * n;
    v[2] = s->clip_frac_low * n;
    v[3] = s->clip_frac_high * n;
    v[4] = s->ratio_mean * n;
    v[5] = n;
}
static void stats_from_sums(const double *v, double max_dev, GrpoLossStats *s) {
    const double n = v[5];
    s->objective = v[0];
    s->kl_mean = n > 0 ? v[1] / n : 0;
    s->clip_frac_low = n > 0 ? v[2] / n : 0;
    s->clip_frac_high = n > 0 ? v[3] / n : 0;
    s->ratio_mean = n > 0 ? v[4] / n : 0;
    s->n_tokens = (long)n;
    s->ratio_max_dev = max_dev;
}

static void reduce_step(Learner *L, long ntok, TokenTally *tt, GrpoLossStats *first,
                        GrpoLossStats *all, StepMetrics *out) {
    const LearnerPeers *p = &L->peers;
    if (p->count > 1) {
        double sums[5 + 2 * STATS_SUMS] = {tt->ent, tt->diff, tt->is, tt->n_trunc,
                                           (double)out->learner_tokens};
        stats_to_sums(first, sums + 5);
        stats_to_sums(all, sums + 5 + STATS_SUMS);
        double maxes[5] = {tt->diff_max, -tt->is_min, tt->is_max, first->ratio_max_dev,
                           all->ratio_max_dev};
        p->sum_doubles(p->ctx, sums, (int)(sizeof sums / sizeof *sums));
        p->max_doubles(p->ctx, maxes, 5);
        tt->ent = sums[0];
        tt->diff = sums[1];
        tt->is = sums[2];
        tt->n_trunc = sums[3];
        out->learner_tokens = (long)sums[4];
        stats_from_sums(sums + 5, maxes[3], first);
        stats_from_sums(sums + 5 + STATS_SUMS, maxes[4], all);
        tt->diff_max = maxes[0];
        tt->is_min = -maxes[1];
        tt->is_max = maxes[2];
    }
    out->logp_diff_max = tt->diff_max;
    out->logp_diff_mean = ntok ? tt->diff / ntok : 0;
    out->entropy = ntok ? tt->ent / ntok : 0;
    out->is_mean = ntok ? tt->is / ntok : 1;
    out->is_min = ntok ? tt->is_min : 1;
    out->is_max = ntok ? tt->is_max : 1;
    out->is_truncated_frac = ntok ? tt->n_trunc / ntok : 0;
}

/* Phase 6, one minibatch: per chunk, forward, J and w = dJ/dlogp from its
 * current log-probs, backward; then one optimizer update. fresh = 1 when
 * the fresh pass has already run this minibatch's chunks (fused: one
 * minibatch, first epoch; *st holds their stats): only the update is left. */
static void minibatch_update(Learner *L, const Minibatch *mb, int fresh, const float *logp_old,
                             long total_updates, GrpoLossStats *st, ValueLossStats *vst,
                             StepMetrics *out) {
    const GrpoSettings *gs = L->gs;
    if (!fresh) {
        memset(st, 0, sizeof *st);
        for (int q = 0; q < mb->nsh; q++) {
            const Shard *sh = &L->shards[mb->sh0 + q];
            for (int c = 0; c < sh->chunks; c++) {
                int lo, hi;
                chunk_rows(sh, c, &lo, &hi);
                const double t0 = now_seconds();
                build_batch(L, lo, hi);
                forward(L, L->policy, NULL);
                learner_gather_tokens(L, lo, hi, L->logp, L->cur);
                out->t_forward += now_seconds() - t0;
                out->learner_tokens += L->batch.layout.n_rows;
                GrpoLossStats cs;
                chunk_loss(L, mb, lo, hi, logp_old, &cs);
                grpo_stats_merge(st, &cs);
                chunk_backward(L, lo, hi, out);
                if (L->ppo) {
                    ValueLossStats vs;
                    ppo_chunk_value_loss(L, mb, lo, hi, &vs);
                    value_stats_merge(vst, &vs);
                    out->learner_tokens += batch_positions(&L->batch);
                }
            }
            shard_done(L, mb);
        }
    }
    shards_finish(L, mb);
    const double t1 = now_seconds();
    const LearnerPeers *p = &L->peers;
    if (p->count > 1) {
        p->sum_floats(p->ctx, L->policy->grads, L->policy->n_params);
        out->t_allreduce += now_seconds() - t1;
    }
    if (L->grad_out) {
        memcpy(L->grad_out, L->policy->grads, sizeof(float) * L->policy->n_params);
        L->grad_out = NULL;
    }
    UpdateStats us = model_update(L->policy, &L->opt, &gs->opt, L->opt_steps, total_updates);
    /* a skipped update leaves AdamW's step count alone, and so the
     * schedule: opt_steps must stay equal to opt.t (resume restores it so) */
    L->opt_steps += !us.skipped;
    out->nonfinite_skipped += us.skipped;
    out->t_optim += now_seconds() - t1;
    out->grad_norm = us.grad_norm;
    out->lr = us.lr;
    if (L->ppo) ppo_value_update(L, total_updates, out);
}

int learner_step(Learner *L, const Group *groups, int n, uint64_t policy_version,
                 StepMetrics *out) {
    const GrpoSettings *gs = L->gs;
    memset(out, 0, sizeof *out);
    CHECK(n >= 1 && n <= L->plan->prompts_per_step);
    L->busy = 1;
    int zero_var;
    const long ntok = take_groups(L, groups, n, &zero_var);
    batch_statistics(L, n, policy_version, out);
    out->zero_var_frac = (double)zero_var / n;
    const int M = plan_minibatches(L, n);

    /* PPO's advantages need the whole batch's fresh pass first */
    const int fused = M == 1 && !L->ppo;
    GrpoLossStats fused_st;
    TokenTally tt = {0};
    double t0 = now_seconds();
    fresh_pass(L, M, fused, &fused_st, &tt, out);
    const float *logp_old = importance_weights(L, M, &tt);
    out->t_forward += now_seconds() - t0 - out->t_backward; /* the fused backward is not */
    if (L->ppo) ppo_advantages(L, M, out);

    const long total_updates = (long)L->plan->steps * gs->inner_epochs * M;
    GrpoLossStats all = {0}, first = {0};
    for (int e = 0; e < gs->inner_epochs; e++)
        for (int k = 0; k < M; k++) {
            const int fresh = e == 0 && fused;
            GrpoLossStats st = fused_st;
            ValueLossStats vst = {0};
            minibatch_update(L, &L->mbs[k], fresh, logp_old, total_updates, &st, &vst, out);
            grpo_stats_merge(&all, &st);
            if (e == 0) grpo_stats_merge(&first, &st);
            if (L->ppo) {
                value_stats_merge(&L->ppo->all, &vst);
                if (e == 0) value_stats_merge(&L->ppo->first, &vst);
            }
        }
    reduce_step(L, ntok, &tt, &first, &all, out);
    out->kl = first.kl_mean;
    out->objective = first.objective;
    out->clip_low = all.clip_frac_low;
    out->clip_high = all.clip_frac_high;
    out->ratio_max_dev = all.ratio_max_dev;
    if (L->ppo) ppo_step_end(L, out);
    L->step++;
    L->busy = 0;
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
