/* attention_packed.h: causal grouped-query attention over the segments of
 * a packed layout (packed_layout.h), the training forward's attention.
 *
 * Per run of segments continuing one prefix and per head, with queries Q
 * (nq rows), the prefix's keys Kp, values Vp (np rows) and each segment's
 * own keys Ks, values Vs:
 *   S = scale [Q Kp^T | Qs Ks^T]     one sgemm for the whole run's prefix
 *                                    block, one per tile of 32 query rows
 *                                    of a segment for its own (against its
 *                                    keys up to the tile's last row)
 *   P = softmax over each query's prefix keys and its own keys up to it
 *   Y = P[:, prefix] Vp + P[:, own] Vs
 * so a shared prompt's keys and values are multiplied once per run, not
 * once per row, and backward adds every query's gradient into them once:
 *   dP = dY V^T ; dV += P^T dY ; dS = P * (dP - rowsum(P * dP)) ;
 *   dQ = scale dS K ; dK += scale dS^T Q.
 * A row layout (packed_layout_rows: one segment per grid row, its padding
 * left out) is a per-(sequence, head) causal attention over each row's
 * real positions; this is the only training attention (the decoder's is
 * attention_decode_row, model_kernels.h).
 *
 * Legend as model_kernels.h: NH query heads, NKV kv heads (query head h
 * reads kv head h / (NH / NKV)), HD head dim, D = NH*HD, KVD = NKV*HD;
 * rows are the layout's packed rows. */
#ifndef COMMON_ATTENTION_PACKED_H
#define COMMON_ATTENTION_PACKED_H

#include "packed_layout.h"

/* out (n_rows, D); q (n_rows, D) after RoPE; k, v (n_rows, KVD). att gets,
 * per run (packed_layout_run, in order) and head, the run's (nq, W)
 * probabilities, row-major: columns [0, np) its prefix's keys, then the
 * query's own segment's keys from its first (zero above the diagonal; the
 * columns past a shorter segment's end are never read). It holds
 * NH * packed_layout_att_floats(l) floats. */
void attention_forward_packed(float *out, float *att, const float *q, const float *k,
                              const float *v, const PackedLayout *l, int NH, int NKV, int HD);

/* WRITES dq (n_rows, D), dk, dv (n_rows, KVD) from dout (n_rows, D) and the
 * forward's att, q, k, v. dscore is scratch of attention_dscore_floats(l). */
void attention_backward_packed(float *dq, float *dk, float *dv, float *dscore,
                               const float *dout, const float *att, const float *q,
                               const float *k, const float *v, const PackedLayout *l, int NH,
                               int NKV, int HD);

/* Floats of attention_backward_packed's dscore for l: the largest run's
 * nq * W (at most n_rows * T). */
long attention_dscore_floats(const PackedLayout *l);

/* FLOPs of one attention forward over l, as computed (the multiply-adds
 * of the sgemms, the upper triangles inside the own blocks' diagonal
 * tiles included; softmax not counted); backward is twice that. */
double attention_packed_flops(const PackedLayout *l, int NH, int HD);

#endif
