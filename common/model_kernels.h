/* model_kernels.h: the layer kernels under model.c, one forward and one
 * backward per layer, in llm.c's convention: outputs first, then inputs,
 * then weights, then sizes. Backward kernels ADD into weight gradients;
 * whether an input gradient is written or added is said per kernel.
 *
 * Legend as in model.h, plus
 *   N  rows (B*T tokens when training, one per slot when decoding)
 *   C  input width, OC output width of a matmul
 * All matrices are row-major; weights are (OC, C) and applied as x W^T.
 *
 * Internal to the model (model.c, tests/test_model.c), except
 * log_sum_exp_row, which the sampler shares so that its log-probs and the
 * learner's recompute are the same arithmetic. */
#ifndef COMMON_MODEL_KERNELS_H
#define COMMON_MODEL_KERNELS_H

#include <stddef.h>

#include "sample_dist.h"

/* x[i] = wte[tokens[i]]. x (N, D), wte (V, D). */
void encoder_forward(float *x, const int *tokens, const float *wte, int N, int D);
/* dwte[tokens[i]] += dx[i]. */
void encoder_backward(float *dwte, const float *dx, const int *tokens, int N, int D);

/* out = w * x / rms(x) per row; rstd (N) gets 1/rms, may be NULL. */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int D,
                     float eps);
/* rmsnorm_forward that also copies inp into copy (N, D) in the same pass
 * over each row: the training forward's residual copy, which the next
 * matmul adds into (beta 1). The same bits as rmsnorm_forward + memcpy. */
void rmsnorm_forward_copy(float *out, float *rstd, float *copy, const float *inp, const float *w,
                          int N, int D, float eps);
/* Adds into dinp (N, D) and dw (D). */
void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
                      const float *w, const float *rstd, int N, int D);

/* out (N, OC) = inp (N, C) W^T + beta * out: beta 0 writes, beta 1 adds
 * (the residual stream), through one gemm_f32 (gemm.h) or cblas_sgemm,
 * whichever model_kernels.c measured faster at the shape. */
void matmul_forward(float *out, const float *inp, const float *w, int N, int C, int OC,
                    float beta);
/* dinp (N, C) = dout W + beta_inp * dinp; dw (OC, C) += dout^T inp. */
void matmul_backward(float *dinp, float *dw, const float *dout, const float *inp,
                     const float *w, int N, int C, int OC, float beta_inp);
/* matmul_backward's two halves: dinp (N, C) = dout W + beta_inp * dinp;
 * and, for n weights that read one input inp (N, C) (Wq, Wk, Wv; W1, W3),
 * dw[t] (oc[t], C) += dout[t]^T inp, dout[t] (N, oc[t]), with inp's
 * panels copied once for all n (gemm_f32_shared_b) where gemm_f32 runs
 * the shape. The same bits as n matmul_backward calls. */
void matmul_backward_input(float *dinp, const float *dout, const float *w, int N, int C, int OC,
                           float beta_inp);
void matmul_backward_weights(int n, float *const *dw, const float *const *dout, const int *oc,
                             const float *inp, int N, int C);
/* C (M, N) = alpha op(A) op(B) + beta C, row-major, beta 0 or 1, as
 * cblas_sgemm(CblasRowMajor, ...): by gemm_f32 (gemm.h) or OpenBLAS,
 * whichever is faster at this shape on this machine (model_kernels.c
 * own_gemm). The matmuls above and the attention products
 * (attention_packed.c) all run through it. */
void gemm_fastest(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* The same products as plain loops: the reference the tests compare with. */
void matmul_forward_naive(float *out, const float *inp, const float *w, int N, int C, int OC);

/* ---- decode matmul over pre-packed weights --------------------------------
 * Decoding multiplies a few dozen rows by each weight matrix per step; a
 * general sgemm re-packs the whole matrix on every call, which at these
 * sizes costs as much as the product. These kernels read a copy packed once
 * per weight version: columns (output features) in panels of
 * MATMUL_PANEL, each panel stored k-major, (C, MATMUL_PANEL), so the inner
 * loop reads one contiguous line of weights per input element. Output
 * column o lives at packed[(o / P) * C * P + k * P + o % P], P =
 * MATMUL_PANEL; columns past the last one written must be zero (allocate
 * the buffer zeroed). 32 columns, two zmm: an AVX-512 block of 12 rows
 * holds 24 accumulators; AVX2 reads a panel as two halves of 16 (two ymm).
 * The kernel is compiled for AVX-512, AVX2+FMA or plain C (fmaf) over the
 * same layout and gives the same bits on each (see matmul_forward_packed). */
enum { MATMUL_PANEL = 32 };

/* Floats of a packed weight with OC output columns of width C. */
size_t matmul_packed_floats(int C, int OC);
/* Packs w (OC, C) into output columns col0 .. col0+OC-1 of packed, so
 * several matrices sharing an input (Wq, Wk, Wv) become one product. */
void matmul_pack(float *packed, const float *w, int C, int OC, int col0);
/* out (N, OC) row stride ldo = inp (N, C) row stride ldi, times the packed
 * weight transposed, + beta * out (beta 0 writes, 1 adds). Each output is
 * one float FMA chain over k in order, from 0: acc = fmaf(inp[i][k],
 * w[o][k], acc) for k = 0 .. C-1, then out = acc (beta 0) or out + acc. */
void matmul_forward_packed(float *out, int ldo, const float *inp, int ldi, const float *packed,
                           int N, int C, int OC, float beta);
/* W1 and W3 (HF, C) packed side by side for matmul_forward_packed_swiglu:
 * panel q holds rows 16q .. 16q+15 of W1, then the same rows of W3. The
 * buffer is matmul_packed_floats(C, 2 HF) floats, zeroed. */
void matmul_pack_swiglu(float *packed, const float *w1, const float *w3, int C, int HF);
/* g (N, HF) row stride ldg = silu(inp W1^T) * (inp W3^T) over a
 * matmul_pack_swiglu weight: the bits of matmul_forward_packed into h1, h3
 * and then swiglu_forward, without writing h1 and h3 out. */
void matmul_forward_packed_swiglu(float *g, int ldg, const float *inp, int ldi,
                                  const float *packed, int N, int C, int HF);

/* cos/sin (max_pos, HD/2) of pos * theta^(-2i/HD), computed in double. */
void rope_tables(float *cosb, float *sinb, int max_pos, int HD, float theta);
/* Rotates each head (width HD) of one row x (C) by the angles of one
 * position: pairs (2i, 2i+1), as llama2.c. dir +1 rotates, -1 undoes (the
 * backward of a rotation is its inverse). */
void rope_row(float *x, const float *cos_row, const float *sin_row, int C, int HD, int dir);
/* rope_row on every row of x (B*T, C); row b*T+t is at position t. */
void rope_forward(float *x, const float *cosb, const float *sinb, int B, int T, int C, int HD);
void rope_backward(float *dx, const float *cosb, const float *sinb, int B, int T, int C, int HD);

/* In-place softmax of row[0..n) (float; the max is subtracted first). */
void softmax_row(float *row, int n);
/* The softmax's backward on one row, in place: ds (n) holds dL/dp on
 * entry and dL/dscore on return, ds = p * (ds - sum(p * ds)). The sum
 * runs through 8 partial sums in a fixed order on every instance, so they
 * give the same bits. */
void softmax_backward_row(float *ds, const float *p, int n);

/* One query row q (NH*HD) attending to the first n cached positions of
 * one sequence: position t's key and value rows (NKV*HD) are at kc, vc +
 * t*NKV*HD, except that t < np reads them at kp, vp + t*NKV*HD instead (a
 * prompt prefix shared with the slot it was copied from; np = 0: none,
 * kp, vp unused). The result does not depend on where the rows live.
 * out (NH*HD); scores is scratch (NH, n). prefetch 1: the vector
 * instances ask for the value rows into L2 and the keys a block ahead into
 * L1 as they go (KVCache.prefetch says when that pays); a hint only, the
 * same bits either way. */
void attention_decode_row(float *out, float *scores, const float *q, const float *kc,
                          const float *vc, const float *kp, const float *vp, int np, int n,
                          int NH, int NKV, int HD, int prefetch);

/* out = silu(h1) * h3 elementwise over n. out may alias h1. Decoding's
 * fused matmul_forward_packed_swiglu gives the same bits, so decoding and
 * the training forward agree; the AVX-512 instance takes the sigmoid's
 * division as a reciprocal and one Newton step (within 2 ulp), since a
 * 16-lane division costs more than the rest of the element. */
void swiglu_forward(float *out, const float *h1, const float *h3, size_t n);
/* WRITES dh1, dh3 (n); dout may alias dh1. sigmoid(h1) is recomputed as
 * swiglu_forward computes it (the same bits), not kept from the forward:
 * the exp is cheap beside the stream of N x HF floats a kept sigmoid
 * costs to write and read back, and the memory it holds. */
void swiglu_backward(float *dh1, float *dh3, const float *dout, const float *h1,
                     const float *h3, size_t n);

/* THE log-softmax, used by the training forward and the sampler alike:
 * log sum_j exp(z_j * inv_t) over one row (V >= 1, inv_t > 0), in double
 * with the max subtracted. *zmax gets max_j z_j * inv_t and *mean_z the
 * mean of z * inv_t under softmax(z * inv_t) (entropy = lse - mean_z); either
 * may be NULL. A NaN anywhere makes the result NaN. */
double log_sum_exp_row(const float *z, int V, double inv_t, double *zmax, double *mean_z);
/* The sampler's inverse CDF over softmax(z * inv_t) in id order: the first
 * j whose running sum of exp(z_j * inv_t - m) exceeds target with a
 * positive term, else the last positive one (m: log_sum_exp_row's zmax;
 * target in [0, the sum)). The exps are log_sum_exp_row's, eight at a time. */
int softmax_cdf_pick(const float *z, int V, double inv_t, double m, double target);

/* Per row of logits (N, V): z = logits / temperature,
 * lse = log sum exp z, logp = z[target] - lse, entropy = lse - sum p z
 * (entropy may be NULL). Accumulates in double. */
void logp_forward(float *logp, float *entropy, double *lse, const float *logits,
                  const int *targets, int N, int V, float temperature);
/* logp_forward under d, a truncated distribution (sample_dist_truncates):
 * per row the kept set is sample_dist_keep's on the logits at
 * d->temperature, plus the target whenever that rule drops it (the token
 * was kept where it was sampled; the learner's logits can rank it out
 * after an update or at a float-level tie on the boundary, and a -inf
 * log-prob would turn the ratio and the KL into nonsense). Then
 * lse = zmax + log(kept mass), logp = z[target] / T - lse, entropy of the
 * kept-set distribution; keep_z, keep_id (N) get each row's threshold pair
 * (sample_dist_kept) for logp_backward. Rows with NaN/inf logits get NaN.
 * scratch holds SAMPLE_DIST_SCRATCH_FLOATS(V) floats. */
void logp_forward_truncated(float *logp, float *entropy, double *lse, float *keep_z, int *keep_id,
                            const float *logits, const int *targets, int N, int V,
                            const SampleDist *d, float *scratch);
/* WRITES dlogits (N, V), the gradient of -sum w * logp:
 * w / temperature * (p - onehot(target)), p = softmax(z) when keep_z is
 * NULL (logp_forward), else the truncated distribution of
 * logp_forward_truncated and its keep_z, keep_id, with the kept set held
 * fixed (p = 0 and no gradient outside it). */
void logp_backward(float *dlogits, const float *logits, const double *lse, const int *targets,
                   const float *weights, const float *keep_z, const int *keep_id, int N, int V,
                   float temperature);

#endif
