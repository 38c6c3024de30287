/* attention_packed.c: see attention_packed.h. Every product is one
 * gemm_fastest (model_kernels.h) on a block of the run; only the softmax
 * and its backward are loops. A segment's own causal block runs in tiles of ATT_TILE query
 * rows, each against the keys up to its last row only: for a 96-row
 * segment 2/3 of the square instead of all of it (the rest is above the
 * diagonal, zero in P). S, dP, dV and dK run per block of 32 keys
 * against every row below it instead of per query tile: S and dP (K = the
 * head width) pack each key block once, dV and dK get K = the rows below
 * rather than a tile's 32. */
#include "attention_packed.h"

#include <math.h>
#include <string.h>

#include "model_kernels.h"
#include "util.h"

/* The block products, row-major, C = alpha A B^T + beta C and
 * C = alpha A^T B + beta C and C = alpha A B + beta C. */
enum { ATT_TILE = 32 };

static void mm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
    gemm_fastest(0, 1, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
static void mm_tn(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
    gemm_fastest(1, 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
static void mm_nn(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
    gemm_fastest(0, 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* A segment's own scores X Ks^T (c rows of X and of Ks, ld ldx and ldk)
 * into S (ld W), for each row i its columns up to the end of i's tile of
 * ATT_TILE rows: key block [j, j + ATT_TILE) against every row from j
 * down, so each block of keys is packed once for all the rows that see
 * it (per query tile instead, a short K = HD product re-packed its keys
 * for 32 rows only). Each score is the same K = HD chain either way. */
static void own_columns(int c, int HD, float alpha, const float *X, int ldx, const float *Ks,
                        int ldk, float *S, int W) {
    for (int j = 0; j < c; j += ATT_TILE) {
        const int jb = j + ATT_TILE < c ? ATT_TILE : c - j;
        mm_nt(c - j, jb, HD, alpha, X + (size_t)j * ldx, ldx, Ks + (size_t)j * ldk, ldk, 0.0f,
              S + (size_t)j * W + j, W);
    }
}

/* G (c rows, ld ldg) += alpha M^T Y for a segment's own block M (ld W,
 * the tiles' columns as own_columns writes them) and Y (c rows, ld ldy):
 * for key block [j, j + ATT_TILE), the rows from j down in one product
 * (K = c - j) rather than one 32-row product per query tile. */
static void own_keys_grad(int c, int HD, float alpha, const float *M, int W, const float *Y,
                          int ldy, float *G, int ldg) {
    for (int j = 0; j < c; j += ATT_TILE) {
        const int jb = j + ATT_TILE < c ? ATT_TILE : c - j;
        mm_tn(jb, HD, c - j, alpha, M + (size_t)j * W + j, W, Y + (size_t)j * ldy, ldy, 1.0f,
              G + (size_t)j * ldg, ldg);
    }
}

void attention_forward_packed(float *out, float *att, const float *q, const float *k,
                              const float *v, const PackedLayout *l, int NH, int NKV, int HD) {
    const int D = NH * HD, KVD = NKV * HD, group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)HD);
    PackedRun r;
    float *P0 = att;
    for (int s = 0; s < l->n_segs; P0 += (size_t)NH * r.nq * r.W) {
        s = packed_layout_run(l, s, &r);
        for (int h = 0; h < NH; h++) {
            const int kh = (h / group) * HD, np = r.np, W = r.W;
            const float *Q = q + (size_t)r.q0 * D + h * HD;             /* (nq, HD) ld D */
            const float *Kp = k + (size_t)r.p0 * KVD + kh;              /* (np, HD) ld KVD */
            const float *Vp = v + (size_t)r.p0 * KVD + kh;
            float *P = P0 + (size_t)h * r.nq * W;                      /* (nq, W) */
            float *Y = out + (size_t)r.q0 * D + h * HD;                 /* (nq, HD) ld D */
            if (np > 0) mm_nt(r.nq, np, HD, scale, Q, D, Kp, KVD, 0.0f, P, W);
            for (int g = r.s0; g < r.s1; g++) {
                const int row0 = l->seg_row0[g], c = l->seg_len[g], i0 = row0 - r.q0;
                own_columns(c, HD, scale, Q + (size_t)i0 * D, D, k + (size_t)row0 * KVD + kh,
                            KVD, P + (size_t)i0 * W + np, W);
                for (int a = 0; a < c; a += ATT_TILE) { /* rows [a, b) see own keys [0, b) */
                    const int b = a + ATT_TILE < c ? a + ATT_TILE : c;
                    for (int j = a; j < b; j++) {
                        float *row = P + (size_t)(i0 + j) * W;
                        softmax_row(row, np + j + 1);
                        memset(row + np + j + 1, 0, sizeof(float) * (size_t)(b - j - 1));
                    }
                }
            }
            if (np > 0) mm_nn(r.nq, HD, np, 1.0f, P, W, Vp, KVD, 0.0f, Y, D);
            for (int g = r.s0; g < r.s1; g++) {
                const int row0 = l->seg_row0[g], c = l->seg_len[g], i0 = row0 - r.q0;
                for (int a = 0; a < c; a += ATT_TILE) {
                    const int b = a + ATT_TILE < c ? a + ATT_TILE : c;
                    mm_nn(b - a, HD, b, 1.0f, P + (size_t)(i0 + a) * W + np, W,
                          v + (size_t)row0 * KVD + kh, KVD, np > 0 ? 1.0f : 0.0f,
                          Y + (size_t)(i0 + a) * D, D);
                }
            }
        }
    }
}

void attention_backward_packed(float *dq, float *dk, float *dv, float *dscore,
                               const float *dout, const float *att, const float *q,
                               const float *k, const float *v, const PackedLayout *l, int NH,
                               int NKV, int HD) {
    const int D = NH * HD, KVD = NKV * HD, group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)HD);
    /* heads sharing a kv head, and the runs sharing a prefix, add into dk, dv */
    memset(dk, 0, sizeof(float) * (size_t)l->n_rows * KVD);
    memset(dv, 0, sizeof(float) * (size_t)l->n_rows * KVD);
    PackedRun r;
    const float *P0 = att;
    for (int s = 0; s < l->n_segs; P0 += (size_t)NH * r.nq * r.W) {
        s = packed_layout_run(l, s, &r);
        for (int h = 0; h < NH; h++) {
            const int kh = (h / group) * HD, np = r.np, W = r.W;
            const size_t qo = (size_t)r.q0 * D + h * HD, po = (size_t)r.p0 * KVD + kh;
            const float *P = P0 + (size_t)h * r.nq * W, *dY = dout + qo;
            float *dS = dscore; /* (nq, W): dP, then dS in place */
            if (np > 0) {
                mm_nt(r.nq, np, HD, 1.0f, dY, D, v + po, KVD, 0.0f, dS, W);
                mm_tn(np, HD, r.nq, 1.0f, P, W, dY, D, 1.0f, dv + po, KVD);
            }
            for (int g = r.s0; g < r.s1; g++) {
                const int row0 = l->seg_row0[g], c = l->seg_len[g], i0 = row0 - r.q0;
                const size_t go = (size_t)row0 * KVD + kh;
                own_columns(c, HD, 1.0f, dY + (size_t)i0 * D, D, v + go, KVD,
                            dS + (size_t)i0 * W + np, W);
                own_keys_grad(c, HD, 1.0f, P + (size_t)i0 * W + np, W, dY + (size_t)i0 * D, D,
                              dv + go, KVD);
                for (int a = 0; a < c; a += ATT_TILE) {
                    const int b = a + ATT_TILE < c ? a + ATT_TILE : c;
                    for (int j = a; j < b; j++) {
                        const float *p = P + (size_t)(i0 + j) * W;
                        float *ds = dS + (size_t)(i0 + j) * W;
                        const int n = np + j + 1;
                        softmax_backward_row(ds, p, n);
                        memset(ds + n, 0, sizeof(float) * (size_t)(b - j - 1));
                    }
                }
            }
            if (np > 0) {
                mm_nn(r.nq, HD, np, scale, dS, W, k + po, KVD, 0.0f, dq + qo, D);
                mm_tn(np, HD, r.nq, scale, dS, W, q + qo, D, 1.0f, dk + po, KVD);
            }
            for (int g = r.s0; g < r.s1; g++) {
                const int row0 = l->seg_row0[g], c = l->seg_len[g], i0 = row0 - r.q0;
                const size_t go = (size_t)row0 * KVD + kh;
                for (int a = 0; a < c; a += ATT_TILE) {
                    const int b = a + ATT_TILE < c ? a + ATT_TILE : c;
                    const size_t ro = (size_t)(i0 + a);
                    mm_nn(b - a, HD, b, scale, dS + ro * W + np, W, k + go, KVD,
                          np > 0 ? 1.0f : 0.0f, dq + qo + ro * D, D);
                }
                own_keys_grad(c, HD, scale, dS + (size_t)i0 * W + np, W, q + qo + (size_t)i0 * D,
                              D, dk + go, KVD);
            }
        }
    }
}

long attention_dscore_floats(const PackedLayout *l) {
    long most = 1;
    PackedRun r;
    for (int s = 0; s < l->n_segs;) {
        s = packed_layout_run(l, s, &r);
        if ((long)r.nq * r.W > most) most = (long)r.nq * r.W;
    }
    return most;
}

double attention_packed_flops(const PackedLayout *l, int NH, int HD) {
    double f = 0;
    PackedRun r;
    for (int s = 0; s < l->n_segs;) {
        s = packed_layout_run(l, s, &r);
        f += 2.0 * 2.0 * r.nq * r.np * HD; /* the prefix block: S and Y */
        for (int g = r.s0; g < r.s1; g++)
            for (int a = 0; a < l->seg_len[g]; a += ATT_TILE) {
                const int b = a + ATT_TILE < l->seg_len[g] ? a + ATT_TILE : l->seg_len[g];
                f += 2.0 * 2.0 * (b - a) * b * HD; /* the own tile: S and Y */
            }
    }
    return f * NH;
}
