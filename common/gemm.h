/* gemm.h: the project's own single-precision matrix product for the
 * training layer (matmul_forward / matmul_backward of model_kernels.h).
 *
 * c (M, Nc) = op(a) (M, K) op(b) (K, Nc) + beta c, row-major as
 * cblas_sgemm(CblasRowMajor, ...) with alpha 1 and beta 0 or 1:
 *   op(a)(i, k) = trans_a ? a[k * lda + i] : a[i * lda + k]
 *   op(b)(k, j) = trans_b ? b[j * ldb + k] : b[k * ldb + j]
 * The three training products are (0, 1) forward, (0, 0) dinp and (1, 0)
 * dW, whose reduction runs over the N rows: op(a) = dout^T is read in
 * place, with no transpose. Beta 0 stores without reading c (no zeroing
 * pass), so c may hold anything, NaN included.
 *
 * Blocking: K in chunks of GEMM_KC; for each chunk, rows in blocks of
 * GEMM_MC, and for each block every 32-column panel of op(b) is copied
 * (kc x 32, zero padded) into a buffer on the stack that stays in L1
 * while every 12-row micro-block of the row block reads it; op(a) is read
 * where it lies (L2). No workspace beyond that one panel (16 KB).
 *
 * Numerics, the same on every instance (kernel_names.h): each output is
 * acc = 0, acc = fmaf(op(a)(i, k), op(b)(k, j), acc) over the k of one
 * chunk in order, then c = acc (first chunk, beta 0) or c + acc. So the
 * AVX-512, AVX2 and portable instances give the same bits. */
#ifndef COMMON_GEMM_H
#define COMMON_GEMM_H

#include <stddef.h>

enum { GEMM_KC = 128, GEMM_MC = 2048, GEMM_NR = 32 };

void gemm_f32(int trans_a, int trans_b, int M, int Nc, int K, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

#endif
