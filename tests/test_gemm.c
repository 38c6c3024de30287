/* test_gemm.c: the training matrix product (common/gemm.h) and the matmul
 * layer that runs on it.
 *   - gemm_f32 of every instance the CPU runs, at the four transpose
 *     combinations (the training products are (0,1) forward, (0,0) dinp,
 *     (1,0) dW), beta 0 over NaN-filled outputs and beta 1, against a
 *     double-precision loop, at odd shapes (1, tails of the 12-row block
 *     and 32-column panel, K past one GEMM_KC chunk, M past GEMM_MC, the
 *     row count up to which a whole panel of b is read in place and one
 *     past it) and leading dimensions wider than the operands;
 *   - every instance bit-identical to the portable one (gemm.h promises
 *     one FMA chain per chunk, the same on each), and the public name
 *     bound to the instance kernel_isa() reports;
 *   - alpha 1 and a scale (attention's 1/sqrt(HD));
 *   - matmul_forward, matmul_backward and gemm_fastest (whichever of
 *     OpenBLAS and gemm they pick) against the same double references;
 *   - gemm_f32_shared_b bit for bit the gemm_f32 calls it replaces, on
 *     every instance, and matmul_backward_weights matmul_backward's
 *     weight gradients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernel_dispatch.h"
#include "rng.h"
#include "util.h"

/* The compiled instances, by KernelIsa. */
static __typeof__(gemm_f32) *const INSTANCES[KERNEL_N_ISA] = {gemm_f32_generic, gemm_f32_avx2,
                                                              gemm_f32_avx512};

static float *randu(size_t n, uint64_t seed) {
    float *x = xmalloc(sizeof(float) * n);
    Rng r;
    rng_seed(&r, seed, 0);
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * rng_uniform(&r) - 1.0f;
    return x;
}

/* c = alpha op(a) op(b) + beta c in double, row-major as gemm.h. */
static void gemm_ref_alpha(int ta, int tb, int M, int Nc, int K, float alpha, const float *a,
                           int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < Nc; j++) {
            double s = beta != 0.0f ? (double)c[(size_t)i * ldc + j] : 0.0;
            for (int k = 0; k < K; k++) {
                const double x = ta ? a[(size_t)k * lda + i] : a[(size_t)i * lda + k];
                const double y = tb ? b[(size_t)j * ldb + k] : b[(size_t)k * ldb + j];
                s += (double)alpha * x * y;
            }
            c[(size_t)i * ldc + j] = (float)s;
        }
}

static void gemm_ref(int ta, int tb, int M, int Nc, int K, const float *a, int lda,
                     const float *b, int ldb, float beta, float *c, int ldc) {
    gemm_ref_alpha(ta, tb, M, Nc, K, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

/* Largest |x - y| / (1 + |y|) over the M x Nc block (NaN counts as worst). */
static double rel_diff(const float *x, const float *y, int M, int Nc, int ldc) {
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < Nc; j++) {
            const size_t at = (size_t)i * ldc + j;
            const double e = fabs((double)x[at] - y[at]) / (1.0 + fabs((double)y[at]));
            if (!(e <= worst)) worst = e;
        }
    return worst;
}

/* One shape: every supported instance vs the double reference (float
 * chains over K terms of size <= 1: K * 2^-24 relative, with margin) and
 * bit for bit vs the portable instance; the padding columns past Nc of
 * each c row must be left alone. */
static void check_shape(int ta, int tb, int M, int Nc, int K, float alpha, float beta) {
    const int pad = 3;
    const int lda = (ta ? M : K) + pad, ldb = (tb ? K : Nc) + pad, ldc = Nc + pad;
    const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? Nc : K) * ldb;
    const size_t nc = (size_t)M * ldc;
    float *a = randu(na, 1 + (uint64_t)M), *b = randu(nb, 2 + (uint64_t)K);
    float *c0 = randu(nc, 3 + (uint64_t)Nc), *ref = xmalloc(sizeof(float) * nc);
    float *out[KERNEL_N_ISA];
    if (beta == 0.0f)
        for (size_t i = 0; i < nc; i++)
            if (i % ldc < (size_t)Nc) c0[i] = NAN; /* beta 0 must not read c */
    memcpy(ref, c0, sizeof(float) * nc);
    gemm_ref_alpha(ta, tb, M, Nc, K, alpha, a, lda, b, ldb, beta, ref, ldc);
    const double tol = 4e-7 * (K + 8);
    for (int s = 0; s < KERNEL_N_ISA; s++) {
        out[s] = NULL;
        if (!kernel_isa_supported((KernelIsa)s)) continue;
        out[s] = xmalloc(sizeof(float) * nc);
        memcpy(out[s], c0, sizeof(float) * nc);
        INSTANCES[s](ta, tb, M, Nc, K, alpha, a, lda, b, ldb, beta, out[s], ldc);
        const double e = rel_diff(out[s], ref, M, Nc, ldc);
        if (!(e <= tol))
            fail_msg("gemm_f32 %s ta=%d tb=%d M=%d Nc=%d K=%d alpha=%g beta=%g: %.3g vs double "
                     "(tol %.3g)", kernel_isa_name((KernelIsa)s), ta, tb, M, Nc, K, alpha, beta,
                     e, tol);
        for (int i = 0; i < M; i++)
            for (int j = Nc; j < ldc; j++)
                assert_memory_equal(&out[s][(size_t)i * ldc + j], &c0[(size_t)i * ldc + j],
                                    sizeof(float));
        if (s > 0 && memcmp(out[s], out[0], sizeof(float) * nc) != 0)
            fail_msg("gemm_f32 %s ta=%d tb=%d M=%d Nc=%d K=%d alpha=%g beta=%g: not the portable "
                     "bits", kernel_isa_name((KernelIsa)s), ta, tb, M, Nc, K, alpha, beta);
    }
    for (int s = 0; s < KERNEL_N_ISA; s++) xfree(out[s]);
    xfree(a);
    xfree(b);
    xfree(c0);
    xfree(ref);
}

static void test_gemm_odd_shapes(void **st) {
    (void)st;
    /* M, Nc, K: ones, 12-row and 32-column tails, K past GEMM_KC, M past GEMM_MC;
     * up to 48 rows a whole panel of op(b) = b is read in place, 49 packed */
    static const int shapes[][3] = {{1, 1, 1},   {1, 33, 7},   {13, 1, 5},  {5, 17, 1},
                                    {25, 45, 67}, {37, 64, 129}, {16, 31, 2 * GEMM_KC + 3},
                                    {GEMM_MC + 13, 35, 20}, {7, 96, 300}, {48, 64, 33},
                                    {49, 64, 33}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int beta = 0; beta < 2; beta++) /* alpha 1 and attention's scale */
                    for (int al = 0; al < 2; al++)
                        check_shape(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2],
                                    al ? 0.17677669f : 1.0f, (float)beta);
}

static __typeof__(gemm_f32_shared_b) *const SHARED[KERNEL_N_ISA] = {
    gemm_f32_shared_b_generic, gemm_f32_shared_b_avx2, gemm_f32_shared_b_avx512};

/* gemm_f32_shared_b: n products over one b, bit for bit the n gemm_f32
 * calls of the same instance (c filled with NaN under beta 0, so a read of
 * c shows), and the columns past Nc left alone. */
static void check_shared(int ta, int tb, int n, const int *m, int Nc, int K, float alpha,
                         float beta) {
    const int pad = 3, ldb = (tb ? K : Nc) + pad, ldc = Nc + 2 * pad;
    float *b = randu((size_t)(tb ? Nc : K) * ldb, 7 + (uint64_t)K);
    float *a[3], *c0[3], *want[3], *got[3];
    int lda[3];
    for (int t = 0; t < n; t++) {
        lda[t] = (ta ? m[t] : K) + pad + t;
        a[t] = randu((size_t)(ta ? K : m[t]) * lda[t], 11 + (uint64_t)(t * 131 + m[t]));
        c0[t] = randu((size_t)m[t] * ldc, 13 + (uint64_t)t);
        if (beta == 0.0f)
            for (size_t i = 0; i < (size_t)m[t] * ldc; i++)
                if (i % ldc < (size_t)Nc) c0[t][i] = NAN;
        want[t] = xmalloc(sizeof(float) * (size_t)m[t] * ldc);
        got[t] = xmalloc(sizeof(float) * (size_t)m[t] * ldc);
    }
    for (int s = 0; s < KERNEL_N_ISA; s++) {
        if (!kernel_isa_supported((KernelIsa)s)) continue;
        GemmLhs lhs[3];
        for (int t = 0; t < n; t++) {
            const size_t bytes = sizeof(float) * (size_t)m[t] * ldc;
            memcpy(want[t], c0[t], bytes);
            memcpy(got[t], c0[t], bytes);
            INSTANCES[s](ta, tb, m[t], Nc, K, alpha, a[t], lda[t], b, ldb, beta, want[t], ldc);
            lhs[t] = (GemmLhs){m[t], a[t], lda[t], got[t], ldc};
        }
        SHARED[s](n, lhs, ta, tb, Nc, K, alpha, b, ldb, beta);
        for (int t = 0; t < n; t++)
            if (memcmp(got[t], want[t], sizeof(float) * (size_t)m[t] * ldc) != 0)
                fail_msg("gemm_f32_shared_b %s ta=%d tb=%d product %d of %d (m=%d) Nc=%d K=%d "
                         "beta=%g: not gemm_f32's bits", kernel_isa_name((KernelIsa)s), ta, tb,
                         t, n, m[t], Nc, K, beta);
    }
    for (int t = 0; t < n; t++) {
        xfree(a[t]);
        xfree(c0[t]);
        xfree(want[t]);
        xfree(got[t]);
    }
    xfree(b);
}

static void test_gemm_shared_b(void **st) {
    (void)st;
    /* the weight gradients' (1, 0) above all: Wq, Wk, Wv (D, KVD, KVD) and
     * W1, W3; tails of the 16-row block and 32-column panel, K past
     * GEMM_KC, a product with no rows, one product alone */
    static const struct { int n, m[3], Nc, K; } cases[] = {
        {3, {128, 32, 32}, 128, 300},      {2, {352, 352, 0}, 128, 2 * GEMM_KC + 5},
        {3, {13, 1, 40}, 45, 67},          {1, {GEMM_MC + 9, 0, 0}, 33, 20},
        {3, {17, 0, 5}, 31, GEMM_KC},      {2, {49, 48, 0}, 64, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int beta = 0; beta < 2; beta++)
                    check_shared(ta, tb, cases[c].n, cases[c].m, cases[c].Nc, cases[c].K,
                                 beta ? 1.0f : 0.17677669f, (float)beta);
}

/* matmul_backward_weights (dispatched; gemm_f32_shared_b or OpenBLAS by
 * shape) gives matmul_backward's weight gradients bit for bit, at the
 * ~1M and ~4M layer shapes (at ~4M W1, W3 go to OpenBLAS where its
 * kernels are AVX-512), with dw accumulated into. */
static void test_matmul_backward_weights(void **st) {
    (void)st;
    static const struct { int n, oc[3], C; } cases[] = {
        {3, {128, 128, 128}, 128}, {2, {352, 352, 0}, 128}, {3, {256, 64, 64}, 256},
        {2, {688, 688, 0}, 256}};
    const int N = 300;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int n = cases[c].n, C = cases[c].C;
        float *inp = randu((size_t)N * C, 21), *dout[3], *want[3], *got[3], *w[3];
        float *dinp = xmalloc(sizeof(float) * (size_t)N * C);
        for (int t = 0; t < n; t++) {
            const int oc = cases[c].oc[t];
            dout[t] = randu((size_t)N * oc, 23 + (uint64_t)t);
            w[t] = randu((size_t)oc * C, 29 + (uint64_t)t);
            want[t] = randu((size_t)oc * C, 31 + (uint64_t)t);
            got[t] = xmalloc(sizeof(float) * (size_t)oc * C);
            memcpy(got[t], want[t], sizeof(float) * (size_t)oc * C);
            matmul_backward(dinp, want[t], dout[t], inp, w[t], N, C, oc, 0.0f);
        }
        matmul_backward_weights(n, got, (const float *const *)dout, cases[c].oc, inp, N, C);
        for (int t = 0; t < n; t++) {
            if (memcmp(got[t], want[t], sizeof(float) * (size_t)cases[c].oc[t] * C) != 0)
                fail_msg("matmul_backward_weights case %zu weight %d (OC=%d C=%d): not "
                         "matmul_backward's bits", c, t, cases[c].oc[t], C);
            xfree(dout[t]);
            xfree(w[t]);
            xfree(want[t]);
            xfree(got[t]);
        }
        xfree(inp);
        xfree(dinp);
    }
}

/* K = 0: beta 0 writes zeros, beta 1 leaves c; empty shapes touch nothing. */
static void test_gemm_empty(void **st) {
    (void)st;
    float a[4] = {1, 2, 3, 4}, c[6] = {NAN, NAN, NAN, 5, 6, 7};
    gemm_f32(0, 0, 1, 3, 0, 1.0f, a, 1, a, 3, 0.0f, c, 3);
    for (int j = 0; j < 3; j++) assert_true(c[j] == 0.0f);
    gemm_f32(0, 0, 1, 3, 0, 1.0f, a, 1, a, 3, 1.0f, c + 3, 3);
    assert_true(c[3] == 5.0f && c[4] == 6.0f && c[5] == 7.0f);
    gemm_f32(0, 0, 0, 3, 2, 1.0f, a, 2, a, 3, 0.0f, c, 3);
    gemm_f32(0, 0, 2, 0, 2, 1.0f, a, 2, a, 3, 0.0f, c, 3);
    assert_true(c[0] == 0.0f && c[3] == 5.0f);
}

/* The public name runs the instance kernel_isa() reports. */
static void test_gemm_bound(void **st) {
    (void)st;
    assert_ptr_equal((void *)gemm_f32, (void *)INSTANCES[kernel_isa()]);
}

/* matmul_forward / matmul_backward as model.c calls them (beta 0 and 1),
 * against the double references, at odd sizes and N = 1. */
static void test_matmul_layer(void **st) {
    (void)st;
    static const int shapes[][3] = {{1, 5, 3}, {29, 67, 45}, {50, 33, 130}, {140, 130, 35}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
        float *x = randu((size_t)N * C, 11), *w = randu((size_t)OC * C, 12);
        float *dy = randu((size_t)N * OC, 13);
        for (int beta = 0; beta < 2; beta++) {
            float *y = randu((size_t)N * OC, 14), *yr = xmalloc(sizeof(float) * N * OC);
            float *dx = randu((size_t)N * C, 15), *dxr = xmalloc(sizeof(float) * N * C);
            float *dw = randu((size_t)OC * C, 16), *dwr = xmalloc(sizeof(float) * OC * C);
            memcpy(yr, y, sizeof(float) * N * OC);
            memcpy(dxr, dx, sizeof(float) * N * C);
            memcpy(dwr, dw, sizeof(float) * OC * C);
            matmul_forward(y, x, w, N, C, OC, (float)beta);
            gemm_ref(0, 1, N, OC, C, x, C, w, C, (float)beta, yr, OC);
            matmul_backward(dx, dw, dy, x, w, N, C, OC, (float)beta);
            gemm_ref(0, 0, N, C, OC, dy, OC, w, C, (float)beta, dxr, C);
            gemm_ref(1, 0, OC, C, N, dy, OC, x, C, 1.0f, dwr, C);
            const double ef = rel_diff(y, yr, N, OC, OC), ex = rel_diff(dx, dxr, N, C, C);
            const double ew = rel_diff(dw, dwr, OC, C, C);
            printf("    N=%d C=%d OC=%d beta=%d: fwd %.2e dinp %.2e dW %.2e\n", N, C, OC, beta, ef,
                   ex, ew);
            assert_true(ef <= 4e-7 * (C + 8));
            assert_true(ex <= 4e-7 * (OC + 8));
            assert_true(ew <= 4e-7 * (N + 8));
            xfree(y);
            xfree(yr);
            xfree(dx);
            xfree(dxr);
            xfree(dw);
            xfree(dwr);
        }
        xfree(x);
        xfree(w);
        xfree(dy);
    }
}

/* gemm_fastest, whichever of OpenBLAS and gemm_f32 it picks, at the
 * attention products' shapes and scale (attention_packed.c), against the
 * double reference. */
static void test_gemm_fastest(void **st) {
    (void)st;
    static const int shapes[][3] = {{32, 32, 32}, {7, 96, 32}, {96, 32, 96}, {600, 33, 20}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++) {
            const int ta = t & 1, tb = t >> 1, M = shapes[s][0], Nc = shapes[s][1];
            const int K = shapes[s][2], lda = ta ? M : K, ldb = tb ? K : Nc;
            float *a = randu((size_t)M * K, 21), *b = randu((size_t)K * Nc, 22);
            float *c = randu((size_t)M * Nc, 23), *ref = xmalloc(sizeof(float) * M * Nc);
            memcpy(ref, c, sizeof(float) * M * Nc);
            gemm_fastest(ta, tb, M, Nc, K, 0.125f, a, lda, b, ldb, 1.0f, c, Nc);
            gemm_ref_alpha(ta, tb, M, Nc, K, 0.125f, a, lda, b, ldb, 1.0f, ref, Nc);
            const double e = rel_diff(c, ref, M, Nc, Nc);
            if (!(e <= 4e-7 * (K + 8)))
                fail_msg("gemm_fastest ta=%d tb=%d M=%d N=%d K=%d: %.3g vs double", ta, tb, M,
                         Nc, K, e);
            xfree(a);
            xfree(b);
            xfree(c);
            xfree(ref);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_odd_shapes),
        cmocka_unit_test(test_gemm_empty),
        cmocka_unit_test(test_gemm_bound),
        cmocka_unit_test(test_matmul_layer),
        cmocka_unit_test(test_gemm_fastest),
        cmocka_unit_test(test_gemm_shared_b),
        cmocka_unit_test(test_matmul_backward_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
