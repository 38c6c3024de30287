/* test_kernel_dispatch.c: the compiled instances of the model kernels
 * (kernel_dispatch.h) against each other on this machine. Every instance
 * the CPU runs (avx2, avx512) is compared kernel by kernel with the
 * portable one on the same random inputs, at odd sizes that leave vector
 * tails; the instances differ only by float rounding (wider partial sums,
 * FMA), so they agree to 1e-5 relative. The portable instance is checked
 * against the naive references in test_model.c; here the public names are
 * also checked to be bound to the instance kernel_isa() reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_dispatch.h"
#include "rng.h"
#include "util.h"

/* The kernels this test drives, for one instance. */
typedef struct {
    KernelIsa isa;
    __typeof__(rmsnorm_forward) *rmsnorm_forward;
    __typeof__(rmsnorm_forward_copy) *rmsnorm_forward_copy;
    __typeof__(rmsnorm_backward) *rmsnorm_backward;
    __typeof__(matmul_pack) *matmul_pack;
    __typeof__(matmul_forward_packed) *matmul_forward_packed;
    __typeof__(softmax_row) *softmax_row;
    __typeof__(softmax_backward_row) *softmax_backward_row;
    __typeof__(rope_forward) *rope_forward;
    __typeof__(rope_backward) *rope_backward;
    __typeof__(attention_decode_row) *attention_decode_row;
    __typeof__(swiglu_forward) *swiglu_forward;
    __typeof__(matmul_pack_swiglu) *matmul_pack_swiglu;
    __typeof__(matmul_forward_packed_swiglu) *matmul_forward_packed_swiglu;
    __typeof__(swiglu_backward) *swiglu_backward;
    __typeof__(log_sum_exp_row) *log_sum_exp_row;
    __typeof__(softmax_cdf_pick) *softmax_cdf_pick;
    __typeof__(logp_forward) *logp_forward;
    __typeof__(logp_backward) *logp_backward;
} Kernels;

#define KERNELS(name, I)                                                                   \
    {I, rmsnorm_forward_##name, rmsnorm_forward_copy_##name, rmsnorm_backward_##name,     \
     matmul_pack_##name, matmul_forward_packed_##name, softmax_row_##name,                \
     softmax_backward_row_##name, rope_forward_##name,                                    \
     rope_backward_##name, attention_decode_row_##name, swiglu_forward_##name,            \
     matmul_pack_swiglu_##name, matmul_forward_packed_swiglu_##name, swiglu_backward_##name, log_sum_exp_row_##name,                \
     softmax_cdf_pick_##name, logp_forward_##name, logp_backward_##name}

static const Kernels INSTANCES[KERNEL_N_ISA] = {
    KERNELS(generic, KERNEL_GENERIC), KERNELS(avx2, KERNEL_AVX2), KERNELS(avx512, KERNEL_AVX512)};

static float *randn(size_t n, uint64_t seed, float scale) {
    float *x = xmalloc(sizeof(float) * n);
    Rng r;
    rng_seed(&r, seed, 0);
    for (size_t i = 0; i < n; i++) x[i] = scale * (2.0f * rng_uniform(&r) - 1.0f);
    return x;
}

/* Largest |a - b| / (1 + |b|) over n; fails above tol, naming what. */
static double expect_close(const char *isa, const char *what, const float *a, const float *b,
                           size_t n, double tol) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (!(e <= worst)) worst = e; /* NaN counts as worst */
    }
    printf("    %-7s %-22s max rel diff %.2e\n", isa, what, worst);
    if (!(worst <= tol)) fail_msg("%s %s: instances differ by %.3g (tol %g)", isa, what, worst, tol);
    return worst;
}

enum { N = 13, D = 67, OC = 45, B = 2, T = 11, NH = 4, NKV = 2, HD = 8, V = 97 };
static const double TOL = 1e-5;

/* attention_decode_row at the head widths that take the vector paths
 * (HD % 8, HD % 16; GQA; the first rows from a shared prefix) and at
 * position counts around the 16-position blocks, against the portable
 * instance. */
static void compare_decode_rows(const Kernels *k, const Kernels *g) {
    const struct { int nh, nkv, hd; } shapes[] = {{4, 4, 32}, {8, 8, 32}, {8, 2, 16}, {4, 4, 64},
                                                  {2, 1, 24}, {2, 1, 48}, {4, 2, 80}, {20, 4, 16}};
    const int ns[] = {1, 15, 16, 17, 37, 70};
    const Kernels *pair[2] = {k, g};
    for (size_t a = 0; a < sizeof shapes / sizeof *shapes; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++) {
            const int nh = shapes[a].nh, hd = shapes[a].hd, kvd = shapes[a].nkv * hd, n = ns[b];
            const int np = n / 3;
            float *q = randn((size_t)nh * hd, 30 + a, 1.5f);
            float *kc = randn((size_t)n * kvd, 40 + b, 2.0f), *vc = randn((size_t)n * kvd, 50 + b, 1.0f);
            float *kp = randn((size_t)n * kvd, 60 + b, 2.0f), *vp = randn((size_t)n * kvd, 70 + b, 1.0f);
            float *scores = xmalloc(sizeof(float) * nh * n), *o[2];
            for (int i = 0; i < 2; i++) {
                o[i] = xmalloc(sizeof(float) * nh * hd);
                pair[i]->attention_decode_row(o[i], scores, q, kc, vc, kp, vp, np, n, nh,
                                              shapes[a].nkv, hd, 1);
            }
            char what[64];
            snprintf(what, sizeof what, "decode_row %dx%d/%d n=%d", nh, hd, shapes[a].nkv, n);
            expect_close(kernel_isa_name(k->isa), what, o[0], o[1], (size_t)nh * hd, TOL);
            /* without the prefetches: the instance's own bits */
            float *o0 = xmalloc(sizeof(float) * nh * hd);
            k->attention_decode_row(o0, scores, q, kc, vc, kp, vp, np, n, nh, shapes[a].nkv, hd, 0);
            if (memcmp(o0, o[0], sizeof(float) * nh * hd) != 0)
                fail_msg("%s %s: prefetch 0 and 1 differ", kernel_isa_name(k->isa), what);
            xfree(o0);
            xfree(q); xfree(kc); xfree(vc); xfree(kp); xfree(vp); xfree(scores);
            xfree(o[0]); xfree(o[1]);
        }
}

/* RoPE at head widths whose half takes the AVX-512 path (8 pairs a zmm,
 * 40: with a scalar tail), several heads a row, forward and backward:
 * bit for bit against the portable instance. */
static void compare_rope(const Kernels *k, const Kernels *g) {
    const int hds[] = {16, 40, 64};
    const Kernels *pair[2] = {k, g};
    for (size_t a = 0; a < sizeof hds / sizeof *hds; a++) {
        const int hd = hds[a], C = 3 * hd;
        float *cosb = xmalloc(sizeof(float) * T * hd / 2), *sinb = xmalloc(sizeof(float) * T * hd / 2);
        rope_tables(cosb, sinb, T, hd, 10000.0f);
        float *x0 = randn((size_t)B * T * C, 80 + a, 1.0f), *x[2];
        for (int i = 0; i < 2; i++) {
            x[i] = xmalloc(sizeof(float) * B * T * C);
            memcpy(x[i], x0, sizeof(float) * B * T * C);
            pair[i]->rope_forward(x[i], cosb, sinb, B, T, C, hd);
        }
        char what[48];
        snprintf(what, sizeof what, "rope HD=%d", hd);
        expect_close(kernel_isa_name(k->isa), what, x[0], x[1], (size_t)B * T * C, TOL);
        if (memcmp(x[0], x[1], sizeof(float) * B * T * C) != 0)
            fail_msg("%s %s forward: not bit-identical", kernel_isa_name(k->isa), what);
        for (int i = 0; i < 2; i++) pair[i]->rope_backward(x[i], cosb, sinb, B, T, C, hd);
        if (memcmp(x[0], x[1], sizeof(float) * B * T * C) != 0)
            fail_msg("%s %s backward: not bit-identical", kernel_isa_name(k->isa), what);
        xfree(cosb); xfree(sinb); xfree(x0); xfree(x[0]); xfree(x[1]);
    }
}

/* Runs every kernel of instance k and of the portable one on the same
 * inputs and compares the outputs. */
static void compare_instance(const Kernels *k) {
    const Kernels *g = &INSTANCES[KERNEL_GENERIC];
    const char *name = kernel_isa_name(k->isa);
    float *x = randn((size_t)N * D, 1, 2.0f), *w = randn(D, 2, 1.0f), *dy = randn((size_t)N * D, 3, 1.0f);
    float *y[2], *rstd[2], *dx[2], *dw[2];
    const Kernels *pair[2] = {k, g};
    for (int i = 0; i < 2; i++) {
        y[i] = xmalloc(sizeof(float) * N * D);
        rstd[i] = xmalloc(sizeof(float) * N);
        dx[i] = xcalloc((size_t)N * D, sizeof(float));
        dw[i] = xcalloc(D, sizeof(float));
        pair[i]->rmsnorm_forward(y[i], rstd[i], x, w, N, D, 1e-5f);
        pair[i]->rmsnorm_backward(dx[i], dw[i], dy, x, w, rstd[i], N, D);
    }
    expect_close(name, "rmsnorm_forward", y[0], y[1], (size_t)N * D, TOL);
    expect_close(name, "rmsnorm_backward dx", dx[0], dx[1], (size_t)N * D, TOL);
    expect_close(name, "rmsnorm_backward dw", dw[0], dw[1], D, TOL);
    /* RMSNorm's sums run in one fixed order on every instance (double
     * partial sums forward, rms_dot's 8 float lanes backward): the same bits */
    if (memcmp(y[0], y[1], sizeof(float) * N * D) != 0 || memcmp(rstd[0], rstd[1], sizeof(float) * N) != 0)
        fail_msg("%s rmsnorm_forward: not bit-identical to the portable instance", name);
    if (memcmp(dx[0], dx[1], sizeof(float) * N * D) != 0 || memcmp(dw[0], dw[1], sizeof(float) * D) != 0)
        fail_msg("%s rmsnorm_backward: not bit-identical to the portable instance", name);
    for (int i = 0; i < 2; i++) { /* the copying form: the same bits again, and the copy */
        float *yc = xmalloc(sizeof(float) * N * D), *cp = xmalloc(sizeof(float) * N * D);
        float rc[N];
        pair[i]->rmsnorm_forward_copy(yc, rc, cp, x, w, N, D, 1e-5f);
        if (memcmp(yc, y[i], sizeof(float) * N * D) != 0 || memcmp(rc, rstd[i], sizeof rc) != 0 ||
            memcmp(cp, x, sizeof(float) * N * D) != 0)
            fail_msg("%s rmsnorm_forward_copy: not rmsnorm_forward + memcpy", kernel_isa_name(pair[i]->isa));
        xfree(yc);
        xfree(cp);
    }

    /* packed decode matmul, beta 0 then beta 1, with row strides */
    float *wm = randn((size_t)OC * D, 4, 0.5f);
    const size_t pf = matmul_packed_floats(D, OC);
    for (int i = 0; i < 2; i++) {
        float *packed = xcalloc(pf, sizeof(float));
        pair[i]->matmul_pack(packed, wm, D, OC, 0);
        float *out = xcalloc((size_t)N * (OC + 3), sizeof(float));
        pair[i]->matmul_forward_packed(out, OC + 3, x, D, packed, N, D, OC, 0.0f);
        pair[i]->matmul_forward_packed(out, OC + 3, x, D, packed, N, D, OC, 1.0f);
        xfree(y[i]);
        y[i] = out;
        xfree(packed);
    }
    expect_close(name, "matmul_forward_packed", y[0], y[1], (size_t)N * (OC + 3), TOL);
    /* each output is one FMA chain over k in order (model_kernels.h): the same bits */
    if (memcmp(y[0], y[1], sizeof(float) * N * (OC + 3)) != 0)
        fail_msg("%s matmul_forward_packed: not bit-identical to the portable instance", name);

    float *row[2];
    for (int i = 0; i < 2; i++) {
        row[i] = randn(V, 5, 8.0f);
        pair[i]->softmax_row(row[i], V);
    }
    expect_close(name, "softmax_row", row[0], row[1], V, TOL);
    /* its backward on the portable instance's probabilities, at lengths
     * around the 8-lane blocks: one fixed order of sums, the same bits */
    for (int n = 1; n <= V; n += n < 20 ? 1 : 11) {
        float *gr = randn((size_t)n, 100 + n, 1.0f), *ds[2];
        for (int i = 0; i < 2; i++) {
            ds[i] = xmalloc(sizeof(float) * n);
            memcpy(ds[i], gr, sizeof(float) * n);
            pair[i]->softmax_backward_row(ds[i], row[1], n);
        }
        char what[48];
        snprintf(what, sizeof what, "softmax_backward_row n=%d", n);
        if (n == V) expect_close(name, what, ds[0], ds[1], (size_t)n, TOL);
        if (memcmp(ds[0], ds[1], sizeof(float) * n) != 0)
            fail_msg("%s %s: not bit-identical to the portable instance", name, what);
        xfree(gr);
        xfree(ds[0]);
        xfree(ds[1]);
    }

    /* RoPE forward on q and k, backward on a gradient (the training
     * attention, attention_packed.c, is one instance over these kernels) */
    const int QD = NH * HD, KD = NKV * HD;
    float *cosb = xmalloc(sizeof(float) * T * HD / 2), *sinb = xmalloc(sizeof(float) * T * HD / 2);
    rope_tables(cosb, sinb, T, HD, 10000.0f);
    float *q0 = randn((size_t)B * T * QD, 6, 1.0f), *k0 = randn((size_t)B * T * KD, 7, 1.0f);
    float *v0 = randn((size_t)B * T * KD, 8, 1.0f), *dout = randn((size_t)B * T * QD, 9, 1.0f);
    float *q[2], *kk[2], *dq[2];
    for (int i = 0; i < 2; i++) {
        q[i] = xmalloc(sizeof(float) * B * T * QD);
        kk[i] = xmalloc(sizeof(float) * B * T * KD);
        memcpy(q[i], q0, sizeof(float) * B * T * QD);
        memcpy(kk[i], k0, sizeof(float) * B * T * KD);
        pair[i]->rope_forward(q[i], cosb, sinb, B, T, QD, HD);
        pair[i]->rope_forward(kk[i], cosb, sinb, B, T, KD, HD);
        dq[i] = xmalloc(sizeof(float) * B * T * QD);
        memcpy(dq[i], dout, sizeof(float) * B * T * QD);
        pair[i]->rope_backward(dq[i], cosb, sinb, B, T, QD, HD);
    }
    expect_close(name, "rope_forward", q[0], q[1], (size_t)B * T * QD, TOL);
    expect_close(name, "rope_forward k", kk[0], kk[1], (size_t)B * T * KD, TOL);
    expect_close(name, "rope_backward", dq[0], dq[1], (size_t)B * T * QD, TOL);
    compare_rope(k, g);
    /* a rotation is two products and a sum per element on every instance */
    if (memcmp(q[0], q[1], sizeof(float) * B * T * QD) != 0 ||
        memcmp(kk[0], kk[1], sizeof(float) * B * T * KD) != 0 ||
        memcmp(dq[0], dq[1], sizeof(float) * B * T * QD) != 0)
        fail_msg("%s rope: not bit-identical to the portable instance", name);

    /* one decode row over the first sequence's T cached positions */
    float *orow[2];
    for (int i = 0; i < 2; i++) {
        orow[i] = xmalloc(sizeof(float) * QD);
        float *scores = xmalloc(sizeof(float) * NH * T);
        pair[i]->attention_decode_row(orow[i], scores, q0, k0, v0, NULL, NULL, 0, T, NH, NKV,
                                      HD, 1);
        xfree(scores);
    }
    expect_close(name, "attention_decode_row", orow[0], orow[1], QD, TOL);
    compare_decode_rows(k, g);

    /* SwiGLU */
    const size_t nf = (size_t)N * D;
    float *h1 = randn(nf, 10, 4.0f), *h3 = randn(nf, 11, 2.0f);
    float *sw[2], *dh1[2], *dh3[2];
    for (int i = 0; i < 2; i++) {
        sw[i] = xmalloc(sizeof(float) * nf);
        dh1[i] = xmalloc(sizeof(float) * nf);
        dh3[i] = xmalloc(sizeof(float) * nf);
        pair[i]->swiglu_forward(sw[i], h1, h3, nf);
        pair[i]->swiglu_backward(dh1[i], dh3[i], dy, h1, h3, nf);
    }
    expect_close(name, "swiglu_forward", sw[0], sw[1], nf, TOL);
    /* decoding's, fused into the W1 | W3 product: N / 2 rows of x (D) */
    const int HF = D + 3; /* a masked half-panel at the end */
    float *gd[2], *pw[2];
    float *w1 = randn((size_t)HF * D, 14, 0.3f), *w3 = randn((size_t)HF * D, 15, 0.3f);
    for (int i = 0; i < 2; i++) {
        pw[i] = xcalloc(matmul_packed_floats(D, 2 * HF), sizeof(float));
        pair[i]->matmul_pack_swiglu(pw[i], w1, w3, D, HF);
        gd[i] = xmalloc(sizeof(float) * (size_t)(N / 2) * HF);
        pair[i]->matmul_forward_packed_swiglu(gd[i], HF, h1, D, pw[i], N / 2, D, HF);
    }
    expect_close(name, "matmul_pack_swiglu", pw[0], pw[1], matmul_packed_floats(D, 2 * HF), 0);
    expect_close(name, "matmul_forward_packed_swiglu", gd[0], gd[1], (size_t)(N / 2) * HF, TOL);
    xfree(w1);
    xfree(w3);
    for (int i = 0; i < 2; i++) {
        xfree(gd[i]);
        xfree(pw[i]);
    }
    expect_close(name, "swiglu_backward dh1", dh1[0], dh1[1], nf, TOL);
    expect_close(name, "swiglu_backward dh3", dh3[0], dh3[1], nf, TOL);

    /* log-softmax, its log-probs and its gradient */
    float *logits = randn((size_t)N * V, 12, 6.0f), *wt = randn(N, 13, 1.0f);
    int targets[N];
    for (int r = 0; r < N; r++) targets[r] = (r * 37 + 5) % V;
    float lp[2][N], ent[2][N], lse_f[2];
    double lse[2][N];
    float *dl[2];
    for (int i = 0; i < 2; i++) {
        double zmax, mean_z;
        lse_f[i] = (float)pair[i]->log_sum_exp_row(logits, V, 1.0 / 0.7, &zmax, &mean_z);
        pair[i]->logp_forward(lp[i], ent[i], lse[i], logits, targets, N, V, 0.7f);
        dl[i] = xmalloc(sizeof(float) * N * V);
        pair[i]->logp_backward(dl[i], logits, lse[i], targets, wt, NULL, NULL, N, V, 0.7f);
    }
    expect_close(name, "log_sum_exp_row", &lse_f[0], &lse_f[1], 1, TOL);
    /* the log-softmax and the sampler's pick: the same bits (exp_f64 and
     * its eight-lane form round alike), at every row width around 8 */
    for (int n = 1; n <= 3 * 8 + 1; n++) {
        double l[2], zm[2], mz[2];
        int pk[2][5];
        for (int i = 0; i < 2; i++) {
            l[i] = pair[i]->log_sum_exp_row(logits, n, 1.0 / 0.7, &zm[i], &mz[i]);
            for (int u = 0; u < 5; u++)
                pk[i][u] = pair[i]->softmax_cdf_pick(logits, n, 1.0 / 0.7, zm[i],
                                                     (0.2 * u + 0.05) * exp(l[i] - zm[i]));
        }
        if (memcmp(l, l + 1, sizeof l[0]) != 0 || memcmp(mz, mz + 1, sizeof mz[0]) != 0 ||
            memcmp(pk[0], pk[1], sizeof pk[0]) != 0)
            fail_msg("%s: log_sum_exp_row / softmax_cdf_pick at V=%d: not the portable bits "
                     "(lse %.17g vs %.17g)", name, n, l[0], l[1]);
    }
    expect_close(name, "logp_forward logp", lp[0], lp[1], N, TOL);
    expect_close(name, "logp_forward entropy", ent[0], ent[1], N, TOL);
    expect_close(name, "logp_backward", dl[0], dl[1], (size_t)N * V, TOL);

    for (int i = 0; i < 2; i++) {
        void *bufs[] = {y[i], rstd[i], dx[i], dw[i], row[i], q[i], kk[i], dq[i],
                        orow[i], sw[i], dh1[i], dh3[i], dl[i]};
        for (size_t j = 0; j < sizeof bufs / sizeof bufs[0]; j++) xfree(bufs[j]);
    }
    void *bufs[] = {x, w, dy, wm, cosb, sinb, q0, k0, v0, dout, h1, h3, logits, wt};
    for (size_t j = 0; j < sizeof bufs / sizeof bufs[0]; j++) xfree(bufs[j]);
}

/* Every wider instance this CPU runs agrees with the portable one. A CPU
 * without AVX2 has nothing to compare; the count of instances compared is
 * printed so a run says what it covered. */
static void test_instances_agree(void **state) {
    (void)state;
    int compared = 0;
    for (int isa = KERNEL_AVX2; isa < KERNEL_N_ISA; isa++) {
        if (!kernel_isa_supported((KernelIsa)isa)) {
            printf("    %s: this CPU cannot run it, not compared\n", kernel_isa_name((KernelIsa)isa));
            continue;
        }
        compare_instance(&INSTANCES[isa]);
        compared++;
    }
    printf("    %d wider instance(s) compared with the portable one\n", compared);
}

/* The public names run the instance kernel_isa() names: the widest the CPU
 * supports. The address of an ifunc-bound name is that of the function the
 * loader bound it to, so the binding is checked directly, and by a call. */
static void test_public_names_bound(void **state) {
    (void)state;
    const KernelIsa isa = kernel_isa();
    assert_true(kernel_isa_supported(isa));
    for (int i = isa + 1; i < KERNEL_N_ISA; i++) assert_false(kernel_isa_supported((KernelIsa)i));
    const Kernels *k = &INSTANCES[isa];
    assert_ptr_equal((void *)rmsnorm_forward, (void *)k->rmsnorm_forward);
    assert_ptr_equal((void *)matmul_forward_packed, (void *)k->matmul_forward_packed);
    assert_ptr_equal((void *)logp_backward, (void *)k->logp_backward);
    enum { NN = 3, DD = 1001 };
    float *x = randn((size_t)NN * DD, 21, 3.0f), *w = randn(DD, 22, 1.0f);
    float pub[NN * DD], inst[NN * DD], rp[NN], ri[NN];
    rmsnorm_forward(pub, rp, x, w, NN, DD, 1e-5f);
    k->rmsnorm_forward(inst, ri, x, w, NN, DD, 1e-5f);
    assert_memory_equal(pub, inst, sizeof pub);
    assert_memory_equal(rp, ri, sizeof rp);
    char line[160];
    kernel_describe(line, sizeof line);
    printf("    %s\n", line);
    assert_non_null(strstr(line, kernel_isa_name(isa)));
    xfree(x);
    xfree(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instances_agree),
        cmocka_unit_test(test_public_names_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
