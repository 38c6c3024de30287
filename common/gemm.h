/* gemm.h: the project's own single-precision matrix product for the
 * training layer (matmul_forward / matmul_backward of model_kernels.h).
 *
 * c (M, Nc) = alpha op(a) (M, K) op(b) (K, Nc) + beta c, row-major as
 * cblas_sgemm(CblasRowMajor, ...) with beta 0 or 1:
 *   op(a)(i, k) = trans_a ? a[k * lda + i] : a[i * lda + k]
 *   op(b)(k, j) = trans_b ? b[j * ldb + k] : b[k * ldb + j]
 * The three training products are (0, 1) forward, (0, 0) dinp and (1, 0)
 * dW, whose reduction runs over the N rows: op(a) = dout^T is read in
 * place, with no transpose. Beta 0 stores without reading c (no zeroing
 * pass), so c may hold anything, NaN included.
 *
 * Blocking: K in chunks of GEMM_KC; for each chunk, rows in blocks of
 * GEMM_MC (more when the chunk is shorter: GEMM_MC x GEMM_KC floats of
 * op(a) a block), and for each block every 32-column panel of op(b) is copied
 * (kc x 32, zero padded) into a buffer on the stack that stays in L1
 * while every 12-row micro-block of the row block reads it; op(a) is read
 * where it lies, the row block (GEMM_MC x GEMM_KC, 512 KB) staying in L2.
 * A row block of at most 48 rows (attention's 32-row tiles) with op(b) = b
 * reads a whole panel where it lies instead: a copy would serve only a
 * few micro-blocks. No workspace beyond that one panel (32 KB of stack). The sizes are
 * measured (bench_gemm_shapes; KC 128 and 192 lose 5-15% at K >= 256, MC
 * 2048 spills op(a) out of L2 at D = 256, MC 256 re-packs too often).
 *
 * Numerics, the same on every instance (kernel_names.h): each output is
 * acc = 0, acc = fmaf(op(a)(i, k), op(b)(k, j), acc) over the k of one
 * chunk in order, then c = alpha * acc (first chunk, beta 0) or
 * c + alpha * acc, rounded after the product (no fused add). So the
 * AVX-512, AVX2 and portable instances give the same bits, and alpha 1
 * the bits of a product without it. */
#ifndef COMMON_GEMM_H
#define COMMON_GEMM_H

#include <stddef.h>

enum { GEMM_KC = 256, GEMM_MC = 512, GEMM_NR = 32 };

void gemm_f32(int trans_a, int trans_b, int M, int Nc, int K, float alpha, const float *a,
              int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* One product's own operands in gemm_f32_shared_b: op(a) (m, K), c (m, Nc). */
typedef struct {
    int m;
    const float *a;
    int lda;
    float *c;
    int ldc;
} GemmLhs;

/* n products lhs[t].c = alpha op(lhs[t].a) op(b) + beta lhs[t].c over one
 * b: each panel of op(b) is copied once for all n instead of once a
 * product (the weight gradients of Wq, Wk and Wv read one activation, as
 * do W1's and W3's, and the copy of an activation's panels is most of
 * gemm_f32's own time there). Panels outer, then the products: op(a)'s
 * chunk of all n (sum m x GEMM_KC floats) is read once a panel, so it is
 * meant for sum m up to a few GEMM_MC. Every output is gemm_f32's chain:
 * the same bits as n gemm_f32 calls. */
void gemm_f32_shared_b(int n, const GemmLhs *lhs, int trans_a, int trans_b, int Nc, int K,
                       float alpha, const float *b, int ldb, float beta);

#endif
