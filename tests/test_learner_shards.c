/* test_learner_shards.c: how the data-parallel learners split a step
 * (grpo_step.c: plan_minibatches, shard_start), in one process: learner j
 * of K = 2 is a Learner given LearnerPeers whose collectives do nothing,
 * so after its step its gradient (Learner.grad_out) is its share alone.
 *   - the shards are cut at about equal tokens: one long group beside
 *     three short ones goes alone to learner 0 (by group count it would
 *     share it with a short one, 136 against 56 tokens); equal lengths
 *     still split by count;
 *   - the two shares' gradients added are the bits of one learner with
 *     [grpo] grad_shards = 2, and K = 2 with grad_shards = 1 gives those
 *     bits too: [grpo] micro_batches counts a minibatch's chunks over all
 *     the learners, so each learner's chunks hold the rows one learner's
 *     would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "grpo_step.h"
#include "model.h"
#include "rng.h"
#include "sections.h"
#include "util.h"
#include "test_learner_common.h"
#include "wire.h"

enum { V = 11, PLEN = 3, MAXC = 24, NG = 4, G = 4 };

static ModelConfig small_model(void) { return learner_test_model(V, PLEN + MAXC + 1); }

/* NG groups of G completions; group i's completions are len[i] tokens. */
static void make_batch(Group *g, const int *len) {
    Rng r;
    rng_seed(&r, 5, 2);
    for (int i = 0; i < NG; i++) {
        group_alloc(&g[i], G, PLEN, 1, (int64_t)G * len[i]);
        g[i].actor_rank = 1;
        g[i].seq_no = (uint64_t)i;
        g[i].prompt[0] = 1;
        for (int j = 1; j < PLEN; j++) g[i].prompt[j] = 3 + (int)rng_below(&r, V - 3);
        for (int j = 0; j < G * len[i]; j++) {
            g[i].tokens[j] = 3 + (int)rng_below(&r, V - 3);
            g[i].old_logprobs[j] = -2.4f + 0.2f * (rng_uniform(&r) - 0.5f); /* ~ log(1/11) */
        }
        for (int k = 0; k < G; k++) {
            g[i].completion_len[k] = len[i];
            g[i].reward[k] = g[i].reward_comp[k] = (float)((i + k) % 3 == 0);
            g[i].finish[k] = WIRE_FINISH_EOS;
        }
    }
}

static void no_floats(void *ctx, float *buf, size_t n) { (void)ctx; (void)buf; (void)n; }
static void no_doubles(void *ctx, double *buf, int n) { (void)ctx; (void)buf; (void)n; }

/* One learner_step from the same start: learner j of K (K = 2: its share
 * only) with grad_shards S; its first update's gradient into grad (n
 * floats) and its shards' rows into rows[0 .. per) (row0, rows pairs). */
static void step(const Group *g, int j, int K, int S, float *grad, size_t n, int *rows) {
    ModelConfig c = small_model();
    Config *cfg = grpo_config_new();
    PLAN(cfg)->prompts_per_step = NG;
    PLAN(cfg)->group_size = G;
    PLAN(cfg)->steps = 10;
    SAMP(cfg)->max_new_tokens = MAXC;
    GRPO(cfg)->beta = 0.04f;
    GRPO(cfg)->grad_shards = S;
    Model policy, ref;
    model_init(&policy, &c);
    model_init_weights(&policy, 3);
    model_init(&ref, &c);
    model_init_weights(&ref, 3);
    model_alloc_grads(&policy);
    assert_int_equal(policy.n_params, n);
    Learner L;
    learner_init(&L, &policy, &ref, cfg);
    if (K > 1) {
        LearnerPeers p = {j, K, no_floats, no_doubles, no_doubles, NULL};
        learner_set_peers(&L, &p);
    }
    L.grad_out = grad;
    StepMetrics m;
    learner_step(&L, g, NG, 0, &m);
    const int per = L.n_shards / K;
    for (int q = 0; q < per; q++) {
        rows[2 * q] = L.shards[q].row0;
        rows[2 * q + 1] = L.shards[q].rows;
    }
    learner_free(&L);
    model_free(&policy);
    model_free(&ref);
    config_free(cfg);
}

static size_t n_params(void) {
    ModelConfig c = small_model();
    Model m;
    model_init(&m, &c);
    const size_t n = m.n_params;
    model_free(&m);
    return n;
}

static void test_shards_cut_at_equal_tokens(void **state) {
    (void)state;
    const size_t n = n_params();
    float *grad = xmalloc(sizeof(float) * n);
    int rows[2][2];
    Group g[NG];
    /* tokens per group (prompt + completion per row): 108, 28, 28, 28 */
    const int uneven[NG] = {MAXC, 4, 4, 4};
    make_batch(g, uneven);
    for (int j = 0; j < 2; j++) step(g, j, 2, 1, grad, n, rows[j]);
    printf("  lengths 24,4,4,4: learner 0 rows [%d, +%d), learner 1 rows [%d, +%d)\n",
           rows[0][0], rows[0][1], rows[1][0], rows[1][1]);
    assert_int_equal(rows[0][0], 0);
    assert_int_equal(rows[0][1], G);          /* the long group alone: 108 tokens */
    assert_int_equal(rows[1][0], G);
    assert_int_equal(rows[1][1], 3 * G);      /* the three short ones: 84 */
    for (int i = 0; i < NG; i++) group_free(&g[i]);
    const int even[NG] = {9, 9, 9, 9};
    make_batch(g, even);
    for (int j = 0; j < 2; j++) step(g, j, 2, 1, grad, n, rows[j]);
    assert_int_equal(rows[0][1], 2 * G);      /* equal lengths: two groups each */
    assert_int_equal(rows[1][0], 2 * G);
    assert_int_equal(rows[1][1], 2 * G);
    for (int i = 0; i < NG; i++) group_free(&g[i]);
    xfree(grad);
}

static void test_two_shares_add_to_one_learners_bits(void **state) {
    (void)state;
    const size_t n = n_params();
    float *one = xmalloc(sizeof(float) * n), *a = xmalloc(sizeof(float) * n),
          *b = xmalloc(sizeof(float) * n);
    int rows[2][2];
    Group g[NG];
    const int uneven[NG] = {MAXC, 4, 7, 13};
    make_batch(g, uneven);
    step(g, 0, 1, 2, one, n, rows[0]); /* one learner, grad_shards = 2 */
    for (int S = 1; S <= 2; S++) {
        step(g, 0, 2, S, a, n, rows[0]);
        step(g, 1, 2, S, b, n, rows[1]);
        size_t differ = 0;
        double norm = 0;
        for (size_t i = 0; i < n; i++) {
            differ += a[i] + b[i] != one[i];
            norm += (double)one[i] * one[i];
        }
        printf("  K = 2, grad_shards %d: %zu of %zu gradient elements differ from K = 1 "
               "grad_shards 2 (|g|^2 %.3g)\n", S, differ, n, norm);
        assert_true(norm > 0);
        assert_int_equal(differ, 0);
    }
    for (int i = 0; i < NG; i++) group_free(&g[i]);
    xfree(one);
    xfree(a);
    xfree(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shards_cut_at_equal_tokens),
        cmocka_unit_test(test_two_shares_add_to_one_learners_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
