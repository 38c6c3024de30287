/* test_model.c: the transformer against independent references.
 *   - every gradient tensor vs central finite differences (GQA, padding,
 *     non-uniform and negative weights, temperature != 1, tied and untied),
 *     from target log-prob weights and from a full logit gradient;
 *   - the head on needed positions only (model_forward_from): log-probs,
 *     entropy and every gradient against the full path, finite
 *     differences with first > 0, and the edges first = 0 and first = T;
 *   - KV-cache decoding (prefill in chunks, slot copies, lockstep steps over
 *     a subset of slots) vs the training forward's log-probs;
 *   - bit-identical gradients across repeated runs;
 *   - entropy vs -sum p log p from V separate log-prob evaluations;
 *   - causality: padding never changes the log-probs of real tokens;
 *   - the sgemm matmul vs its naive loop;
 *   - the scalar head (MODEL_HEAD_SCALAR): every gradient tensor vs finite
 *     differences of sum_t c_t value_t (padding rows with c = 0), values
 *     against the LM's logits on the same trunk (model_swap_head), the
 *     config checks, and the loud refusals of the wrong head's paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model.h"
#include "model_kernels.h"
#include "rng.h"
#include "blas_setup.h"
#include "kernel_dispatch.h"
#include "test_model_weights.h"
#include "util.h"

static ModelConfig tiny_config(int tied) {
    ModelConfig c = {.vocab_size = 11, .dim = 16, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                     .hidden_dim = 24, .max_seq_len = 8, .tied_embeddings = tied,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    return c;
}

/* Weights large enough that every path matters: matrices N(0, scale),
 * gains 1 + N(0, 0.2). */
static void init_big(Model *m, uint64_t seed, float scale) { fill_test_weights(m, seed, 7, scale, 0.2f); }

/* ---- gradient check ------------------------------------------------------- */

enum { GB = 2, GT = 7 };

/* L = -sum w * logp, or with coef (GB*GT, V) != NULL the loss the logit
 * backward is checked on: L = sum coef * logits, whose gradient with
 * respect to the logits is coef (a loss linear in the logits is enough:
 * the backward below the head is linear in its input gradient). */
static double weighted_loss(const Model *m, ForwardState *s, const int *tok, const int *tgt,
                            const float *w, const SampleDist *dist, const float *coef,
                            const int *first) {
    float logp[GB * GT];
    model_forward_from(m, s, tok, tgt, first, GB, GT, dist, logp, NULL);
    double L = 0;
    if (coef) { /* the head's rows: every position, or those from first */
        const int V = m->cfg.vocab_size;
        int rows;
        const int *pos;
        const float *logits = forward_state_logits(s, &rows, &pos);
        if (!first) assert_int_equal(rows, GB * GT);
        for (int i = 0; i < rows; i++)
            for (int v = 0; v < V; v++)
                L += (double)coef[(size_t)pos[i] * V + v] * logits[(size_t)i * V + v];
        return L;
    }
    for (int i = 0; i < GB * GT; i++) L -= (double)w[i] * logp[i];
    return L;
}

/* Per element: |g - fd| <= ATOL + RTOL * |fd|, over EVERY element (the
 * tensors are tiny). Per tensor: cosine(g, fd) >= COS_MIN. FD noise: the
 * float32 loss (~10) carries ~1e-6 rounding, so with eps = 1e-2 the FD
 * itself is good to ~1e-4 absolute. */
#define FD_EPS 3e-3f
#define ATOL 2e-3
#define RTOL 1e-2
#define COS_MIN 0.99999

/* Compares m->grads (already accumulated for loss) with central finite
 * differences of loss(ctx) over every element of every tensor; prints one
 * line per tensor and returns the number of tensors that fail. */
static int check_all_tensors(Model *m, double (*loss)(void *ctx), void *ctx, const char *label) {
    size_t sizes[MODEL_NUM_TENSORS];
    model_tensor_sizes(&m->cfg, sizes);
    size_t off = 0;
    int failures = 0;
    for (int ti = 0; ti < MODEL_NUM_TENSORS; ti++) {
        if (sizes[ti] == 0) continue;
        double dot = 0, ng = 0, nf = 0, worst = 0;
        size_t worst_j = 0;
        float worst_g = 0, worst_fd = 0;
        for (size_t j = 0; j < sizes[ti]; j++) {
            float *p = m->params + off + j, orig = *p;
            *p = orig + FD_EPS;
            float hi = *p;
            double Lp = loss(ctx);
            *p = orig - FD_EPS;
            float lo = *p;
            double Lm = loss(ctx);
            *p = orig;
            double fd = (Lp - Lm) / ((double)hi - lo);
            double g = m->grads[off + j];
            dot += g * fd;
            ng += g * g;
            nf += fd * fd;
            double excess = fabs(g - fd) / (ATOL + RTOL * fabs(fd));
            if (excess > worst) {
                worst = excess;
                worst_j = j;
                worst_g = (float)g;
                worst_fd = (float)fd;
            }
        }
        double cosine = dot / (sqrt(ng * nf) + 1e-30);
        int ok = worst <= 1.0 && cosine >= COS_MIN;
        printf("  %-6s %-9s n=%-4zu 1-cos %.1e  worst |g-fd|/tol %.3f "
               "(elem %zu: g %.6g fd %.6g)%s\n",
               label, model_tensor_name(ti), sizes[ti], 1.0 - cosine, worst, worst_j, worst_g,
               worst_fd, ok ? "" : "  FAIL");
        failures += !ok;
        off += sizes[ti];
    }
    return failures;
}

/* row 0 full; row 1 has 4 real targets, then padding (token 0, weight 0) */
static const int grad_tok[GB * GT] = {1, 5, 9, 3, 3, 7, 2, 4, 10, 6, 8, 0, 0, 0};

typedef struct {
    const Model *m;
    ForwardState *s;
    const int *tok, *tgt;
    const float *w, *coef;
    const SampleDist *dist;
    const int *first; /* (GB) or NULL: model_forward_from's */
} LmLoss;

static double lm_loss(void *ctx) {
    const LmLoss *a = ctx;
    return weighted_loss(a->m, a->s, a->tok, a->tgt, a->w, a->dist, a->coef, a->first);
}

/* The weights of gradcheck, nonzero before any first: with first set the
 * loss is over positions >= first only (logp 0 before), and backward must
 * ignore the weights there for the finite differences to agree. */
static void gradcheck_from(int tied, const SampleDist *dist, const float *coef, const int *first) {
    ModelConfig c = tiny_config(tied);
    Model m;
    model_init(&m, &c);
    init_big(&m, 42 + tied, 0.3f);
    model_alloc_grads(&m);
    ForwardState *s = forward_state_new(&c, GB, GT);
    const int *tok = grad_tok;
    int tgt[GB * GT] = {5, 9, 3, 3, 7, 2, 10, 10, 6, 8, 1, 0, 0, 0};
    float w[GB * GT] = {0.5f, 1.0f, -0.7f, 0.3f, 1.5f, -0.2f, 0.9f,
                        -1.1f, 0.4f, 0.8f, 0.6f, 0.0f, 0.0f, 0.0f};
    model_zero_grads(&m);
    weighted_loss(&m, s, tok, tgt, w, dist, coef, first);
    if (coef) { /* the (B, T, V) coefficients at the head's rows */
        const size_t V = c.vocab_size;
        int rows;
        const int *pos;
        forward_state_logits(s, &rows, &pos);
        float *d = xmalloc(sizeof(float) * rows * V);
        for (int i = 0; i < rows; i++) memcpy(d + i * V, coef + pos[i] * V, sizeof(float) * V);
        model_backward_logits(&m, s, d);
        xfree(d);
    } else {
        model_backward(&m, s, w);
    }
    LmLoss a = {&m, s, tok, tgt, w, coef, dist, first};
    int failures = check_all_tensors(&m, lm_loss, &a, tied ? "tied" : "untie");
    forward_state_free(s);
    model_free(&m);
    assert_int_equal(failures, 0);
}

static void gradcheck(int tied, const SampleDist *dist, const float *coef) {
    gradcheck_from(tied, dist, coef, NULL);
}

static const SampleDist full_07 = {0.7f, 0, 1.0f, LOGPROB_FULL};
static void test_gradcheck_untied(void **st) { gradcheck(0, &full_07, NULL); }
static void test_gradcheck_tied(void **st) { gradcheck(1, &full_07, NULL); }
/* model_backward_logits from a full (B, T, V) logit gradient (what
 * distillation hands it): random coefficients on real rows, zero on row
 * 1's padding, tied and untied. */
static void test_gradcheck_logits(void **st) {
    ModelConfig c = tiny_config(0);
    size_t n = (size_t)GB * GT * c.vocab_size;
    float *coef = xmalloc(sizeof(float) * n);
    Rng r;
    rng_seed(&r, 5, 9);
    for (size_t i = 0; i < n; i++) coef[i] = rng_normal(&r);
    for (size_t i = (size_t)(GT + 4) * c.vocab_size; i < n; i++) coef[i] = 0.0f;
    gradcheck(0, &full_07, coef);
    gradcheck(1, &full_07, coef);
    /* after a forward that skipped positions: the logits of the head's rows */
    static const int from[GB] = {3, 2};
    gradcheck_from(0, &full_07, coef, from);
    gradcheck_from(1, &full_07, coef, from);
    xfree(coef);
}
/* Log-probs of the top-k / top-p truncated distribution (sampler.logprob =
 * truncated): the gradient (p_trunc - onehot on the kept set, the set held
 * fixed) against finite differences. With top_k = 3 of 11 most targets
 * fall outside the rule's kept set, so the "target always kept" path is
 * checked as much as the plain one. */
static void test_gradcheck_truncated(void **st) {
    const SampleDist k3 = {0.7f, 3, 1.0f, LOGPROB_TRUNCATED};
    const SampleDist k6p = {1.3f, 6, 0.8f, LOGPROB_TRUNCATED};
    gradcheck(0, &k3, NULL);
    gradcheck(1, &k6p, NULL);
}

/* ---- the head on needed positions only (model_forward_from) -------------- */

/* Row 0 scored from t = 3, row 1 from t = 2 (its padding, t >= 4, is
 * scored and has weight 0, as in the learner). */
static const int skip_first[GB] = {3, 2};

/* Finite differences of the loss over positions >= first: every tensor,
 * tied and untied, the full and a truncated distribution. */
static void test_gradcheck_skip(void **st) {
    const SampleDist k3 = {0.7f, 3, 1.0f, LOGPROB_TRUNCATED};
    gradcheck_from(0, &full_07, NULL, skip_first);
    gradcheck_from(1, &full_07, NULL, skip_first);
    gradcheck_from(0, &k3, NULL, skip_first);
}

/* Bounds of the skipping path against the full one: logp and entropy per
 * needed position within SKIP_LOGP_TOL (absolute, on values of order 1-3)
 * and every tensor's gradient within SKIP_GRAD_RTOL relative (2-norm of
 * the difference over the 2-norm). Only sgemm rounding differs: a weight
 * gradient sums over the head's rows, and fewer rows block differently. */
#define SKIP_LOGP_TOL 1e-6
#define SKIP_GRAD_RTOL 1e-6

static void skip_matches_full(int tied, const SampleDist *dist, int B, int T, int V, int D,
                              uint64_t seed) {
    ModelConfig c = tiny_config(tied);
    c.max_seq_len = T;
    if (V) c.vocab_size = V;
    if (D) c.dim = D, c.hidden_dim = 3 * D;
    Model m;
    model_init(&m, &c);
    init_big(&m, seed, D ? 0.1f : 0.3f);
    model_alloc_grads(&m);
    const int N = B * T;
    int *tok = xmalloc(sizeof(int) * N), *tgt = xmalloc(sizeof(int) * N);
    int *first = xmalloc(sizeof(int) * B);
    float *w = xmalloc(sizeof(float) * N), *lp_full = xmalloc(sizeof(float) * N);
    float *lp = xmalloc(sizeof(float) * N), *ent_full = xmalloc(sizeof(float) * N);
    float *ent = xmalloc(sizeof(float) * N), *g_full = xmalloc(sizeof(float) * m.n_params);
    Rng r;
    rng_seed(&r, seed, 3);
    for (int b = 0; b < B; b++) first[b] = b == 0 ? T : (int)rng_below(&r, T); /* row 0: none */
    for (int i = 0; i < N; i++) {
        tok[i] = (int)rng_below(&r, c.vocab_size);
        tgt[i] = (int)rng_below(&r, c.vocab_size);
        w[i] = i % T >= first[i / T] ? rng_uniform(&r) - 0.5f : 0.0f; /* the full path's loss */
    }
    ForwardState *s = forward_state_new(&c, B, T);
    model_zero_grads(&m);
    model_forward_dist(&m, s, tok, tgt, B, T, dist, lp_full, ent_full);
    model_backward(&m, s, w);
    memcpy(g_full, m.grads, sizeof(float) * m.n_params);
    model_zero_grads(&m);
    model_forward_from(&m, s, tok, tgt, first, B, T, dist, lp, ent);
    model_backward(&m, s, w);

    double dlp = 0, dent = 0;
    for (int i = 0; i < N; i++) {
        if (i % T < first[i / T]) {
            assert_true(lp[i] == 0.0f && ent[i] == 0.0f);
            continue;
        }
        dlp = fmax(dlp, fabs((double)lp[i] - lp_full[i]));
        dent = fmax(dent, fabs((double)ent[i] - ent_full[i]));
    }
    size_t sizes[MODEL_NUM_TENSORS], off = 0;
    model_tensor_sizes(&c, sizes);
    double worst_rel = 0, worst_elem = 0; /* over tensors: |dg| / |g| (2-norms), max elem */
    for (int ti = 0; ti < MODEL_NUM_TENSORS; off += sizes[ti], ti++) {
        double scale = 0, diff = 0, n2 = 0, d2 = 0;
        for (size_t j = 0; j < sizes[ti]; j++) {
            double d = (double)m.grads[off + j] - g_full[off + j];
            scale = fmax(scale, fabs(g_full[off + j]));
            diff = fmax(diff, fabs(d));
            n2 += (double)g_full[off + j] * g_full[off + j];
            d2 += d * d;
        }
        if (!sizes[ti]) continue;
        worst_rel = fmax(worst_rel, sqrt(d2 / (n2 + 1e-300)));
        worst_elem = fmax(worst_elem, diff / (scale + 1e-30));
    }
    printf("  skip vs full (%s, %s, B %d T %d V %d D %d): max |dlogp| %.2e, "
           "max |dentropy| %.2e; worst tensor |dg| / |g| %.2e, max |dg| / max |g| %.2e\n",
           tied ? "tied" : "untied", dist->logprob == LOGPROB_FULL ? "full" : "truncated", B, T,
           c.vocab_size, c.dim, dlp, dent, worst_rel, worst_elem);
    assert_true(dlp <= SKIP_LOGP_TOL && dent <= SKIP_LOGP_TOL);
    assert_true(worst_rel <= SKIP_GRAD_RTOL);
    forward_state_free(s);
    model_free(&m);
    void *bufs[] = {tok, tgt, first, w, lp_full, lp, ent_full, ent, g_full};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) xfree(bufs[i]);
}

static void test_skip_matches_full(void **st) {
    const SampleDist k3 = {0.7f, 3, 1.0f, LOGPROB_TRUNCATED};
    skip_matches_full(0, &full_07, 6, 40, 0, 0, 11);
    skip_matches_full(1, &full_07, 6, 40, 0, 0, 12);
    skip_matches_full(0, &k3, 6, 40, 0, 0, 13);
    skip_matches_full(1, &full_07, 3, 8, 0, 0, 14);
    /* sgemm-sized: many row blocks, a vocabulary wider than one panel */
    skip_matches_full(0, &full_07, 8, 64, 1000, 64, 15);
}

/* first all 0 is the full path, bit for bit; first = T everywhere scores
 * nothing and backward gives the zero gradient. */
static void test_skip_edges(void **st) {
    ModelConfig c = tiny_config(0);
    Model m;
    model_init(&m, &c);
    init_big(&m, 21, 0.3f);
    model_alloc_grads(&m);
    ForwardState *s = forward_state_new(&c, GB, GT);
    float a[GB * GT], b[GB * GT], w[GB * GT];
    for (int i = 0; i < GB * GT; i++) w[i] = 0.1f * (float)(i % 5) - 0.2f;
    const int zero[GB] = {0, 0}, end[GB] = {GT, GT};
    model_forward_dist(&m, s, grad_tok, grad_tok, GB, GT, &full_07, a, NULL);
    model_forward_from(&m, s, grad_tok, grad_tok, zero, GB, GT, &full_07, b, NULL);
    assert_memory_equal(a, b, sizeof a);
    model_zero_grads(&m);
    model_forward_from(&m, s, grad_tok, grad_tok, end, GB, GT, &full_07, b, NULL);
    for (int i = 0; i < GB * GT; i++) assert_true(b[i] == 0.0f);
    model_backward(&m, s, w);
    for (size_t i = 0; i < m.n_params; i++) assert_true(m.grads[i] == 0.0f);
    forward_state_free(s);
    model_free(&m);
}

/* ---- scalar head ------------------------------------------------------------ */

static ModelConfig scalar_config(void) {
    ModelConfig c = tiny_config(0);
    c.head = MODEL_HEAD_SCALAR;
    return c;
}

typedef struct {
    const Model *m;
    ForwardState *s;
    const float *coef; /* (GB, GT) */
    const int *n;      /* (GB) real positions per row, or NULL: all GT */
} ValueLoss;

/* L = sum_t coef_t * value_t */
static double value_loss(void *ctx) {
    const ValueLoss *a = ctx;
    float v[GB * GT];
    model_forward_values(a->m, a->s, grad_tok, a->n, GB, GT, v);
    double L = 0;
    for (int i = 0; i < GB * GT; i++) L += (double)a->coef[i] * v[i];
    return L;
}

/* Every tensor of a scalar model, the head's w and b included, against
 * finite differences; row 1's padding (positions 4..6) has c = 0, and is
 * computed (n NULL) or left out (n = {7, 4}). */
static void gradcheck_values(const int *n) {
    ModelConfig c = scalar_config();
    Model m;
    model_init(&m, &c);
    init_big(&m, 77, 0.3f);
    model_alloc_grads(&m);
    ForwardState *s = forward_state_new(&c, GB, GT);
    float coef[GB * GT];
    Rng r;
    rng_seed(&r, 11, 3);
    for (int i = 0; i < GB * GT; i++) coef[i] = i >= GT + 4 ? 0.0f : rng_normal(&r);
    ValueLoss a = {&m, s, coef, n};
    model_zero_grads(&m);
    value_loss(&a);
    model_backward_values(&m, s, coef);
    /* the bias's gradient is exactly sum c: a check that needs no FD */
    double csum = 0;
    for (int i = 0; i < GB * GT; i++) csum += coef[i];
    assert_float_equal(m.g.wcls[c.dim], csum, 1e-5);
    int failures = check_all_tensors(&m, value_loss, &a, n ? "scalar, padding skipped" : "scalar");
    forward_state_free(s);
    model_free(&m);
    assert_int_equal(failures, 0);
}

static const int value_rows[GB] = {GT, 4};
static void test_gradcheck_values(void **st) {
    gradcheck_values(NULL);
    gradcheck_values(value_rows);
}

/* The value model with each row's length (padding computed nowhere)
 * against the full grid (every position computed, the old dense forward):
 * values at real positions and every gradient tensor, max abs difference
 * printed; the values at padding are 0. Rows of mixed length, one past a
 * 32-row attention tile. */
static void test_values_skip_padding(void **st) {
    enum { B = 3, T = 40 };
    ModelConfig c = scalar_config();
    c.max_seq_len = T;
    Model m;
    model_init(&m, &c);
    init_big(&m, 78, 0.3f);
    model_alloc_grads(&m);
    const int n[B] = {40, 9, 33};
    int tok[B * T];
    float coef[B * T], v_full[B * T], v_rows[B * T];
    Rng r;
    rng_seed(&r, 12, 3);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            tok[b * T + t] = t < n[b] ? 1 + (int)(rng_uniform(&r) * (c.vocab_size - 1)) : 0;
            coef[b * T + t] = t < n[b] ? rng_normal(&r) : 0.0f;
        }
    float *g_full = xmalloc(sizeof(float) * m.n_params);
    ForwardState *s = forward_state_new(&c, B, T);
    model_zero_grads(&m);
    model_forward_values(&m, s, tok, NULL, B, T, v_full);
    model_backward_values(&m, s, coef);
    memcpy(g_full, m.grads, sizeof(float) * m.n_params);
    model_zero_grads(&m);
    model_forward_values(&m, s, tok, n, B, T, v_rows);
    model_backward_values(&m, s, coef);
    double dv = 0, dg = 0, gmax = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            if (t >= n[b]) {
                assert_true(v_rows[b * T + t] == 0.0f);
                continue;
            }
            dv = fmax(dv, fabs((double)v_rows[b * T + t] - v_full[b * T + t]));
        }
    for (size_t i = 0; i < m.n_params; i++) {
        dg = fmax(dg, fabs((double)m.grads[i] - g_full[i]));
        gmax = fmax(gmax, fabs((double)g_full[i]));
    }
    printf("  values, padding skipped vs computed (rows of 40, 9, 33 of T = 40): max |dv| = %.3g, "
           "max |dgrad| = %.3g (max |grad| %.3g)\n", dv, dg, gmax);
    assert_true(dv <= 1e-5);
    assert_true(dg <= 1e-5 * gmax);
    forward_state_free(s);
    xfree(g_full);
    model_free(&m);
}

/* One trunk under both heads: a scalar head whose w is row k of an
 * untied LM's wcls and whose b is 0.25 outputs logits[., k] + 0.25 on the
 * same tokens. model_swap_head copies the trunk bit for bit and starts a
 * scalar head at 0; swapping back gives an LM head of (V, D). */
static void test_values_match_lm_trunk(void **st) {
    ModelConfig c = tiny_config(0);
    Model lm, sc, back;
    model_init(&lm, &c);
    init_big(&lm, 5, 0.3f);
    model_swap_head(&sc, &lm, MODEL_HEAD_SCALAR);
    assert_int_equal(sc.cfg.head, MODEL_HEAD_SCALAR);
    size_t trunk = (size_t)(lm.w.wcls - lm.params);
    assert_int_equal(sc.n_params, trunk + c.dim + 1);
    assert_memory_equal(sc.params, lm.params, sizeof(float) * trunk);
    for (int j = 0; j <= c.dim; j++) assert_true(sc.w.wcls[j] == 0.0f);

    const int k = 7;
    memcpy(sc.w.wcls, lm.w.wcls + (size_t)k * c.dim, sizeof(float) * c.dim);
    sc.w.wcls[c.dim] = 0.25f;
    ForwardState *fl = forward_state_new(&lm.cfg, GB, GT), *fs = forward_state_new(&sc.cfg, GB, GT);
    float logp[GB * GT], v[GB * GT];
    model_forward(&lm, fl, grad_tok, grad_tok, GB, GT, 1.0f, logp, NULL);
    model_forward_values(&sc, fs, grad_tok, NULL, GB, GT, v);
    const float *logits = forward_state_logits(fl, NULL, NULL);
    for (int i = 0; i < GB * GT; i++)
        assert_float_equal(v[i], logits[(size_t)i * c.vocab_size + k] + 0.25f, 1e-4);

    model_swap_head(&back, &sc, MODEL_HEAD_LM);
    assert_int_equal(back.cfg.head, MODEL_HEAD_LM);
    assert_int_equal(back.n_params, trunk + (size_t)c.vocab_size * c.dim);
    assert_memory_equal(back.params, lm.params, sizeof(float) * trunk);
    forward_state_free(fl);
    forward_state_free(fs);
    model_free(&lm);
    model_free(&sc);
    model_free(&back);
}

static void test_scalar_config(void **st) {
    ModelConfig c = scalar_config();
    assert_null(model_config_check(&c));
    size_t s[MODEL_NUM_TENSORS];
    model_tensor_sizes(&c, s);
    assert_int_equal(s[11], c.dim + 1);
    c.tied_embeddings = 1;
    const char *why = model_config_check(&c);
    assert_non_null(why);
    assert_non_null(strstr(why, "tied"));
    c = tiny_config(1);
    c.head = 2;
    why = model_config_check(&c);
    assert_non_null(why);
    assert_non_null(strstr(why, "head"));
    /* model_init_weights starts the bias at 0 */
    c = scalar_config();
    Model m;
    model_init(&m, &c);
    model_init_weights(&m, 3);
    assert_true(m.w.wcls[c.dim] == 0.0f);
    assert_true(m.w.wcls[0] != 0.0f);
    model_free(&m);
}

/* Runs fn(ctx) in a child: it must exit 1 (die) with needle in its stderr. */
static void expect_death(void (*fn)(void *), void *ctx, const char *needle) {
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn(ctx);
        _exit(0);
    }
    close(fd[1]);
    char buf[4096];
    size_t n = 0;
    ssize_t got;
    while (n + 1 < sizeof buf && (got = read(fd[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = 0;
    close(fd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || !strstr(buf, needle))
        fail_msg("expected death with '%s'; status %d, stderr: %s", needle, status, buf);
}

typedef struct {
    Model lm, sc;
} TwoHeads;

static void forward_on_scalar(void *ctx) {
    TwoHeads *h = ctx;
    ForwardState *s = forward_state_new(&h->sc.cfg, GB, GT);
    float logp[GB * GT];
    model_forward(&h->sc, s, grad_tok, grad_tok, GB, GT, 1.0f, logp, NULL);
}
static void values_on_lm(void *ctx) {
    TwoHeads *h = ctx;
    ForwardState *s = forward_state_new(&h->lm.cfg, GB, GT);
    float v[GB * GT];
    model_forward_values(&h->lm, s, grad_tok, NULL, GB, GT, v);
}
static void values_on_lm_state(void *ctx) { /* a scalar model, an LM's state */
    TwoHeads *h = ctx;
    ForwardState *s = forward_state_new(&h->lm.cfg, GB, GT);
    float v[GB * GT];
    model_forward_values(&h->sc, s, grad_tok, NULL, GB, GT, v);
}
static void cache_for_scalar(void *ctx) { kv_cache_new(&((TwoHeads *)ctx)->sc.cfg, 2, 8); }
static void prefill_scalar(void *ctx) {
    TwoHeads *h = ctx;
    KVCache *c = kv_cache_new(&h->lm.cfg, 2, 8);
    float logits[11];
    model_prefill(&h->sc, c, 0, grad_tok, 3, logits);
}
static void decode_scalar(void *ctx) {
    TwoHeads *h = ctx;
    KVCache *c = kv_cache_new(&h->lm.cfg, 2, 8);
    float logits[11];
    int slot = 0;
    model_decode_step(&h->sc, c, &slot, grad_tok, 1, logits);
}

/* The wrong head's path dies naming what it needed, never runs. */
static void test_scalar_refusals(void **st) {
    TwoHeads h;
    ModelConfig c = tiny_config(0);
    model_init(&h.lm, &c);
    init_big(&h.lm, 1, 0.3f);
    model_swap_head(&h.sc, &h.lm, MODEL_HEAD_SCALAR);
    expect_death(forward_on_scalar, &h, "model_forward needs an LM");
    expect_death(values_on_lm, &h, "model_forward_values needs a scalar");
    expect_death(values_on_lm_state, &h, "ForwardState was made for an LM");
    expect_death(cache_for_scalar, &h, "does not decode");
    expect_death(prefill_scalar, &h, "model_prefill needs an LM");
    expect_death(decode_scalar, &h, "model_decode_step needs an LM");
    model_free(&h.lm);
    model_free(&h.sc);
}

/* ---- decode vs forward ---------------------------------------------------- */

enum { NSEQ = 4, SEQ_MAX = 90 };

static double log_softmax_at(const float *logits, int V, float temp, int target) {
    double mx = logits[0] / (double)temp, sum = 0;
    for (int j = 1; j < V; j++)
        if (logits[j] / (double)temp > mx) mx = logits[j] / (double)temp;
    for (int j = 0; j < V; j++) sum += exp(logits[j] / (double)temp - mx);
    return logits[target] / (double)temp - mx - log(sum);
}

/* Four sequences decoded in lockstep: slot 0 (prompt 5), slot 1 (prompt
 * 3), slot 2 (a copy of slot 0 after its prefill, then its own tokens) and
 * slot 3 (a 70-token prompt: crosses the 64-row prefill chunk). Steps pass
 * the slots in scrambled order and sometimes leave one out. Every logit
 * row the cache produces is compared with model_forward's logp. */
static void decode_matches_forward(int dim, int n_heads, int n_kv_heads) {
    ModelConfig c = {.vocab_size = 13, .dim = dim, .n_layers = 2, .n_heads = n_heads,
                     .n_kv_heads = n_kv_heads,
                     .hidden_dim = 48, .max_seq_len = SEQ_MAX, .tied_embeddings = 0,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &c);
    init_big(&m, 3, 0.25f);
    int V = c.vocab_size;
    int plen[NSEQ] = {5, 3, 5, 70}, total[NSEQ] = {20, 17, 23, 80};
    int seq[NSEQ][SEQ_MAX];
    Rng r;
    rng_seed(&r, 11, 0);
    for (int s = 0; s < NSEQ; s++)
        for (int t = 0; t < SEQ_MAX; t++) seq[s][t] = (int)rng_below(&r, (uint32_t)V);
    memcpy(seq[2], seq[0], sizeof(int) * plen[0]); /* slot 2 shares slot 0's prompt */

    /* have[s][t]: decode produced logits at position t of sequence s */
    static float dlog[NSEQ][SEQ_MAX][16];
    int have[NSEQ][SEQ_MAX] = {{0}};
    KVCache *kc = kv_cache_new(&c, NSEQ, SEQ_MAX);
    kv_cache_reset(kc);
    model_prefill(&m, kc, 0, seq[0], plen[0], dlog[0][plen[0] - 1]);
    have[0][plen[0] - 1] = 1;
    kv_cache_copy_slot(kc, 2, 0);
    memcpy(dlog[2][plen[0] - 1], dlog[0][plen[0] - 1], sizeof(float) * V);
    have[2][plen[0] - 1] = 1;
    /* slot 1's prompt in two pieces: prefill appends */
    model_prefill(&m, kc, 1, seq[1], 2, dlog[1][1]);
    model_prefill(&m, kc, 1, seq[1] + 2, 1, dlog[1][2]);
    have[1][1] = have[1][2] = 1;
    model_prefill(&m, kc, 3, seq[3], plen[3], dlog[3][plen[3] - 1]);
    have[3][plen[3] - 1] = 1;

    float logits[NSEQ * 16];
    for (int step = 0; step < 25; step++) {
        int slots[NSEQ], toks[NSEQ], n = 0;
        for (int k = 0; k < NSEQ; k++) {
            int s = (k + step) % NSEQ; /* scrambled order */
            if (step % 5 == 2 && s == 1) continue; /* leave slot 1 out sometimes */
            int pos = kc->len[s];
            if (pos >= total[s]) continue;
            slots[n] = s;
            toks[n] = seq[s][pos];
            n++;
        }
        if (n == 0) break;
        model_decode_step(&m, kc, slots, toks, n, logits);
        for (int i = 0; i < n; i++) {
            int s = slots[i], pos = kc->len[s] - 1;
            memcpy(dlog[s][pos], logits + (size_t)i * V, sizeof(float) * V);
            have[s][pos] = 1;
        }
    }

    int T = SEQ_MAX - 1;
    ForwardState *fs = forward_state_new(&c, NSEQ, T);
    int tok[NSEQ * (SEQ_MAX - 1)], tgt[NSEQ * (SEQ_MAX - 1)];
    float logp[NSEQ * (SEQ_MAX - 1)];
    for (int s = 0; s < NSEQ; s++)
        for (int t = 0; t < T; t++) {
            tok[s * T + t] = t < total[s] ? seq[s][t] : 0;
            tgt[s * T + t] = t + 1 < total[s] ? seq[s][t + 1] : 0;
        }
    float temps[2] = {1.0f, 0.7f};
    for (int ti = 0; ti < 2; ti++) {
        model_forward(&m, fs, tok, tgt, NSEQ, T, temps[ti], logp, NULL);
        double maxdiff = 0;
        int compared = 0;
        for (int s = 0; s < NSEQ; s++)
            for (int t = 0; t + 1 < total[s]; t++) {
                if (!have[s][t]) continue;
                double ref = log_softmax_at(dlog[s][t], V, temps[ti], seq[s][t + 1]);
                double d = fabs(ref - logp[s * T + t]);
                if (d > maxdiff) maxdiff = d;
                compared++;
            }
        printf("  decode vs forward, head width %d, temperature %.1f: %d positions, max |dlogp| "
               "= %.3g\n", dim / n_heads, temps[ti], compared, maxdiff);
        assert_true(compared >= 55);
        /* Float rounding in a different order, at weights 4x the usual
         * scale: on AVX-512 the training matmuls and decode's packed ones
         * are the same FMA chains (gemm.h, K <= 256 here) and SwiGLU and
         * the softmax the same arithmetic, so only attention's summation
         * order differs. Measured max over both temperatures, head width
         * 8 / 16 / 32: AVX-512 3.1e-6 / 1.25e-5 / 6.2e-6, AVX2 (a
         * KERNEL_CAP_AVX2 build, OpenBLAS Haswell) 3.8e-6 / 7.2e-6 /
         * 1.25e-5. The wider heads sit at float noise: the softmax in 16
         * lanes instead of 8 moved width 16 from 8.4e-6 to 1.25e-5. */
        const double bound = dim / n_heads == 8 ? 1e-5 : 3e-5;
        if (!(maxdiff <= bound))
            fail_msg("decode vs forward, head width %d: %.3g > %.0e (kernels %s)", dim / n_heads,
                     maxdiff, bound, kernel_isa_name(kernel_isa()));
    }
    forward_state_free(fs);
    kv_cache_free(kc);
    model_free(&m);
}

/* Head widths 8, 16 and 32: attention_decode_row's 8-lane, and on an
 * AVX-512 CPU its 16-lane, paths. */
static void test_decode_matches_forward(void **st) {
    decode_matches_forward(32, 4, 2);
    decode_matches_forward(64, 4, 2);
    decode_matches_forward(64, 2, 1);
}

/* ---- determinism, entropy, causality, matmul ------------------------------ */

static void test_deterministic_grads(void **st) {
    ModelConfig c = tiny_config(0);
    c.max_seq_len = 32;
    Model m;
    model_init(&m, &c);
    model_init_weights(&m, 5);
    model_alloc_grads(&m);
    int B = 3, T = 32, N = B * T;
    int tok[96], tgt[96];
    float w[96], logp[96];
    Rng r;
    rng_seed(&r, 9, 0);
    for (int i = 0; i < N; i++) {
        tok[i] = (int)rng_below(&r, 11);
        tgt[i] = (int)rng_below(&r, 11);
        w[i] = rng_uniform(&r) - 0.5f;
    }
    ForwardState *s = forward_state_new(&c, B, T);
    float *first = xmalloc(sizeof(float) * m.n_params);
    for (int rep = 0; rep < 2; rep++) {
        model_zero_grads(&m);
        model_forward(&m, s, tok, tgt, B, T, 0.9f, logp, NULL);
        model_backward(&m, s, w);
        if (rep == 0) memcpy(first, m.grads, sizeof(float) * m.n_params);
    }
    assert_memory_equal(first, m.grads, sizeof(float) * m.n_params);
    /* the same seed gives the same weights */
    Model m2;
    model_init(&m2, &c);
    model_init_weights(&m2, 5);
    assert_memory_equal(m.params, m2.params, sizeof(float) * m.n_params);
    model_free(&m2);
    xfree(first);
    forward_state_free(s);
    model_free(&m);
}

/* Entropy of one position against -sum p log p, where each p_j comes from
 * its own forward with target j (so the check shares no formula with
 * logp_forward's entropy). */
static void test_entropy(void **st) {
    ModelConfig c = tiny_config(1);
    Model m;
    model_init(&m, &c);
    init_big(&m, 8, 0.4f);
    int V = c.vocab_size, T = 5, at = 3;
    int tok[5] = {2, 7, 1, 9, 4}, tgt[5] = {0};
    float logp[5], ent[5];
    ForwardState *s = forward_state_new(&c, 1, T);
    for (int ti = 0; ti < 2; ti++) {
        float temp = ti ? 1.3f : 1.0f;
        double H = 0, psum = 0;
        for (int j = 0; j < V; j++) {
            tgt[at] = j;
            model_forward(&m, s, tok, tgt, 1, T, temp, logp, ent);
            double p = exp((double)logp[at]);
            H -= p * logp[at];
            psum += p;
        }
        printf("  entropy at T=%.1f: model %.7f direct %.7f (sum p = %.7f)\n", temp, ent[at], H,
               psum);
        assert_true(fabs(psum - 1.0) < 1e-5);
        assert_true(fabs(ent[at] - H) < 1e-5);
        assert_true(H > 0.1); /* a non-degenerate distribution */
    }
    forward_state_free(s);
    model_free(&m);
}

/* Changing the padding after a row's last real token leaves the real
 * positions' log-probs unchanged (bit for bit: the rows are independent). */
static void test_padding_is_causal(void **st) {
    ModelConfig c = tiny_config(0);
    Model m;
    model_init(&m, &c);
    init_big(&m, 4, 0.3f);
    int tok[7] = {1, 2, 3, 4, 0, 0, 0}, tgt[7] = {2, 3, 4, 5, 0, 0, 0};
    float a[7], b[7];
    ForwardState *s = forward_state_new(&c, 1, 7);
    model_forward(&m, s, tok, tgt, 1, 7, 1.0f, a, NULL);
    tok[4] = 9; tok[5] = 10; tok[6] = 3; tgt[5] = 7;
    model_forward(&m, s, tok, tgt, 1, 7, 1.0f, b, NULL);
    assert_memory_equal(a, b, sizeof(float) * 4);
    forward_state_free(s);
    model_free(&m);
}

static void test_matmul_vs_naive(void **st) {
    int N = 37, C = 45, OC = 29;
    float *x = xmalloc(sizeof(float) * N * C), *w = xmalloc(sizeof(float) * OC * C);
    float *y = xmalloc(sizeof(float) * N * OC), *yr = xmalloc(sizeof(float) * N * OC);
    Rng r;
    rng_seed(&r, 1, 2);
    for (int i = 0; i < N * C; i++) x[i] = rng_normal(&r);
    for (int i = 0; i < OC * C; i++) w[i] = rng_normal(&r);
    matmul_forward(y, x, w, N, C, OC, 0.0f);
    matmul_forward_naive(yr, x, w, N, C, OC);
    for (int i = 0; i < N * OC; i++) assert_true(fabsf(y[i] - yr[i]) < 1e-4f * (1 + fabsf(yr[i])));
    xfree(x); xfree(w); xfree(y); xfree(yr);
}

int main(void) {
    blas_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_untied),
        cmocka_unit_test(test_gradcheck_tied),
        cmocka_unit_test(test_gradcheck_truncated),
        cmocka_unit_test(test_gradcheck_logits),
        cmocka_unit_test(test_gradcheck_skip),
        cmocka_unit_test(test_skip_matches_full),
        cmocka_unit_test(test_skip_edges),
        cmocka_unit_test(test_decode_matches_forward),
        cmocka_unit_test(test_deterministic_grads),
        cmocka_unit_test(test_entropy),
        cmocka_unit_test(test_padding_is_causal),
        cmocka_unit_test(test_matmul_vs_naive),
        cmocka_unit_test(test_gradcheck_values),
        cmocka_unit_test(test_values_skip_padding),
        cmocka_unit_test(test_values_match_lm_trunk),
        cmocka_unit_test(test_scalar_config),
        cmocka_unit_test(test_scalar_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
