/* model_kernels.c: layer kernels for model.c (see model_kernels.h).
 *
 * Every large training product is one gemm_f32 (gemm.h) or cblas_sgemm,
 * whichever is faster at its shape (own_gemm); decoding multiplies by
 * weights packed once per weight version (matmul_forward_packed). The rest
 * are short loops kept simple enough for gcc -O3 to vectorize. Reductions
 * that set the numerics (RMS, log-sum-exp) accumulate in double through
 * several independent partial sums: deterministic, and fast without
 * -ffast-math.
 *
 * This file is the portable instance; model_kernels_avx2.c and
 * model_kernels_avx512.c compile it again for wider vectors (code for one
 * width sits under #if __AVX512F__ / __AVX2__ inside the kernel), and
 * kernel_dispatch.c picks the instance at load time (kernel_names.h). */
#ifndef KERNEL_ISA
#define KERNEL_ISA generic
#endif
#include "kernel_names.h"
#include "blas_core.h"
#include "gemm.h"
#include "model_kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#include "avx512_transpose.h"

#include "sample_dist.h"
#include "util.h"

/* ---- helpers -------------------------------------------------------------- */

/* sum x[i]^2 in double with 8 partial sums (a fixed order: deterministic). */
static double sumsq_f64(const float *x, int n) {
    double acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)x[i + j] * (double)x[i + j];
    for (; i < n; i++) acc[0] += (double)x[i] * (double)x[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* The 8 partial sums of dot_f32 and rms_dot: lane u sums the terms u, u + 8,
 * u + 16, ... in order, the tail is added to lane 0, then a fixed tree. On
 * AVX2 / AVX-512 the lanes are one ymm: the same adds in the same order, so
 * every instance gives the same bits (gcc's own vectorization of the
 * scalar form transposes 16 blocks at a time through permutes). */
static inline float tree8_f32(const float acc[8]) {
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* float dot with 8 partial sums, so the loop vectorizes without reassociation. */
static float dot_f32(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int i = 0;
#if defined(__AVX2__)
    __m256 v = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8)
        v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    _mm256_storeu_ps(acc, v);
#endif
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    for (; i < n; i++) acc[0] += a[i] * b[i];
    return tree8_f32(acc);
}

/* sum of a[i] * b[i] * c[i], (a b) c, in dot_f32's order. */
static float rms_dot(const float *a, const float *b, const float *c, int n) {
    float acc[8] = {0};
    int i = 0;
#if defined(__AVX2__)
    __m256 v = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8)
        v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(a + i),
                                                         _mm256_loadu_ps(b + i)),
                                           _mm256_loadu_ps(c + i)));
    _mm256_storeu_ps(acc, v);
#endif
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j] * c[i + j];
    for (; i < n; i++) acc[0] += a[i] * b[i] * c[i];
    return tree8_f32(acc);
}

/* exp(x) in float to ~1.4 ulp (Cephes expf: Cody-Waite reduction by ln 2
 * and a degree-6 polynomial), written without calls or float compares so
 * loops over it vectorize: glibc's expf is scalar without -ffast-math, and
 * under the default -ftrapping-math gcc will not if-convert a float compare.
 * The SwiGLU gate and the attention softmax call it N*HF and B*NH*T*T/2
 * times per forward. |x| is clamped to 87 on the bits (exp(-87) ~ 1.6e-38,
 * exp(87) ~ 6e37: never inf); NaN in gives NaN out, so divergence stays
 * visible to isfinite checks. */
static inline float exp_f32(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    uint32_t xb, mb, pb, tb;
    memcpy(&xb, &x, 4);
    memcpy(&mb, &magic, 4);
    uint32_t ab = xb & 0x7fffffffu;
    uint32_t cb = (ab > 0x42ae0000u ? 0x42ae0000u : ab) | (xb & 0x80000000u); /* 0x42ae0000 = 87 */
    float xc;
    memcpy(&xc, &cb, 4);
    float t = xc * 1.44269504088896341f + magic;
    float n = t - magic; /* round(x / ln 2) */
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    memcpy(&pb, &p, 4);
    memcpy(&tb, &t, 4);
    pb += (tb - mb) << 23;                      /* times 2^n */
    pb |= ab > 0x7f800000u ? 0x7fc00000u : 0u; /* NaN in, NaN out */
    float y;
    memcpy(&y, &pb, 4);
    return y;
}

/* ---- embedding ------------------------------------------------------------ */

void encoder_forward(float *x, const int *tokens, const float *wte, int N, int D) {
    for (int i = 0; i < N; i++)
        memcpy(x + (size_t)i * D, wte + (size_t)tokens[i] * D, sizeof(float) * D);
}

void encoder_backward(float *dwte, const float *dx, const int *tokens, int N, int D) {
    for (int i = 0; i < N; i++) {
        float *dw = dwte + (size_t)tokens[i] * D;
        const float *d = dx + (size_t)i * D;
        for (int j = 0; j < D; j++) dw[j] += d[j];
    }
}

/* ---- RMSNorm -------------------------------------------------------------- */

/* One row: o = w * x * r, returns r = 1/rms(x). */
static inline float rmsnorm_row(float *o, const float *x, const float *w, int D, float eps) {
    const float r = (float)(1.0 / sqrt(sumsq_f64(x, D) / D + (double)eps));
    for (int j = 0; j < D; j++) o[j] = w[j] * (x[j] * r);
    return r;
}

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int D,
                     float eps) {
    for (int i = 0; i < N; i++) {
        const float r = rmsnorm_row(out + (size_t)i * D, inp + (size_t)i * D, w, D, eps);
        if (rstd) rstd[i] = r;
    }
}

void rmsnorm_forward_copy(float *out, float *rstd, float *copy, const float *inp, const float *w,
                          int N, int D, float eps) {
    for (int i = 0; i < N; i++) { /* the row's copy while it is in L1 */
        const float *x = inp + (size_t)i * D;
        const float r = rmsnorm_row(out + (size_t)i * D, x, w, D, eps);
        memcpy(copy + (size_t)i * D, x, sizeof(float) * D);
        if (rstd) rstd[i] = r;
    }
}

/* With xhat = x * r and g = dout * w:
 *   dx = r * (g - xhat * mean(g * xhat)),  dw += dout * xhat. */
void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
                      const float *w, const float *rstd, int N, int D) {
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * D;
        const float *d = dout + (size_t)i * D;
        float *dx = dinp + (size_t)i * D;
        float r = rstd[i];
        float dot = rms_dot(d, w, x, D);
        float c = dot * r * r / D; /* mean(g * xhat) * r, folded */
        for (int k = 0; k < D; k++) {
            dw[k] += d[k] * x[k] * r;
            dx[k] += r * (d[k] * w[k] - x[k] * c);
        }
    }
}

/* ---- matmul --------------------------------------------------------------- */

/* Whether the project's gemm (gemm.h) runs a product with an M x Nc output
 * instead of OpenBLAS, on the AVX-512 instance. Measured in
 * bench_gemm_shapes (N = 2048, one thread, ratios to sgemm 2048^3):
 * - against OpenBLAS's AVX-512 kernels (SkylakeX), gemm wins at D = 128 /
 *   256 and HF = 352 (dW by 10-20 points, forward and dinp by up to 15)
 *   and OpenBLAS at an output width of 688 (HF of the ~4M model: by 5-15
 *   points), where re-reading op(a) for each of 22 panels costs more than
 *   OpenBLAS's packed copy: so gemm below GEMM_WIDE (for a transposed
 *   op(a), as dW's with M = OC and K = N, also M below it);
 * - against a 256-bit kernel set (OPENBLAS_CORETYPE=Haswell on a Zen 5,
 *   say, which we never override), gemm runs every shape at 1.7-1.9x
 *   OpenBLAS, 688 included: so gemm everywhere.
 * The AVX2 and portable instances keep OpenBLAS, which their gemm (plain
 * loops) does not beat. */
enum { GEMM_WIDE = 512 };
static int own_gemm(int M, int Nc, int dw) {
#if defined(__AVX512F__)
    if (!blas_kernels_avx512()) return 1;
    return Nc < GEMM_WIDE && (!dw || M < GEMM_WIDE);
#else
    (void)M, (void)Nc, (void)dw;
    return 0;
#endif
}

void gemm_fastest(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (own_gemm(M, N, trans_a))
        gemm_f32(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                    ldc);
}

void matmul_forward(float *out, const float *inp, const float *w, int N, int C, int OC,
                    float beta) {
    gemm_fastest(0, 1, N, OC, C, 1.0f, inp, C, w, C, beta, out, OC);
}

void matmul_backward_input(float *dinp, const float *dout, const float *w, int N, int C, int OC,
                           float beta_inp) {
    gemm_fastest(0, 0, N, C, OC, 1.0f, dout, OC, w, C, beta_inp, dinp, C);
}

void matmul_backward_weights(int n, float *const *dw, const float *const *dout, const int *oc,
                             const float *inp, int N, int C) {
    enum { MAX_SHARED = 4 };
    int own = n > 1 && n <= MAX_SHARED;
    for (int t = 0; t < n && own; t++) own = own_gemm(oc[t], C, 1);
    if (!own) { /* one weight, or OpenBLAS runs some of the shapes: each on its own */
        for (int t = 0; t < n; t++)
            gemm_fastest(1, 0, oc[t], C, N, 1.0f, dout[t], oc[t], inp, C, 1.0f, dw[t], C);
        return;
    }
    GemmLhs lhs[MAX_SHARED] = {{0}};
    for (int t = 0; t < n; t++) lhs[t] = (GemmLhs){oc[t], dout[t], oc[t], dw[t], C};
    gemm_f32_shared_b(n, lhs, 1, 0, C, N, 1.0f, inp, C, 1.0f);
}

void matmul_backward(float *dinp, float *dw, const float *dout, const float *inp,
                     const float *w, int N, int C, int OC, float beta_inp) {
    matmul_backward_input(dinp, dout, w, N, C, OC, beta_inp);
    matmul_backward_weights(1, &dw, &dout, &OC, inp, N, C);
}

void matmul_forward_naive(float *out, const float *inp, const float *w, int N, int C, int OC) {
    for (int i = 0; i < N; i++)
        for (int o = 0; o < OC; o++) {
            double s = 0;
            for (int c = 0; c < C; c++) s += (double)inp[(size_t)i * C + c] * w[(size_t)o * C + c];
            out[(size_t)i * OC + o] = (float)s;
        }
}

/* ---- decode matmul over packed weights ------------------------------------ */

size_t matmul_packed_floats(int C, int OC) {
    size_t panels = ((size_t)OC + MATMUL_PANEL - 1) / MATMUL_PANEL;
    return panels * (size_t)C * MATMUL_PANEL;
}

#if defined(__AVX512F__)
/* Columns k0 .. (C rounded down to 16) of a whole panel (lanes 0-15 from
 * the 16 source rows at lo, lanes 16-31 from those at hi, row stride C) into dst, 16 x 16 blocks at a time;
 * returns the first k left to do. The scalar loop moved one float per
 * strided load, a few ms a generate() call at the ~4M size. */
static int pack_panel_blocks(float *dst, const float *lo, const float *hi, int C) {
    int k0 = 0;
    for (; k0 + 16 <= C; k0 += 16)
        for (int h = 0; h < MATMUL_PANEL; h += 16) {
            const float *src = h ? hi : lo;
            __m512 r[16];
            for (int j = 0; j < 16; j++) r[j] = _mm512_loadu_ps(src + (size_t)j * C + k0);
            transpose16x16(r);
            for (int j = 0; j < 16; j++)
                _mm512_storeu_ps(dst + (size_t)(k0 + j) * MATMUL_PANEL + h, r[j]);
        }
    return k0;
}
#endif

/* Row groups that share a panel: up to MATMUL_PANEL source rows read side
 * by side, each panel line written whole. */
void matmul_pack(float *packed, const float *w, int C, int OC, int col0) {
    for (int o0 = 0; o0 < OC;) {
        const int col = col0 + o0, lane = col % MATMUL_PANEL;
        const int cnt = OC - o0 < MATMUL_PANEL - lane ? OC - o0 : MATMUL_PANEL - lane;
        float *dst = packed + (size_t)(col / MATMUL_PANEL) * C * MATMUL_PANEL + lane;
        const float *src = w + (size_t)o0 * C;
        int k = 0;
#if defined(__AVX512F__)
        if (cnt == MATMUL_PANEL) k = pack_panel_blocks(dst, src, src + (size_t)16 * C, C);
#endif
        for (; k < C; k++)
            for (int u = 0; u < cnt; u++) dst[(size_t)k * MATMUL_PANEL + u] = src[(size_t)u * C + k];
        o0 += cnt;
    }
}

/* Panel q: W1 rows 16q .. 16q+15 in lanes 0-15, the same W3 rows in lanes
 * 16-31 (a last panel of cnt < 16 rows leaves the lanes past cnt of each
 * half untouched, hence zero). */
void matmul_pack_swiglu(float *packed, const float *w1, const float *w3, int C, int HF) {
    for (int q = 0; q * 16 < HF; q++) {
        const int cnt = HF - 16 * q < 16 ? HF - 16 * q : 16;
        float *dst = packed + (size_t)q * C * MATMUL_PANEL;
        const float *lo = w1 + (size_t)16 * q * C, *hi = w3 + (size_t)16 * q * C;
        int k = 0;
#if defined(__AVX512F__)
        if (cnt == 16) k = pack_panel_blocks(dst, lo, hi, C);
#endif
        for (; k < C; k++)
            for (int u = 0; u < cnt; u++) {
                dst[(size_t)k * MATMUL_PANEL + u] = lo[(size_t)u * C + k];
                dst[(size_t)k * MATMUL_PANEL + 16 + u] = hi[(size_t)u * C + k];
            }
    }
}

/* Every path below computes each output as acc = 0, then acc = fma(inp[i][k],
 * w[k][o], acc) for k = 0 .. C-1 in order, then out = acc or out + acc: the
 * vector paths only run many such chains side by side, so AVX-512, AVX2 and
 * plain C give the same bits and the logits do not depend on the CPU. */
#if defined(__AVX512F__)

/* Rows per block: one panel line is two zmm, so MR rows hold 2 * MR
 * accumulators (24 of 32 registers at 12); the two weight vectors are
 * loaded once per k and each row's input is a broadcast operand. Two
 * panels side by side (four zmm a row) at up to 6 rows keep short blocks
 * (the last sequences of a generation) at 4 * rows independent chains. */
enum { MATMUL_MR = 12, MATMUL_MR2 = 6 };

/* Stores acc (16 columns j0 .. j0+15 of a row, nc of them valid) into o. */
static inline __attribute__((always_inline)) void mm512_store(float *o, __m512 acc, int nc,
                                                               int add) {
    if (nc >= 16) {
        if (add) acc = _mm512_add_ps(acc, _mm512_loadu_ps(o));
        _mm512_storeu_ps(o, acc);
    } else if (nc > 0) {
        const __mmask16 m = (__mmask16)((1u << nc) - 1u);
        if (add) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, o));
        _mm512_mask_storeu_ps(o, m, acc);
    }
}

static inline __m512 sigmoid16_f32(__m512 x);

/* silu(a) * b as swiglu_forward computes it, so the bits are the same. */
static inline __m512 swiglu16(__m512 a, __m512 b) {
    return _mm512_mul_ps(_mm512_mul_ps(a, sigmoid16_f32(a)), b);
}

/* mr <= MATMUL_MR rows times one panel (nc <= 32 valid columns). With
 * swiglu, the panel is one of matmul_pack_swiglu's: out gets silu(lanes
 * 0-15) * (lanes 16-31), nc <= 16 columns of it. Inlined with a constant
 * mr: named accumulators (gcc keeps an array of vectors in memory), rows
 * past mr fold away. */
static inline __attribute__((always_inline)) void
matmul_block(float *out, size_t ldo, const float *inp, size_t ldi, const float *panel, int C,
             int mr, int nc, int add, int swiglu, const float *prefetch, int pf_lines) {
    __m512 a0 = _mm512_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
    __m512 a4 = a0, b4 = a0, a5 = a0, b5 = a0, a6 = a0, b6 = a0, a7 = a0, b7 = a0;
    __m512 a8 = a0, b8 = a0, a9 = a0, b9 = a0, a10 = a0, b10 = a0, a11 = a0, b11 = a0;
    for (int k = 0; k < C; k++) {
        const float *wk = panel + (size_t)k * MATMUL_PANEL;
        const __m512 w0 = _mm512_loadu_ps(wk), w1 = _mm512_loadu_ps(wk + 16);
        if (k < pf_lines) _mm_prefetch((const char *)(prefetch + (size_t)k * 16), _MM_HINT_T0);
        if (k + C < pf_lines) /* a single block has two lines a k to ask for */
            _mm_prefetch((const char *)(prefetch + (size_t)(k + C) * 16), _MM_HINT_T0);
#define MATMUL_ROW(i)                                                 \
        if (mr > i) {                                                 \
            const __m512 x = _mm512_set1_ps(inp[(size_t)i * ldi + k]); \
            a##i = _mm512_fmadd_ps(x, w0, a##i);                      \
            b##i = _mm512_fmadd_ps(x, w1, b##i);                      \
        }
        MATMUL_ROW(0) MATMUL_ROW(1) MATMUL_ROW(2) MATMUL_ROW(3) MATMUL_ROW(4) MATMUL_ROW(5)
        MATMUL_ROW(6) MATMUL_ROW(7) MATMUL_ROW(8) MATMUL_ROW(9) MATMUL_ROW(10) MATMUL_ROW(11)
#undef MATMUL_ROW
    }
#define MATMUL_OUT(i)                                                    \
    if (mr > i && swiglu) {                                              \
        mm512_store(out + (size_t)i * ldo, swiglu16(a##i, b##i), nc, 0);  \
    } else if (mr > i) {                                                 \
        mm512_store(out + (size_t)i * ldo, a##i, nc, add);               \
        mm512_store(out + (size_t)i * ldo + 16, b##i, nc - 16, add);     \
    }
    MATMUL_OUT(0) MATMUL_OUT(1) MATMUL_OUT(2) MATMUL_OUT(3) MATMUL_OUT(4) MATMUL_OUT(5)
    MATMUL_OUT(6) MATMUL_OUT(7) MATMUL_OUT(8) MATMUL_OUT(9) MATMUL_OUT(10) MATMUL_OUT(11)
#undef MATMUL_OUT
}

/* mr <= MATMUL_MR2 rows times two adjacent panels: four zmm per row
 * (with swiglu, nc <= 32 output columns, 16 a panel). */
static inline __attribute__((always_inline)) void
matmul_block2(float *out, size_t ldo, const float *inp, size_t ldi, const float *panel, int C,
              int mr, int nc, int add, int swiglu, const float *prefetch, int pf_lines) {
    const float *panel2 = panel + (size_t)C * MATMUL_PANEL;
    __m512 a0 = _mm512_setzero_ps(), b0 = a0, c0 = a0, d0 = a0, a1 = a0, b1 = a0, c1 = a0, d1 = a0;
    __m512 a2 = a0, b2 = a0, c2 = a0, d2 = a0, a3 = a0, b3 = a0, c3 = a0, d3 = a0;
    __m512 a4 = a0, b4 = a0, c4 = a0, d4 = a0, a5 = a0, b5 = a0, c5 = a0, d5 = a0;
    for (int k = 0; k < C; k++) {
        const float *wk = panel + (size_t)k * MATMUL_PANEL;
        const float *wk2 = panel2 + (size_t)k * MATMUL_PANEL;
        const __m512 w0 = _mm512_loadu_ps(wk), w1 = _mm512_loadu_ps(wk + 16);
        const __m512 w2 = _mm512_loadu_ps(wk2), w3 = _mm512_loadu_ps(wk2 + 16);
        for (int j = 0; j < 4; j++) /* four lines a k: the next pair is 4 C lines */
            if (4 * k + j < pf_lines)
                _mm_prefetch((const char *)(prefetch + (size_t)(4 * k + j) * 16), _MM_HINT_T0);
#define MATMUL_ROW(i)                                                 \
        if (mr > i) {                                                 \
            const __m512 x = _mm512_set1_ps(inp[(size_t)i * ldi + k]); \
            a##i = _mm512_fmadd_ps(x, w0, a##i);                      \
            b##i = _mm512_fmadd_ps(x, w1, b##i);                      \
            c##i = _mm512_fmadd_ps(x, w2, c##i);                      \
            d##i = _mm512_fmadd_ps(x, w3, d##i);                      \
        }
        MATMUL_ROW(0) MATMUL_ROW(1) MATMUL_ROW(2) MATMUL_ROW(3) MATMUL_ROW(4) MATMUL_ROW(5)
#undef MATMUL_ROW
    }
#define MATMUL_OUT(i)                                                   \
    if (mr > i && swiglu) {                                             \
        float *o = out + (size_t)i * ldo;                               \
        mm512_store(o, swiglu16(a##i, b##i), nc, 0);                    \
        mm512_store(o + 16, swiglu16(c##i, d##i), nc - 16, 0);          \
    } else if (mr > i) {                                                \
        float *o = out + (size_t)i * ldo;                               \
        mm512_store(o, a##i, nc, add);                                  \
        mm512_store(o + 16, b##i, nc - 16, add);                        \
        mm512_store(o + 32, c##i, nc - 32, add);                        \
        mm512_store(o + 48, d##i, nc - 48, add);                        \
    }
    MATMUL_OUT(0) MATMUL_OUT(1) MATMUL_OUT(2) MATMUL_OUT(3) MATMUL_OUT(4) MATMUL_OUT(5)
#undef MATMUL_OUT
}

/* matmul_block with a run-time mr, each case inlined with its constant. */
static void matmul_rows(float *out, size_t ldo, const float *inp, size_t ldi, const float *panel,
                        int C, int mr, int nc, int add, int swiglu, const float *prefetch,
                        int pf_lines) {
    switch (mr) {
#define MATMUL_CASE(r)                                                                         \
    case r: matmul_block(out, ldo, inp, ldi, panel, C, r, nc, add, swiglu, prefetch, pf_lines); \
        break;
    MATMUL_CASE(1) MATMUL_CASE(2) MATMUL_CASE(3) MATMUL_CASE(4) MATMUL_CASE(5) MATMUL_CASE(6)
    MATMUL_CASE(7) MATMUL_CASE(8) MATMUL_CASE(9) MATMUL_CASE(10) MATMUL_CASE(11) MATMUL_CASE(12)
#undef MATMUL_CASE
    default: CHECK(0);
    }
}

static void matmul_rows2(float *out, size_t ldo, const float *inp, size_t ldi, const float *panel,
                         int C, int mr, int nc, int add, int swiglu, const float *prefetch,
                         int pf_lines) {
    switch (mr) {
#define MATMUL_CASE(r)                                                                          \
    case r: matmul_block2(out, ldo, inp, ldi, panel, C, r, nc, add, swiglu, prefetch, pf_lines); \
        break;
    MATMUL_CASE(1) MATMUL_CASE(2) MATMUL_CASE(3) MATMUL_CASE(4) MATMUL_CASE(5) MATMUL_CASE(6)
#undef MATMUL_CASE
    default: CHECK(0);
    }
}

/* Up to MATMUL_MR2 rows: pairs of panels, each weight line read once. More:
 * panels outer, row blocks inner, the N rows split into equal blocks of at
 * most MATMUL_MR (16 = 8 + 8, not 12 + 4, whose 8 chains would stall on
 * FMA latency). A panel (C x 32 floats, 16 KB at C = 128) stays in L1 while
 * every row block reads it. Decoding streams the weights from beyond L2
 * (a few MB a step), so while one panel is used the next is prefetched,
 * its 2 C lines shared out over the row blocks: the requests stay spread
 * over the whole panel's time instead of bunching in one block. The
 * panels give ow output columns each (MATMUL_PANEL, or 16 with swiglu),
 * OC in all. */
static void matmul_packed_run(float *out, int ldo, const float *inp, int ldi, const float *packed,
                              int N, int C, int OC, int add, int swiglu) {
    const int ow = swiglu ? 16 : MATMUL_PANEL;
    const size_t pstride = (size_t)C * MATMUL_PANEL;
    if (N <= MATMUL_MR2) {
        for (int p = 0; p * ow < OC; p += 2) {
            const int nc = OC - p * ow < 2 * ow ? OC - p * ow : 2 * ow;
            const float *panel = packed + p * pstride;
            /* lines of the next pair's panels (none past the buffer) */
            const int rest = OC - (p + 2) * ow;
            const int pf = rest <= 0 ? 0 : rest <= ow ? 2 * C : 4 * C;
            if (nc > ow)
                matmul_rows2(out + (size_t)p * ow, ldo, inp, ldi, panel, C, N, nc, add, swiglu,
                             panel + 2 * pstride, pf);
            else
                matmul_rows(out + (size_t)p * ow, ldo, inp, ldi, panel, C, N, nc, add, swiglu,
                            NULL, 0);
        }
        return;
    }
    const int blocks = (N + MATMUL_MR - 1) / MATMUL_MR;
    for (int p = 0; p * ow < OC; p++) {
        const float *panel = packed + p * pstride;
        const int nc = OC - p * ow < ow ? OC - p * ow : ow;
        const int lines = (p + 1) * ow < OC ? 2 * C : 0; /* of the next panel */
        for (int b = 0, i = 0; b < blocks; b++) {
            const int mr = (N - i) / (blocks - b) + ((N - i) % (blocks - b) != 0);
            const int l0 = (int)((long)lines * b / blocks);
            const int l1 = (int)((long)lines * (b + 1) / blocks);
            matmul_rows(out + (size_t)i * ldo + (size_t)p * ow, ldo, inp + (size_t)i * ldi, ldi,
                        panel, C, mr, nc, add, swiglu, panel + pstride + (size_t)l0 * 16, l1 - l0);
            i += mr;
        }
    }
}

void matmul_forward_packed(float *out, int ldo, const float *inp, int ldi, const float *packed,
                           int N, int C, int OC, float beta) {
    CHECK(beta == 0.0f || beta == 1.0f);
    matmul_packed_run(out, ldo, inp, ldi, packed, N, C, OC, beta != 0.0f, 0);
}

/* SwiGLU in the product's store: h1 and h3 never leave the registers. */
void matmul_forward_packed_swiglu(float *g, int ldg, const float *inp, int ldi,
                                  const float *packed, int N, int C, int HF) {
    matmul_packed_run(g, ldg, inp, ldi, packed, N, C, HF, 0, 1);
}

#elif defined(__AVX2__) && defined(__FMA__)

/* Rows per block: a half panel line (16 columns) is two ymm, so MR rows
 * hold 2 * MR accumulators (12 of 16 registers at 6), plus two weight
 * vectors and one broadcast. */
enum { MATMUL_MR = 6 };

/* mr <= MATMUL_MR rows times columns half * 16 .. + 15 of one panel, nc of
 * those valid. Inlined with a constant mr: named accumulators (gcc keeps an
 * array of vectors in memory and spills it every iteration), rows past mr
 * fold away. */
static inline __attribute__((always_inline)) void
matmul_block(float *out, size_t ldo, const float *inp, size_t ldi, const float *panel, int C,
             int mr, int nc, int add, const float *prefetch) {
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0;
    __m256 a3 = a0, b3 = a0, a4 = a0, b4 = a0, a5 = a0, b5 = a0;
    const float *x0 = inp, *x1 = inp + ldi, *x2 = inp + 2 * ldi, *x3 = inp + 3 * ldi;
    const float *x4 = inp + 4 * ldi, *x5 = inp + 5 * ldi;
    for (int k = 0; k < C; k++) {
        const __m256 w0 = _mm256_loadu_ps(panel + (size_t)k * MATMUL_PANEL);
        const __m256 w1 = _mm256_loadu_ps(panel + (size_t)k * MATMUL_PANEL + 8);
        if (prefetch) _mm_prefetch((const char *)(prefetch + (size_t)k * MATMUL_PANEL), _MM_HINT_T0);
        __m256 x;
#define MATMUL_ROW(i)                                       \
        if (mr > i) {                                       \
            x = _mm256_broadcast_ss(x##i + k);              \
            a##i = _mm256_fmadd_ps(x, w0, a##i);            \
            b##i = _mm256_fmadd_ps(x, w1, b##i);            \
        }
        MATMUL_ROW(0) MATMUL_ROW(1) MATMUL_ROW(2) MATMUL_ROW(3) MATMUL_ROW(4) MATMUL_ROW(5)
#undef MATMUL_ROW
    }
    __m256 acc[2 * MATMUL_MR] = {a0, b0, a1, b1, a2, b2, a3, b3, a4, b4, a5, b5};
    for (int i = 0; i < mr; i++) {
        float *o = out + i * ldo;
        __m256 lo = acc[2 * i], hi = acc[2 * i + 1];
        if (nc == 16) {
            if (add) {
                lo = _mm256_add_ps(lo, _mm256_loadu_ps(o));
                hi = _mm256_add_ps(hi, _mm256_loadu_ps(o + 8));
            }
            _mm256_storeu_ps(o, lo);
            _mm256_storeu_ps(o + 8, hi);
        } else {
            float t[16];
            _mm256_storeu_ps(t, lo);
            _mm256_storeu_ps(t + 8, hi);
            for (int j = 0; j < nc; j++) o[j] = add ? o[j] + t[j] : t[j];
        }
    }
}

/* Panels outer, half panels, then row blocks: a half panel (C x 16 floats
 * read at a 32-float stride) stays in L1 while every row block reads it;
 * the first row block pulls the next half in. */
void matmul_forward_packed(float *out, int ldo, const float *inp, int ldi, const float *packed,
                           int N, int C, int OC, float beta) {
    CHECK(beta == 0.0f || beta == 1.0f);
    const int add = beta != 0.0f;
    for (int h = 0; h * 16 < OC; h++) {
        const float *panel = packed + (size_t)(h / 2) * C * MATMUL_PANEL + (h % 2) * 16;
        const int nc = OC - h * 16 < 16 ? OC - h * 16 : 16;
        float *o = out + (size_t)h * 16;
        const float *next = (h + 1) * 16 < OC
            ? packed + (size_t)((h + 1) / 2) * C * MATMUL_PANEL + ((h + 1) % 2) * 16 : NULL;
        int i = 0;
        for (; i + MATMUL_MR <= N; i += MATMUL_MR)
            matmul_block(o + (size_t)i * ldo, ldo, inp + (size_t)i * ldi, ldi, panel, C,
                         MATMUL_MR, nc, add, i == 0 ? next : NULL);
        const float *x = inp + (size_t)i * ldi;
        float *y = o + (size_t)i * ldo;
        const float *pf = i == 0 ? next : NULL;
        switch (N - i) {
        case 5: matmul_block(y, ldo, x, ldi, panel, C, 5, nc, add, pf); break;
        case 4: matmul_block(y, ldo, x, ldi, panel, C, 4, nc, add, pf); break;
        case 3: matmul_block(y, ldo, x, ldi, panel, C, 3, nc, add, pf); break;
        case 2: matmul_block(y, ldo, x, ldi, panel, C, 2, nc, add, pf); break;
        case 1: matmul_block(y, ldo, x, ldi, panel, C, 1, nc, add, pf); break;
        default: break;
        }
    }
}

#else

/* Plain C: the same chains through fmaf (a hardware FMA where the target
 * has one, else libm's exact emulation: slow, but the same bits). */
void matmul_forward_packed(float *out, int ldo, const float *inp, int ldi, const float *packed,
                           int N, int C, int OC, float beta) {
    CHECK(beta == 0.0f || beta == 1.0f);
    const int add = beta != 0.0f;
    enum { MR = 4 };
    for (int p = 0; p * MATMUL_PANEL < OC; p++) {
        const float *panel = packed + (size_t)p * C * MATMUL_PANEL;
        const int nc = OC - p * MATMUL_PANEL < MATMUL_PANEL ? OC - p * MATMUL_PANEL : MATMUL_PANEL;
        for (int i0 = 0; i0 < N; i0 += MR) {
            const int mr = N - i0 < MR ? N - i0 : MR;
            float acc[MR][MATMUL_PANEL] = {{0}};
            for (int k = 0; k < C; k++) {
                const float *b = panel + (size_t)k * MATMUL_PANEL;
                for (int i = 0; i < mr; i++) {
                    const float a = inp[(size_t)(i0 + i) * ldi + k];
                    for (int j = 0; j < MATMUL_PANEL; j++) acc[i][j] = fmaf(a, b[j], acc[i][j]);
                }
            }
            for (int i = 0; i < mr; i++) {
                float *o = out + (size_t)(i0 + i) * ldo + (size_t)p * MATMUL_PANEL;
                for (int j = 0; j < nc; j++) o[j] = add ? o[j] + acc[i][j] : acc[i][j];
            }
        }
    }
}

#endif

#if !defined(__AVX512F__)
/* A panel at a time into a small buffer, then swiglu_forward on its two
 * halves: the same chains and the same SwiGLU as the unfused path. */
void matmul_forward_packed_swiglu(float *g, int ldg, const float *inp, int ldi,
                                  const float *packed, int N, int C, int HF) {
    enum { ROWS = 64 };
    float h[ROWS * MATMUL_PANEL];
    for (int i0 = 0; i0 < N; i0 += ROWS) {
        const int nr = N - i0 < ROWS ? N - i0 : ROWS;
        for (int q = 0; q * 16 < HF; q++) {
            const int cnt = HF - 16 * q < 16 ? HF - 16 * q : 16;
            matmul_forward_packed(h, MATMUL_PANEL, inp + (size_t)i0 * ldi, ldi,
                                  packed + (size_t)q * C * MATMUL_PANEL, nr, C, MATMUL_PANEL, 0.0f);
            for (int i = 0; i < nr; i++)
                swiglu_forward(g + (size_t)(i0 + i) * ldg + 16 * q, h + i * MATMUL_PANEL,
                               h + i * MATMUL_PANEL + 16, (size_t)cnt);
        }
    }
}
#endif

/* ---- RoPE ----------------------------------------------------------------- */

void rope_tables(float *cosb, float *sinb, int max_pos, int HD, float theta) {
    int half = HD / 2;
    for (int p = 0; p < max_pos; p++)
        for (int i = 0; i < half; i++) {
            double freq = pow((double)theta, -2.0 * i / HD);
            double a = p * freq;
            cosb[(size_t)p * half + i] = (float)cos(a);
            sinb[(size_t)p * half + i] = (float)sin(a);
        }
}

/* The vector paths compute x0 c + (-(x1 s)) and x1 c + x0 s: the scalar
 * loop's x0 c - x1 s and x0 s + x1 c to the bit (negation is exact and
 * a sum does not depend on its order). */
void rope_row(float *x, const float *cos_row, const float *sin_row, int C, int HD, int dir) {
    int half = HD / 2;
    float sgn = dir > 0 ? 1.0f : -1.0f;
    int i0 = 0; /* pairs done by the vector path, per head */
#if defined(__AVX512F__)
    if (half >= 8) {
        /* 8 pairs a zmm: cos, sin duplicated into both lanes of a pair,
         * the pair swapped, the sine negated in even lanes */
        const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
        const __m512 sg = _mm512_set_ps(sgn, -sgn, sgn, -sgn, sgn, -sgn, sgn, -sgn, sgn, -sgn,
                                        sgn, -sgn, sgn, -sgn, sgn, -sgn);
        i0 = half / 8 * 8;
        /* the angles' vectors once per row, not once per head */
        for (int i = 0; i < i0; i += 8) {
            const __m512 c0 = _mm512_castps256_ps512(_mm256_loadu_ps(cos_row + i));
            const __m512 s0 = _mm512_castps256_ps512(_mm256_loadu_ps(sin_row + i));
            const __m512 c = _mm512_permutexvar_ps(dup, c0);
            const __m512 sn = _mm512_mul_ps(_mm512_permutexvar_ps(dup, s0), sg);
            for (int h = 0; h < C; h += HD) {
                float *xh = x + h + 2 * i;
                const __m512 v = _mm512_loadu_ps(xh);
                const __m512 sw = _mm512_permute_ps(v, 0xB1); /* (x1, x0) per pair */
                _mm512_storeu_ps(xh, _mm512_add_ps(_mm512_mul_ps(v, c), _mm512_mul_ps(sw, sn)));
            }
        }
    }
#endif
    for (int h = 0; h < C; h += HD) {
        float *xh = x + h;
        for (int i = i0; i < half; i++) {
            float c = cos_row[i], s = sgn * sin_row[i];
            float x0 = xh[2 * i], x1 = xh[2 * i + 1];
            xh[2 * i] = x0 * c - x1 * s;
            xh[2 * i + 1] = x0 * s + x1 * c;
        }
    }
}

void rope_forward(float *x, const float *cosb, const float *sinb, int B, int T, int C, int HD) {
    int half = HD / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            rope_row(x + ((size_t)b * T + t) * C, cosb + (size_t)t * half, sinb + (size_t)t * half,
                     C, HD, +1);
}

void rope_backward(float *dx, const float *cosb, const float *sinb, int B, int T, int C, int HD) {
    int half = HD / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            rope_row(dx + ((size_t)b * T + t) * C, cosb + (size_t)t * half,
                     sinb + (size_t)t * half, C, HD, -1);
}

/* ---- attention ------------------------------------------------------------ */

/* max of x[0..n), n >= 1. gcc keeps the compare-select scalar under
 * -ftrapping-math; max is exact, so the vector form gives the same value. */
static float max_f32(const float *x, int n) {
    float mx = x[0];
    int j0 = 1;
#if defined(__AVX2__) && defined(__FMA__)
    if (n >= 8) {
        __m256 m = _mm256_loadu_ps(x);
        for (j0 = 8; j0 + 8 <= n; j0 += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j0));
        float t[8];
        _mm256_storeu_ps(t, m);
        for (int u = 0; u < 8; u++) mx = t[u] > mx ? t[u] : mx;
    }
#endif
    for (int j = j0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    return mx;
}

#if defined(__AVX512F__)
static void softmax_row16(float *row, int n);
#endif

void softmax_row(float *row, int n) {
#if defined(__AVX512F__)
    softmax_row16(row, n); /* 16 lanes: the 8-wide loop below and its scalar tail cost more */
    return;
#endif
    const float mx = max_f32(row, n);
    /* exp and its sum in one pass over the row; the sum through 8 partial
     * sums and a fixed tree (deterministic, vectorizes) */
    float acc[8] = {0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int u = 0; u < 8; u++) {
            const float e = exp_f32(row[j + u] - mx);
            row[j + u] = e;
            acc[u] += e;
        }
    for (; j < n; j++) {
        row[j] = exp_f32(row[j] - mx);
        acc[0] += row[j];
    }
    const float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    const float inv = 1.0f / sum;
    for (int k = 0; k < n; k++) row[k] *= inv;
}

void softmax_backward_row(float *ds, const float *p, int n) {
    const float sum = dot_f32(p, ds, n);
    for (int t = 0; t < n; t++) ds[t] = p[t] * (ds[t] - sum);
}

/* Cached row t of a sequence whose first np positions live elsewhere. */
static inline const float *kv_row(const float *own, const float *prefix, int np, int t, int KVD) {
    return (t < np ? prefix : own) + (size_t)t * KVD;
}

#if defined(__AVX2__) && defined(__FMA__)
/* Lane j of the result = the sum of the 8 lanes of v[j]. */
static inline __m256 hsum8x8(const __m256 v[8]) {
    const __m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
    const __m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    /* u0 lanes: v0..v3 partial (low halves), then v0..v3 (high halves); u1 likewise */
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                         _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* attention_decode_row for HD % 8 == 0. Scores position-major, eight
 * heads at a time: each cached key row is read front to back (the cache
 * is far larger than L2 at 64 slots, so the reads must stream), the eight
 * heads' FMA chains run side by side and are reduced together. While the
 * keys stream, the value rows are prefetched into L2, so the second pass,
 * head by head, finds them there. Values: the head's output (HD floats, in
 * chunks of 4 vectors) stays in registers over all positions, even and odd
 * positions in separate accumulators so the FMA chains overlap. */
/* Key rows prefetched ahead of the scores pass: the cache streams from
 * memory (it outgrows L2 at a few dozen slots), and a cold stream stalls
 * on every line until the hardware prefetcher catches up. */
enum { ATT_PREFETCH = 4 };

static void attention_decode_row_avx(float *out, float *scores, const float *q, const float *kc,
                                     const float *vc, const float *kp, const float *vp, int np,
                                     int n, int NH, int NKV, int HD, int prefetch) {
    const int KVD = NKV * HD, group = NH / NKV;
    const __m256 scale = _mm256_set1_ps(1.0f / sqrtf((float)HD));
    for (int h0 = 0; h0 < NH; h0 += 8) {
        const int nh = NH - h0 < 8 ? NH - h0 : 8;
        const float *qh[8];
        size_t ko[8]; /* each head's columns in a cached key row; heads past nh repeat */
        for (int j = 0; j < 8; j++) {
            const int h = h0 + (j < nh ? j : 0);
            qh[j] = q + h * HD;
            ko[j] = (size_t)(h / group) * HD;
        }
        for (int t = 0; t < n; t++) {
            const float *kt = kv_row(kc, kp, np, t, KVD);
            if (h0 == 0 && prefetch) {
                const float *vt = kv_row(vc, vp, np, t, KVD);
                for (int c = 0; c < KVD; c += 16) _mm_prefetch((const char *)(vt + c), _MM_HINT_T1);
                if (t + ATT_PREFETCH < n) {
                    const float *ka = kv_row(kc, kp, np, t + ATT_PREFETCH, KVD);
                    for (int c = 0; c < KVD; c += 16)
                        _mm_prefetch((const char *)(ka + c), _MM_HINT_T0);
                }
            }
            __m256 hv[8];
            for (int j = 0; j < 8; j++) hv[j] = _mm256_setzero_ps();
            for (int i = 0; i < HD; i += 8)
                for (int j = 0; j < 8; j++)
                    hv[j] = _mm256_fmadd_ps(_mm256_loadu_ps(qh[j] + i),
                                            _mm256_loadu_ps(kt + ko[j] + i), hv[j]);
            float sv[8];
            _mm256_storeu_ps(sv, _mm256_mul_ps(hsum8x8(hv), scale));
            for (int j = 0; j < nh; j++) scores[(size_t)(h0 + j) * n + t] = sv[j];
        }
    }
    for (int h = 0; h < NH; h++) {
        float *sh = scores + (size_t)h * n;
        softmax_row(sh, n);
        const size_t vo = (size_t)(h / group) * HD;
        for (int c = 0; c < HD; c += 32) {
            const int nv = (HD - c) / 8 < 4 ? (HD - c) / 8 : 4;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            int t = 0;
            for (; t + 2 <= n; t += 2) {
                const __m256 p0 = _mm256_broadcast_ss(sh + t), p1 = _mm256_broadcast_ss(sh + t + 1);
                const float *v0 = kv_row(vc, vp, np, t, KVD) + vo + c;
                const float *v1 = kv_row(vc, vp, np, t + 1, KVD) + vo + c;
                a0 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0), a0);
                b0 = _mm256_fmadd_ps(p1, _mm256_loadu_ps(v1), b0);
                if (nv > 1) {
                    a1 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 8), a1);
                    b1 = _mm256_fmadd_ps(p1, _mm256_loadu_ps(v1 + 8), b1);
                }
                if (nv > 2) {
                    a2 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 16), a2);
                    b2 = _mm256_fmadd_ps(p1, _mm256_loadu_ps(v1 + 16), b2);
                }
                if (nv > 3) {
                    a3 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 24), a3);
                    b3 = _mm256_fmadd_ps(p1, _mm256_loadu_ps(v1 + 24), b3);
                }
            }
            if (t < n) {
                const __m256 p0 = _mm256_broadcast_ss(sh + t);
                const float *v0 = kv_row(vc, vp, np, t, KVD) + vo + c;
                a0 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0), a0);
                if (nv > 1) a1 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 8), a1);
                if (nv > 2) a2 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 16), a2);
                if (nv > 3) a3 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 24), a3);
            }
            float *y = out + h * HD + c;
            _mm256_storeu_ps(y, _mm256_add_ps(a0, b0));
            if (nv > 1) _mm256_storeu_ps(y + 8, _mm256_add_ps(a1, b1));
            if (nv > 2) _mm256_storeu_ps(y + 16, _mm256_add_ps(a2, b2));
            if (nv > 3) _mm256_storeu_ps(y + 24, _mm256_add_ps(a3, b3));
        }
    }
}
#endif


#if defined(__AVX512F__)
/* Lane j of the result = the sum of the 16 lanes of v[j]: a transposing
 * tree (pairs within 128-bit chunks, then across chunks), 45 operations
 * for 16 sums where one reduction each would take 8. */
static inline __m512 hsum16x16(const __m512 v[16]) {
    __m512 a[8], b[4], c[2];
    for (int k = 0; k < 8; k++) /* chunk lanes: v2k, v2k+1, v2k, v2k+1 partials */
        a[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]),
                             _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
    for (int k = 0; k < 4; k++) /* chunk L: the chunk-L sums of v4k .. v4k+3 */
        b[k] = _mm512_add_ps(_mm512_shuffle_ps(a[2 * k], a[2 * k + 1], 0x44),
                             _mm512_shuffle_ps(a[2 * k], a[2 * k + 1], 0xEE));
    for (int k = 0; k < 2; k++) /* chunks: v8k..8k+3 (0+1, 2+3), v8k+4..8k+7 (0+1, 2+3) */
        c[k] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], 0x88),
                             _mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88),
                         _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
}

/* exp_f32 on sixteen lanes: the same steps (clamp to +-87, n = round(x /
 * ln 2), the degree-6 polynomial, times 2^n, NaN in NaN out), with FMAs. */
static inline __m512 exp16_f32(__m512 x) {
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    const __m512 xc = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(87.0f)), _mm512_set1_ps(-87.0f));
    const __m512 t = _mm512_fmadd_ps(xc, _mm512_set1_ps(1.44269504088896341f), magic);
    const __m512 n = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i k = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_castps_si512(t),
                                                         _mm512_castps_si512(magic)), 23);
    const __m512 y = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), k));
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

/* softmax_row for the decode scores (n small: a few dozen positions,
 * where softmax_row's 8-wide loop and scalar tail cost as much as the
 * scores), sixteen lanes at a time, the last vector masked. A NaN score
 * makes its exp, hence the sum and the whole row, NaN, as in softmax_row. */
static void softmax_row16(float *row, int n) {
    /* whole vectors unmasked, the last one masked (a masked store costs
     * several plain ones on Zen); the same lanes, so the same sums */
    const __mmask16 last = (__mmask16)((1u << (n - (n - 1) / 16 * 16)) - 1);
    const int nb = (n + 15) / 16, full = nb - 1;
    float *tail = row + 16 * full;
    __m512 mx = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), last, tail);
    for (int b = 0; b < full; b++) mx = _mm512_max_ps(mx, _mm512_loadu_ps(row + 16 * b));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int b = 0; b < full; b++) {
        const __m512 e = exp16_f32(_mm512_sub_ps(_mm512_loadu_ps(row + 16 * b), m));
        sum = _mm512_add_ps(sum, e);
        _mm512_storeu_ps(row + 16 * b, e);
    }
    const __m512 e = exp16_f32(_mm512_sub_ps(_mm512_maskz_loadu_ps(last, tail), m));
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(last, e));
    _mm512_mask_storeu_ps(tail, last, e);
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int b = 0; b < full; b++)
        _mm512_storeu_ps(row + 16 * b, _mm512_mul_ps(_mm512_loadu_ps(row + 16 * b), inv));
    _mm512_mask_storeu_ps(tail, last, _mm512_mul_ps(_mm512_maskz_loadu_ps(last, tail), inv));
}

/* Heads a value pass covers at once: their outputs fill at most 16 zmm. */
#define VALUE_HEADS(HD) ((HD) / 16 >= 16 ? 1 : 16 / ((HD) / 16))

/* out (nh heads from h0, HD = 16 nq each) = sum over t < n of p[h][t] *
 * (row t of the cached values, head h's columns): position-major, each
 * cached row read once, front to back, for all nh heads; one chain per
 * output vector, in position order (nh * nq independent chains). Inlined
 * with a constant nq, the loops unroll and the accumulators stay in
 * registers (gcc keeps an array of vectors indexed at run time in memory). */
static inline __attribute__((always_inline)) void
value_rows_nq(float *out, const float *p, const float *vc, const float *vp, int np, int n,
              int KVD, int h0, int nh, int group, int nq) {
    const int HD = 16 * nq;
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    for (int t = 0; t < n; t++) {
        const float *row = kv_row(vc, vp, np, t, KVD);
#pragma GCC unroll 16
        for (int h = 0; h < 16 / nq; h++)
            if (h < nh) {
                const __m512 s = _mm512_set1_ps(p[(size_t)h * n + t]);
                const float *vh = row + (size_t)((h0 + h) / group) * HD;
#pragma GCC unroll 16
                for (int i = 0; i < nq; i++)
                    acc[h * nq + i] = _mm512_fmadd_ps(s, _mm512_loadu_ps(vh + 16 * i), acc[h * nq + i]);
            }
    }
#pragma GCC unroll 16
    for (int h = 0; h < 16 / nq; h++)
        if (h < nh)
#pragma GCC unroll 16
            for (int i = 0; i < nq; i++) _mm512_storeu_ps(out + (size_t)h * HD + 16 * i, acc[h * nq + i]);
}

static void value_rows(float *out, const float *p, const float *vc, const float *vp, int np,
                       int n, int KVD, int h0, int nh, int group, int HD) {
    switch (HD / 16) {
    case 1: value_rows_nq(out, p, vc, vp, np, n, KVD, h0, nh, group, 1); break;
    case 2: value_rows_nq(out, p, vc, vp, np, n, KVD, h0, nh, group, 2); break;
    case 3: value_rows_nq(out, p, vc, vp, np, n, KVD, h0, nh, group, 3); break;
    case 4: value_rows_nq(out, p, vc, vp, np, n, KVD, h0, nh, group, 4); break;
    case 8: value_rows_nq(out, p, vc, vp, np, n, KVD, h0, nh, group, 8); break;
    default: /* other widths: a head at a time, 16 columns at a time */
        for (int h = 0; h < nh; h++)
            for (int c = 0; c < HD; c += 16) {
                const size_t off = (size_t)((h0 + h) / group) * HD + c;
                value_rows_nq(out + (size_t)h * HD + c, p + (size_t)h * n, vc + off,
                              vp ? vp + off : NULL, np, n, KVD, 0, 1, 1, 1);
            }
    }
}

/* attention_decode_row for HD % 16 == 0 on AVX-512, in two passes over
 * the cached rows. Scores: sixteen positions of one head at a time, each
 * position's products summed in a 16-lane accumulator and the sixteen
 * reduced together by hsum16x16 (a dot product's reduction is most of
 * its cost at HD = 32); rows past n repeat the last row and are not
 * stored. Values: position-major (value_rows), each value row read once.
 * With prefetch, the caller asks for this row's keys and values into L2
 * while the row before it runs (decode_rows), and the block's value rows
 * are asked for again here (measured on Zen 4: dropping that was no
 * faster, if anything slower). */
static void attention_decode_row_wide(float *out, float *scores, const float *q, const float *kc,
                                      const float *vc, const float *kp, const float *vp, int np,
                                      int n, int NH, int NKV, int HD, int prefetch) {
    const int KVD = NKV * HD, group = NH / NKV, nq = HD / 16;
    const __m512 scale = _mm512_set1_ps(1.0f / sqrtf((float)HD));
    for (int t0 = 0; t0 < n; t0 += 16) {
        const int nt = n - t0 < 16 ? n - t0 : 16;
        const float *kr[16];
        for (int j = 0; j < 16; j++) kr[j] = kv_row(kc, kp, np, t0 + (j < nt ? j : nt - 1), KVD);
        for (int j = 0; prefetch && j < nt; j++) { /* the value rows, and the next block's keys */
            const float *vt = kv_row(vc, vp, np, t0 + j, KVD);
            for (int c = 0; c < KVD; c += 16) _mm_prefetch((const char *)(vt + c), _MM_HINT_T1);
            if (t0 + 16 + j < n) {
                const float *ka = kv_row(kc, kp, np, t0 + 16 + j, KVD);
                for (int c = 0; c < KVD; c += 16) _mm_prefetch((const char *)(ka + c), _MM_HINT_T0);
            }
        }
        for (int h = 0; h < NH; h++) {
            const float *qh = q + (size_t)h * HD;
            const size_t ko = (size_t)(h / group) * HD;
            __m512 acc[16];
            for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
            for (int i = 0; i < nq; i++) {
                const __m512 qv = _mm512_loadu_ps(qh + 16 * i);
                for (int j = 0; j < 16; j++)
                    acc[j] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(kr[j] + ko + 16 * i), acc[j]);
            }
            const __m512 sc = _mm512_mul_ps(hsum16x16(acc), scale);
            if (nt == 16) /* unmasked: a masked store costs several plain ones on Zen */
                _mm512_storeu_ps(scores + (size_t)h * n + t0, sc);
            else
                _mm512_mask_storeu_ps(scores + (size_t)h * n + t0, (__mmask16)((1u << nt) - 1), sc);
        }
    }
    for (int h = 0; h < NH; h++) softmax_row16(scores + (size_t)h * n, n);
    for (int h0 = 0; h0 < NH; h0 += VALUE_HEADS(HD))
        value_rows(out + (size_t)h0 * HD, scores + (size_t)h0 * n, vc, vp, np, n, KVD, h0,
                   NH - h0 < VALUE_HEADS(HD) ? NH - h0 : VALUE_HEADS(HD), group, HD);
}
#endif

/* Position-major: each cached key and value row (KVD floats) is read once,
 * front to back, for all heads; a head-major loop would stride through the
 * cache KVD floats at a time, and at 64 slots the cache is far larger than
 * L2, so the order decides whether the reads stream or stall. */
void attention_decode_row(float *out, float *scores, const float *q, const float *kc,
                          const float *vc, const float *kp, const float *vp, int np, int n,
                          int NH, int NKV, int HD, int prefetch) {
#if defined(__AVX512F__)
    if (HD % 16 == 0) {
        attention_decode_row_wide(out, scores, q, kc, vc, kp, vp, np, n, NH, NKV, HD, prefetch);
        return;
    }
#endif
#if defined(__AVX2__) && defined(__FMA__)
    if (HD % 8 == 0) {
        attention_decode_row_avx(out, scores, q, kc, vc, kp, vp, np, n, NH, NKV, HD, prefetch);
        return;
    }
#endif
    (void)prefetch; /* the portable loop leaves the streams to the hardware */
    int KVD = NKV * HD, group = NH / NKV;
    float scale = 1.0f / sqrtf((float)HD);
    for (int t = 0; t < n; t++) {
        const float *kt = kv_row(kc, kp, np, t, KVD);
        for (int h = 0; h < NH; h++)
            scores[(size_t)h * n + t] = scale * dot_f32(q + h * HD, kt + (h / group) * HD, HD);
    }
    for (int h = 0; h < NH; h++) softmax_row(scores + (size_t)h * n, n);
    memset(out, 0, sizeof(float) * NH * HD);
    for (int t = 0; t < n; t++) {
        const float *vt = kv_row(vc, vp, np, t, KVD);
        for (int h = 0; h < NH; h++) {
            float p = scores[(size_t)h * n + t];
            const float *vh = vt + (h / group) * HD;
            float *y = out + h * HD;
            for (int i = 0; i < HD; i++) y[i] += p * vh[i];
        }
    }
}

/* ---- SwiGLU --------------------------------------------------------------- */

static inline float sigmoidf(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

#if defined(__AVX512F__)
/* sigmoid on sixteen lanes: 1 / (1 + exp(-x)) by a 14-bit reciprocal and
 * one Newton step (within 2 ulp): a 16-lane division costs more than the
 * rest of SwiGLU's element. Training and decoding share it, so their
 * SwiGLU outputs are the same bits. */
static inline __m512 sigmoid16_f32(__m512 x) {
    const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f),
                                   exp16_f32(_mm512_sub_ps(_mm512_setzero_ps(), x)));
    const __m512 r = _mm512_rcp14_ps(d); /* then r (2 - d r) */
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
}
#endif

void swiglu_forward(float *out, const float *h1, const float *h3, size_t n) {
#if defined(__AVX512F__)
    /* whole vectors unmasked: a masked store costs several times a plain
     * one on Zen 4/5 (measured: this loop all masked ran at half speed) */
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 x = _mm512_loadu_ps(h1 + j), s = sigmoid16_f32(x);
        _mm512_storeu_ps(out + j, _mm512_mul_ps(_mm512_mul_ps(x, s), _mm512_loadu_ps(h3 + j)));
    }
    if (j < n) {
        const __mmask16 k = (__mmask16)((1u << (n - j)) - 1);
        const __m512 x = _mm512_maskz_loadu_ps(k, h1 + j), s = sigmoid16_f32(x);
        _mm512_mask_storeu_ps(out + j, k,
                              _mm512_mul_ps(_mm512_mul_ps(x, s), _mm512_maskz_loadu_ps(k, h3 + j)));
    }
    return;
#endif
    for (size_t i = 0; i < n; i++) out[i] = (h1[i] * sigmoidf(h1[i])) * h3[i];
}

#if defined(__AVX512F__)
/* swiglu_backward's two products on 16 lanes, in the scalar expression's
 * order: *dh3 = d (a s), return d b (s (1 + a (1 - s))). */
static inline __m512 swiglu_backward16(__m512 *dh3, __m512 d, __m512 a, __m512 b) {
    const __m512 one = _mm512_set1_ps(1.0f), s = sigmoid16_f32(a);
    *dh3 = _mm512_mul_ps(d, _mm512_mul_ps(a, s));
    return _mm512_mul_ps(_mm512_mul_ps(d, b),
                         _mm512_mul_ps(s, _mm512_add_ps(one, _mm512_mul_ps(a, _mm512_sub_ps(one, s)))));
}
#endif

/* d silu(a)/da = s (1 + a (1 - s)) with s = sigmoid(a). */
void swiglu_backward(float *dh1, float *dh3, const float *dout, const float *h1,
                     const float *h3, size_t n) {
#if defined(__AVX512F__)
    size_t j = 0;
    __m512 d3;
    for (; j + 16 <= n; j += 16) { /* whole vectors unmasked, as in swiglu_forward */
        const __m512 d1 = swiglu_backward16(&d3, _mm512_loadu_ps(dout + j), _mm512_loadu_ps(h1 + j),
                                            _mm512_loadu_ps(h3 + j));
        _mm512_storeu_ps(dh3 + j, d3);
        _mm512_storeu_ps(dh1 + j, d1);
    }
    if (j < n) {
        const __mmask16 k = (__mmask16)((1u << (n - j)) - 1);
        const __m512 d1 = swiglu_backward16(&d3, _mm512_maskz_loadu_ps(k, dout + j),
                                            _mm512_maskz_loadu_ps(k, h1 + j),
                                            _mm512_maskz_loadu_ps(k, h3 + j));
        _mm512_mask_storeu_ps(dh3 + j, k, d3);
        _mm512_mask_storeu_ps(dh1 + j, k, d1);
    }
    return;
#endif
    for (size_t i = 0; i < n; i++) {
        const float a = h1[i], s = sigmoidf(a);
        dh3[i] = dout[i] * (a * s);
        dh1[i] = dout[i] * h3[i] * (s * (1.0f + a * (1.0f - s)));
    }
}

/* ---- log-probabilities ---------------------------------------------------- */

/* exp in double, in eight lanes, for the log-softmax and the sampler's
 * inverse CDF: n = round(x / ln 2) by the 1.5 * 2^52 trick, r = x - n ln 2
 * in two parts (Cody-Waite), exp(r) by its Taylor series to r^13 in Horner
 * form (|r| <= ln 2 / 2: the first term left out is under 2e-16), times
 * 2^n built in the exponent bits. Below -708 it gives 0 (exp would be
 * subnormal), above 709 it clamps; a NaN stays NaN. Only +, *, fma and bit
 * moves, each rounded once, so the vector form and the scalar one give the
 * same bits on every instance (libm's exp differs between versions and
 * cost 20-40 cycles an element; the sampler's log-probs are held to 1e-9
 * of a long-double reference, tests/test_sampler.c). */
static const double EXP_C[14] = {1.0,
                                 1.0,
                                 1.0 / 2,
                                 1.0 / 6,
                                 1.0 / 24,
                                 1.0 / 120,
                                 1.0 / 720,
                                 1.0 / 5040,
                                 1.0 / 40320,
                                 1.0 / 362880,
                                 1.0 / 3628800,
                                 1.0 / 39916800,
                                 1.0 / 479001600,
                                 1.0 / 6227020800.0};
#define EXP_MAGIC 6755399441055744.0 /* 1.5 * 2^52 */
#define EXP_LN2_HI 0.693147180369123816490
#define EXP_LN2_LO 1.90821492927058770002e-10
#define EXP_LOG2E 1.44269504088896338700

static inline double exp_f64(double x) {
    if (x != x) return x;
    if (x < -708.0) return 0.0;
    if (x > 709.0) x = 709.0;
    const double t = fma(x, EXP_LOG2E, EXP_MAGIC), n = t - EXP_MAGIC;
    const double r = fma(-n, EXP_LN2_LO, fma(-n, EXP_LN2_HI, x));
    double p = EXP_C[13];
    for (int i = 12; i >= 0; i--) p = fma(p, r, EXP_C[i]);
    int64_t tb, sb;
    const int64_t mb = (int64_t)0x4338000000000000ll; /* the bits of EXP_MAGIC */
    memcpy(&tb, &t, sizeof tb);
    sb = (tb - mb + 1023) << 52;
    double scale;
    memcpy(&scale, &sb, sizeof scale);
    return p * scale;
}

#if defined(__AVX512F__)
static inline __m512d exp8_f64(__m512d x) {
    const __mmask8 nan = _mm512_cmp_pd_mask(x, x, _CMP_UNORD_Q);
    const __mmask8 low = _mm512_cmp_pd_mask(x, _mm512_set1_pd(-708.0), _CMP_LT_OQ);
    const __m512d xc = _mm512_min_pd(x, _mm512_set1_pd(709.0));
    const __m512d magic = _mm512_set1_pd(EXP_MAGIC);
    const __m512d t = _mm512_fmadd_pd(xc, _mm512_set1_pd(EXP_LOG2E), magic);
    const __m512d n = _mm512_sub_pd(t, magic);
    const __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(EXP_LN2_LO),
                                       _mm512_fnmadd_pd(n, _mm512_set1_pd(EXP_LN2_HI), xc));
    __m512d p = _mm512_set1_pd(EXP_C[13]);
    for (int i = 12; i >= 0; i--) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(EXP_C[i]));
    const __m512i sb = _mm512_slli_epi64(
        _mm512_add_epi64(_mm512_sub_epi64(_mm512_castpd_si512(t),
                                          _mm512_set1_epi64(0x4338000000000000ll)),
                         _mm512_set1_epi64(1023)),
        52);
    __m512d e = _mm512_mul_pd(p, _mm512_castsi512_pd(sb));
    e = _mm512_mask_mov_pd(e, low, _mm512_setzero_pd());
    return _mm512_mask_mov_pd(e, nan, x);
}
#endif

/* sum_j exp(z_j inv_t - m) and sum_j exp(..) z_j inv_t, element j feeding
 * lane j % 8, the lanes added in a fixed tree: every instance, the same bits. */
static void exp_sums_f64(const float *z, int V, double inv_t, double m, double *sum,
                         double *sumz) {
    double s[8] = {0}, sz[8] = {0};
    int j = 0;
#if defined(__AVX512F__)
    __m512d vs = _mm512_setzero_pd(), vz = vs;
    const __m512d it = _mm512_set1_pd(inv_t), vm = _mm512_set1_pd(m);
    for (; j + 8 <= V; j += 8) {
        const __m512d zj = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(z + j)), it);
        const __m512d e = exp8_f64(_mm512_sub_pd(zj, vm));
        vs = _mm512_add_pd(vs, e);
        vz = _mm512_add_pd(vz, _mm512_mul_pd(e, zj));
    }
    _mm512_storeu_pd(s, vs);
    _mm512_storeu_pd(sz, vz);
#endif
    for (; j < V; j++) {
        const double zj = (double)z[j] * inv_t, e = exp_f64(zj - m);
        s[j % 8] += e;
        sz[j % 8] += e * zj;
    }
    for (int w = 4; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) {
            s[l] += s[l + w];
            sz[l] += sz[l + w];
        }
    *sum = s[0];
    *sumz = sz[0];
}

double log_sum_exp_row(const float *z, int V, double inv_t, double *zmax, double *mean_z) {
    /* The max is taken on the raw floats: scaling by inv_t > 0 is monotone,
     * so it is the max of the scaled row, found without V multiplies. */
    const double m = max_f32(z, V) * inv_t;
    double sum, sumz;
    exp_sums_f64(z, V, inv_t, m, &sum, &sumz);
    if (zmax) *zmax = m;
    if (mean_z) *mean_z = sumz / sum;
    return m + log(sum);
}

int softmax_cdf_pick(const float *z, int V, double inv_t, double m, double target) {
    double cum = 0.0;
    int last_pos = 0;
    for (int j0 = 0; j0 < V; j0 += 8) {
        double e[8];
        const int nb = V - j0 < 8 ? V - j0 : 8;
#if defined(__AVX512F__)
        const __mmask8 k = (__mmask8)((1u << nb) - 1u);
        const __m512d zj = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(k, z + j0)),
                                         _mm512_set1_pd(inv_t));
        _mm512_storeu_pd(e, exp8_f64(_mm512_sub_pd(zj, _mm512_set1_pd(m))));
#else
        for (int i = 0; i < nb; i++) e[i] = exp_f64((double)z[j0 + i] * inv_t - m);
#endif
        for (int i = 0; i < nb; i++) {
            if (e[i] > 0.0) last_pos = j0 + i;
            cum += e[i];
            if (cum > target && e[i] > 0.0) return j0 + i;
        }
    }
    return last_pos; /* rounding left target at the very top */
}

void logp_forward(float *logp, float *entropy, double *lse, const float *logits,
                  const int *targets, int N, int V, float temperature) {
    double invT = 1.0 / temperature;
    for (int i = 0; i < N; i++) {
        const float *z = logits + (size_t)i * V;
        double mean_z;
        double l = log_sum_exp_row(z, V, invT, NULL, &mean_z);
        lse[i] = l;
        logp[i] = (float)(z[targets[i]] * invT - l);
        if (entropy) entropy[i] = (float)(l - mean_z);
    }
}

/* Kept set: sample_dist_keep's prefix, plus the target where the rule on
 * these logits drops it (see model_kernels.h). The sums run over the kept
 * prefix in sorted order, the order the sampler sums its mass in. */
void logp_forward_truncated(float *logp, float *entropy, double *lse, float *keep_z, int *keep_id,
                            const float *logits, const int *targets, int N, int V,
                            const SampleDist *d, float *scratch) {
    const double invT = 1.0 / (double)d->temperature;
    for (int i = 0; i < N; i++) {
        const float *z = logits + (size_t)i * V;
        const int t = targets[i];
        double zmax;
        if (!isfinite(log_sum_exp_row(z, V, invT, &zmax, NULL))) {
            /* NaN/inf logits cannot be ranked; keep them visible, keep everything */
            lse[i] = NAN;
            logp[i] = NAN;
            if (entropy) entropy[i] = NAN;
            keep_z[i] = -INFINITY;
            keep_id[i] = V;
            continue;
        }
        double mass;
        const int n_keep = sample_dist_keep(z, V, d, zmax, scratch, &mass);
        keep_z[i] = scratch[2 * (n_keep - 1)];
        keep_id[i] = (int)scratch[2 * (n_keep - 1) + 1];
        double sumz = 0.0;
        for (int r = 0; r < n_keep; r++) {
            const double zr = scratch[2 * r] * invT;
            sumz += exp(zr - zmax) * zr;
        }
        if (!sample_dist_kept(z[t], t, keep_z[i], keep_id[i])) {
            const double zt = z[t] * invT, e = exp(zt - zmax);
            mass += e;
            sumz += e * zt;
        }
        const double l = zmax + log(mass);
        lse[i] = l;
        logp[i] = (float)(z[t] * invT - l);
        if (entropy) entropy[i] = (float)(l - sumz / mass);
    }
}

void logp_backward(float *dlogits, const float *logits, const double *lse, const int *targets,
                   const float *weights, const float *keep_z, const int *keep_id, int N, int V,
                   float temperature) {
    double invT = 1.0 / temperature;
    for (int i = 0; i < N; i++) {
        float *d = dlogits + (size_t)i * V;
        const float *z = logits + (size_t)i * V;
        if (weights[i] == 0.0f) { /* padding: most rows of a GRPO batch */
            memset(d, 0, sizeof(float) * V);
            continue;
        }
        double c = weights[i] * invT;
        /* p = exp(z / T - lse) through exp_f32: a float gradient needs no
         * double exp, and the loop vectorizes */
        const double l = lse[i];
        if (!keep_z) {
            for (int j = 0; j < V; j++) d[j] = (float)(c * exp_f32((float)(z[j] * invT - l)));
        } else {
            /* p_trunc is 0 outside the kept set, whose membership is
             * piecewise constant in the logits: held fixed, it has no
             * derivative, so only kept logits get (p_trunc - onehot) */
            for (int j = 0; j < V; j++)
                d[j] = j == targets[i] || sample_dist_kept(z[j], j, keep_z[i], keep_id[i])
                           ? (float)(c * exp_f32((float)(z[j] * invT - l)))
                           : 0.0f;
        }
        d[targets[i]] -= (float)c;
    }
}
