/* test_decode_kernels.c: the decode path's kernels against plain
 * references, and generate()'s output pinned.
 *   - matmul_forward_packed of every compiled instance this CPU runs
 *     (kernel_dispatch.h) bit-identical to a plain-C fmaf chain over k
 *     (the contract in model_kernels.h) at odd shapes: rows 1..14 and 16, 23, 64, 65 (every
 *     row-block size and split), C = 1, 7, 33, OC off the panel width,
 *     matrices packed side by side at an odd col0, row strides wider than
 *     the rows, beta 0 and 1, and nothing written past OC; and within
 *     float rounding of matmul_forward_naive (double);
 *   - matmul_pack of every instance against the layout written plainly;
 *   - matmul_pack_swiglu of every instance against its layout written
 *     plainly, and matmul_forward_packed_swiglu bit-identical to that
 *     instance's unfused path (matmul_pack of W1 and W3, the product into
 *     h1 | h3, swiglu_forward per row), HF on and off the 16-lane halves,
 *     every row-block size; and within 1e-6 relative of silu(h1) h3 taken
 *     in double from the fmaf chains;
 *   - attention_decode_row against a double-precision softmax attention
 *     (GQA, n = 1 .. 70, head widths 8, 16, 32, 64 and an odd 6);
 *   - the same with the first rows read from a shared prefix, to the bit,
 *     and a NaN key making its heads' output NaN;
 *   - rope_row's vector paths (every instance) bit-identical to its
 *     scalar arithmetic;
 *   - kv_cache_copy_slot's sharing: after shared copies, a copy into a
 *     shared slot and a copy of a sharer, every slot's logits equal its
 *     history run alone, to the bit;
 *   - model_prefill_many (sequences straddling row chunks) bit-identical
 *     to one model_prefill per sequence, and a decode step after;
 *   - generate() at temperature 1 on a fixed model and seed: the tokens,
 *     lengths and finish reasons hash to the value the code before the
 *     decode kernels were rewritten produced, and the summed log-probs
 *     match it to 1e-4 (the kernels may round differently, the sampled
 *     tokens must not change). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernel_dispatch.h"
#include "model.h"
#include "model_kernels.h"
#include "rng.h"
#include "sampler.h"
#include "tokenizer.h"
#include "util.h"

/* The kernels under test, per compiled instance (kernel_dispatch.h): each
 * one this CPU runs is checked, not only the one the public names bind. */
typedef struct {
    const char *isa;
    __typeof__(matmul_pack) *pack;
    __typeof__(matmul_forward_packed) *packed;
    __typeof__(rope_row) *rope_row;
    __typeof__(matmul_pack_swiglu) *pack_swiglu;
    __typeof__(matmul_forward_packed_swiglu) *packed_swiglu;
    __typeof__(swiglu_forward) *swiglu_forward;
} Instance;

#define INSTANCE(name)                                                                    \
    {#name, matmul_pack_##name, matmul_forward_packed_##name, rope_row_##name,            \
     matmul_pack_swiglu_##name, matmul_forward_packed_swiglu_##name, swiglu_forward_##name}
static const Instance INSTANCES[KERNEL_N_ISA] = {INSTANCE(generic), INSTANCE(avx2),
                                                 INSTANCE(avx512)};

/* The contract, written out: one fmaf chain per output from 0, k in order. */
static void ref_packed_matmul(float *out, int ldo, const float *inp, int ldi, const float *w,
                              int N, int C, int OC, int add) {
    for (int i = 0; i < N; i++)
        for (int o = 0; o < OC; o++) {
            float acc = 0.0f;
            for (int k = 0; k < C; k++)
                acc = fmaf(inp[(size_t)i * ldi + k], w[(size_t)o * C + k], acc);
            float *y = out + (size_t)i * ldo + o;
            *y = add ? *y + acc : acc;
        }
}

/* One shape: w (OC, C) packed as two matrices (OC1 then OC - OC1 columns)
 * starting at column col0 of the packed buffer, so the product reads
 * columns col0 .. col0+OC-1. Compares bits against ref_packed_matmul. */
static void check_packed_shape(const Instance *in, int N, int C, int OC, int col0, Rng *r) {
    const int ldi = C + 3, ldo = col0 + OC + 5, OC1 = OC / 3;
    const int total = col0 + OC;
    float *w = xmalloc(sizeof(float) * (size_t)OC * C);
    float *x = xmalloc(sizeof(float) * (size_t)N * ldi);
    float *packed = xcalloc(matmul_packed_floats(C, total), sizeof(float));
    float *y = xmalloc(sizeof(float) * (size_t)N * ldo);
    float *yr = xmalloc(sizeof(float) * (size_t)N * ldo);
    for (size_t i = 0; i < (size_t)OC * C; i++) w[i] = rng_normal(r);
    for (size_t i = 0; i < (size_t)N * ldi; i++) x[i] = rng_normal(r);
    in->pack(packed, w, C, OC1, col0);
    in->pack(packed, w + (size_t)OC1 * C, C, OC - OC1, col0 + OC1);
    /* out points at column col0 of each row: the product of the columns
     * col0.. only is what a caller gets by offsetting packed by panels,
     * so compute all `total` columns and compare the last OC */
    for (int add = 0; add <= 1; add++) {
        for (size_t i = 0; i < (size_t)N * ldo; i++) y[i] = yr[i] = rng_normal(r);
        float *wfull = xcalloc((size_t)total * C, sizeof(float));
        memcpy(wfull + (size_t)col0 * C, w, sizeof(float) * (size_t)OC * C);
        in->packed(y, ldo, x, ldi, packed, N, C, total, add ? 1.0f : 0.0f);
        ref_packed_matmul(yr, ldo, x, ldi, wfull, N, C, total, add);
        for (int i = 0; i < N; i++)
            for (int o = 0; o < ldo; o++) {
                const float a = y[(size_t)i * ldo + o], b = yr[(size_t)i * ldo + o];
                if (memcmp(&a, &b, sizeof a) != 0)
                    fail_msg("test_decode_kernels.c: %s packed matmul N=%d C=%d OC=%d col0=%d "
                             "add=%d: out[%d][%d] = %.9g, fmaf chain %.9g", in->isa, N, C, total,
                             col0, add, i, o, a, b);
            }
        if (!add) { /* and the chain is the product: within float rounding of double */
            float *yn = xmalloc(sizeof(float) * (size_t)N * total);
            matmul_forward_naive(yn, x + 0, wfull, 1, C, total); /* row 0, ldi-free */
            for (int o = 0; o < total; o++)
                assert_true(fabsf(y[o] - yn[o]) <= 1e-5f * (float)C * (1.0f + fabsf(yn[o])));
            xfree(yn);
        }
        xfree(wfull);
    }
    xfree(w); xfree(x); xfree(packed); xfree(y); xfree(yr);
}

/* matmul_pack of every instance against the layout written out plainly
 * (column col0 + o of w's row o at panel (col0 + o) / 32, line k, lane
 * (col0 + o) % 32), to the bit, padding untouched: C on and off the
 * 16-column blocks, whole and partial panels, odd col0. */
static void test_pack_layout(void **st) {
    const int cs[] = {1, 15, 16, 33, 128, 352};
    const int ocs[] = {1, 31, 32, 64, 98, 130};
    const int col0s[] = {0, 5, 32, 37};
    Rng r;
    rng_seed(&r, 23, 1);
    for (int isa = 0; isa < KERNEL_N_ISA; isa++) {
        if (!kernel_isa_supported((KernelIsa)isa)) continue;
        for (size_t a = 0; a < sizeof cs / sizeof *cs; a++)
            for (size_t b = 0; b < sizeof ocs / sizeof *ocs; b++)
                for (size_t c = 0; c < sizeof col0s / sizeof *col0s; c++) {
                    const int C = cs[a], OC = ocs[b], col0 = col0s[c];
                    const size_t nf = matmul_packed_floats(C, col0 + OC);
                    float *w = xmalloc(sizeof(float) * (size_t)OC * C);
                    float *got = xmalloc(sizeof(float) * nf), *want = xmalloc(sizeof(float) * nf);
                    for (size_t i = 0; i < (size_t)OC * C; i++) w[i] = rng_normal(&r);
                    for (size_t i = 0; i < nf; i++) got[i] = want[i] = -7.0f;
                    INSTANCES[isa].pack(got, w, C, OC, col0);
                    for (int o = 0; o < OC; o++)
                        for (int k = 0; k < C; k++) {
                            const int col = col0 + o;
                            want[(size_t)(col / MATMUL_PANEL) * C * MATMUL_PANEL +
                                 (size_t)k * MATMUL_PANEL + col % MATMUL_PANEL] = w[(size_t)o * C + k];
                        }
                    if (memcmp(got, want, sizeof(float) * nf) != 0)
                        fail_msg("test_decode_kernels.c: %s matmul_pack C=%d OC=%d col0=%d differs "
                                 "from the plain layout", INSTANCES[isa].isa, C, OC, col0);
                    xfree(w); xfree(got); xfree(want);
                }
    }
}

/* matmul_pack_swiglu of every instance against its layout written out
 * (W1 row o at panel o / 16, lane o % 16; W3 row o in lane 16 + o % 16),
 * padding zero, to the bit. */
static void test_pack_swiglu_layout(void **st) {
    const int cs[] = {1, 15, 16, 33, 128};
    const int hfs[] = {1, 15, 16, 17, 40, 352};
    Rng r;
    rng_seed(&r, 31, 4);
    for (int isa = 0; isa < KERNEL_N_ISA; isa++) {
        if (!kernel_isa_supported((KernelIsa)isa)) continue;
        for (size_t a = 0; a < sizeof cs / sizeof *cs; a++)
            for (size_t b = 0; b < sizeof hfs / sizeof *hfs; b++) {
                const int C = cs[a], HF = hfs[b];
                const size_t nf = matmul_packed_floats(C, 2 * HF);
                float *w1 = xmalloc(sizeof(float) * (size_t)HF * C);
                float *w3 = xmalloc(sizeof(float) * (size_t)HF * C);
                for (size_t i = 0; i < (size_t)HF * C; i++) {
                    w1[i] = rng_normal(&r);
                    w3[i] = rng_normal(&r);
                }
                float *got = xcalloc(nf, sizeof(float)), *want = xcalloc(nf, sizeof(float));
                INSTANCES[isa].pack_swiglu(got, w1, w3, C, HF);
                for (int o = 0; o < HF; o++)
                    for (int k = 0; k < C; k++) {
                        float *line = want + (size_t)(o / 16) * C * MATMUL_PANEL +
                                      (size_t)k * MATMUL_PANEL;
                        line[o % 16] = w1[(size_t)o * C + k];
                        line[16 + o % 16] = w3[(size_t)o * C + k];
                    }
                if (memcmp(got, want, sizeof(float) * nf) != 0)
                    fail_msg("test_decode_kernels.c: %s matmul_pack_swiglu C=%d HF=%d differs "
                             "from the plain layout", INSTANCES[isa].isa, C, HF);
                xfree(w1); xfree(w3); xfree(got); xfree(want);
            }
    }
}

/* One shape of matmul_forward_packed_swiglu against the same instance's
 * unfused path, to the bit, nothing written past HF in a row wider than
 * it; and against silu(h1) h3 in double over the fmaf chains' h1, h3. */
static void check_packed_swiglu(const Instance *in, int N, int C, int HF, Rng *r) {
    const int ldi = C + 3, ldg = HF + 5;
    float *w1 = xmalloc(sizeof(float) * (size_t)HF * C), *w3 = xmalloc(sizeof(float) * (size_t)HF * C);
    float *x = xmalloc(sizeof(float) * (size_t)N * ldi);
    const float ws = 3.0f / sqrtf((float)C); /* h over about +-10: exp well into its range */
    for (size_t i = 0; i < (size_t)HF * C; i++) {
        w1[i] = ws * rng_normal(r);
        w3[i] = ws * rng_normal(r);
    }
    for (size_t i = 0; i < (size_t)N * ldi; i++) x[i] = rng_normal(r);
    const size_t nf = matmul_packed_floats(C, 2 * HF);
    float *fused = xcalloc(nf, sizeof(float)), *plain = xcalloc(nf, sizeof(float));
    in->pack_swiglu(fused, w1, w3, C, HF);
    in->pack(plain, w1, C, HF, 0);
    in->pack(plain, w3, C, HF, HF);
    float *g = xmalloc(sizeof(float) * (size_t)N * ldg), *h = xmalloc(sizeof(float) * (size_t)N * 2 * HF);
    float *want = xmalloc(sizeof(float) * HF);
    for (size_t i = 0; i < (size_t)N * ldg; i++) g[i] = -7.0f; /* a sentinel past HF */
    in->packed_swiglu(g, ldg, x, ldi, fused, N, C, HF);
    in->packed(h, 2 * HF, x, ldi, plain, N, C, 2 * HF, 0.0f);
    for (int i = 0; i < N; i++) {
        const float *h1 = h + (size_t)i * 2 * HF, *h3 = h1 + HF, *gi = g + (size_t)i * ldg;
        in->swiglu_forward(want, h1, h3, (size_t)HF);
        for (int j = 0; j < HF; j++) {
            if (memcmp(&gi[j], &want[j], sizeof(float)) != 0)
                fail_msg("test_decode_kernels.c: %s matmul_forward_packed_swiglu N=%d C=%d "
                         "HF=%d: g[%d][%d] = %.9g, unfused %.9g", in->isa, N, C, HF, i, j,
                         gi[j], want[j]);
            const double a = h1[j], b = h3[j], ref = a / (1.0 + exp(-a)) * b;
            if (fabs(gi[j] - ref) > 1e-6 * fabs(ref) + 1e-30)
                fail_msg("test_decode_kernels.c: %s matmul_forward_packed_swiglu N=%d C=%d "
                         "HF=%d: g[%d][%d] = %.9g, silu(h1) h3 in double %.9g", in->isa, N, C,
                         HF, i, j, gi[j], ref);
        }
        for (int j = HF; j < ldg; j++) assert_true(gi[j] == -7.0f);
    }
    xfree(w1); xfree(w3); xfree(x); xfree(fused); xfree(plain); xfree(g); xfree(h); xfree(want);
}

/* HF = 1, 15, 16, 17, 40, 352 (one lane, a masked half, whole halves, a
 * pair of panels and a masked one after), every row-block size. */
static void test_packed_swiglu(void **st) {
    const int rows[] = {1, 2, 3, 4, 5, 6, 7, 12, 16, 23, 64, 65};
    const int cs[] = {7, 33, 128};
    const int hfs[] = {1, 15, 16, 17, 40, 352};
    for (int isa = 0; isa < KERNEL_N_ISA; isa++) {
        if (!kernel_isa_supported((KernelIsa)isa)) continue;
        Rng r;
        rng_seed(&r, 29, 2);
        for (size_t a = 0; a < sizeof rows / sizeof *rows; a++)
            for (size_t b = 0; b < sizeof cs / sizeof *cs; b++)
                for (size_t c = 0; c < sizeof hfs / sizeof *hfs; c++)
                    check_packed_swiglu(&INSTANCES[isa], rows[a], cs[b], hfs[c], &r);
    }
}

static void test_packed_matmul_bits(void **st) {
    const int rows[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 23, 64, 65};
    const int cs[] = {1, 7, 33};
    const int ocs[] = {1, 5, 31, 33, 67, 98};
    for (int isa = 0; isa < KERNEL_N_ISA; isa++) {
        if (!kernel_isa_supported((KernelIsa)isa)) continue;
        const Instance *in = &INSTANCES[isa];
        printf("  packed matmul: %s instance\n", in->isa);
        Rng r;
        rng_seed(&r, 21, 3);
        for (size_t a = 0; a < sizeof rows / sizeof *rows; a++)
            for (size_t b = 0; b < sizeof cs / sizeof *cs; b++)
                for (size_t c = 0; c < sizeof ocs / sizeof *ocs; c++)
                    check_packed_shape(in, rows[a], cs[b], ocs[c], (int)((a + c) % 3) * 5, &r);
        /* the decode shapes of bench_perf_targets' ~1M model */
        check_packed_shape(in, 16, 128, 384, 0, &r);
        check_packed_shape(in, 64, 352, 128, 0, &r);
    }
}

/* Double-precision reference of attention_decode_row. */
static void ref_attention(double *out, const float *q, const float *kc, const float *vc, int n,
                          int NH, int NKV, int HD) {
    const int KVD = NKV * HD, group = NH / NKV;
    double s[128];
    for (int h = 0; h < NH; h++) {
        const int kv = h / group;
        double mx = -INFINITY, sum = 0;
        for (int t = 0; t < n; t++) {
            double d = 0;
            for (int i = 0; i < HD; i++)
                d += (double)q[h * HD + i] * kc[(size_t)t * KVD + kv * HD + i];
            s[t] = d / sqrt((double)HD);
            mx = s[t] > mx ? s[t] : mx;
        }
        for (int t = 0; t < n; t++) sum += s[t] = exp(s[t] - mx);
        for (int i = 0; i < HD; i++) {
            double y = 0;
            for (int t = 0; t < n; t++) y += s[t] / sum * vc[(size_t)t * KVD + kv * HD + i];
            out[h * HD + i] = y;
        }
    }
}

static void test_attention_decode_row(void **st) {
    Rng r;
    rng_seed(&r, 8, 1);
    const struct { int NH, NKV, HD; } shapes[] = {{4, 4, 32}, {8, 2, 16}, {2, 1, 8}, {3, 3, 6},
                                                  {16, 8, 16}, {4, 4, 64},
                                                  /* value_rows: 3, 5 and 8 vectors a head,
                                                   * more heads than one pass holds */
                                                  {2, 1, 48}, {4, 2, 80}, {2, 2, 128},
                                                  {20, 4, 16}, {1, 1, 256}};
    const int ns[] = {1, 2, 7, 16, 17, 40, 64, 70};
    for (size_t a = 0; a < sizeof shapes / sizeof *shapes; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++) {
            const int NH = shapes[a].NH, NKV = shapes[a].NKV, HD = shapes[a].HD, n = ns[b];
            const int KVD = NKV * HD;
            float *q = xmalloc(sizeof(float) * NH * HD), *out = xmalloc(sizeof(float) * NH * HD);
            float *kc = xmalloc(sizeof(float) * (size_t)n * KVD);
            float *vc = xmalloc(sizeof(float) * (size_t)n * KVD);
            float *scores = xmalloc(sizeof(float) * (size_t)NH * n);
            double *ref = xmalloc(sizeof(double) * NH * HD);
            for (int i = 0; i < NH * HD; i++) q[i] = 1.5f * rng_normal(&r);
            for (int i = 0; i < n * KVD; i++) {
                kc[i] = rng_normal(&r);
                vc[i] = rng_normal(&r);
            }
            attention_decode_row(out, scores, q, kc, vc, NULL, NULL, 0, n, NH, NKV, HD, 1);
            ref_attention(ref, q, kc, vc, n, NH, NKV, HD);
            for (int i = 0; i < NH * HD; i++)
                if (fabs(out[i] - ref[i]) > 1e-5 * (1 + fabs(ref[i])))
                    fail_msg("test_decode_kernels.c: attention NH=%d NKV=%d HD=%d n=%d: out[%d] = "
                             "%.9g, reference %.9g", NH, NKV, HD, n, i, out[i], ref[i]);
            /* the first np rows read from elsewhere (a shared prefix), the
             * own copies of those rows NaN: the same bits */
            const int np = n / 2 + 1 < n ? n / 2 + 1 : n;
            float *kp = xmalloc(sizeof(float) * (size_t)n * KVD);
            float *vp = xmalloc(sizeof(float) * (size_t)n * KVD);
            float *o2 = xmalloc(sizeof(float) * NH * HD);
            memcpy(kp, kc, sizeof(float) * (size_t)np * KVD);
            memcpy(vp, vc, sizeof(float) * (size_t)np * KVD);
            for (int i = 0; i < np * KVD; i++) kc[i] = vc[i] = NAN;
            for (int pf = 0; pf < 2; pf++) { /* prefetching or not: the same bits */
                attention_decode_row(o2, scores, q, kc, vc, kp, vp, np, n, NH, NKV, HD, pf);
                if (memcmp(out, o2, sizeof(float) * NH * HD) != 0)
                    fail_msg("test_decode_kernels.c: attention NH=%d NKV=%d HD=%d n=%d with %d "
                             "rows shared (prefetch %d) differs from the contiguous rows", NH,
                             NKV, HD, n, np, pf);
            }
            /* a NaN in the cache shows: every head reading it outputs NaN */
            kp[0] = NAN;
            attention_decode_row(o2, scores, q, kc, vc, kp, vp, np, n, NH, NKV, HD, 1);
            for (int i = 0; i < HD; i++)
                if (!isnan(o2[i]))
                    fail_msg("test_decode_kernels.c: attention NH=%d HD=%d n=%d: a NaN key gave "
                             "out[%d] = %g", NH, HD, n, i, o2[i]);
            xfree(kp); xfree(vp); xfree(o2);
            xfree(q); xfree(out); xfree(kc); xfree(vc); xfree(scores); xfree(ref);
        }
}

/* rope_row's vector path against its scalar arithmetic, to the bit, at
 * head widths with no, some and only vector pairs, both directions. */
static void test_rope_row_bits(void **st) {
    Rng r;
    rng_seed(&r, 5, 5);
    const int hds[] = {2, 6, 16, 24, 32, 64};
    for (size_t a = 0; a < sizeof hds / sizeof *hds; a++)
        for (int dir = -1; dir <= 1; dir += 2) {
            const int HD = hds[a], half = HD / 2, C = 3 * HD;
            float x[3 * 64], want[3 * 64], cs[32], sn[32];
            for (int i = 0; i < C; i++) x[i] = want[i] = rng_normal(&r);
            for (int i = 0; i < half; i++) {
                cs[i] = cosf(0.3f * i + 0.1f);
                sn[i] = sinf(0.3f * i + 0.1f);
            }
            for (int h = 0; h < C; h += HD)
                for (int i = 0; i < half; i++) {
                    const float c = cs[i], s = (dir > 0 ? 1.0f : -1.0f) * sn[i];
                    const float x0 = want[h + 2 * i], x1 = want[h + 2 * i + 1];
                    want[h + 2 * i] = x0 * c - x1 * s;
                    want[h + 2 * i + 1] = x0 * s + x1 * c;
                }
            for (int isa = 0; isa < KERNEL_N_ISA; isa++) {
                if (!kernel_isa_supported((KernelIsa)isa)) continue;
                float y[3 * 64];
                memcpy(y, x, sizeof(float) * C);
                INSTANCES[isa].rope_row(y, cs, sn, C, HD, dir);
                if (memcmp(y, want, sizeof(float) * C) != 0)
                    fail_msg("test_decode_kernels.c: %s rope_row HD=%d dir=%d differs from its "
                             "scalar arithmetic", INSTANCES[isa].isa, HD, dir);
            }
        }
}

/* Logits of the last token of hist (n >= 2) on a fresh cache: the
 * history prefilled into one slot, no copies, the last token decoded. */
static void fresh_logits(const Model *m, const int *hist, int n, float *logits) {
    KVCache *c = kv_cache_new(&m->cfg, 1, 16);
    const int slot = 0;
    float *tmp = xmalloc(sizeof(float) * m->cfg.vocab_size);
    model_prefill(m, c, 0, hist, n - 1, tmp);
    model_decode_step(m, c, &slot, hist + n - 1, 1, logits);
    xfree(tmp);
    kv_cache_free(c);
}

/* kv_cache_copy_slot shares rows: copies of a prompt, a copy into a slot
 * others share (they take their own copy first), a copy of a slot that
 * has rows of its own, decode steps in between. Every slot's logits are
 * bit-identical to its history run alone with no copies (each row's
 * arithmetic does not depend on the others in its step), the shared cache
 * prefetching where the fresh ones do not, or the other way round. */
static void test_shared_prefix_cache(void **st) {
    ModelConfig c = {.vocab_size = 20, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                     .hidden_dim = 48, .max_seq_len = 16, .tied_embeddings = 0,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &c);
    model_init_weights(&m, 3);
    const int V = c.vocab_size;
    KVCache *kc = kv_cache_new(&c, 5, 16);
    kc->prefetch = !kc->prefetch; /* fresh_logits' caches keep kernel_kv_prefetch() */
    float *lg = xmalloc(sizeof(float) * 5 * V), *ref = xmalloc(sizeof(float) * V);
    const int A[5] = {1, 4, 7, 9, 3}, B[3] = {1, 12, 5};
    model_prefill(&m, kc, 0, A, 5, lg);
    model_prefill(&m, kc, 3, B, 3, lg);
    kv_cache_copy_slot(kc, 1, 0);
    kv_cache_copy_slot(kc, 2, 0);
    assert_int_equal(kc->share_len[1], 5);
    const int s1[3] = {0, 1, 2}, t1[3] = {6, 8, 10};
    model_decode_step(&m, kc, s1, t1, 3, lg);
    kv_cache_copy_slot(kc, 0, 3); /* 1 and 2 shared 0: they copy first */
    assert_int_equal(kc->share_len[1], 0);
    assert_int_equal(kc->share_len[2], 0);
    kv_cache_copy_slot(kc, 4, 1);
    const int s2[4] = {0, 1, 2, 4}, t2[4] = {11, 13, 14, 15};
    model_decode_step(&m, kc, s2, t2, 4, lg);
    const int h0[4] = {1, 12, 5, 11}, h1[7] = {1, 4, 7, 9, 3, 8, 13};
    const int h2[7] = {1, 4, 7, 9, 3, 10, 14}, h4[7] = {1, 4, 7, 9, 3, 8, 15};
    const int *hist[4] = {h0, h1, h2, h4}, hn[4] = {4, 7, 7, 7};
    for (int r = 0; r < 4; r++) {
        fresh_logits(&m, hist[r], hn[r], ref);
        if (memcmp(lg + (size_t)r * V, ref, sizeof(float) * V) != 0)
            fail_msg("test_decode_kernels.c: slot %d's logits after shared copies differ from "
                     "its history run alone", s2[r]);
    }
    xfree(lg);
    xfree(ref);
    kv_cache_free(kc);
    model_free(&m);
}

/* model_prefill_many against one model_prefill per sequence: 5 sequences
 * of 9 .. 41 tokens (101 rows: chunks of 64 rows, sequences straddling
 * them) into scattered slots of a cache that already holds tokens; the
 * last-token logits, and a decode step after, bit-identical. */
static void test_prefill_many(void **st) {
    ModelConfig c = {.vocab_size = 20, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                     .hidden_dim = 48, .max_seq_len = 64, .tied_embeddings = 0,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &c);
    model_init_weights(&m, 4);
    enum { NS = 5, SLOTS = 7, MAXT = 41 };
    const int V = c.vocab_size, slots[NS] = {6, 0, 3, 1, 5}, lens[NS] = {30, 9, 41, 2, 19};
    int buf[NS][MAXT];
    const int *toks[NS];
    Rng r;
    rng_seed(&r, 6, 6);
    for (int p = 0; p < NS; p++) {
        for (int i = 0; i < lens[p]; i++) buf[p][i] = (int)rng_below(&r, V);
        toks[p] = buf[p];
    }
    const int pre[2] = {2, 9}; /* slot 3 already holds two tokens */
    KVCache *a = kv_cache_new(&c, SLOTS, 48), *b = kv_cache_new(&c, SLOTS, 48);
    float *la = xmalloc(sizeof(float) * NS * V), *lb = xmalloc(sizeof(float) * NS * V);
    model_prefill(&m, a, 3, pre, 2, la);
    model_prefill(&m, b, 3, pre, 2, lb);
    model_prefill_many(&m, a, slots, toks, lens, NS, la);
    for (int p = 0; p < NS; p++)
        model_prefill(&m, b, slots[p], toks[p], lens[p], lb + (size_t)p * V);
    assert_memory_equal(la, lb, sizeof(float) * NS * V);
    for (int p = 0; p < NS; p++) assert_int_equal(a->len[slots[p]], b->len[slots[p]]);
    const int next[NS] = {1, 2, 3, 4, 5};
    model_decode_step(&m, a, slots, next, NS, la);
    model_decode_step(&m, b, slots, next, NS, lb);
    assert_memory_equal(la, lb, sizeof(float) * NS * V);
    xfree(la);
    xfree(lb);
    kv_cache_free(a);
    kv_cache_free(b);
    model_free(&m);
}

/* FNV-1a over bytes. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* A fixed model (GQA, head width 32, the char tokenizer's V = 98), 3
 * prompts x G = 4 at temperature 1: 12 rows shrinking as sequences end. */
static void test_generate_pinned(void **st) {
    Tokenizer tok;
    tokenizer_init_char(&tok);
    ModelConfig c = {.vocab_size = tok.vocab_size, .dim = 64, .n_layers = 2, .n_heads = 2,
                     .n_kv_heads = 1, .hidden_dim = 96, .max_seq_len = 48, .tied_embeddings = 0,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &c);
    model_init_weights(&m, 7);
    enum { NP = 3, G = 4, P = 6, MAX_NEW = 30 };
    int pbuf[NP][P];
    const int *prompts[NP];
    int plen[NP];
    Rng r;
    rng_seed(&r, 17, 0);
    for (int p = 0; p < NP; p++) {
        pbuf[p][0] = tok.bos_id;
        for (int i = 1; i < P; i++) pbuf[p][i] = 3 + (int)rng_below(&r, c.vocab_size - 3);
        prompts[p] = pbuf[p];
        plen[p] = P - p; /* different prompt lengths */
    }
    SamplerConfig sc = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .max_new_tokens = MAX_NEW};
    Completions comp;
    completions_alloc(&comp, NP * G, MAX_NEW);
    KVCache *kc = kv_cache_new(&c, NP * G, P + MAX_NEW);
    generate(&m, kc, prompts, plen, NP, G, &sc, &tok, &r, &comp);
    uint64_t h = 1469598103934665603ull;
    double lp = 0;
    int ntok = 0;
    for (int j = 0; j < NP * G; j++) {
        h = fnv(h, &comp.len[j], sizeof(int));
        h = fnv(h, &comp.finish[j], 1);
        h = fnv(h, comp.tokens + (size_t)j * MAX_NEW, sizeof(int) * comp.len[j]);
        for (int i = 0; i < comp.len[j]; i++) lp += comp.logp[(size_t)j * MAX_NEW + i];
        ntok += comp.len[j];
    }
    printf("  generate pinned: %d tokens, hash %016llx, sum logp %.6f\n", ntok,
           (unsigned long long)h, lp);
    /* the output of the decode path before its kernels were rewritten */
    const uint64_t want_hash = 0x431efb45fdec5380ull;
    const double want_lp = -1478.509678;
    assert_true(h == want_hash);
    assert_true(fabs(lp - want_lp) < 1e-4);
    kv_cache_free(kc);
    completions_free(&comp);
    model_free(&m);
    tokenizer_free(&tok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_matmul_bits),
        cmocka_unit_test(test_pack_layout),
        cmocka_unit_test(test_pack_swiglu_layout),
        cmocka_unit_test(test_packed_swiglu),
        cmocka_unit_test(test_attention_decode_row),
        cmocka_unit_test(test_rope_row_bits),
        cmocka_unit_test(test_shared_prefix_cache),
        cmocka_unit_test(test_prefill_many),
        cmocka_unit_test(test_generate_pinned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
