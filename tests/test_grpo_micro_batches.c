/* test_grpo_micro_batches.c: [grpo] micro_batches (grpo_step.c). A
 * minibatch's rows run in chunks of whole groups (while there are at least
 * as many groups as chunks), each group's prompt computed once and no
 * padding; the loss keeps the minibatch's normalisers. On a batch of
 * groups with very different completion lengths, against micro_batches = 1
 * (the one padded batch):
 *   - the gradients (AdamW's moments after the step, at lr = 0 so every
 *     update is taken at the same weights) agree to 1e-5 relative in norm,
 *     the objective to 1e-6 (of its terms' scale: obj_err), every compared
 *     StepMetrics field to 1e-5, for
 *     k = 2, 3, 4, 7 and more chunks than rows, with beta > 0, each loss
 *     normalisation, tis_cap, minibatches = 2 and inner_epochs = 2;
 *   - the same positions are computed (StepMetrics.learner_tokens) while
 *     chunks hold whole groups, more once a group's prompt is split;
 *   - with lr > 0 the weights after the step agree too;
 *   - [grpo] grad_shards = S (the gradient a fixed tree sum of S shards)
 *     gives the same gradient to 1e-5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "blas_setup.h"
#include "config.h"
#include "grpo_loss.h"
#include "grpo_step.h"
#include "model.h"
#include "rng.h"
#include "sample_dist.h"
#include "sections.h"
#include "util.h"
#include "test_learner_common.h"
#include "wire.h"

enum { V = 11, PLEN = 3, MAXC = 28, NG = 6, G = 4 };

static void init_model(Model *m, uint64_t seed) {
    ModelConfig c = learner_test_model(V, PLEN + MAXC + 1);
    learner_test_init(m, &c, seed);
}

static Config *base_config(void) {
    Config *c = grpo_config_new();
    PLAN(c)->prompts_per_step = NG;
    PLAN(c)->group_size = G;
    PLAN(c)->steps = 10;
    SAMP(c)->max_new_tokens = MAXC;
    SAMP(c)->temperature = 1.0f;
    GRPO(c)->minibatches = 1;
    GRPO(c)->inner_epochs = 1;
    GRPO(c)->beta = 0.04f;
    GRPO(c)->opt.lr = 0;
    GRPO(c)->opt.lr_min = 0;
    GRPO(c)->opt.warmup = 0;
    GRPO(c)->opt.weight_decay = 0;
    GRPO(c)->opt.grad_clip = 0;
    return c;
}

/* Per-token log-probs of prompt ++ comp under m (full softmax, T = 1). */
static void token_logps(const Model *m, const int *prompt, const int *comp, int clen, float *out) {
    const SampleDist dist = {1.0f, 0, 1.0f, LOGPROB_FULL};
    completion_logps(m, &dist, prompt, PLEN, comp, clen, out);
}

/* NG groups of G completions, lengths 1..MAXC spread unevenly within and
 * across groups (the reasoning task's short sums next to long products),
 * rewards 0/1 with signal, old log-probs the policy's shifted by up to
 * +-0.3 per completion (ratios 0.74..1.35: some tokens clipped). */
static void make_batch(Group *g, const Model *policy) {
    Rng r;
    rng_seed(&r, 7, 1);
    for (int i = 0; i < NG; i++) {
        int len[G];
        int64_t n = 0;
        for (int k = 0; k < G; k++) {
            /* even groups mostly short, odd groups mostly long, one outlier */
            int base = i % 2 ? 18 : 2;
            len[k] = base + (int)(rng_uniform(&r) * 8);
            if (k == (i % G)) len[k] = i % 2 ? 1 + i : MAXC - i;
            if (len[k] > MAXC) len[k] = MAXC;
            n += len[k];
        }
        group_alloc(&g[i], G, PLEN, 1, n);
        g[i].actor_rank = 1;
        g[i].seq_no = (uint64_t)(NG - i); /* arrives in reverse order */
        g[i].prompt[0] = 1;
        for (int j = 1; j < PLEN; j++) g[i].prompt[j] = 3 + (int)(rng_uniform(&r) * (V - 3));
        int64_t off = 0;
        for (int k = 0; k < G; k++) {
            g[i].completion_len[k] = len[k];
            for (int j = 0; j < len[k]; j++) g[i].tokens[off + j] = 3 + (int)(rng_uniform(&r) * (V - 3));
            token_logps(policy, g[i].prompt, g[i].tokens + off, len[k], g[i].old_logprobs + off);
            const float shift = 0.6f * (float)rng_uniform(&r) - 0.3f;
            for (int j = 0; j < len[k]; j++) g[i].old_logprobs[off + j] += shift;
            g[i].reward[k] = g[i].reward_comp[k] = (float)((i + k) % 3 == 0);
            g[i].finish[k] = len[k] == MAXC ? WIRE_FINISH_LENGTH : WIRE_FINISH_EOS;
            off += len[k];
        }
    }
}

typedef struct {
    StepMetrics m;
    float *params, *mom, *var;
    size_t n;
    double adv_scale; /* mean |advantage| of the rows (learner_batch_group) */
} Run;

/* One learner_step on the batch under cfg with micro_batches = k, from the
 * same policy and reference every time. */
static Run run_step(const Config *base, int k) {
    Config *cfg = config_new_like(base);
    config_copy(cfg, base);
    GRPO(cfg)->micro_batches = k;
    Model policy, ref;
    init_model(&policy, 42);
    init_model(&ref, 42);
    for (size_t i = 0; i < ref.n_params; i++) ref.params[i] *= 0.9f; /* KL > 0 */
    model_alloc_grads(&policy);
    Group g[NG];
    make_batch(g, &policy);
    Learner L;
    learner_init(&L, &policy, &ref, cfg);
    Run r = {.n = policy.n_params};
    assert_int_equal(learner_step(&L, g, NG, 0, &r.m), 0);
    assert_int_equal(r.m.nonfinite_skipped, 0);
    for (int i = 0; i < NG; i++) {
        const Group *gi;
        const float *adv = learner_batch_group(&L, i, &gi);
        for (int j = 0; j < G; j++) r.adv_scale += fabs(adv[j]) / (NG * G);
    }
    r.params = xmalloc(sizeof(float) * r.n);
    r.mom = xmalloc(sizeof(float) * r.n);
    r.var = xmalloc(sizeof(float) * r.n);
    memcpy(r.params, policy.params, sizeof(float) * r.n);
    memcpy(r.mom, L.opt.m, sizeof(float) * r.n);
    memcpy(r.var, L.opt.v, sizeof(float) * r.n);
    learner_free(&L);
    for (int i = 0; i < NG; i++) group_free(&g[i]);
    model_free(&policy);
    model_free(&ref);
    config_free(cfg);
    return r;
}

static void run_free(Run *r) {
    xfree(r->params);
    xfree(r->mom);
    xfree(r->var);
}

/* ||a - b|| / ||b|| */
static double rel_norm(const float *a, const float *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return s > 0 ? sqrt(d / s) : sqrt(d);
}

static double rel(double a, double b) {
    const double s = fmax(fabs(a), fabs(b));
    return s > 0 ? fabs(a - b) / s : 0;
}

/* The objective against the one batch's, to tol relative to its scale:
 * J is a sum of terms rho A - beta kl of size |A| ~ 1 that largely cancel
 * (a group's advantages sum to 0), while a forward over a differently
 * shaped batch may round a log-prob differently in its last bits (BLAS
 * blocking; measured: up to 3e-8 relative in the mean KL). So J's error is bounded by its terms' scale (mean |A|), not by J:
 * at J = -0.019 that scale is ~50 times |J|. */
static double obj_err(const Run *r, const Run *one) {
    return fabs(r->m.objective - one->m.objective) /
           fmax(fabs(one->m.objective), one->adv_scale);
}

#define CLOSE(field, tol)                                                                        \
    do {                                                                                         \
        const double e_ = rel(r.m.field, one.m.field);                                           \
        if (e_ > (tol))                                                                          \
            fail_msg("micro_batches %d: " #field " %.9g vs %.9g (one batch), rel %.3g", k,       \
                     (double)r.m.field, (double)one.m.field, e_);                                \
    } while (0)

/* Compares micro_batches = 2, 3, 4, 7, 64 with 1 under cfg; lr = 0 so the
 * moments hold the gradients of every update taken at the same weights
 * (one update: m = (1 - beta1) g exactly). */
static void compare_chunkings(const Config *cfg, const char *what) {
    Run one = run_step(cfg, 1);
    assert_true(one.m.objective != 0.0);
    const int ks[] = {2, 3, 4, 7, 64};
    for (size_t q = 0; q < sizeof ks / sizeof *ks; q++) {
        const int k = ks[q];
        Run r = run_step(cfg, k);
        const double eg = rel_norm(r.mom, one.mom, r.n), ev = rel_norm(r.var, one.var, r.n);
        printf("  %s, micro_batches %2d: grad rel diff %.2e (second moment %.2e), objective "
               "%.9g vs %.9g, positions %ld vs %ld\n",
               what, k, eg, ev, r.m.objective, one.m.objective, r.m.learner_tokens,
               one.m.learner_tokens);
        assert_true(eg < 1e-5);
        assert_true(ev < 1e-5);
        assert_memory_equal(r.params, one.params, sizeof(float) * r.n); /* lr = 0 */
        const double eo = obj_err(&r, &one);
        if (eo > 1e-6) fail_msg("micro_batches %d: objective rel error %.3g", k, eo);
        CLOSE(kl, 1e-5);
        CLOSE(entropy, 1e-5);
        CLOSE(logp_diff_max, 1e-5);
        CLOSE(logp_diff_mean, 1e-5);
        CLOSE(clip_low, 1e-12);
        CLOSE(clip_high, 1e-12);
        CLOSE(ratio_max_dev, 1e-5);
        CLOSE(is_mean, 1e-5);
        CLOSE(is_min, 1e-5);
        CLOSE(is_max, 1e-5);
        CLOSE(is_truncated_frac, 1e-12);
        CLOSE(grad_norm, 1e-5);
        CLOSE(reward_mean, 0);
        CLOSE(reward_std, 0);
        CLOSE(len_mean, 0);
        CLOSE(truncated_frac, 0);
        CLOSE(zero_var_frac, 0);
        assert_int_equal(r.m.tokens, one.m.tokens);
        assert_int_equal(r.m.len_max, one.m.len_max);
        assert_int_equal(r.m.n_completions, one.m.n_completions);
        assert_true(r.m.lr == one.m.lr);
        /* the one batch computes each prompt once and no padding; chunks of
         * whole groups the same positions, a group split across chunks
         * its prompt once per chunk */
        const int groups = NG / grpo_settings(cfg)->minibatches; /* per minibatch */
        if (k <= groups)
            assert_int_equal(r.m.learner_tokens, one.m.learner_tokens);
        else
            assert_true(r.m.learner_tokens > one.m.learner_tokens);
        run_free(&r);
    }
    run_free(&one);
}

static void test_same_gradient_one_minibatch(void **state) {
    (void)state;
    Config *cfg = base_config();
    for (int norm = 0; norm < NORM_COUNT; norm++) {
        GRPO(cfg)->loss_norm = norm;
        char what[64];
        snprintf(what, sizeof what, "beta 0.04, loss_norm %s", loss_norm_name(norm));
        compare_chunkings(cfg, what);
    }
    config_free(cfg);
}

static void test_same_gradient_minibatches_epochs(void **state) {
    (void)state;
    Config *cfg = base_config();
    GRPO(cfg)->minibatches = 2;
    GRPO(cfg)->inner_epochs = 2;
    GRPO(cfg)->loss_norm = NORM_TOKEN;
    compare_chunkings(cfg, "minibatches 2, inner_epochs 2, token");
    GRPO(cfg)->minibatches = 1;
    GRPO(cfg)->loss_norm = NORM_SEQUENCE;
    compare_chunkings(cfg, "minibatches 1, inner_epochs 2, sequence");
    GRPO(cfg)->minibatches = 3;
    GRPO(cfg)->inner_epochs = 1;
    GRPO(cfg)->tis_cap = 1.1f;
    compare_chunkings(cfg, "minibatches 3, tis_cap 1.1");
    GRPO(cfg)->minibatches = 1;
    GRPO(cfg)->beta = 0;
    compare_chunkings(cfg, "beta 0, tis_cap 1.1");
    config_free(cfg);
}

/* [grpo] grad_shards: a minibatch's gradient summed from S shards of its
 * groups (each from zero, added in a fixed tree) is the one batch's up to
 * summation order, for S = 2, 3, 4 and more shards than groups, with
 * minibatches and epochs. */
static void test_grad_shards_same_gradient(void **state) {
    (void)state;
    Config *cfg = base_config();
    GRPO(cfg)->minibatches = 2;
    GRPO(cfg)->inner_epochs = 2;
    Run one = run_step(cfg, 4);
    const int shards[] = {2, 3, 4, 8};
    for (size_t q = 0; q < sizeof shards / sizeof *shards; q++) {
        GRPO(cfg)->grad_shards = shards[q];
        Run r = run_step(cfg, 4);
        const int k = shards[q]; /* for CLOSE's message */
        const double eg = rel_norm(r.mom, one.mom, r.n), ev = rel_norm(r.var, one.var, r.n);
        printf("  grad_shards %d: grad rel diff %.2e (second moment %.2e), objective %.9g vs "
               "%.9g\n", k, eg, ev, r.m.objective, one.m.objective);
        assert_true(eg < 1e-5);
        assert_true(ev < 1e-5);
        assert_true(obj_err(&r, &one) < 1e-6);
        CLOSE(kl, 1e-5);
        CLOSE(grad_norm, 1e-5);
        CLOSE(entropy, 1e-5);
        assert_int_equal(r.m.tokens, one.m.tokens);
        run_free(&r);
    }
    run_free(&one);
    config_free(cfg);
}

/* lr > 0: the updates move the weights between minibatches and epochs;
 * the weights after the step still agree. */
static void test_same_weights_after_updates(void **state) {
    (void)state;
    Config *cfg = base_config();
    GRPO(cfg)->opt.lr = 1e-4f;
    GRPO(cfg)->opt.lr_min = 1e-4f;
    GRPO(cfg)->minibatches = 2;
    GRPO(cfg)->inner_epochs = 2;
    Run one = run_step(cfg, 1);
    Run r = run_step(cfg, 4);
    double moved = 0, diff = 0;
    for (size_t i = 0; i < r.n; i++) diff = fmax(diff, fabs((double)r.params[i] - one.params[i]));
    Model start;
    init_model(&start, 42);
    for (size_t i = 0; i < r.n; i++) moved = fmax(moved, fabs((double)one.params[i] - start.params[i]));
    printf("  lr 1e-4, 4 updates: weights moved up to %.3g, micro_batches 4 vs 1 differ by %.3g, "
           "objective %.9g vs %.9g\n", moved, diff, r.m.objective, one.m.objective);
    assert_true(moved > 1e-4);
    assert_true(diff < 1e-2 * moved);
    assert_true(obj_err(&r, &one) < 1e-6);
    model_free(&start);
    run_free(&r);
    run_free(&one);
    config_free(cfg);
}

/* The key: default 4, bounds checked; like [sft] micro_batches not run-defining (the
 * same gradient up to summation order: a resume may change it). */
static void test_key(void **state) {
    (void)state;
    Config *cfg = grpo_config_new();
    char err[600];
    assert_int_equal(grpo_settings(cfg)->micro_batches, 4);
    assert_int_equal(config_set(cfg, "grpo.micro_batches=1", err, sizeof err), 0);
    assert_int_equal(grpo_settings(cfg)->micro_batches, 1);
    assert_true(config_set(cfg, "grpo.micro_batches=0", err, sizeof err) != 0);
    config_free(cfg);
}

int main(void) {
    blas_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_gradient_one_minibatch),
        cmocka_unit_test(test_same_gradient_minibatches_epochs),
        cmocka_unit_test(test_same_weights_after_updates),
        cmocka_unit_test(test_grad_shards_same_gradient),
        cmocka_unit_test(test_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
