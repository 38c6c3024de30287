/* test_optim.c: AdamW against hand-computed values, gradient clipping and
 * the learning-rate schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "optim.h"

static const AdamWConfig ADAM = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0};

/* Three steps of gradients on three scalars (rows: steps). */
static const float GRADS[3][3] = {{0.5f, -2.0f, 0.25f}, {0.25f, 1.0f, -0.5f}, {-1.0f, 0.5f, 0.0f}};

static void assert_close(double got, double want, double tol) {
    if (fabs(got - want) > tol) fail_msg("got %.9g, want %.9g (tol %g)", got, want, tol);
}

/* lr 0.1, no decay. At t=1, mhat = g and vhat = g^2, so each parameter moves
 * by lr * g/(|g| + eps) ~ lr * sign(g) whatever |g| is: bias correction made
 * visible. Step 2 for p[0] by hand:
 *   m = 0.9*0.05 + 0.1*0.25 = 0.07            mhat = 0.07/(1-0.81)    = 0.368421
 *   v = 0.999*0.00025 + 0.001*0.0625 = 3.1225e-4
 *                                             vhat = v/(1-0.998001)   = 0.156203
 *   p = 0.9 - 0.1 * 0.368421/sqrt(0.156203) = 0.9 - 0.0932180 = 0.806782 */
static void test_adamw_no_decay(void **state) {
    (void)state;
    const float p0[3] = {1.0f, -2.0f, 0.5f};
    float p[3] = {1.0f, -2.0f, 0.5f};
    const double want[3][3] = {{0.900000002, -1.9, 0.400000004},
                               {0.80678204, -1.8733663, 0.436610356},
                               {0.827417743, -1.86722741, 0.464910264}};
    ParamGroup g = {.offset = 0, .count = 3, .decay = 1}; /* decay=1 but wd = 0 */
    AdamW opt;
    adamw_init(&opt, 3);
    for (int s = 0; s < 3; s++) {
        adamw_step(&opt, &ADAM, p, GRADS[s], &g, 1, 0.1f);
        assert_int_equal(opt.t, s + 1);
        for (int i = 0; i < 3; i++) assert_close(p[i], want[s][i], 2e-6);
        if (s == 0) /* ~lr*sign(g): the gradient magnitudes 0.5, 2, 0.25 do not show */
            for (int i = 0; i < 3; i++) assert_close(p0[i] - p[i], 0.1 * copysign(1.0, GRADS[0][i]), 1e-6);
    }
    adamw_free(&opt);
}

/* Same gradients, wd 0.5: group 0 (p[0], p[1]) decays, group 1 (p[2]) does
 * not and must match the no-decay run exactly. Step 1 by hand:
 *   p[0] = 1 - 0.1*(1 + 0.5*1) = 0.85;  p[1] = -2 - 0.1*(-1 + 0.5*-2) = -1.8. */
static void test_adamw_weight_decay(void **state) {
    (void)state;
    float p[3] = {1.0f, -2.0f, 0.5f};
    const double want[3][3] = {{0.850000002, -1.8, 0.400000004},
                               {0.71428204, -1.6833663, 0.436610356},
                               {0.699203641, -1.5930591, 0.464910264}};
    AdamWConfig cfg = ADAM;
    cfg.weight_decay = 0.5f;
    ParamGroup groups[2] = {{.offset = 0, .count = 2, .decay = 1}, {.offset = 2, .count = 1, .decay = 0}};
    AdamW opt;
    adamw_init(&opt, 3);
    for (int s = 0; s < 3; s++) {
        adamw_step(&opt, &cfg, p, GRADS[s], groups, 2, 0.1f);
        for (int i = 0; i < 3; i++) assert_close(p[i], want[s][i], 2e-6);
    }
    adamw_free(&opt);
}

/* A parameter outside every group is left alone, and a zero gradient at t=1
 * does not move anything (0/(0+eps)). */
static void test_adamw_groups_and_zero_grad(void **state) {
    (void)state;
    float p[4] = {1, 2, 3, 4};
    const float g[4] = {0, 1, 1, 1};
    ParamGroup gr = {.offset = 0, .count = 2, .decay = 0};
    AdamW opt;
    adamw_init(&opt, 4);
    adamw_step(&opt, &ADAM, p, g, &gr, 1, 0.01f);
    assert_true(p[0] == 1.0f);
    assert_close(p[1], 2.0 - 0.01, 1e-6);
    assert_true(p[2] == 3.0f && p[3] == 4.0f);
    assert_true(opt.m[2] == 0.0f && opt.v[3] == 0.0f);
    adamw_free(&opt);
}

static void test_grad_norm_and_clip(void **state) {
    (void)state;
    float g[2] = {3.0f, 4.0f};
    assert_true(grad_global_norm(g, 2) == 5.0);
    /* Clipped to norm 1: exactly (0.6, 0.8) as floats. */
    assert_true(grad_clip(g, 2, 1.0) == 5.0);
    assert_true(g[0] == 0.6f && g[1] == 0.8f);
    /* Below the threshold: untouched, and still reports the norm. */
    float h[2] = {3.0f, 4.0f};
    assert_true(grad_clip(h, 2, 10.0) == 5.0);
    assert_true(h[0] == 3.0f && h[1] == 4.0f);
    /* max_norm <= 0 turns clipping off. */
    assert_true(grad_clip(h, 2, 0.0) == 5.0);
    assert_true(h[0] == 3.0f && h[1] == 4.0f);
    /* Many tiny values: the double accumulator keeps them. */
    enum { N = 1 << 20 };
    static float tiny[N];
    for (int i = 0; i < N; i++) tiny[i] = 1e-3f;
    assert_close(grad_global_norm(tiny, N), (double)1e-3f * 1024.0, 1e-9);
}

static void test_lr_schedule(void **state) {
    (void)state;
    const float hi = 1.0f, lo = 0.5f;
    const long W = 10, T = 110;
    /* Warm-up: lr_max*(step+1)/warmup, reaching the peak at step W-1. */
    assert_true(lr_at_step(0, W, T, hi, lo) == 0.1f);
    assert_true(lr_at_step(4, W, T, hi, lo) == 0.5f);
    assert_true(lr_at_step(W - 1, W, T, hi, lo) == hi);
    /* Cosine starts at the peak ... */
    assert_true(lr_at_step(W, W, T, hi, lo) == hi);
    /* ... is exactly halfway at its midpoint ... */
    assert_true(lr_at_step(W + (T - W) / 2, W, T, hi, lo) == 0.75f);
    /* ... a quarter in: lo + (hi-lo)*(1+cos(pi/4))/2 */
    assert_close(lr_at_step(W + (T - W) / 4, W, T, hi, lo), 0.5 + 0.25 * (1 + sqrt(0.5)), 1e-7);
    /* ... and decreasing towards lr_min at the end, constant after. */
    float prev = hi;
    for (long s = W + 1; s < T; s++) {
        float lr = lr_at_step(s, W, T, hi, lo);
        assert_true(lr <= prev && lr > lo);
        prev = lr;
    }
    assert_true(lr_at_step(T, W, T, hi, lo) == lo);
    assert_true(lr_at_step(T + 1000, W, T, hi, lo) == lo);
    /* Realistic values: midpoint is (lr_max + lr_min)/2 up to float rounding. */
    assert_close(lr_at_step(50 + 500, 50, 1050, 3e-4f, 3e-5f), (3e-4 + 3e-5) / 2, 1e-10);
    /* No warm-up: step 0 is already the peak. */
    assert_true(lr_at_step(0, 0, 100, hi, lo) == hi);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_no_decay),
        cmocka_unit_test(test_adamw_weight_decay),
        cmocka_unit_test(test_adamw_groups_and_zero_grad),
        cmocka_unit_test(test_grad_norm_and_clip),
        cmocka_unit_test(test_lr_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
