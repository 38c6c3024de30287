/* test_model_kernels.c: the element-wise and row kernels of
 * model_kernels.h against naive double-precision references written out
 * here from their formulas, at lengths that exercise both the 8-wide main
 * loops and their tails:
 *   - softmax_row (one pass for exp and sum): vs exp(x - max) / sum, and
 *     bit-identical on repeat;
 *   - log_sum_exp_row: vs a long-double log-sum-exp, max at every position
 *     (the vector max and its tail), NaN propagated;
 *   - logp_backward (exp_f32): vs w / T (softmax - onehot), full and
 *     truncated, padding rows zero;
 *   - softmax_backward_row vs p * (g - sum(p g)) in double;
 *   - swiglu_forward / backward and rmsnorm_forward / backward vs their
 *     formulas (backward against the analytic derivative), and
 *     rmsnorm_forward_copy bit for bit as rmsnorm_forward + memcpy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model_kernels.h"
#include "rng.h"
#include "sample_dist.h"
#include "util.h"

static const int lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 64, 97, 256};
enum { NLENS = sizeof lens / sizeof lens[0] };

static void fill_normal(float *x, int n, float scale, Rng *r) {
    for (int i = 0; i < n; i++) x[i] = scale * rng_normal(r);
}

static void test_softmax_row_vs_naive(void **st) {
    (void)st;
    Rng r;
    rng_seed(&r, 5, 1);
    float x[256], y[256], y2[256];
    double worst = 0;
    for (int li = 0; li < NLENS; li++) {
        const int n = lens[li];
        fill_normal(x, n, 3.0f, &r);
        memcpy(y, x, sizeof(float) * n);
        softmax_row(y, n);
        memcpy(y2, x, sizeof(float) * n);
        softmax_row(y2, n);
        assert_memory_equal(y, y2, sizeof(float) * n); /* deterministic */
        double mx = x[0], s = 0, total = 0;
        for (int j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
        for (int j = 0; j < n; j++) s += exp((double)x[j] - mx);
        for (int j = 0; j < n; j++) {
            const double ref = exp((double)x[j] - mx) / s;
            const double err = fabs(y[j] - ref) / ref;
            if (err > worst) worst = err;
            total += y[j];
        }
        assert_true(fabs(total - 1.0) < 1e-5);
    }
    printf("  softmax_row vs double: max rel err %.2e\n", worst);
    assert_true(worst < 4e-6); /* float: a few ulp from x - max, exp_f32 and the sum */
}

/* The attention softmax's backward on rows of every length in lens:
 * probabilities from softmax_row, a random upstream gradient. */
static void test_softmax_backward_row_vs_naive(void **st) {
    (void)st;
    Rng r;
    rng_seed(&r, 15, 1);
    float p[256], g[256], ds[256], ds2[256];
    double worst = 0;
    for (int li = 0; li < NLENS; li++) {
        const int n = lens[li];
        fill_normal(p, n, 3.0f, &r);
        softmax_row(p, n);
        fill_normal(g, n, 1.0f, &r);
        memcpy(ds, g, sizeof(float) * n);
        softmax_backward_row(ds, p, n);
        memcpy(ds2, g, sizeof(float) * n);
        softmax_backward_row(ds2, p, n);
        assert_memory_equal(ds, ds2, sizeof(float) * n); /* deterministic */
        double sum = 0;
        for (int t = 0; t < n; t++) sum += (double)p[t] * g[t];
        for (int t = 0; t < n; t++) {
            const double ref = p[t] * (g[t] - sum);
            const double err = fabs(ds[t] - ref) / (1e-3 + fabs(ref));
            if (err > worst) worst = err;
        }
    }
    printf("  softmax_backward_row vs double: max rel err %.2e\n", worst);
    assert_true(worst < 1e-5);
}

static void test_log_sum_exp_row_vs_naive(void **st) {
    (void)st;
    Rng r;
    rng_seed(&r, 6, 1);
    float z[97];
    double worst = 0;
    for (int li = 0; li < NLENS && lens[li] <= 97; li++) {
        const int n = lens[li];
        for (int at = 0; at < n; at++) { /* the max at every position */
            fill_normal(z, n, 2.0f, &r);
            z[at] = 9.0f;
            const double inv_t = 1.0 / 0.7;
            double zmax, mean_z;
            const double l = log_sum_exp_row(z, n, inv_t, &zmax, &mean_z);
            long double s = 0, sz = 0;
            for (int j = 0; j < n; j++) {
                const long double zj = (long double)z[j] * inv_t, e = expl(zj - 9.0L * inv_t);
                s += e;
                sz += e * zj;
            }
            const double ref = (double)(9.0L * inv_t + logl(s));
            assert_true(zmax == 9.0 * inv_t);
            assert_true(fabs(mean_z - (double)(sz / s)) < 1e-12 * fmax(1.0, fabs(mean_z)));
            const double err = fabs(l - ref) / fmax(1.0, fabs(ref));
            if (err > worst) worst = err;
        }
    }
    printf("  log_sum_exp_row vs long double: max rel err %.2e\n", worst);
    assert_true(worst < 1e-12);
    fill_normal(z, 17, 1.0f, &r);
    z[12] = NAN;
    assert_true(isnan(log_sum_exp_row(z, 17, 1.0, NULL, NULL)));
}

/* softmax_cdf_pick: the pick brackets the target in a long-double CDF
 * (the row's own sum, so rounding can only move a pick off a boundary by
 * far less than the slack), a zero-mass tail is never picked, and a target
 * past the top gives the last id with mass. */
static void test_softmax_cdf_pick(void **st) {
    (void)st;
    Rng r;
    rng_seed(&r, 9, 1);
    float z[203];
    for (int n = 1; n <= 203; n += 7) {
        fill_normal(z, n, 3.0f, &r);
        const double inv_t = 1.0 / 0.9;
        double m;
        const double lse = log_sum_exp_row(z, n, inv_t, &m, NULL), total = exp(lse - m);
        for (int k = 0; k < 20; k++) {
            const double u = (k + 0.5) / 20.0, target = u * total;
            const int j = softmax_cdf_pick(z, n, inv_t, m, target);
            assert_true(j >= 0 && j < n);
            long double below = 0, s = 0;
            for (int i = 0; i < n; i++) s += expl((long double)z[i] * inv_t - m);
            for (int i = 0; i < j; i++) below += expl((long double)z[i] * inv_t - m);
            const long double at = below + expl((long double)z[j] * inv_t - m);
            if (!(below <= target + 1e-12L * s && at > target - 1e-12L * s))
                fail_msg("test_model_kernels.c: softmax_cdf_pick n=%d u=%.3f: picked %d, CDF "
                         "%.17Lg .. %.17Lg of target %.17g", n, u, j, below, at, target);
        }
    }
    /* mass only at ids 0 .. 4 (the rest 1000 below): a target past the sum
     * picks id 4, the last with mass, not the zero-mass tail */
    for (int i = 0; i < 40; i++) z[i] = i < 5 ? 0.0f : -1000.0f;
    assert_int_equal(softmax_cdf_pick(z, 40, 1.0, 0.0, 7.0), 4);
    assert_int_equal(softmax_cdf_pick(z, 40, 1.0, 0.0, 0.5), 0);
    assert_int_equal(softmax_cdf_pick(z, 40, 1.0, 0.0, 4.5), 4);
}

/* The reference gradient of -w logp at temperature T over a kept set
 * (keep[j] = 1 for all j when full). */
static void logp_grad_ref(double *d, const float *z, int V, int target, float w, float T,
                          const int *keep) {
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < V; j++)
        if (keep[j] || j == target) mx = fmax(mx, z[j] / (double)T);
    for (int j = 0; j < V; j++)
        if (keep[j] || j == target) s += exp(z[j] / (double)T - mx);
    for (int j = 0; j < V; j++)
        d[j] = keep[j] || j == target ? w / (double)T * exp(z[j] / (double)T - mx) / s : 0.0;
    d[target] -= w / (double)T;
}

static void test_logp_backward_vs_naive(void **st) {
    (void)st;
    enum { N = 5, V = 37 };
    Rng r;
    rng_seed(&r, 7, 1);
    float z[N * V], d[N * V], w[N] = {0.5f, 0.0f, -1.25f, 2.0f, 1.0f};
    int tgt[N] = {3, 0, 36, 17, 9};
    double lse[N], ref[V];
    float lp[N];
    fill_normal(z, N * V, 2.0f, &r);
    const float T = 0.8f;
    int keep_all[V];
    for (int j = 0; j < V; j++) keep_all[j] = 1;
    /* full distribution */
    logp_forward(lp, NULL, lse, z, tgt, N, V, T);
    logp_backward(d, z, lse, tgt, w, NULL, NULL, N, V, T);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        logp_grad_ref(ref, z + i * V, V, tgt[i], w[i], T, keep_all);
        for (int j = 0; j < V; j++) {
            const double err = fabs(d[i * V + j] - ref[j]);
            if (err > worst) worst = err;
        }
    }
    printf("  logp_backward (full) vs double: max abs err %.2e\n", worst);
    assert_true(worst < 1e-6);
    for (int j = 0; j < V; j++) assert_true(d[1 * V + j] == 0.0f); /* padding row */
    /* truncated: top-k 5 at the same temperature */
    const SampleDist dist = {T, 5, 1.0f, LOGPROB_TRUNCATED};
    float keep_z[N], scratch[SAMPLE_DIST_SCRATCH_FLOATS(V)];
    int keep_id[N];
    logp_forward_truncated(lp, NULL, lse, keep_z, keep_id, z, tgt, N, V, &dist, scratch);
    logp_backward(d, z, lse, tgt, w, keep_z, keep_id, N, V, T);
    worst = 0;
    for (int i = 0; i < N; i++) {
        int keep[V];
        for (int j = 0; j < V; j++) keep[j] = sample_dist_kept(z[i * V + j], j, keep_z[i], keep_id[i]);
        logp_grad_ref(ref, z + i * V, V, tgt[i], w[i], T, keep);
        for (int j = 0; j < V; j++) {
            const double err = fabs(d[i * V + j] - ref[j]);
            if (err > worst) worst = err;
        }
    }
    printf("  logp_backward (top-k 5) vs double: max abs err %.2e\n", worst);
    assert_true(worst < 1e-6);
}

static void test_swiglu_vs_naive(void **st) {
    (void)st;
    enum { n = 203 };
    Rng r;
    rng_seed(&r, 8, 1);
    float h1[n], h3[n], out[n], dout[n], dh1[n], dh3[n], d1a[n], d3a[n];
    fill_normal(h1, n, 4.0f, &r);
    fill_normal(h3, n, 1.0f, &r);
    fill_normal(dout, n, 1.0f, &r);
    swiglu_forward(out, h1, h3, n);
    swiglu_backward(dh1, dh3, dout, h1, h3, n);
    /* dout aliasing dh1, as the training backward calls it: the same bits */
    memcpy(d1a, dout, sizeof dout);
    swiglu_backward(d1a, d3a, d1a, h1, h3, n);
    assert_memory_equal(d1a, dh1, sizeof dh1);
    assert_memory_equal(d3a, dh3, sizeof dh3);
    /* the backward's recomputed sigmoid is the forward's, to the bit: with
     * h3 = 1 and dout = 1, dh3 = a s and the forward's out = (a s) 1 */
    float ones[n], fwd1[n];
    for (int i = 0; i < n; i++) ones[i] = 1.0f;
    swiglu_forward(fwd1, h1, ones, n);
    swiglu_backward(d1a, d3a, ones, h1, ones, n);
    assert_memory_equal(d3a, fwd1, sizeof fwd1);
    for (int i = 0; i < n; i++) {
        const double a = h1[i], s = 1.0 / (1.0 + exp(-a));
        assert_true(fabs(out[i] - a * s * h3[i]) < 1e-5 * (1 + fabs(a * s * h3[i])));
        const double d1 = dout[i] * h3[i] * (s + a * s * (1 - s)), d3 = dout[i] * a * s;
        assert_true(fabs(dh1[i] - d1) < 1e-5 * (1 + fabs(d1)));
        assert_true(fabs(dh3[i] - d3) < 1e-5 * (1 + fabs(d3)));
    }
}

static void test_rmsnorm_vs_naive(void **st) {
    (void)st;
    enum { N = 3, D = 37 };
    Rng r;
    rng_seed(&r, 9, 1);
    float x[N * D], w[D], out[N * D], rstd[N], dout[N * D], dx[N * D], dw[D];
    fill_normal(x, N * D, 1.5f, &r);
    fill_normal(dout, N * D, 1.0f, &r);
    for (int j = 0; j < D; j++) w[j] = 1.0f + 0.3f * rng_normal(&r);
    const float eps = 1e-5f;
    rmsnorm_forward(out, rstd, x, w, N, D, eps);
    memset(dx, 0, sizeof dx);
    memset(dw, 0, sizeof dw);
    rmsnorm_backward(dx, dw, dout, x, w, rstd, N, D);
    double dw_ref[D] = {0};
    for (int i = 0; i < N; i++) {
        const float *xi = x + i * D, *gi = dout + i * D;
        double ss = 0;
        for (int j = 0; j < D; j++) ss += (double)xi[j] * xi[j];
        const double rr = 1.0 / sqrt(ss / D + eps);
        assert_true(fabs(rstd[i] - rr) < 1e-6 * rr);
        /* d out_j / d x_k = w_j (r delta_jk - x_j x_k r^3 / D) */
        for (int k = 0; k < D; k++) {
            double ref = 0;
            for (int j = 0; j < D; j++)
                ref += gi[j] * w[j] * ((j == k) * rr - (double)xi[j] * xi[k] * rr * rr * rr / D);
            assert_true(fabs(dx[i * D + k] - ref) < 1e-5 * (1 + fabs(ref)));
            assert_true(fabs(out[i * D + k] - w[k] * xi[k] * rr) < 1e-6 * (1 + fabs(xi[k] * rr)));
            dw_ref[k] += gi[k] * xi[k] * rr;
        }
    }
    for (int k = 0; k < D; k++) assert_true(fabs(dw[k] - dw_ref[k]) < 1e-5 * (1 + fabs(dw_ref[k])));
    /* the forward with the residual copy: the same bits, and the copy */
    float out2[N * D], rstd2[N], copy[N * D];
    rmsnorm_forward_copy(out2, rstd2, copy, x, w, N, D, eps);
    assert_memory_equal(out2, out, sizeof out);
    assert_memory_equal(rstd2, rstd, sizeof rstd);
    assert_memory_equal(copy, x, sizeof x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_row_vs_naive),
        cmocka_unit_test(test_softmax_backward_row_vs_naive),
        cmocka_unit_test(test_log_sum_exp_row_vs_naive),
        cmocka_unit_test(test_softmax_cdf_pick),
        cmocka_unit_test(test_logp_backward_vs_naive),
        cmocka_unit_test(test_swiglu_vs_naive),
        cmocka_unit_test(test_rmsnorm_vs_naive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
