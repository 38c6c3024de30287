/* The Bradley-Terry loss (learner/bt_loss.c) and its path through the
 * reward model (learner/rm_batch.c):
 *   - every row of ../shared/PPO.md's table: L and dL/dR(chosen), and
 *     dL/dR(rejected) = -dL/dR(chosen);
 *   - no overflow or lost digits at large margins, either sign;
 *   - the batch mean, its per-pair gradient / n, pairwise accuracy with
 *     ties counted 1/2;
 *   - rm_step_grad's gradient (the mean loss over three pairs of unequal
 *     lengths, chosen and rejected stacked in one forward, padding and
 *     all) against central finite differences over every element of every
 *     tensor of a tiny scalar model. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bt_loss.h"
#include "model.h"
#include "rm_batch.h"
#include "rng.h"
#include "util.h"

/* ../shared/PPO.md: R(chosen), R(rejected), L, dL/dR(chosen) */
static const double table[][4] = {
    {1.0, 0.0, 0.3133, -0.2689},
    {0.0, 0.0, 0.6931, -0.5000},
    {-0.5, 0.5, 1.3133, -0.7311},
    {2.0, -1.0, 0.0486, -0.0474},
};

static void test_worked_numbers(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        double g;
        double L = bt_loss(table[i][0], table[i][1], &g);
        printf("  Rc %+.1f Rr %+.1f: L %.6f dL/dRc %.6f\n", table[i][0], table[i][1], L, g);
        assert_float_equal(L, table[i][2], 5e-5);
        assert_float_equal(g, table[i][3], 5e-5);
        /* the batch path of one pair: dL/dRr is exactly the negative */
        float rc = (float)table[i][0], rr = (float)table[i][1], gc, gr;
        double right;
        double Lb = bt_loss_batch(&rc, &rr, 1, &gc, &gr, &right);
        assert_float_equal(Lb, table[i][2], 5e-5);
        assert_true(gc == -gr);
        assert_float_equal(gc, table[i][3], 5e-5);
        assert_float_equal(right, rc > rr ? 1.0 : rc == rr ? 0.5 : 0.0, 0);
    }
    /* dL/dRc = -(1 - sigmoid(m)), L = -log sigmoid(m) in closed form */
    for (double m = -6; m <= 6; m += 0.25) {
        double g, L = bt_loss(m + 0.3, 0.3, &g), s = 1 / (1 + exp(-m));
        assert_float_equal(L, -log(s), 1e-12);
        assert_float_equal(g, -(1 - s), 1e-12);
    }
}

/* A margin of -1000 costs 1000 (not inf), +1000 ~0 (not NaN); the
 * gradients saturate at -1 and 0. */
static void test_large_margins(void **st) {
    (void)st;
    double g;
    double L = bt_loss(-500, 500, &g);
    assert_float_equal(L, 1000, 1e-9);
    assert_float_equal(g, -1, 1e-12);
    L = bt_loss(500, -500, &g);
    assert_true(L >= 0 && L < 1e-300 && isfinite(L));
    assert_true(g <= 0 && g > -1e-300);
    L = bt_loss(40, 0, &g); /* exp(-40) = 4.25e-18: kept, not rounded to 0 */
    assert_float_equal(L / exp(-40.0), 1.0, 1e-9);
}

static void test_batch_mean_and_accuracy(void **st) {
    (void)st;
    float rc[4] = {1.0f, 0.0f, -0.5f, 2.0f}, rr[4] = {0.0f, 0.0f, 0.5f, -1.0f}, gc[4], gr[4];
    double right;
    double L = bt_loss_batch(rc, rr, 4, gc, gr, &right);
    assert_float_equal(L, (0.3133 + 0.6931 + 1.3133 + 0.0486) / 4, 1e-4);
    for (int i = 0; i < 4; i++) {
        assert_float_equal(gc[i], table[i][3] / 4, 2e-5);
        assert_true(gr[i] == -gc[i]);
    }
    /* right, tie, wrong, right */
    assert_float_equal(right, 2.5, 0);
    assert_float_equal(bt_loss_batch(rc, rr, 0, NULL, NULL, &right), 0, 0);
    assert_float_equal(right, 0, 0);
}

/* ---- through the model ---- */

#define FD_EPS 3e-3f
#define ATOL 1e-3
#define RTOL 1e-2
#define COS_MIN 0.9999

enum { NPAIRS = 3 };

typedef struct {
    Model *m;
    RmBatch *b;
    const Comparison *pairs;
} PairLoss;

static double pair_loss(const PairLoss *a, int grad) {
    static const int idx[NPAIRS] = {0, 1, 2};
    double right;
    long long tokens = 0;
    if (grad) return rm_step_grad(a->m, a->b, a->pairs, idx, NPAIRS, 0, &right, &tokens);
    rm_batch_forward(a->m, a->b, a->pairs, idx, NPAIRS, 0, &tokens);
    return bt_loss_batch(a->b->rc, a->b->rr, NPAIRS, NULL, NULL, &right);
}

static void test_gradcheck_through_model(void **st) {
    (void)st;
    ModelConfig c = {.vocab_size = 11, .dim = 16, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                     .hidden_dim = 24, .max_seq_len = 8, .tied_embeddings = 0,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f, .head = MODEL_HEAD_SCALAR};
    Model m;
    model_init(&m, &c);
    /* large weights, so attention and the MLP are far from linear */
    size_t sizes[MODEL_NUM_TENSORS], off = 0;
    model_tensor_sizes(&c, sizes);
    Rng r;
    rng_seed(&r, 3, 7);
    for (int t = 0; t < MODEL_NUM_TENSORS; t++) {
        int gain = t == 1 || t == 6 || t == 10; /* rms_att, rms_ffn, rms_final */
        for (size_t j = 0; j < sizes[t]; j++)
            m.params[off + j] = gain ? 1.0f + 0.2f * rng_normal(&r) : 0.3f * rng_normal(&r);
        off += sizes[t];
    }
    model_alloc_grads(&m);
    /* three pairs of unequal lengths: padding inside the stacked batch */
    int c0[] = {1, 4, 5, 2}, r0[] = {1, 4, 6, 7, 8, 2}, c1[] = {1, 3, 2}, r1[] = {1, 9, 2},
        c2[] = {1, 10, 3, 3, 4, 5, 6, 2}, r2[] = {1, 10, 2};
    Comparison pairs[NPAIRS] = {
        {.len_c = 4, .len_r = 6, .chosen = c0, .rejected = r0},
        {.len_c = 3, .len_r = 3, .chosen = c1, .rejected = r1},
        {.len_c = 8, .len_r = 3, .chosen = c2, .rejected = r2},
    };
    RmBatch b;
    rm_batch_init(&b, &c, NPAIRS, 8);
    PairLoss a = {&m, &b, pairs};
    model_zero_grads(&m);
    double L = pair_loss(&a, 1);
    printf("  loss over %d pairs %.6f\n", NPAIRS, L);
    assert_true(L > 0.05 && L < 5);
    /* the bias: dL/db = sum of dL/dR over both sides = 0 exactly in math */
    assert_float_equal(m.grads[m.n_params - 1], 0, 1e-6);
    int failures = 0;
    off = 0;
    for (int t = 0; t < MODEL_NUM_TENSORS; t++) {
        double dot = 0, ng = 0, nf = 0, worst = 0;
        for (size_t j = 0; j < sizes[t]; j++) {
            float *p = m.params + off + j, orig = *p;
            *p = orig + FD_EPS;
            float hi = *p;
            double Lp = pair_loss(&a, 0);
            *p = orig - FD_EPS;
            float lo = *p;
            double Lm = pair_loss(&a, 0);
            *p = orig;
            double fd = (Lp - Lm) / ((double)hi - lo), g = m.grads[off + j];
            dot += g * fd;
            ng += g * g;
            nf += fd * fd;
            double excess = fabs(g - fd) / (ATOL + RTOL * fabs(fd));
            if (excess > worst) worst = excess;
        }
        double cosine = sizes[t] ? dot / (sqrt(ng * nf) + 1e-30) : 1;
        /* a tensor whose gradient is 0 in math (the bias) has cosine 0 */
        int ok = worst <= 1.0 && (cosine >= COS_MIN || sqrt(ng) < 1e-6);
        printf("  %-9s n=%-4zu 1-cos %.1e  worst |g-fd|/tol %.3f%s\n", model_tensor_name(t),
               sizes[t], 1 - cosine, worst, ok ? "" : "  FAIL");
        failures += !ok;
        off += sizes[t];
    }
    rm_batch_free(&b);
    model_free(&m);
    assert_int_equal(failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_numbers),
        cmocka_unit_test(test_large_margins),
        cmocka_unit_test(test_batch_mean_and_accuracy),
        cmocka_unit_test(test_gradcheck_through_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
