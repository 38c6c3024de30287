/* test_learner_step.c: learner_step (grpo_step.c) on a tiny model with
 * handmade groups, against the properties its phases promise:
 *   - direction: positive advantage raises a completion's log-prob,
 *     negative lowers it;
 *   - clip: with every ratio already past the clip on the clipped side and
 *     beta = 0 the step changes no weight; on the unclipped side it does;
 *   - minibatches x inner epochs = optimizer updates;
 *   - truncated importance weighting scales each token's gradient by
 *     min(pi_learner / pi_actor, tis_cap);
 *   - the weight scatter: one minibatch, one epoch, micro_batches = 1
 *     equals the documented pipeline (forward, grpo_loss_compute, weights
 *     at batch_index, backward, model_update) bit for bit, in any arrival
 *     order (micro_batches > 1: test_grpo_micro_batches.c);
 *   - the batch's first group and the advantages the loss used for it
 *     (learner_batch_group), and its samples.jsonl lines (samples_log.h);
 *   - non-finite gradients (NaN reward, NaN reference weights, inf
 *     gradient) skip the update: weights, AdamW moments and step count
 *     unchanged, counted, and the run is told to stop after
 *     max_nonfinite_steps steps in a row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "config.h"
#include "sections.h"
#include "grpo_loss.h"
#include "grpo_step.h"
#include "model.h"
#include "rng.h"
#include "run_files.h"
#include "samples_log.h"
#include "tokenizer.h"
#include "sample_dist.h"
#include "update.h"
#include "blas_setup.h"
#include "util.h"
#include "test_learner_common.h"
#include "wire.h"

enum { V = 11, MAXC = 4 };

static ModelConfig tiny_model(void) { return learner_test_model(V, 12); }

static void init_model(Model *m, uint64_t seed) {
    ModelConfig c = tiny_model();
    learner_test_init(m, &c, seed);
}

static Config *tiny_config(void) {
    Config *c = grpo_config_new();
    PLAN(c)->prompts_per_step = 4;
    PLAN(c)->group_size = 2;
    SAMP(c)->max_new_tokens = MAXC;
    GRPO(c)->minibatches = 1;
    GRPO(c)->inner_epochs = 1;
    GRPO(c)->beta = 0;
    SAMP(c)->temperature = 1.0f;
    PLAN(c)->steps = 10;
    GRPO(c)->opt.lr = 1e-3f;
    GRPO(c)->opt.lr_min = 1e-3f;
    GRPO(c)->opt.warmup = 0;
    GRPO(c)->opt.weight_decay = 0;
    GRPO(c)->opt.grad_clip = 0;
    return c;
}

static const SampleDist full_t1 = {1.0f, 0, 1.0f, LOGPROB_FULL};

static double seq_logp(const Model *m, const Spec *s, int k) {
    float lp[MAXC];
    completion_logps(m, &full_t1, s->prompt, 3, s->comp[k], s->len[k], lp);
    double sum = 0;
    for (int j = 0; j < s->len[k]; j++) sum += lp[j];
    return sum;
}

/* spec_group under the full softmax at temperature 1 (tiny_config's). */
static void make_group(Group *g, const Spec *s, int G, uint64_t seq_no, const Model *behaviour,
                       const double *shift) {
    spec_group(g, s, G, seq_no, behaviour, &full_t1, shift);
}

/* A policy (with gradients), a reference, a learner over them. */
typedef struct {
    Config *cfg;
    Model policy, ref;
    Learner L;
} Fx;

static void fx_init(Fx *f, const Config *cfg) {
    f->cfg = config_new_like(cfg);
    config_copy(f->cfg, cfg);
    init_model(&f->policy, 42);
    init_model(&f->ref, 42);
    model_alloc_grads(&f->policy);
    learner_init(&f->L, &f->policy, &f->ref, f->cfg);
}

static void fx_free(Fx *f) {
    learner_free(&f->L);
    config_free(f->cfg);
    model_free(&f->policy);
    model_free(&f->ref);
}

static float *copy_floats(const float *x, size_t n) {
    float *c = xmalloc(sizeof(float) * n);
    memcpy(c, x, sizeof(float) * n);
    return c;
}

/* ---- direction, clip, counts, TIS ------------------------------------------ */

static void test_update_direction(void **state) {
    (void)state;
    Config *cfg = tiny_config();
    Fx f;
    fx_init(&f, cfg);
    Group g[2];
    make_group(&g[0], &spec_a, 2, 0, &f.policy, NULL);
    make_group(&g[1], &spec_b, 2, 1, &f.policy, NULL);
    /* a completion an actor could not score is counted by its reason */
    g[1].status[0] = REWARD_SANDBOX_CPU;
    double before[4], after[4];
    const Spec *sp[2] = {&spec_a, &spec_b};
    for (int i = 0; i < 4; i++) before[i] = seq_logp(&f.policy, sp[i / 2], i % 2);
    StepMetrics m;
    assert_int_equal(learner_step(&f.L, g, 2, 0, &m), 0);
    for (int i = 0; i < 4; i++) after[i] = seq_logp(&f.policy, sp[i / 2], i % 2);
    for (int i = 0; i < 4; i++) {
        const float r = sp[i / 2]->reward[i % 2];
        printf("  completion %d (reward %.0f): log-prob %.6f -> %.6f\n", i, r, before[i], after[i]);
        if (r > 0) assert_true(after[i] > before[i]);
        else assert_true(after[i] < before[i]);
    }
    assert_int_equal(m.status_failed, 1);
    assert_int_equal(m.status_count[REWARD_SANDBOX_CPU], 1);
    assert_int_equal(m.status_count[REWARD_OK], 0);
    assert_true(m.logp_diff_max < 1e-5); /* on-policy: the recompute matches */
    assert_true(m.objective == 0.0 || fabs(m.objective) < 1e-6); /* rho = 1, advantages sum to 0 */
    for (int i = 0; i < 2; i++) group_free(&g[i]);
    fx_free(&f);
}

/* Ratios exp(-shift) per completion of spec_a (A = +1, -1). */
static void clip_case(const double shift[2], int expect_change, double expect_clip_frac) {
    Config *cfg = tiny_config();
    Fx f;
    fx_init(&f, cfg);
    Group g;
    make_group(&g, &spec_a, 2, 0, &f.policy, shift);
    float *p0 = copy_floats(f.policy.params, f.policy.n_params);
    StepMetrics m;
    learner_step(&f.L, &g, 1, 0, &m);
    const int same = memcmp(p0, f.policy.params, sizeof(float) * f.policy.n_params) == 0;
    printf("  ratios %.3f, %.3f: clipped %.3f of tokens, weights %s\n", exp(-shift[0]),
           exp(-shift[1]), m.clip_low + m.clip_high, same ? "unchanged" : "changed");
    assert_int_equal(same, !expect_change);
    assert_true(fabs(m.clip_low + m.clip_high - expect_clip_frac) < 1e-12);
    assert_int_equal(f.L.opt.t, 1); /* an update ran (with a zero gradient when all clipped) */
    xfree(p0);
    group_free(&g);
    fx_free(&f);
}

static void test_clip_stops_gradient(void **state) {
    (void)state;
    /* A = +1 with rho = e > 1 + eps_high, A = -1 with rho = 1/e < 1 - eps_low:
     * every token on its clipped side, beta = 0: no gradient at all */
    const double clipped[2] = {-1.0, 1.0};
    clip_case(clipped, 0, 1.0);
    /* the same ratios on the other sides (A = +1 with rho = 1/e, A = -1 with
     * rho = e) are not clipped: the pessimistic min keeps rho A */
    const double unclipped[2] = {1.0, -1.0};
    clip_case(unclipped, 1, 0.0);
    /* only the positive completion clipped: the negative one still moves */
    const double half[2] = {-1.0, 0.0};
    clip_case(half, 1, 4.0 / 6.0);
}

static void count_updates(int n_groups, int minibatches, int epochs, long expect) {
    Config *cfg = tiny_config();
    GRPO(cfg)->minibatches = minibatches;
    GRPO(cfg)->inner_epochs = epochs;
    Fx f;
    fx_init(&f, cfg);
    Group g[4];
    for (int i = 0; i < n_groups; i++)
        make_group(&g[i], i % 2 ? &spec_b : &spec_a, 2, (uint64_t)i, &f.policy, NULL);
    StepMetrics m;
    learner_step(&f.L, g, n_groups, 0, &m);
    printf("  %d groups, minibatches %d, inner_epochs %d: %ld optimizer updates\n", n_groups,
           minibatches, epochs, f.L.opt_steps);
    assert_int_equal(f.L.opt_steps, expect);
    assert_int_equal(f.L.opt.t, expect);
    assert_int_equal(f.L.step, 1);
    for (int i = 0; i < n_groups; i++) group_free(&g[i]);
    fx_free(&f);
}

static void test_minibatches_times_epochs(void **state) {
    (void)state;
    count_updates(4, 1, 1, 1);
    count_updates(4, 2, 3, 6);
    count_updates(4, 4, 2, 8);
    count_updates(3, 4, 2, 6); /* fewer groups than minibatches: one group each */
}

/* Gradient norm of one step (one minibatch, one epoch) with old log-probs
 * shifted by shift and the given cap; also returns the step's metrics. */
static double step_grad_norm(double shift, float tis_cap, StepMetrics *m) {
    Config *cfg = tiny_config();
    GRPO(cfg)->tis_cap = tis_cap;
    Fx f;
    fx_init(&f, cfg);
    const double sh[2] = {shift, shift};
    Group g;
    make_group(&g, &spec_a, 2, 0, &f.policy, sh);
    learner_step(&f.L, &g, 1, 0, m);
    group_free(&g);
    fx_free(&f);
    return m->grad_norm;
}

static void test_tis_weights(void **state) {
    (void)state;
    StepMetrics m0, m1, m2;
    const double g0 = step_grad_norm(0.0, 0.0f, &m0);
    /* the actor's probabilities twice the learner's: pi_learner / pi_actor
     * = 0.5 on every token. With tis_cap the learner's recompute is the
     * proximal policy (rho = 1), each token's term weighted by 0.5 */
    const double g1 = step_grad_norm(log(2.0), 10.0f, &m1);
    const double g2 = step_grad_norm(log(2.0), 0.25f, &m2);
    printf("  grad norm on-policy %.6g, IS weight 0.5: %.6g, capped at 0.25: %.6g\n", g0, g1, g2);
    assert_true(g0 > 0);
    assert_true(fabs(g1 / g0 - 0.5) < 1e-4);
    assert_true(fabs(g2 / g0 - 0.25) < 1e-4);
    assert_true(fabs(m1.is_mean - 0.5) < 1e-5 && m1.is_truncated_frac == 0.0);
    assert_true(m2.is_truncated_frac == 1.0);
    /* rho = 1 against the proximal policy: nothing is clipped */
    assert_true(m1.clip_low + m1.clip_high == 0.0);
}

/* sampler.logprob = truncated: the learner recomputes the log-probs of the
 * top-k kept set the actors report (here: made by model_forward_dist, the
 * same code path as the sampler's, test_sampler.c), not the full softmax. */
static void test_truncated_logprob_recompute(void **state) {
    (void)state;
    Config *cfg = tiny_config();
    SAMP(cfg)->top_k = 3;
    SAMP(cfg)->temperature = 0.8f;
    const SampleDist shipped = {0.8f, 3, 1.0f, LOGPROB_TRUNCATED};
    double diff[2];
    for (int kind = 0; kind < 2; kind++) {
        SAMP(cfg)->logprob = kind ? LOGPROB_TRUNCATED : LOGPROB_FULL;
        Fx f;
        fx_init(&f, cfg);
        Group g[2];
        spec_group(&g[0], &spec_a, 2, 0, &f.policy, &shipped, NULL);
        spec_group(&g[1], &spec_b, 2, 1, &f.policy, &shipped, NULL);
        StepMetrics m;
        learner_step(&f.L, g, 2, 0, &m);
        diff[kind] = m.logp_diff_max;
        for (int i = 0; i < 2; i++) group_free(&g[i]);
        fx_free(&f);
    }
    printf("  truncated old log-probs: learner recompute differs by %.3g (logprob = full), "
           "%.3g (logprob = truncated)\n", diff[0], diff[1]);
    assert_true(diff[1] < 1e-5);
    assert_true(diff[0] > 1e-2);
}

/* ---- the weight scatter ------------------------------------------------------ */

/* One minibatch, one epoch, by hand: the learner's documented pipeline,
 * its forwards on the batch's shared layout (model_forward_batch: each
 * group's prompt once), or with dense = 1 on the plain (B, T) grid
 * (model_forward: every position of every row). *st gets the loss's stats. */
static void manual_step(const Config *cfg, Model *policy, const Model *ref, const Group *sorted,
                        int n, AdamW *opt, int dense, GrpoLossStats *st) {
    const int T = policy->cfg.max_seq_len;
    SeqBatch b;
    batch_init(&b, 8, T);
    float adv[8], cur[32], refp[32], w[32];
    int len[8], rows = 0, ntok = 0;
    long total = 0;
    for (int i = 0; i < n; i++) total += sorted[i].n_tokens;
    assert_true(n <= 4 && total <= 32); /* the arrays above */
    for (int i = 0; i < n; i++) {
        assert_true(rows + sorted[i].G <= 8);
        group_advantages(sorted[i].reward, sorted[i].G, (PgAlgo)grpo_settings(cfg)->algo,
                         (AdvStd)grpo_settings(cfg)->adv_std, grpo_settings(cfg)->adv_eps, adv + rows);
        int64_t off = 0;
        for (int k = 0; k < sorted[i].G; k++) {
            batch_add(&b, sorted[i].prompt, sorted[i].prompt_len, sorted[i].tokens + off,
                      sorted[i].completion_len[k]);
            off += sorted[i].completion_len[k];
            len[rows++] = sorted[i].completion_len[k];
        }
    }
    batch_layout(&b);
    ForwardState *fs = forward_state_new(&policy->cfg, b.B, T);
    float *logp = xmalloc(sizeof(float) * (size_t)b.B * b.T);
    const SampleDist dist = {sampling_settings(cfg)->temperature, 0, 1.0f, LOGPROB_FULL};
    if (dense)
        model_forward(ref, fs, b.tokens, b.targets, b.B, b.T, dist.temperature, logp, NULL);
    else
        model_forward_batch(ref, fs, &b, &dist, logp, NULL);
    for (int r = 0, t = 0; r < rows; r++)
        for (int j = 0; j < len[r]; j++) refp[t++] = logp[batch_index(&b, r, j)];
    if (dense)
        model_forward(policy, fs, b.tokens, b.targets, b.B, b.T, dist.temperature, logp, NULL);
    else
        model_forward_batch(policy, fs, &b, &dist, logp, NULL);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < len[r]; j++) cur[ntok++] = logp[batch_index(&b, r, j)];
    float old[32];
    for (int i = 0, t = 0; i < n; i++)
        for (int64_t j = 0; j < sorted[i].n_tokens; j++) old[t++] = sorted[i].old_logprobs[j];
    GrpoLossConfig gl = grpo_loss_config_defaults();
    gl.eps_low = grpo_settings(cfg)->eps_low;
    gl.eps_high = grpo_settings(cfg)->eps_high;
    gl.beta = grpo_settings(cfg)->beta;
    gl.norm = (LossNorm)grpo_settings(cfg)->loss_norm;
    gl.max_new_tokens = sampling_settings(cfg)->max_new_tokens;
    grpo_loss_compute(w, st, &gl, cur, old, refp, adv, len, rows);
    for (int r = 0, t = 0; r < rows; r++)
        for (int j = 0; j < len[r]; j++) b.weights[batch_index(&b, r, j)] = w[t++];
    model_backward(policy, fs, b.weights);
    model_update(policy, opt, &grpo_settings(cfg)->opt, 0, (long)train_plan(cfg)->steps * grpo_settings(cfg)->inner_epochs);
    xfree(logp);
    forward_state_free(fs);
    batch_free(&b);
}

/* The learner's step and the pipeline by hand (manual_step, dense or on
 * shared prompts) from the same start: beta > 0 against a reference 0.9
 * times the policy (KL > 0), groups off-policy by 0.1 so rho != 1 and the
 * clip and KL both matter, arriving out of order. */
typedef struct {
    Config *cfg;
    Fx f;
    Group g[2], sorted[2];
    Model hand;
    AdamW opt;
    GrpoLossStats st;
    StepMetrics m;
} HandRun;

static void hand_run(HandRun *r, int dense) {
    r->cfg = tiny_config();
    GRPO(r->cfg)->beta = 0.04f;
    GRPO(r->cfg)->micro_batches = 1; /* the one padded batch, bit for bit */
    fx_init(&r->f, r->cfg);
    for (size_t i = 0; i < r->f.ref.n_params; i++) r->f.ref.params[i] *= 0.9f;
    const double sh[2] = {0.1, -0.1};
    make_group(&r->g[0], &spec_b, 2, 7, &r->f.policy, sh); /* arrives first, sorts second */
    make_group(&r->g[1], &spec_a, 2, 3, &r->f.policy, sh);
    init_model(&r->hand, 42);
    model_alloc_grads(&r->hand);
    adamw_init(&r->opt, r->hand.n_params);
    r->sorted[0] = r->g[1];
    r->sorted[1] = r->g[0];
    manual_step(r->cfg, &r->hand, &r->f.ref, r->sorted, 2, &r->opt, dense, &r->st);
    learner_step(&r->f.L, r->g, 2, 0, &r->m);
}

static void hand_run_free(HandRun *r) {
    adamw_free(&r->opt);
    model_free(&r->hand);
    for (int i = 0; i < 2; i++) group_free(&r->g[i]);
    fx_free(&r->f);
    config_free(r->cfg);
}

static void test_scatter_matches_pipeline(void **state) {
    (void)state;
    HandRun r;
    hand_run(&r, 0);
    const StepMetrics *m = &r.m;
    printf("  learner_step vs pipeline by hand: kl %.4g, objective %.4g\n", m->kl, m->objective);
    assert_true(m->kl > 0);
    assert_true(m->kl == r.st.kl_mean && m->objective == r.st.objective);
    assert_memory_equal(r.hand.params, r.f.policy.params, sizeof(float) * r.hand.n_params);
    assert_memory_equal(r.opt.m, r.f.L.opt.m, sizeof(float) * r.hand.n_params);
    /* arrival order does not matter */
    Fx f2;
    fx_init(&f2, r.cfg);
    memcpy(f2.ref.params, r.f.ref.params, sizeof(float) * r.f.ref.n_params);
    StepMetrics m2;
    learner_step(&f2.L, r.sorted, 2, 0, &m2);
    assert_memory_equal(f2.policy.params, r.f.policy.params, sizeof(float) * r.hand.n_params);
    fx_free(&f2);
    hand_run_free(&r);
}

/* The learner's step on shared prompts (a group's prompt once per
 * forward) against the same pipeline by hand on the dense (B, T) grid
 * (every position of every row computed): the same loss, metrics and
 * update up to float rounding (the products change shape). */
static void test_shared_matches_dense(void **state) {
    (void)state;
    HandRun r;
    hand_run(&r, 1);
    const StepMetrics m = r.m;
    const GrpoLossStats st = r.st;
    double dw = 0, dm = 0, sm = 0;
    for (size_t i = 0; i < r.hand.n_params; i++) {
        dw = fmax(dw, fabs((double)r.hand.params[i] - r.f.policy.params[i]));
        dm += ((double)r.opt.m[i] - r.f.L.opt.m[i]) * ((double)r.opt.m[i] - r.f.L.opt.m[i]);
        sm += (double)r.opt.m[i] * r.opt.m[i];
    }
    const double ek = fabs(m.kl - st.kl_mean) / st.kl_mean;
    /* J sums terms rho A of size |A| ~ 1 that largely cancel (a group's
     * advantages sum to 0): its rounding is bounded on that scale, not J's */
    const double eo = fabs(m.objective - st.objective);
    printf("  shared vs dense step: kl %.9g vs %.9g (rel %.2g), objective %.9g vs %.9g (abs "
           "%.2g), gradient (AdamW m) rel %.2g, weights max abs %.2g\n", m.kl, st.kl_mean, ek,
           m.objective, st.objective, eo, sqrt(dm / sm), dw);
    assert_true(ek < 1e-5);
    assert_true(eo < 1e-6);
    assert_true(sqrt(dm / sm) < 1e-5);
    assert_true(dw < 1e-6);
    hand_run_free(&r);
}

/* ---- the first group of the batch, in samples.jsonl ---------------------------- */

/* Groups arriving out of order: the first in batch order is the lowest
 * (rank, seq), and its advantages are group_advantages of its rewards.
 * Its samples.jsonl lines carry those advantages, the decoded texts, the
 * reward components by name and the truncation; the console gets one line. */
static void test_first_group_and_its_samples(void **state) {
    (void)state;
    Config *cfg = tiny_config();
    Fx f;
    fx_init(&f, cfg);
    Group g[2];
    make_group(&g[0], &spec_b, 2, 7, &f.policy, NULL);
    make_group(&g[1], &spec_a, 2, 3, &f.policy, NULL);
    g[1].finish[1] = WIRE_FINISH_LENGTH;
    g[1].policy_version = 5;
    StepMetrics m;
    assert_int_equal(learner_step(&f.L, g, 2, 5, &m), 0);
    const Group *first, *second;
    const float *adv = learner_batch_group(&f.L, 0, &first);
    const float *adv1 = learner_batch_group(&f.L, 1, &second);
    assert_true(first->seq_no == 3 && second->seq_no == 7);
    const GrpoSettings *gs = grpo_settings(cfg);
    float want[2], want1[2];
    group_advantages(spec_a.reward, 2, (PgAlgo)gs->algo, (AdvStd)gs->adv_std, gs->adv_eps, want);
    group_advantages(spec_b.reward, 2, (PgAlgo)gs->algo, (AdvStd)gs->adv_std, gs->adv_eps, want1);
    assert_memory_equal(adv, want, sizeof want);
    assert_memory_equal(adv1, want1, sizeof want1);
    assert_true(adv[0] > 0.99f && adv[1] < -0.99f);

    char dir[] = "/tmp/grpo_test_trainsamples_XXXXXX", path[128], err[600];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    LineFile lf;
    assert_int_equal(linefile_open(&lf, path, 0, err, sizeof err), 0);
    Tokenizer tok;
    tokenizer_init_char(&tok);
    const char *names[] = {"accuracy"};
    char *out = NULL;
    size_t outlen = 0;
    FILE *console = open_memstream(&out, &outlen);
    assert_int_equal(samples_log_write_group(&lf, names, 9, first, adv, &tok, console, err,
                                             sizeof err), 0);
    fclose(console);
    assert_int_equal(linefile_close(&lf, err, sizeof err), 0);
    printf("  console: %s", out);
    assert_non_null(strstr(out, "train group (step 9, actor 1 #3)"));
    assert_non_null(strstr(out, "reward 1 0 | advantage +1.00 -1.00"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)outlen);
    free(out);
    /* ids 4.. are ' '+1.. in the character vocabulary; BOS and EOS have no text */
    const char *texts[2] = {"!\"#", "$%"};
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("%s: line %d is not JSON: %s", path, n + 1, je.text);
        assert_true(n < 2);
        assert_string_equal(json_string_value(json_object_get(o, "kind")), "train");
        assert_int_equal(json_integer_value(json_object_get(o, "step")), 9);
        assert_int_equal(json_integer_value(json_object_get(o, "version")), 5);
        assert_int_equal(json_integer_value(json_object_get(o, "index")), n);
        assert_string_equal(json_string_value(json_object_get(o, "prompt")), " ");
        assert_string_equal(json_string_value(json_object_get(o, "completion")), texts[n]);
        assert_true((float)json_number_value(json_object_get(o, "advantage")) == adv[n]);
        assert_true((float)json_number_value(json_object_get(o, "reward_total")) ==
                    spec_a.reward[n]);
        json_t *r = json_object_get(o, "reward");
        assert_true((float)json_number_value(json_object_get(r, "accuracy")) == spec_a.reward[n]);
        assert_int_equal(json_integer_value(json_object_get(o, "tokens")), spec_a.len[n]);
        assert_true(json_is_boolean(json_object_get(o, "truncated")));
        assert_int_equal(json_is_true(json_object_get(o, "truncated")), n == 1);
        json_decref(o);
        n++;
    }
    fclose(fp);
    assert_int_equal(n, 2);
    unlink(path);
    rmdir(dir);
    for (int i = 0; i < 2; i++) group_free(&g[i]);
    fx_free(&f);
    config_free(cfg);
}

/* ---- non-finite gradients ---------------------------------------------------- */

typedef struct {
    float *params, *m, *v;
    long t;
} OptSnapshot;

static OptSnapshot snap(const Fx *f) {
    OptSnapshot s = {copy_floats(f->policy.params, f->policy.n_params),
                     copy_floats(f->L.opt.m, f->policy.n_params),
                     copy_floats(f->L.opt.v, f->policy.n_params), f->L.opt.t};
    return s;
}

static void assert_unchanged(const OptSnapshot *s, const Fx *f) {
    const size_t n = f->policy.n_params;
    assert_memory_equal(s->params, f->policy.params, sizeof(float) * n);
    assert_memory_equal(s->m, f->L.opt.m, sizeof(float) * n);
    assert_memory_equal(s->v, f->L.opt.v, sizeof(float) * n);
    assert_int_equal(s->t, f->L.opt.t);
}

static void snap_free(OptSnapshot *s) {
    xfree(s->params);
    xfree(s->m);
    xfree(s->v);
}

static void test_nan_reward_skips_update(void **state) {
    (void)state;
    Config *cfg = tiny_config();
    GRPO(cfg)->max_nonfinite_steps = 3;
    Fx f;
    fx_init(&f, cfg);
    Group good, bad;
    make_group(&good, &spec_a, 2, 0, &f.policy, NULL);
    make_group(&bad, &spec_b, 2, 1, &f.policy, NULL);
    bad.reward[0] = NAN; /* a NaN advantage: NaN weights, NaN gradient */
    /* one good step first, so the AdamW moments are not all zero */
    StepMetrics m;
    assert_int_equal(learner_step(&f.L, &good, 1, 0, &m), 0);
    assert_int_equal(m.nonfinite_skipped, 0);
    for (int k = 1; k <= 3; k++) {
        OptSnapshot s = snap(&f);
        const int stop = learner_step(&f.L, &bad, 1, (uint64_t)k, &m);
        printf("  NaN reward, step %d: grad norm %g, skipped %d, in a row %ld, stop %d\n", k,
               m.grad_norm, m.nonfinite_skipped, m.nonfinite_in_a_row, stop);
        assert_unchanged(&s, &f);
        assert_false(isfinite(m.grad_norm));
        assert_int_equal(m.nonfinite_skipped, 1);
        assert_int_equal(m.nonfinite_in_a_row, k);
        assert_int_equal(stop, k == 3);
        assert_int_equal(f.L.opt_steps, 1); /* the schedule does not advance either */
        snap_free(&s);
        for (size_t i = 0; i < f.policy.n_params; i++) assert_true(f.policy.grads[i] == 0.0f);
    }
    assert_int_equal(f.L.nonfinite.total, 3);
    /* a good step ends the run of bad ones */
    assert_int_equal(learner_step(&f.L, &good, 1, 4, &m), 0);
    assert_int_equal(m.nonfinite_in_a_row, 0);
    assert_int_equal(f.L.opt.t, 2);
    /* two minibatches, one bad: the good one is applied */
    Config *cfg2 = config_new_like(cfg);
    config_copy(cfg2, cfg);
    GRPO(cfg2)->minibatches = 2;
    Fx f2;
    fx_init(&f2, cfg2);
    Group both[2] = {good, bad};
    assert_int_equal(learner_step(&f2.L, both, 2, 0, &m), 0);
    assert_int_equal(m.nonfinite_skipped, 1);
    assert_int_equal(f2.L.opt.t, 1);
    for (size_t i = 0; i < f2.policy.n_params; i++) assert_true(isfinite(f2.policy.params[i]));
    fx_free(&f2);
    group_free(&good);
    group_free(&bad);
    fx_free(&f);
}

static void test_nan_reference_skips_update(void **state) {
    (void)state;
    Config *cfg = tiny_config();
    GRPO(cfg)->beta = 0.01f;
    Fx f;
    fx_init(&f, cfg);
    f.ref.w.rms_final[0] = NAN; /* a damaged reference model */
    Group g;
    make_group(&g, &spec_a, 2, 0, &f.policy, NULL);
    OptSnapshot s = snap(&f);
    StepMetrics m;
    learner_step(&f.L, &g, 1, 0, &m);
    assert_unchanged(&s, &f);
    assert_int_equal(m.nonfinite_skipped, 1);
    assert_true(isnan(m.kl));
    snap_free(&s);
    group_free(&g);
    fx_free(&f);
}

static void test_model_update_inf_gradient(void **state) {
    (void)state;
    Model mdl;
    init_model(&mdl, 5);
    model_alloc_grads(&mdl);
    AdamW opt;
    adamw_init(&opt, mdl.n_params);
    OptimSettings os = {.lr = 1e-2f, .lr_min = 1e-3f, .warmup = 0, .weight_decay = 0.1f,
                        .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .grad_clip = 1.0f};
    for (size_t i = 0; i < mdl.n_params; i++) mdl.grads[i] = 1e-3f;
    UpdateStats us = model_update(&mdl, &opt, &os, 0, 10);
    assert_int_equal(us.skipped, 0);
    float *p = copy_floats(mdl.params, mdl.n_params), *m = copy_floats(opt.m, mdl.n_params);
    for (size_t i = 0; i < mdl.n_params; i++) mdl.grads[i] = 1e-3f;
    mdl.grads[7] = INFINITY;
    us = model_update(&mdl, &opt, &os, 1, 10);
    assert_int_equal(us.skipped, 1);
    assert_false(isfinite(us.grad_norm));
    assert_memory_equal(p, mdl.params, sizeof(float) * mdl.n_params);
    assert_memory_equal(m, opt.m, sizeof(float) * mdl.n_params);
    assert_int_equal(opt.t, 1);
    for (size_t i = 0; i < mdl.n_params; i++) assert_true(mdl.grads[i] == 0.0f);
    xfree(p);
    xfree(m);
    adamw_free(&opt);
    model_free(&mdl);
}

static void test_nonfinite_tally(void **state) {
    (void)state;
    NonfiniteTally t = {0, 0};
    assert_int_equal(nonfinite_tally(&t, 1, 2), 0);
    assert_int_equal(nonfinite_tally(&t, 0, 2), 0); /* a good step resets the run */
    assert_int_equal(nonfinite_tally(&t, 2, 2), 0);
    assert_int_equal(nonfinite_tally(&t, 1, 2), 1);
    assert_int_equal(t.in_a_row, 2);
    assert_int_equal(t.total, 4);
    NonfiniteTally u = {0, 0};
    assert_int_equal(nonfinite_tally(&u, 1, 1), 1);
}

int main(void) {
    blas_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_direction),
        cmocka_unit_test(test_clip_stops_gradient),
        cmocka_unit_test(test_minibatches_times_epochs),
        cmocka_unit_test(test_tis_weights),
        cmocka_unit_test(test_truncated_logprob_recompute),
        cmocka_unit_test(test_scatter_matches_pipeline),
        cmocka_unit_test(test_shared_matches_dense),
        cmocka_unit_test(test_first_group_and_its_samples),
        cmocka_unit_test(test_nan_reward_skips_update),
        cmocka_unit_test(test_nan_reference_skips_update),
        cmocka_unit_test(test_model_update_inf_gradient),
        cmocka_unit_test(test_nonfinite_tally),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
