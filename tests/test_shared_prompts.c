/* test_shared_prompts.c: the training forward on a packed layout
 * (packed_layout.h, batch_layout, model_forward_batch), where rows with the
 * same prompt compute its positions once and padding is not computed,
 * against the dense (B, T) path (model_forward_from on the same batch):
 *   - the layout itself: which positions are packed, how many, and the
 *     map from the grid;
 *   - log-probs and entropy at every scored position (max abs difference
 *     printed, bounded by 1e-5), 0 at padding, under the full and a top-k
 *     distribution;
 *   - every gradient tensor after model_backward, shared vs dense (max abs
 *     and 2-norm relative), and central finite differences through the
 *     shared path;
 *   - a batch without shared prompts or padding lays out densely enough
 *     that the two paths agree bit for bit;
 *   - the packed attention kernel (its own blocks in diagonal tiles) on
 *     rows longer than a tile, and on rows of mixed lengths with padding
 *     (packed_layout_rows), against attention_reference, the definition
 *     in double per sequence: outputs and dq, dk, dv.
 * The batch mixes three rows of one prompt (one of them apart from the
 * others in batch order), two of another, a row whose prompt nobody
 * shares, two rows of a one-token prompt (nothing to share), a row with
 * an empty completion, and padding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attention_packed.h"
#include "batch.h"
#include "blas_setup.h"
#include "model.h"
#include "model_kernels.h"
#include "rng.h"
#include "test_model_weights.h"
#include "util.h"

enum { MAXB = 12, MAXLEN = 16 };

static ModelConfig tiny_config(void) {
    ModelConfig c = {.vocab_size = 11, .dim = 16, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                     .hidden_dim = 24, .max_seq_len = MAXLEN, .tied_embeddings = 0,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    return c;
}

/* Matrices N(0, scale), gains 1 + N(0, 0.2): attention far from uniform. */
static void init_big(Model *m, uint64_t seed, float scale) { fill_test_weights(m, seed, 7, scale, 0.2f); }

static const int prompt_a[4] = {1, 5, 9, 3}, prompt_b[2] = {1, 7}, prompt_c[3] = {1, 2, 4};
static const int prompt_d[1] = {1};

/* The mixed batch of the header: 9 rows, T = 10. */
static void mixed_batch(SeqBatch *b) {
    static const int comp[12] = {2, 6, 10, 4, 8, 3, 5, 7, 9, 2, 4, 6}; /* offset + length <= 12 */
    batch_init(b, MAXB, MAXLEN);
    batch_add(b, prompt_a, 4, comp, 5);     /* n = 8: prefix 3 + own 5 */
    batch_add(b, prompt_b, 2, comp + 1, 3); /* n = 4: prefix 1 + own 3 */
    batch_add(b, prompt_a, 4, comp + 2, 2); /* n = 5: own 2 */
    batch_add(b, prompt_c, 3, comp, 4);     /* alone: one segment of 6 */
    batch_add(b, prompt_a, 4, comp + 1, 7); /* n = 10: own 7 */
    batch_add(b, prompt_d, 1, comp + 3, 3); /* a one-token prompt: nothing shared, n = 3 */
    batch_add(b, prompt_b, 2, comp + 4, 6); /* own 6 */
    batch_add(b, prompt_d, 1, comp + 2, 5); /* n = 5 */
    batch_add(b, prompt_a, 4, comp, 0);     /* an empty completion: prompt positions only */
    batch_layout(b);
}

static void test_layout(void **state) {
    (void)state;
    SeqBatch b;
    mixed_batch(&b);
    const PackedLayout *l = &b.layout;
    assert_int_equal(b.T, 10);
    /* prompt a: 3 + 5 + 2 + 7; b: 1 + 3 + 6; c: 6; d: 3, 5; the empty row adds nothing */
    assert_int_equal(l->n_rows, 17 + 10 + 6 + 8);
    printf("  mixed batch: %d packed positions for a %d x %d grid (%d real)\n", l->n_rows, b.B,
           b.T, 8 + 4 + 5 + 6 + 10 + 3 + 7 + 5 + 3);
    for (int r = 0; r < b.B; r++) {
        const int n = b.seq_len[r] - 1;
        for (int t = 0; t < b.T; t++) {
            const int p = l->row_of[r * b.T + t];
            if (t >= n) {
                assert_int_equal(p, -1);
                continue;
            }
            assert_true(p >= 0 && p < l->n_rows);
            assert_int_equal(l->tokens[p], b.tokens[r * b.T + t]);
            assert_int_equal(l->pos[p], t);
        }
    }
    /* the rows of prompt a share its first three positions, b its first */
    for (int t = 0; t < 3; t++) {
        assert_int_equal(l->row_of[0 * b.T + t], l->row_of[2 * b.T + t]);
        assert_int_equal(l->row_of[0 * b.T + t], l->row_of[4 * b.T + t]);
        assert_int_equal(l->row_of[0 * b.T + t], l->row_of[8 * b.T + t]);
    }
    assert_int_equal(l->row_of[1 * b.T], l->row_of[6 * b.T]);
    assert_int_not_equal(l->row_of[1 * b.T + 1], l->row_of[6 * b.T + 1]);
    assert_int_not_equal(l->row_of[0 * b.T + 3], l->row_of[2 * b.T + 3]);
    assert_int_not_equal(l->row_of[5 * b.T], l->row_of[7 * b.T]); /* one-token prompt */
    /* a prefix's continuations follow it as one run */
    PackedRun run;
    int runs = 0, with_prefix = 0;
    for (int s = 0; s < l->n_segs; runs++) {
        s = packed_layout_run(l, s, &run);
        if (run.np > 0) {
            with_prefix++;
            assert_int_equal(run.p0 + run.np, run.q0);
        }
    }
    assert_int_equal(with_prefix, 2);
    assert_int_equal(runs, 2 * 2 + 1 + 2); /* a, b: prefix + run; c; d's two rows */
    batch_free(&b);
}

/* Max |a - b| over the scored, real positions of b's grid; *pad_max gets
 * the largest |a| at positions the shared path leaves out. */
static double scored_diff(const SeqBatch *b, const float *a, const float *d, double *pad_max) {
    double worst = 0;
    *pad_max = 0;
    for (int r = 0; r < b->B; r++)
        for (int t = 0; t < b->T; t++) {
            const int i = r * b->T + t;
            const int scored = t >= b->first[r] && t < b->seq_len[r] - 1;
            if (scored && fabs((double)a[i] - d[i]) > worst) worst = fabs((double)a[i] - d[i]);
            if (!scored && fabs((double)a[i]) > *pad_max) *pad_max = fabs((double)a[i]);
        }
    return worst;
}

static void test_logp_matches_dense(void **state) {
    (void)state;
    const ModelConfig c = tiny_config();
    Model m;
    model_init(&m, &c);
    init_big(&m, 3, 0.3f);
    SeqBatch b;
    mixed_batch(&b);
    ForwardState *s = forward_state_new(&c, MAXB, MAXLEN);
    const int N = b.B * b.T;
    float lp_s[MAXB * MAXLEN], ent_s[MAXB * MAXLEN], lp_d[MAXB * MAXLEN], ent_d[MAXB * MAXLEN];
    const SampleDist dists[2] = {{0.8f, 0, 1.0f, LOGPROB_FULL}, {1.0f, 4, 1.0f, LOGPROB_TRUNCATED}};
    const char *names[2] = {"full T=0.8", "top-k 4"};
    for (int di = 0; di < 2; di++) {
        model_forward_batch(&m, s, &b, &dists[di], lp_s, ent_s);
        model_forward_from(&m, s, b.tokens, b.targets, b.first, b.B, b.T, &dists[di], lp_d, ent_d);
        double pad_lp, pad_ent;
        const double dl = scored_diff(&b, lp_s, lp_d, &pad_lp);
        const double de = scored_diff(&b, ent_s, ent_d, &pad_ent);
        double mean = 0;
        for (int i = 0; i < N; i++) mean += fabs(lp_d[i]) / N;
        printf("  shared vs dense (%s): max |logp diff| %.3g, max |entropy diff| %.3g "
               "(|logp| ~ %.2f)\n", names[di], dl, de, mean);
        assert_true(dl <= 1e-5);
        assert_true(de <= 1e-5);
        assert_true(pad_lp == 0 && pad_ent == 0);
        assert_true(mean > 0.5); /* a real distribution, not all ~0 */
    }
    forward_state_free(s);
    batch_free(&b);
    model_free(&m);
}

/* Weights at the scored positions in [-1, 1] (some negative, as GRPO's). */
static void scored_weights(const SeqBatch *b, float *w) {
    Rng r;
    rng_seed(&r, 99, 1);
    memset(w, 0, sizeof(float) * (size_t)b->B * b->T);
    for (int row = 0; row < b->B; row++)
        for (int t = b->first[row]; t < b->seq_len[row] - 1; t++)
            w[row * b->T + t] = 2.0f * rng_uniform(&r) - 1.0f;
}

static void test_gradient_matches_dense(void **state) {
    (void)state;
    const ModelConfig c = tiny_config();
    Model m;
    model_init(&m, &c);
    init_big(&m, 4, 0.3f);
    model_alloc_grads(&m);
    SeqBatch b;
    mixed_batch(&b);
    ForwardState *s = forward_state_new(&c, MAXB, MAXLEN);
    float lp[MAXB * MAXLEN], w[MAXB * MAXLEN];
    scored_weights(&b, w);
    const SampleDist full = {0.9f, 0, 1.0f, LOGPROB_FULL};
    model_forward_from(&m, s, b.tokens, b.targets, b.first, b.B, b.T, &full, lp, NULL);
    model_backward(&m, s, w);
    float *dense = xmalloc(sizeof(float) * m.n_params);
    memcpy(dense, m.grads, sizeof(float) * m.n_params);
    model_zero_grads(&m);
    model_forward_batch(&m, s, &b, &full, lp, NULL);
    model_backward(&m, s, w);
    size_t sizes[MODEL_NUM_TENSORS], off = 0;
    model_tensor_sizes(&c, sizes);
    for (int ti = 0; ti < MODEL_NUM_TENSORS; ti++) {
        double dd = 0, nn = 0, worst = 0;
        for (size_t j = off; j < off + sizes[ti]; j++) {
            const double e = (double)m.grads[j] - dense[j];
            dd += e * e;
            nn += (double)dense[j] * dense[j];
            if (fabs(e) > worst) worst = fabs(e);
        }
        const double rel = sqrt(dd / (nn + 1e-30));
        printf("  %-9s shared vs dense gradient: max abs %.3g, 2-norm relative %.3g\n",
               model_tensor_name(ti), worst, rel);
        assert_true(rel <= 1e-5);
        assert_true(nn > 0);
        off += sizes[ti];
    }
    xfree(dense);
    forward_state_free(s);
    batch_free(&b);
    model_free(&m);
}

/* -sum w * logp through the shared path, in double. */
static double shared_loss(const Model *m, ForwardState *s, const SeqBatch *b, const float *w,
                          const SampleDist *d) {
    float lp[MAXB * MAXLEN];
    model_forward_batch(m, s, b, d, lp, NULL);
    double L = 0;
    for (int i = 0; i < b->B * b->T; i++) L -= (double)w[i] * lp[i];
    return L;
}

/* Central differences over every parameter (a few thousand: the model is
 * tiny), per element |g - fd| <= 2e-3 + 1e-2 |fd| and cosine >= 0.99999
 * per tensor, as tests/test_model.c's check. */
static void test_gradcheck_shared(void **state) {
    (void)state;
    const ModelConfig c = tiny_config();
    Model m;
    model_init(&m, &c);
    init_big(&m, 5, 0.3f);
    model_alloc_grads(&m);
    SeqBatch b;
    mixed_batch(&b);
    ForwardState *s = forward_state_new(&c, MAXB, MAXLEN);
    float w[MAXB * MAXLEN], lp[MAXB * MAXLEN];
    scored_weights(&b, w);
    const SampleDist d = {1.0f, 0, 1.0f, LOGPROB_FULL};
    model_forward_batch(&m, s, &b, &d, lp, NULL);
    model_backward(&m, s, w);
    size_t sizes[MODEL_NUM_TENSORS], off = 0;
    model_tensor_sizes(&c, sizes);
    int failures = 0;
    const float eps = 3e-3f;
    for (int ti = 0; ti < MODEL_NUM_TENSORS; ti++) {
        double dot = 0, ng = 0, nf = 0, worst = 0;
        for (size_t j = off; j < off + sizes[ti]; j++) {
            float *p = m.params + j, orig = *p;
            *p = orig + eps;
            const float hi = *p;
            const double Lp = shared_loss(&m, s, &b, w, &d);
            *p = orig - eps;
            const float lo = *p;
            const double Lm = shared_loss(&m, s, &b, w, &d);
            *p = orig;
            const double fd = (Lp - Lm) / ((double)hi - lo), g = m.grads[j];
            dot += g * fd;
            ng += g * g;
            nf += fd * fd;
            const double excess = fabs(g - fd) / (2e-3 + 1e-2 * fabs(fd));
            if (excess > worst) worst = excess;
        }
        const double cosine = dot / (sqrt(ng * nf) + 1e-30);
        const int ok = worst <= 1.0 && cosine >= 0.99999;
        printf("  shared %-9s n=%-4zu 1-cos %.1e  worst |g-fd|/tol %.3f%s\n",
               model_tensor_name(ti), sizes[ti], 1.0 - cosine, worst, ok ? "" : "  FAIL");
        failures += !ok;
        off += sizes[ti];
    }
    assert_int_equal(failures, 0);
    forward_state_free(s);
    batch_free(&b);
    model_free(&m);
}

/* Rows of equal length with distinct prompts: one segment per row, the
 * dense layout's segments and shapes, so the same bits. */
static void test_distinct_rows_bit_identical(void **state) {
    (void)state;
    const ModelConfig c = tiny_config();
    Model m;
    model_init(&m, &c);
    init_big(&m, 6, 0.3f);
    SeqBatch b;
    batch_init(&b, MAXB, MAXLEN);
    static const int comp[5] = {3, 8, 2, 6, 9};
    batch_add(&b, prompt_a, 4, comp, 3);
    batch_add(&b, prompt_c, 3, comp, 4);
    batch_add(&b, prompt_b, 2, comp, 5);
    batch_layout(&b);
    assert_int_equal(b.layout.n_rows, b.B * b.T);
    ForwardState *s = forward_state_new(&c, MAXB, MAXLEN);
    float a[MAXB * MAXLEN], d[MAXB * MAXLEN];
    const SampleDist full = {1.0f, 0, 1.0f, LOGPROB_FULL};
    model_forward_batch(&m, s, &b, &full, a, NULL);
    model_forward_from(&m, s, b.tokens, b.targets, b.first, b.B, b.T, &full, d, NULL);
    assert_memory_equal(a, d, sizeof(float) * (size_t)b.B * b.T);
    forward_state_free(s);
    batch_free(&b);
    model_free(&m);
}

/* Rows with nothing to compute (one-token prompts, empty completions): no
 * packed row at all, log-probs 0, and a backward that adds nothing. */
static void test_nothing_to_compute(void **state) {
    (void)state;
    const ModelConfig c = tiny_config();
    Model m;
    model_init(&m, &c);
    init_big(&m, 7, 0.3f);
    model_alloc_grads(&m);
    SeqBatch b;
    batch_init(&b, MAXB, MAXLEN);
    batch_add(&b, prompt_d, 1, NULL, 0);
    batch_add(&b, prompt_d, 1, NULL, 0);
    batch_layout(&b);
    assert_int_equal(b.layout.n_rows, 0);
    ForwardState *s = forward_state_new(&c, MAXB, MAXLEN);
    float lp[MAXB * MAXLEN], ent[MAXB * MAXLEN];
    const SampleDist full = {1.0f, 0, 1.0f, LOGPROB_FULL};
    model_forward_batch(&m, s, &b, &full, lp, ent);
    for (int i = 0; i < b.B * b.T; i++) assert_true(lp[i] == 0.0f && ent[i] == 0.0f);
    model_backward(&m, s, b.weights);
    for (size_t i = 0; i < m.n_params; i++) assert_true(m.grads[i] == 0.0f);
    forward_state_free(s);
    batch_free(&b);
    model_free(&m);
}

/* max |a - b| / max |b| over n */
static double rel_max(const float *a, const float *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / (m + 1e-30);
}

/* Causal grouped-query attention over the first n[b] rows of each of B
 * sequences of T rows (q (B*T, NH*HD), k, v (B*T, NKV*HD)), by its
 * definition in double: out = softmax(scale q k^T, causal) v, and from
 * dout its backward dq, dk, dv. Rows past n[b] are left 0. */
static void attention_reference(float *out, float *dq, float *dk, float *dv, const float *q,
                                const float *k, const float *v, const float *dout, const int *n,
                                int B, int T, int NH, int NKV, int HD) {
    const int D = NH * HD, KVD = NKV * HD, group = NH / NKV;
    const double scale = 1.0 / sqrt((double)HD);
    double *p = xmalloc(sizeof(double) * T), *dp = xmalloc(sizeof(double) * T);
    double *gk = xcalloc((size_t)B * T * KVD, sizeof(double));
    double *gv = xcalloc((size_t)B * T * KVD, sizeof(double));
    memset(out, 0, sizeof(float) * (size_t)B * T * D);
    memset(dq, 0, sizeof(float) * (size_t)B * T * D);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < n[b]; t++) {
                const size_t qo = ((size_t)b * T + t) * D + h * HD;
                const size_t kv0 = (size_t)b * T * KVD + (h / group) * HD;
                double mx = -INFINITY, sum = 0, pdp = 0;
                for (int j = 0; j <= t; j++) {
                    double d = 0;
                    for (int c = 0; c < HD; c++) d += (double)q[qo + c] * k[kv0 + j * KVD + c];
                    p[j] = scale * d;
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j <= t; j++) sum += p[j] = exp(p[j] - mx);
                for (int j = 0; j <= t; j++) {
                    p[j] /= sum;
                    dp[j] = 0;
                    for (int c = 0; c < HD; c++) {
                        dp[j] += (double)dout[qo + c] * v[kv0 + j * KVD + c];
                        gv[kv0 + j * KVD + c] += p[j] * dout[qo + c];
                    }
                    pdp += p[j] * dp[j];
                }
                for (int c = 0; c < HD; c++) {
                    double o = 0, g = 0;
                    for (int j = 0; j <= t; j++) {
                        const double ds = p[j] * (dp[j] - pdp);
                        o += p[j] * v[kv0 + j * KVD + c];
                        g += scale * ds * k[kv0 + j * KVD + c];
                        gk[kv0 + j * KVD + c] += scale * ds * q[qo + c];
                    }
                    out[qo + c] = (float)o;
                    dq[qo + c] = (float)g;
                }
            }
    for (size_t i = 0; i < (size_t)B * T * KVD; i++) {
        dk[i] = (float)gk[i];
        dv[i] = (float)gv[i];
    }
    xfree(p);
    xfree(dp);
    xfree(gk);
    xfree(gv);
}

/* The packed attention on layout rows (n: real rows per sequence, NULL:
 * all T) against attention_reference, the packed results scattered back
 * to the grid; returns the worst rel_max of out, dq, dk, dv. */
static double packed_vs_reference(const int *n, int B, int T, int NH, int NKV, int HD,
                                  PackedLayout *l_out) {
    const int D = NH * HD, KVD = NKV * HD;
    const size_t ND = (size_t)B * T * D, NK = (size_t)B * T * KVD;
    float *q = xmalloc(sizeof(float) * ND), *k = xmalloc(sizeof(float) * NK);
    float *v = xmalloc(sizeof(float) * NK), *dout = xmalloc(sizeof(float) * ND);
    Rng r;
    rng_seed(&r, 11, 2);
    for (size_t i = 0; i < ND; i++) q[i] = 1.5f * rng_normal(&r);
    for (size_t i = 0; i < NK; i++) k[i] = 1.5f * rng_normal(&r);
    for (size_t i = 0; i < NK; i++) v[i] = rng_normal(&r);
    for (size_t i = 0; i < ND; i++) dout[i] = rng_normal(&r);
    int *tok = xcalloc((size_t)B * T, sizeof(int)), *len = xmalloc(sizeof(int) * B);
    for (int b = 0; b < B; b++) len[b] = n ? n[b] : T;
    PackedLayout *l = l_out;
    packed_layout_rows(l, tok, n, B, T);
    assert_true(attention_dscore_floats(l) <= (long)B * T * T);
    /* the packed rows' inputs: grid row g is packed row row_of[g] */
    const int R = l->n_rows;
    float *pq = xmalloc(sizeof(float) * R * D), *pk = xmalloc(sizeof(float) * R * KVD);
    float *pv = xmalloc(sizeof(float) * R * KVD), *pdo = xmalloc(sizeof(float) * R * D);
    for (int g = 0; g < B * T; g++) {
        const int i = l->row_of[g];
        if (i < 0) continue;
        memcpy(pq + (size_t)i * D, q + (size_t)g * D, sizeof(float) * D);
        memcpy(pdo + (size_t)i * D, dout + (size_t)g * D, sizeof(float) * D);
        memcpy(pk + (size_t)i * KVD, k + (size_t)g * KVD, sizeof(float) * KVD);
        memcpy(pv + (size_t)i * KVD, v + (size_t)g * KVD, sizeof(float) * KVD);
    }
    float *att = xmalloc(sizeof(float) * NH * packed_layout_att_floats(l));
    float *dscore = xmalloc(sizeof(float) * attention_dscore_floats(l));
    float *po = xmalloc(sizeof(float) * R * D), *pdq = xmalloc(sizeof(float) * R * D);
    float *pdk = xmalloc(sizeof(float) * R * KVD), *pdv = xmalloc(sizeof(float) * R * KVD);
    attention_forward_packed(po, att, pq, pk, pv, l, NH, NKV, HD);
    attention_backward_packed(pdq, pdk, pdv, dscore, pdo, att, pq, pk, pv, l, NH, NKV, HD);
    float *out[2], *dq[2], *dk[2], *dv[2];
    for (int w = 0; w < 2; w++) {
        out[w] = xcalloc(ND, sizeof(float));
        dq[w] = xcalloc(ND, sizeof(float));
        dk[w] = xcalloc(NK, sizeof(float));
        dv[w] = xcalloc(NK, sizeof(float));
    }
    attention_reference(out[0], dq[0], dk[0], dv[0], q, k, v, dout, len, B, T, NH, NKV, HD);
    for (int g = 0; g < B * T; g++) {
        const int i = l->row_of[g];
        if (i < 0) continue;
        memcpy(out[1] + (size_t)g * D, po + (size_t)i * D, sizeof(float) * D);
        memcpy(dq[1] + (size_t)g * D, pdq + (size_t)i * D, sizeof(float) * D);
        memcpy(dk[1] + (size_t)g * KVD, pdk + (size_t)i * KVD, sizeof(float) * KVD);
        memcpy(dv[1] + (size_t)g * KVD, pdv + (size_t)i * KVD, sizeof(float) * KVD);
    }
    const double eo = rel_max(out[1], out[0], ND), eq = rel_max(dq[1], dq[0], ND);
    const double ek = rel_max(dk[1], dk[0], NK), ev = rel_max(dv[1], dv[0], NK);
    printf("  packed (tiled) vs reference attention, %s, T = %d: out %.2g, dq %.2g, dk %.2g, "
           "dv %.2g (max abs / max)\n", n ? "rows of mixed length" : "full rows", T, eo, eq, ek,
           ev);
    void *bufs[] = {q, k, v, dout, tok, len, pq, pk, pv, pdo, att, dscore, po, pdq, pdk, pdv,
                    out[0], out[1], dq[0], dq[1], dk[0], dk[1], dv[0], dv[1]};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) xfree(bufs[i]);
    return fmax(fmax(eo, eq), fmax(ek, ev));
}

static void test_attention_tiles_vs_reference(void **state) {
    (void)state;
    enum { B = 2, T = 100, NH = 4, NKV = 2, HD = 8 };
    PackedLayout l;
    packed_layout_init(&l, 3, T);
    assert_true(packed_vs_reference(NULL, B, T, NH, NKV, HD, &l) < 1e-5);
    const double dense = 4.0 * B * T * T * HD * NH;
    printf("  its forward FLOPs: %.3g, a full T x T per head %.3g\n",
           attention_packed_flops(&l, NH, HD), dense);
    assert_true(attention_packed_flops(&l, NH, HD) < 0.7 * dense);
    /* padded rows (one of them empty): the padding is in no segment */
    const int n[3] = {37, 0, 100};
    assert_true(packed_vs_reference(n, 3, T, NH, NKV, HD, &l) < 1e-5);
    assert_int_equal(l.n_rows, 137);
    assert_int_equal(l.n_segs, 2);
    packed_layout_free(&l);
}

int main(void) {
    blas_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_logp_matches_dense),
        cmocka_unit_test(test_gradient_matches_dense),
        cmocka_unit_test(test_gradcheck_shared),
        cmocka_unit_test(test_distinct_rows_bit_identical),
        cmocka_unit_test(test_nothing_to_compute),
        cmocka_unit_test(test_attention_tiles_vs_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
