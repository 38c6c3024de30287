/* gemm.c: the training matrix product (gemm.h).
 *
 * Compiled three times like model_kernels.c (kernel_names.h): as itself
 * (portable C), by gemm_avx2.c and by gemm_avx512.c. The blocking and the
 * panel copy below are shared; only the micro-kernel that multiplies a
 * block of rows by one L1-resident panel differs per width. */
#ifndef KERNEL_ISA
#define KERNEL_ISA generic
#endif
#include "kernel_names.h"
#include "gemm.h"

#include <math.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "avx512_transpose.h"
#include "util.h"

static inline int min_int(int x, int y) { return x < y ? x : y; }

/* Row blocks of at most this many rows skip the panel copy when op(b) is
 * b itself and the panel whole (gemm_f32). */
enum { GEMM_IN_PLACE_M = 48 };

/* op(a)(i, k) of a block whose first row and first k sit at a. */
#define GEMM_A(a, lda, ta, i, k) ((ta) ? (a)[(size_t)(k) * (lda) + (i)] : (a)[(size_t)(i) * (lda) + (k)])

#if defined(__AVX512F__)

/* Rows per micro-block: a panel line is two zmm, so 12 rows hold 24
 * accumulators of the 32 registers, with the two panel vectors and a
 * broadcast beside them. */
enum { GEMM_MR = 12 };
/* How many k ahead the transposed op(a) is prefetched (measured: 24-48
 * all near best; prefetches past the chunk are harmless, they never fault). */
enum { GEMM_PF_K = 32 };

/* acc (16 columns of a row, nc of them valid) into o: stored, or added. */
static inline __attribute__((always_inline)) void gemm_store16(float *o, __m512 acc, int nc,
                                                                int add, __m512 alpha) {
    acc = _mm512_mul_ps(acc, alpha);
    if (nc >= 16) { /* unmasked: a masked store costs several plain ones on Zen */
        if (add) acc = _mm512_add_ps(acc, _mm512_loadu_ps(o));
        _mm512_storeu_ps(o, acc);
        return;
    }
    const __mmask16 m = (__mmask16)((1u << (nc > 0 ? nc : 0)) - 1u);
    if (!m) return;
    if (add) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, o));
    _mm512_mask_storeu_ps(o, m, acc);
}

/* mr <= GEMM_MR rows times the panel (kc lines of 32, nc columns valid;
 * two: more than 16, both zmm of a line). Inlined with constant mr, ta
 * and two: named accumulators (gcc keeps an array of vectors in memory),
 * rows past mr fold away, and op(a)'s row step is a constant
 * displacement when a is read transposed (dW). */
static inline __attribute__((always_inline)) void
gemm_block(float *c, size_t ldc, const float *a, size_t lda, int ta, int two, const float *panel,
           size_t ldp, int kc, int mr, int nc, int add, float alpha) {
    const __m512 va = _mm512_set1_ps(alpha);
    __m512 a0 = _mm512_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
    __m512 a4 = a0, b4 = a0, a5 = a0, b5 = a0, a6 = a0, b6 = a0, a7 = a0, b7 = a0;
    __m512 a8 = a0, b8 = a0, a9 = a0, b9 = a0, a10 = a0, b10 = a0, a11 = a0, b11 = a0;
    for (int k = 0; k < kc; k++) {
        const __m512 w0 = _mm512_loadu_ps(panel + (size_t)k * ldp);
        const __m512 w1 = two ? _mm512_loadu_ps(panel + (size_t)k * ldp + 16) : w0;
        if (k < 2 * mr) /* this block's c lines, long before the stores need them */
            _mm_prefetch((const char *)(c + (size_t)(k >> 1) * ldc + (k & 1) * 16), _MM_HINT_T0);
        if (ta) { /* op(a) = dout^T: one line (or two) per k, beyond the strides
                   * the hardware prefetcher follows (2 KB) at wide OC */
            const float *ahead = a + (size_t)(k + GEMM_PF_K) * lda;
            _mm_prefetch((const char *)ahead, _MM_HINT_T0);
            _mm_prefetch((const char *)(ahead + mr - 1), _MM_HINT_T0);
        }
#define GEMM_ROW(i)                                                   \
        if (mr > i) {                                                 \
            const __m512 x = _mm512_set1_ps(GEMM_A(a, lda, ta, i, k)); \
            a##i = _mm512_fmadd_ps(x, w0, a##i);                      \
            if (two) b##i = _mm512_fmadd_ps(x, w1, b##i);             \
        }
        GEMM_ROW(0) GEMM_ROW(1) GEMM_ROW(2) GEMM_ROW(3) GEMM_ROW(4) GEMM_ROW(5)
        GEMM_ROW(6) GEMM_ROW(7) GEMM_ROW(8) GEMM_ROW(9) GEMM_ROW(10) GEMM_ROW(11)
#undef GEMM_ROW
    }
#define GEMM_OUT(i)                                                 \
    if (mr > i) {                                                   \
        gemm_store16(c + (size_t)i * ldc, a##i, nc, add, va);       \
        if (two) gemm_store16(c + (size_t)i * ldc + 16, b##i, nc - 16, add, va); \
    }
    GEMM_OUT(0) GEMM_OUT(1) GEMM_OUT(2) GEMM_OUT(3) GEMM_OUT(4) GEMM_OUT(5)
    GEMM_OUT(6) GEMM_OUT(7) GEMM_OUT(8) GEMM_OUT(9) GEMM_OUT(10) GEMM_OUT(11)
#undef GEMM_OUT
}

#define GEMM_CASES(TA, TWO, LDP)                                                            \
    switch (mr) {                                                                            \
    GEMM_CASE(1, TA, TWO, LDP) GEMM_CASE(2, TA, TWO, LDP) GEMM_CASE(3, TA, TWO, LDP)         \
    GEMM_CASE(4, TA, TWO, LDP) GEMM_CASE(5, TA, TWO, LDP) GEMM_CASE(6, TA, TWO, LDP)         \
    GEMM_CASE(7, TA, TWO, LDP) GEMM_CASE(8, TA, TWO, LDP) GEMM_CASE(9, TA, TWO, LDP)         \
    GEMM_CASE(10, TA, TWO, LDP) GEMM_CASE(11, TA, TWO, LDP) GEMM_CASE(12, TA, TWO, LDP)      \
    default: CHECK(0);                                                                       \
    }
#define GEMM_CASE(r, TA, TWO, LDP) \
    case r: gemm_block(c, ldc, a, lda, TA, TWO, panel, LDP, kc, r, nc, add, alpha); break;

/* gemm_block with run-time mr, ta and width, each case inlined with
 * constants. A panel of at most 16 valid columns (the 2 of V = 98 past
 * three panels) runs one zmm a row: half the work of a whole panel. A
 * panel read in place (ldp != GEMM_NR, always whole) has its own cases:
 * a run-time line stride in the packed ones costs their row pointers
 * registers (2-3% on the large products). */
static void gemm_micro(float *c, size_t ldc, const float *a, size_t lda, int ta,
                       const float *panel, size_t ldp, int kc, int mr, int nc, int add,
                       float alpha) {
    if (ldp != GEMM_NR) {
        CHECK(nc == GEMM_NR);
        if (ta)
            GEMM_CASES(1, 1, ldp)
        else
            GEMM_CASES(0, 1, ldp)
    } else if (ta && nc > 16)
        GEMM_CASES(1, 1, GEMM_NR)
    else if (ta)
        GEMM_CASES(1, 0, GEMM_NR)
    else if (nc > 16)
        GEMM_CASES(0, 1, GEMM_NR)
    else
        GEMM_CASES(0, 0, GEMM_NR)
}
#undef GEMM_CASE
#undef GEMM_CASES

/* mc rows times the panel: blocks of equal size, at most GEMM_MR (16 rows
 * = 8 + 8, not 12 + 4, whose 8 chains would stall on FMA latency). */
static void gemm_rows(float *c, size_t ldc, const float *a, size_t lda, int ta,
                      const float *panel, size_t ldp, int kc, int mc, int nc, int add,
                      float alpha) {
    const int blocks = (mc + GEMM_MR - 1) / GEMM_MR;
    for (int b = 0, i = 0; b < blocks; b++) {
        const int mr = (mc - i) / (blocks - b) + ((mc - i) % (blocks - b) != 0);
        gemm_micro(c + (size_t)i * ldc, ldc, ta ? a + i : a + (size_t)i * lda, lda, ta, panel,
                   ldp, kc, mr, nc, add, alpha);
        i += mr;
    }
}

#else

/* Portable (and AVX2, which gcc vectorises from this): blocks of 4 rows,
 * the same fmaf chains as the AVX-512 kernel, so the same bits. */
static void gemm_rows(float *c, size_t ldc, const float *a, size_t lda, int ta,
                      const float *panel, size_t ldp, int kc, int mc, int nc, int add,
                      float alpha) {
    enum { MR = 4 };
    for (int i0 = 0; i0 < mc; i0 += MR) {
        const int mr = min_int(MR, mc - i0);
        float acc[MR][GEMM_NR] = {{0}};
        for (int k = 0; k < kc; k++) {
            const float *p = panel + (size_t)k * ldp;
            for (int i = 0; i < mr; i++) {
                const float x = GEMM_A(a, lda, ta, i0 + i, k);
                for (int j = 0; j < GEMM_NR; j++) acc[i][j] = fmaf(x, p[j], acc[i][j]);
            }
        }
        for (int i = 0; i < mr; i++) {
            float *o = c + (size_t)(i0 + i) * ldc;
            for (int j = 0; j < nc; j++) {
                const float s = alpha * acc[i][j]; /* rounded: no fused add */
                o[j] = add ? o[j] + s : s;
            }
        }
    }
}

#endif

/* op(b) rows k0 .. k0+kc-1, columns j0 .. j0+nc-1 into panel (kc, 32),
 * columns past nc zero. */
static void gemm_pack(float *panel, const float *b, int ldb, int tb, int k0, int kc, int j0,
                      int nc) {
    if (tb) {
        int j16 = 0;
#if defined(__AVX512F__)
        /* 16 rows of b (columns of op(b)) by 16 k at a time, transposed in
         * registers: the scalar copy below moves one float per strided
         * store, 4% of a ~1M training step (the forward products and
         * attention's Q K^T all read op(b) = b^T) */
        j16 = nc & ~15;
        int kb = 0;
        for (; kb + 16 <= kc; kb += 16)
            for (int h = 0; h < j16; h += 16) {
                __m512 r[16];
                for (int j = 0; j < 16; j++)
                    r[j] = _mm512_loadu_ps(b + (size_t)(j0 + h + j) * ldb + k0 + kb);
                transpose16x16(r);
                for (int e = 0; e < 16; e++)
                    _mm512_store_ps(panel + (size_t)(kb + e) * GEMM_NR + h, r[e]);
            }
        for (int j = 0; j < j16; j++) { /* the k past the last 16 */
            const float *src = b + (size_t)(j0 + j) * ldb + k0;
            for (int k = kb; k < kc; k++) panel[(size_t)k * GEMM_NR + j] = src[k];
        }
#endif
        for (int j = j16; j < nc; j++) {
            const float *src = b + (size_t)(j0 + j) * ldb + k0;
            for (int k = 0; k < kc; k++) panel[(size_t)k * GEMM_NR + j] = src[k];
        }
        if (nc < GEMM_NR)
            for (int k = 0; k < kc; k++)
                memset(panel + (size_t)k * GEMM_NR + nc, 0, sizeof(float) * (GEMM_NR - nc));
    } else if (nc == GEMM_NR) { /* whole lines: a fixed-length copy the compiler vectorises */
        for (int k = 0; k < kc; k++) {
            float *dst = panel + (size_t)k * GEMM_NR;
            const float *src = b + (size_t)(k0 + k) * ldb + j0;
            for (int j = 0; j < GEMM_NR; j++) dst[j] = src[j];
        }
    } else {
        for (int k = 0; k < kc; k++) {
            float *dst = panel + (size_t)k * GEMM_NR;
            const float *src = b + (size_t)(k0 + k) * ldb + j0;
            for (int j = 0; j < GEMM_NR; j++) dst[j] = j < nc ? src[j] : 0.0f;
        }
    }
}

void gemm_f32(int trans_a, int trans_b, int M, int Nc, int K, float alpha, const float *a,
              int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    CHECK(beta == 0.0f || beta == 1.0f);
    if (M <= 0 || Nc <= 0) return;
    if (K <= 0) {
        if (beta == 0.0f)
            for (int i = 0; i < M; i++) memset(c + (size_t)i * ldc, 0, sizeof(float) * Nc);
        return;
    }
    _Alignas(64) float panel[GEMM_KC * GEMM_NR];
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        const int kc = min_int(GEMM_KC, K - k0);
        const int add = beta != 0.0f || k0 > 0;
        const float *ak = trans_a ? a + (size_t)k0 * lda : a + k0;
        /* rows a block: op(a)'s share at most GEMM_MC x GEMM_KC floats, so a
         * short chunk (K = 128) packs each panel of op(b) half as often */
        const int mc_max = (int)((long)GEMM_MC * GEMM_KC / kc);
        for (int i0 = 0; i0 < M; i0 += mc_max) {
            const int mc = min_int(mc_max, M - i0);
            const float *ai = trans_a ? ak + i0 : ak + (size_t)i0 * lda;
            for (int j0 = 0; j0 < Nc; j0 += GEMM_NR) {
                const int nc = min_int(GEMM_NR, Nc - j0);
                float *c0 = c + (size_t)i0 * ldc + j0;
                if (!trans_b && nc == GEMM_NR && mc <= GEMM_IN_PLACE_M) {
                    /* few rows (attention's 32-row tiles against a head's
                     * 32 columns): a copy would be read by a few micro-blocks
                     * only, so they read op(b)'s lines where they lie */
                    gemm_rows(c0, (size_t)ldc, ai, (size_t)lda, trans_a,
                              b + (size_t)k0 * ldb + j0, (size_t)ldb, kc, mc, nc, add, alpha);
                    continue;
                }
                gemm_pack(panel, b, ldb, trans_b, k0, kc, j0, nc);
                gemm_rows(c0, (size_t)ldc, ai, (size_t)lda, trans_a, panel, GEMM_NR, kc, mc, nc,
                          add, alpha);
            }
        }
    }
}

void gemm_f32_shared_b(int n, const GemmLhs *lhs, int trans_a, int trans_b, int Nc, int K,
                       float alpha, const float *b, int ldb, float beta) {
    CHECK(beta == 0.0f || beta == 1.0f);
    if (Nc <= 0 || K <= 0) { /* nothing to share: gemm_f32's own edge cases */
        for (int t = 0; t < n; t++)
            gemm_f32(trans_a, trans_b, lhs[t].m, Nc, K, alpha, lhs[t].a, lhs[t].lda, b, ldb,
                     beta, lhs[t].c, lhs[t].ldc);
        return;
    }
    _Alignas(64) float panel[GEMM_KC * GEMM_NR];
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        const int kc = min_int(GEMM_KC, K - k0);
        const int add = beta != 0.0f || k0 > 0;
        for (int j0 = 0; j0 < Nc; j0 += GEMM_NR) {
            const int nc = min_int(GEMM_NR, Nc - j0);
            gemm_pack(panel, b, ldb, trans_b, k0, kc, j0, nc);
            for (int t = 0; t < n; t++) {
                if (lhs[t].m <= 0) continue;
                const float *ak = trans_a ? lhs[t].a + (size_t)k0 * lhs[t].lda : lhs[t].a + k0;
                gemm_rows(lhs[t].c + j0, (size_t)lhs[t].ldc, ak, (size_t)lhs[t].lda, trans_a,
                          panel, GEMM_NR, kc, lhs[t].m, nc, add, alpha);
            }
        }
    }
}
