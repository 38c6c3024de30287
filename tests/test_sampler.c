/* test_sampler.c: sampler_pick against independent double-precision
 * softmax math and empirical frequencies; generate() against the training
 * forward (the log-probs the learner will recompute), finish reasons,
 * determinism, and top_k=1 == greedy. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval.h"
#include "model.h"
#include "model_kernels.h"
#include "rng.h"
#include "rollout.h"
#include "sampler.h"
#include "task.h"
#include "tokenizer.h"
#include "util.h"

/* Independent reference: softmax(logits / T) in long double. */
static void ref_softmax(const float *logits, int V, double T, double *p) {
    long double m = -INFINITY, s = 0;
    for (int i = 0; i < V; i++)
        if ((long double)logits[i] / T > m) m = (long double)logits[i] / T;
    for (int i = 0; i < V; i++) s += expl((long double)logits[i] / T - m);
    for (int i = 0; i < V; i++) p[i] = (double)(expl((long double)logits[i] / T - m) / s);
}

static double ref_logp(const float *logits, int V, double T, int id) {
    long double m = -INFINITY, s = 0;
    for (int i = 0; i < V; i++)
        if ((long double)logits[i] / T > m) m = (long double)logits[i] / T;
    for (int i = 0; i < V; i++) s += expl((long double)logits[i] / T - m);
    return (double)((long double)logits[id] / T - m - logl(s));
}

/* Independent reference for logprob = truncated: log of p_id renormalised
 * over the kept set, the kept set found by selection (repeatedly the most
 * likely remaining id, lowest id on ties) in long double; -inf if id is
 * not kept. */
static double ref_trunc_logp(const float *logits, int V, double T, int top_k, double top_p, int id) {
    double p[128];
    int used[128] = {0}, order[128];
    ref_softmax(logits, V, T, p);
    const int k = top_k > 0 && top_k < V ? top_k : V;
    long double mass_k = 0;
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (int i = 0; i < V; i++)
            if (!used[i] && (best < 0 || logits[i] > logits[best])) best = i;
        used[best] = 1;
        order[r] = best;
        mass_k += p[best];
    }
    long double kept = 0;
    int n_keep = k;
    for (int r = 0; r < k; r++) {
        kept += p[order[r]];
        if (top_p < 1.0 && kept >= top_p * mass_k) {
            n_keep = r + 1;
            break;
        }
    }
    if (top_p >= 1.0) kept = mass_k;
    for (int r = 0; r < n_keep; r++)
        if (order[r] == id) return (double)logl((long double)p[id] / kept);
    return -INFINITY;
}

static SamplerConfig sampler_cfg(float T, int top_k, float top_p) {
    SamplerConfig sc;
    memset(&sc, 0, sizeof sc);
    sc.temperature = T;
    sc.top_k = top_k;
    sc.top_p = top_p;
    sc.max_new_tokens = 16;
    return sc;
}

/* Draws n samples and writes the empirical frequency of each id to freq. */
static void draw_freqs(const float *logits, int V, const SamplerConfig *sc, uint64_t seed, int n,
                       double *freq) {
    Rng rng;
    rng_seed(&rng, seed, 7);
    float *scratch = xmalloc(sizeof(float) * SAMPLER_SCRATCH_FLOATS(V));
    long *count = calloc((size_t)V, sizeof(long));
    for (int i = 0; i < n; i++) {
        int id = sampler_pick(logits, V, sc, &rng, scratch, NULL);
        assert_true(id >= 0 && id < V);
        count[id]++;
    }
    for (int i = 0; i < V; i++) freq[i] = (double)count[i] / n;
    free(count);
    xfree(scratch);
}

static void test_greedy_argmax_and_tie(void **state) {
    (void)state;
    const float logits[6] = {0.1f, 2.0f, -1.0f, 2.0f, 0.5f, 1.99f};
    float scratch[12];
    SamplerConfig sc = sampler_cfg(0.0f, 0, 1.0f);
    Rng rng, ref;
    rng_seed(&rng, 1, 2);
    ref = rng;
    float lp = 0;
    int id = sampler_pick(logits, 6, &sc, &rng, scratch, &lp);
    assert_int_equal(id, 1); /* ties at 2.0: lowest id */
    /* Greedy logp is under temperature 1. */
    assert_true(fabs(lp - ref_logp(logits, 6, 1.0, 1)) < 1e-6);
    /* Exactly one uniform drawn, greedy included. */
    (void)rng_uniform(&ref);
    assert_memory_equal(&rng, &ref, sizeof rng);
    /* top_k = 1 agrees with greedy, including the tie-break. */
    SamplerConfig k1 = sampler_cfg(1.0f, 1, 1.0f);
    for (int i = 0; i < 100; i++) assert_int_equal(sampler_pick(logits, 6, &k1, &rng, scratch, NULL), 1);
}

static void test_logp_matches_reference(void **state) {
    (void)state;
    enum { V = 97 };
    float logits[V], scratch[2 * V];
    Rng init;
    rng_seed(&init, 42, 0);
    const float temps[4] = {0.3f, 0.7f, 1.0f, 1.7f};
    const int ks[3] = {0, 5, 0};
    const float ps[3] = {1.0f, 1.0f, 0.8f};
    double max_err = 0;
    for (int trial = 0; trial < 50; trial++) {
        for (int i = 0; i < V; i++) logits[i] = 4.0f * rng_normal(&init) + (trial == 7 ? 1e4f : 0.0f);
        for (int t = 0; t < 4; t++)
            for (int c = 0; c < 3; c++) {
                SamplerConfig sc = sampler_cfg(temps[t], ks[c], ps[c]);
                float lp;
                int id = sampler_pick(logits, V, &sc, &init, scratch, &lp);
                /* Always under the full, untruncated distribution. */
                double ref = ref_logp(logits, V, temps[t], id);
                double err = fabs(lp - ref) / fmax(1.0, fabs(ref));
                if (err > max_err) max_err = err;
                assert_true(fabs(sampler_logprob(logits, V, temps[t], id) - ref) <
                            1e-9 * fmax(1.0, fabs(ref)));
            }
    }
    printf("sampler_pick logp vs long-double reference: max rel err %.3g\n", max_err);
    assert_true(max_err < 1e-6);

    /* logprob = truncated: the log-prob of the distribution sampled from */
    const int tks[3] = {3, 0, 10};
    const float tps[3] = {1.0f, 0.7f, 0.9f};
    max_err = 0;
    for (int trial = 0; trial < 50; trial++) {
        for (int i = 0; i < V; i++) logits[i] = 3.0f * rng_normal(&init);
        for (int t = 0; t < 4; t++)
            for (int c = 0; c < 3; c++) {
                SamplerConfig sc = sampler_cfg(temps[t], tks[c], tps[c]);
                sc.logprob = LOGPROB_TRUNCATED;
                float lp;
                int id = sampler_pick(logits, V, &sc, &init, scratch, &lp);
                double ref = ref_trunc_logp(logits, V, temps[t], tks[c], tps[c], id);
                assert_true(isfinite(ref)); /* the pick is in the kept set */
                assert_true(ref >= ref_logp(logits, V, temps[t], id) - 1e-12);
                double err = fabs(lp - ref) / fmax(1.0, fabs(ref));
                if (err > max_err) max_err = err;
            }
    }
    printf("sampler_pick truncated logp vs long-double reference: max rel err %.3g\n", max_err);
    assert_true(max_err < 1e-6);
}

/* The kept-set rule on the worked numbers of test_top_p, called directly. */
static void test_sample_dist_keep(void **state) {
    (void)state;
    enum { N = 5 };
    const double probs[N] = {0.05, 0.40, 0.10, 0.25, 0.20};
    float logits[N], scratch[2 * N];
    for (int i = 0; i < N; i++) logits[i] = (float)log(probs[i]);
    double zmax;
    log_sum_exp_row(logits, N, 1.0, &zmax, NULL);
    double mass;
    SampleDist d = {1.0f, 0, 0.7f, LOGPROB_TRUNCATED};
    int n = sample_dist_keep(logits, N, &d, zmax, scratch, &mass);
    assert_int_equal(n, 3); /* ids 1, 3, 4: 0.85 >= 0.7 where 0.65 was not */
    assert_true(scratch[1] == 1.0f && scratch[3] == 3.0f && scratch[5] == 4.0f);
    assert_true(fabs(mass * exp(zmax) - 0.85) < 1e-6);
    /* every id is kept or not by its rank against the last kept pair */
    for (int i = 0; i < N; i++)
        assert_int_equal(sample_dist_kept(logits[i], i, scratch[4], (int)scratch[5]),
                         i == 1 || i == 3 || i == 4);
    /* top-k 2, then top_p 0.5 of their mass: 0.40 / 0.65 >= 0.5, only id 1 */
    d = (SampleDist){1.0f, 2, 0.5f, LOGPROB_TRUNCATED};
    assert_int_equal(sample_dist_keep(logits, N, &d, zmax, scratch, &mass), 1);
    assert_true(scratch[1] == 1.0f);
    /* ties: equal logits keep the lowest ids */
    const float flat[N] = {0};
    d = (SampleDist){1.0f, 2, 1.0f, LOGPROB_TRUNCATED};
    assert_int_equal(sample_dist_keep(flat, N, &d, 0.0, scratch, &mass), 2);
    assert_true(scratch[1] == 0.0f && scratch[3] == 1.0f && mass == 2.0);
    assert_true(sample_dist_cuts(&d, N) && sample_dist_truncates(&d, N));
    d.top_k = N; /* keeps everything: nothing to truncate */
    assert_false(sample_dist_cuts(&d, N));
    /* greedy reports the full softmax at temperature 1 */
    SampleDist g = sample_dist_scoring(0.0f, 3, 0.5f, LOGPROB_TRUNCATED);
    assert_true(g.temperature == 1.0f && !sample_dist_truncates(&g, N));
    /* the startup warning: only top-k/top-p with logprob = full */
    char w[400];
    d = (SampleDist){1.0f, 3, 1.0f, LOGPROB_FULL};
    assert_int_equal(sample_dist_bias_warning(&d, N, w, sizeof w), 1);
    assert_non_null(strstr(w, "biased"));
    assert_non_null(strstr(w, "sampler.logprob=truncated"));
    d.logprob = LOGPROB_TRUNCATED;
    assert_int_equal(sample_dist_bias_warning(&d, N, w, sizeof w), 0);
    d = (SampleDist){1.0f, 0, 1.0f, LOGPROB_FULL};
    assert_int_equal(sample_dist_bias_warning(&d, N, w, sizeof w), 0);
}

static void test_frequencies_full(void **state) {
    (void)state;
    enum { V = 7, N = 200000 };
    const float logits[V] = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, 1.5f, -3.0f};
    const float temps[2] = {1.0f, 0.6f};
    for (int t = 0; t < 2; t++) {
        SamplerConfig sc = sampler_cfg(temps[t], 0, 1.0f);
        double freq[V], p[V], max_err = 0;
        draw_freqs(logits, V, &sc, 11 + t, N, freq);
        ref_softmax(logits, V, temps[t], p);
        for (int i = 0; i < V; i++) max_err = fmax(max_err, fabs(freq[i] - p[i]));
        printf("T=%.1f: max |freq - softmax| over %d draws = %.4f\n", temps[t], N, max_err);
        assert_true(max_err < 0.01);
    }
}

static void test_top_k(void **state) {
    (void)state;
    enum { V = 7, N = 200000 };
    const float logits[V] = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, 1.5f, -3.0f};
    SamplerConfig sc = sampler_cfg(1.0f, 2, 1.0f);
    double freq[V], p[V];
    draw_freqs(logits, V, &sc, 5, N, freq);
    ref_softmax(logits, V, 1.0, p);
    /* Top two are ids 3 and 5. */
    const double mass = p[3] + p[5];
    for (int i = 0; i < V; i++) {
        if (i == 3 || i == 5)
            assert_true(fabs(freq[i] - p[i] / mass) < 0.01);
        else
            assert_true(freq[i] == 0.0);
    }
    /* Equal logits: the tie-break keeps the lowest ids. */
    const float flat[V] = {0};
    draw_freqs(flat, V, &sc, 6, 10000, freq);
    assert_true(freq[0] > 0.45 && freq[1] > 0.45 && freq[0] + freq[1] == 1.0);
}

static void test_top_p(void **state) {
    (void)state;
    enum { V = 5, N = 100000 };
    /* Probabilities 0.05 0.40 0.10 0.25 0.20: sorted 0.40 (id 1), 0.25 (3),
     * 0.20 (4) reaches 0.85 >= 0.7 where 0.65 did not: keep {1, 3, 4}. */
    const double probs[V] = {0.05, 0.40, 0.10, 0.25, 0.20};
    float logits[V];
    for (int i = 0; i < V; i++) logits[i] = (float)log(probs[i]);
    SamplerConfig sc = sampler_cfg(1.0f, 0, 0.7f);
    double freq[V];
    draw_freqs(logits, V, &sc, 9, N, freq);
    assert_true(freq[0] == 0.0 && freq[2] == 0.0);
    assert_true(fabs(freq[1] - 0.40 / 0.85) < 0.01);
    assert_true(fabs(freq[3] - 0.25 / 0.85) < 0.01);
    assert_true(fabs(freq[4] - 0.20 / 0.85) < 0.01);
    /* top_p applies to the renormalised top-k mass: top-2 {1, 3} has mass
     * 0.65; 0.40 / 0.65 = 0.615 >= 0.5, so only id 1 remains. */
    sc = sampler_cfg(1.0f, 2, 0.5f);
    draw_freqs(logits, V, &sc, 10, 1000, freq);
    assert_true(freq[1] == 1.0);
    /* Tiny p keeps only the mode. */
    sc = sampler_cfg(1.0f, 0, 0.01f);
    draw_freqs(logits, V, &sc, 10, 1000, freq);
    assert_true(freq[1] == 1.0);
}

static void test_determinism(void **state) {
    (void)state;
    enum { V = 50, N = 2000 };
    float logits[V], scratch[2 * V];
    Rng init;
    rng_seed(&init, 3, 3);
    for (int i = 0; i < V; i++) logits[i] = rng_normal(&init);
    const SamplerConfig cfgs[3] = {sampler_cfg(1.0f, 0, 1.0f), sampler_cfg(0.8f, 10, 1.0f),
                                   sampler_cfg(1.2f, 0, 0.9f)};
    for (int c = 0; c < 3; c++) {
        Rng a, b;
        rng_seed(&a, 99, 1);
        rng_seed(&b, 99, 1);
        int differ_from_first = 0, first = -1;
        for (int i = 0; i < N; i++) {
            float la, lb;
            int x = sampler_pick(logits, V, &cfgs[c], &a, scratch, &la);
            int y = sampler_pick(logits, V, &cfgs[c], &b, scratch, &lb);
            assert_int_equal(x, y);
            assert_true(la == lb);
            if (first < 0) first = x;
            differ_from_first |= x != first;
        }
        assert_memory_equal(&a, &b, sizeof a);
        assert_true(differ_from_first); /* it really is sampling */
        /* N picks consumed exactly N uniforms. */
        Rng r;
        rng_seed(&r, 99, 1);
        for (int i = 0; i < N; i++) (void)rng_uniform(&r);
        assert_memory_equal(&a, &r, sizeof a);
    }
}

/* ---- generate ------------------------------------------------------------ */

typedef struct {
    Tokenizer tok;
    Model m;
    int prompt_buf[4][16];
    const int *prompts[4];
    int lens[4];
} GenFixture;

static const char *const prompt_text[4] = {"12+34=", "hello", "a", "x*y=z?"};

static int gen_setup(void **state) {
    GenFixture *f = calloc(1, sizeof *f);
    tokenizer_init_char(&f->tok);
    ModelConfig cfg = {.vocab_size = f->tok.vocab_size, .dim = 32, .n_layers = 2, .n_heads = 4,
                       .n_kv_heads = 2, .hidden_dim = 64, .max_seq_len = 48,
                       .tied_embeddings = 1, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    model_init(&f->m, &cfg);
    model_init_weights(&f->m, 1234);
    /* Sharper logits than N(0, 0.02) gives, so sampling is not near-uniform
     * and an off-by-one position would show up as a large logp error. */
    for (size_t i = 0; i < (size_t)cfg.vocab_size * cfg.dim; i++) f->m.w.wte[i] *= 10.0f;
    for (int p = 0; p < 4; p++) {
        f->prompt_buf[p][0] = TOK_BOS;
        int n = tokenizer_encode(&f->tok, prompt_text[p], f->prompt_buf[p] + 1, 15, NULL);
        assert_true(n > 0);
        f->lens[p] = n + 1;
        f->prompts[p] = f->prompt_buf[p];
    }
    *state = f;
    return 0;
}

static int gen_teardown(void **state) {
    GenFixture *f = *state;
    model_free(&f->m);
    free(f);
    return 0;
}

/* Runs generate on a fresh cache of n_prompts*G slots and max_len. */
static void run_generate(GenFixture *f, int n_prompts, int G, const SamplerConfig *sc,
                         uint64_t seed, int max_len, Completions *c, Rng *rng_after) {
    KVCache *cache = kv_cache_new(&f->m.cfg, n_prompts * G, max_len);
    Rng rng;
    rng_seed(&rng, seed, 0);
    completions_alloc(c, n_prompts * G, sc->max_new_tokens);
    generate(&f->m, cache, f->prompts, f->lens, n_prompts, G, sc, &f->tok, &rng, c);
    kv_cache_free(cache);
    if (rng_after) *rng_after = rng;
}

/* Structural invariants of every completion; returns counts per reason. */
static void check_structure(const GenFixture *f, const Completions *c, int G,
                            const SamplerConfig *sc, int max_len, int counts[3]) {
    for (int j = 0; j < c->n; j++) {
        const int *t = c->tokens + (size_t)j * c->max_new;
        const int len = c->len[j], P = f->lens[j / G];
        assert_true(len >= 1 && len <= sc->max_new_tokens && P + len <= max_len);
        for (int i = 0; i < len - 1; i++) assert_int_not_equal(t[i], TOK_EOS);
        for (int i = len; i < c->max_new; i++) assert_int_equal(t[i], TOK_PAD);
        char text[128];
        assert_true(completion_text(&f->tok, c, j, text, sizeof text) >= 0);
        switch (c->finish[j]) {
        case FINISH_EOS:
            assert_int_equal(t[len - 1], TOK_EOS);
            break;
        case FINISH_STOP: {
            assert_true(sc->stop[0] != '\0');
            /* Char-level pieces: the text ends with the stop string, which
             * appears nowhere earlier. */
            const size_t sl = strlen(sc->stop), tl = strlen(text);
            assert_true(tl >= sl && strcmp(text + tl - sl, sc->stop) == 0);
            assert_true(strstr(text, sc->stop) == text + tl - sl);
            break;
        }
        case FINISH_LENGTH:
            assert_int_not_equal(t[len - 1], TOK_EOS);
            assert_true(len == sc->max_new_tokens || P + len == max_len);
            if (sc->stop[0]) assert_null(strstr(text, sc->stop));
            break;
        default:
            fail_msg("bad finish reason %d", c->finish[j]);
        }
        counts[c->finish[j]]++;
    }
}

/* Re-scores every [prompt + completion] with model_forward_dist under dist
 * (the learner's layout and recompute) and returns max |forward logp -
 * generated logp|; *min_gap (if not NULL) gets min(generated - full
 * softmax logp), the full one from model_forward at dist's temperature. */
static double forward_logp_diff_dist(GenFixture *f, const Completions *c, int G,
                                     const SampleDist *dist, double *min_gap) {
    const int n = c->n;
    int T = 1;
    for (int j = 0; j < n; j++)
        if (f->lens[j / G] + c->len[j] - 1 > T) T = f->lens[j / G] + c->len[j] - 1;
    int *inputs = xcalloc((size_t)n * T, sizeof(int));
    int *targets = xcalloc((size_t)n * T, sizeof(int));
    float *logp = xcalloc((size_t)n * T, sizeof(float));
    int *seq = xcalloc((size_t)T + 1, sizeof(int));
    for (int j = 0; j < n; j++) {
        const int P = f->lens[j / G], len = c->len[j];
        memcpy(seq, f->prompts[j / G], sizeof(int) * (size_t)P);
        memcpy(seq + P, c->tokens + (size_t)j * c->max_new, sizeof(int) * (size_t)len);
        for (int i = 0; i < P + len - 1; i++) {
            inputs[(size_t)j * T + i] = seq[i];
            targets[(size_t)j * T + i] = seq[i + 1];
        }
    }
    ForwardState *s = forward_state_new(&f->m.cfg, n, T);
    float *full = xcalloc((size_t)n * T, sizeof(float));
    model_forward(&f->m, s, inputs, targets, n, T, dist->temperature, full, NULL);
    model_forward_dist(&f->m, s, inputs, targets, n, T, dist, logp, NULL);
    double max_diff = 0, gap = INFINITY;
    for (int j = 0; j < n; j++) {
        const int P = f->lens[j / G];
        for (int i = 0; i < c->len[j]; i++) {
            const size_t at = (size_t)j * T + P - 1 + i;
            const double shipped = c->logp[(size_t)j * c->max_new + i];
            double d = fabs((double)logp[at] - shipped);
            if (d > max_diff) max_diff = d;
            if (shipped - full[at] < gap) gap = shipped - full[at];
        }
    }
    if (min_gap) *min_gap = gap;
    xfree(full);
    forward_state_free(s);
    xfree(inputs);
    xfree(targets);
    xfree(logp);
    xfree(seq);
    return max_diff;
}

static double forward_logp_diff(GenFixture *f, const Completions *c, int G, float temperature) {
    const SampleDist full = {temperature, 0, 1.0f, LOGPROB_FULL};
    return forward_logp_diff_dist(f, c, G, &full, NULL);
}

static void test_generate_matches_forward(void **state) {
    GenFixture *f = *state;
    const float temps[2] = {1.0f, 0.7f};
    int counts[3] = {0, 0, 0};
    for (int t = 0; t < 2; t++) {
        SamplerConfig sc = sampler_cfg(temps[t], 0, 1.0f);
        sc.max_new_tokens = 20;
        Completions c;
        run_generate(f, 2, 3, &sc, 77 + t, f->m.cfg.max_seq_len, &c, NULL);
        check_structure(f, &c, 3, &sc, f->m.cfg.max_seq_len, counts);
        double d = forward_logp_diff(f, &c, 3, temps[t]);
        printf("generate (2 prompts x G=3, T=%.1f) vs model_forward: max |logp diff| = %.3g\n",
               temps[t], d);
        assert_true(d <= 1e-4);
        completions_free(&c);
    }
}

/* sampler.logprob = truncated: the shipped log-probs are of the top-k /
 * top-p kept set, renormalised, and the learner's recompute
 * (model_forward_dist through the same kept-set rule) matches them to
 * float precision, as the full ones match under logprob = full. */
static void test_generate_truncated_matches_forward(void **state) {
    GenFixture *f = *state;
    const float ps[2] = {1.0f, 0.9f};
    for (int c = 0; c < 2; c++) {
        SamplerConfig sc = sampler_cfg(0.8f, 3, ps[c]);
        sc.logprob = LOGPROB_TRUNCATED;
        sc.max_new_tokens = 20;
        Completions comp;
        run_generate(f, 2, 3, &sc, 91 + c, f->m.cfg.max_seq_len, &comp, NULL);
        const SampleDist dist = {0.8f, 3, ps[c], LOGPROB_TRUNCATED};
        double gap;
        double d = forward_logp_diff_dist(f, &comp, 3, &dist, &gap);
        printf("generate top_k=3 top_p=%.1f logprob=truncated vs model_forward_dist: max |logp "
               "diff| = %.3g; shipped - full softmax logp >= %.3g\n", ps[c], d, gap);
        assert_true(d <= 1e-5);
        /* log p_trunc = log p_full - log(kept mass) > log p_full: it really
         * is the truncated distribution that was shipped */
        assert_true(gap > 1e-3);
        completions_free(&comp);
    }
}

static void test_generate_deterministic(void **state) {
    GenFixture *f = *state;
    SamplerConfig sc = sampler_cfg(1.0f, 0, 0.95f);
    sc.max_new_tokens = 12;
    Completions a, b, other;
    Rng ra, rb;
    run_generate(f, 2, 3, &sc, 5, 40, &a, &ra);
    run_generate(f, 2, 3, &sc, 5, 40, &b, &rb);
    run_generate(f, 2, 3, &sc, 6, 40, &other, NULL);
    assert_memory_equal(a.tokens, b.tokens, sizeof(int) * (size_t)a.n * a.max_new);
    assert_memory_equal(a.logp, b.logp, sizeof(float) * (size_t)a.n * a.max_new);
    assert_memory_equal(a.len, b.len, sizeof(int) * (size_t)a.n);
    assert_memory_equal(a.finish, b.finish, (size_t)a.n);
    assert_memory_equal(&ra, &rb, sizeof ra);
    /* One uniform per generated token. */
    Rng r;
    rng_seed(&r, 5, 0);
    for (int j = 0; j < a.n; j++)
        for (int i = 0; i < a.len[j]; i++) (void)rng_uniform(&r);
    assert_memory_equal(&ra, &r, sizeof r);
    assert_memory_not_equal(a.tokens, other.tokens, sizeof(int) * (size_t)a.n * a.max_new);
    completions_free(&a);
    completions_free(&b);
    completions_free(&other);
}

/* generate_streams with one stream per sequence: the four prompts in one
 * call, then in a different order and split over two calls (as two actors
 * would take a step's prompts), give every sequence the same tokens,
 * log-probs, length and finish reason, bit for bit. */
static void gen_streams(GenFixture *f, const int *which, int n, int G, const SamplerConfig *sc,
                        Completions *c) {
    KVCache *cache = kv_cache_new(&f->m.cfg, n * G, f->m.cfg.max_seq_len);
    const int *prompts[4];
    int lens[4];
    Rng rngs[4 * 4];
    for (int i = 0; i < n; i++) {
        prompts[i] = f->prompts[which[i]];
        lens[i] = f->lens[which[i]];
        for (int k = 0; k < G; k++) rng_seed(&rngs[i * G + k], 42, (uint64_t)(which[i] * G + k));
    }
    completions_alloc(c, n * G, sc->max_new_tokens);
    generate_streams(&f->m, cache, prompts, lens, n, G, sc, &f->tok, rngs, c);
    kv_cache_free(cache);
}

static void assert_same_sequence(const Completions *a, int ja, const Completions *b, int jb) {
    assert_int_equal(a->len[ja], b->len[jb]);
    assert_int_equal(a->finish[ja], b->finish[jb]);
    assert_memory_equal(a->tokens + (size_t)ja * a->max_new, b->tokens + (size_t)jb * b->max_new,
                        sizeof(int) * (size_t)a->max_new);
    assert_memory_equal(a->logp + (size_t)ja * a->max_new, b->logp + (size_t)jb * b->max_new,
                        sizeof(float) * (size_t)a->max_new);
}

static void test_generate_streams_batch_invariant(void **state) {
    GenFixture *f = *state;
    SamplerConfig sc = sampler_cfg(1.0f, 0, 1.0f);
    sc.max_new_tokens = 16;
    const int G = 3, all[4] = {0, 1, 2, 3}, back[2] = {3, 1}, front[2] = {2, 0};
    Completions one, b1, b2;
    gen_streams(f, all, 4, G, &sc, &one);
    gen_streams(f, back, 2, G, &sc, &b1);
    gen_streams(f, front, 2, G, &sc, &b2);
    int differ = 0;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < G; k++) {
            assert_same_sequence(&one, back[i] * G + k, &b1, i * G + k);
            assert_same_sequence(&one, front[i] * G + k, &b2, i * G + k);
        }
    /* the G siblings of a prompt differ (their own streams): it samples */
    for (int k = 1; k < G; k++)
        differ |= memcmp(one.tokens, one.tokens + (size_t)k * one.max_new,
                         sizeof(int) * (size_t)one.max_new) != 0;
    assert_true(differ);
    completions_free(&one);
    completions_free(&b1);
    completions_free(&b2);
}

static void test_generate_topk1_is_greedy(void **state) {
    GenFixture *f = *state;
    SamplerConfig greedy = sampler_cfg(0.0f, 0, 1.0f), k1 = sampler_cfg(1.0f, 1, 1.0f);
    greedy.max_new_tokens = k1.max_new_tokens = 16;
    Completions a, b;
    run_generate(f, 3, 2, &greedy, 1, 48, &a, NULL);
    run_generate(f, 3, 2, &k1, 2, 48, &b, NULL);
    assert_memory_equal(a.tokens, b.tokens, sizeof(int) * (size_t)a.n * a.max_new);
    assert_memory_equal(a.len, b.len, sizeof(int) * (size_t)a.n);
    /* Both report logp under temperature 1. */
    for (int i = 0; i < a.n * a.max_new; i++) assert_true(fabsf(a.logp[i] - b.logp[i]) < 1e-6f);
    /* Greedy siblings of one prompt are identical. */
    for (int p = 0; p < 3; p++)
        assert_memory_equal(a.tokens + (size_t)(2 * p) * a.max_new,
                            a.tokens + (size_t)(2 * p + 1) * a.max_new, sizeof(int) * (size_t)a.max_new);
    assert_true(forward_logp_diff(f, &a, 2, 1.0f) <= 1e-4);
    completions_free(&a);
    completions_free(&b);
}

static void test_generate_finish_reasons(void **state) {
    GenFixture *f = *state;
    int counts[3] = {0, 0, 0};
    /* Many seeds so EOS, a stop string and the length limit all occur. */
    for (int seed = 0; seed < 40; seed++) {
        SamplerConfig sc = sampler_cfg(1.5f, 0, 1.0f);
        sc.max_new_tokens = 24;
        snprintf(sc.stop, sizeof sc.stop, "%s", seed % 2 ? "e" : "");
        Completions c;
        run_generate(f, 4, 4, &sc, 1000 + seed, 48, &c, NULL);
        check_structure(f, &c, 4, &sc, 48, counts);
        completions_free(&c);
    }
    printf("finish reasons over 640 completions: eos %d, stop %d, length %d\n", counts[0],
           counts[1], counts[2]);
    assert_true(counts[FINISH_EOS] > 0 && counts[FINISH_STOP] > 0 && counts[FINISH_LENGTH] > 0);
    /* A cache too short for max_new_tokens ends sequences at its length. */
    SamplerConfig sc = sampler_cfg(1.0f, 0, 1.0f);
    sc.max_new_tokens = 20;
    const int max_len = 10; /* prompts of 2..7 tokens leave 3..8 */
    Completions c;
    run_generate(f, 4, 2, &sc, 3, max_len, &c, NULL);
    int memo[3] = {0, 0, 0};
    check_structure(f, &c, 2, &sc, max_len, memo);
    for (int j = 0; j < c.n; j++)
        if (c.finish[j] == FINISH_LENGTH) assert_int_equal(f->lens[j / 2] + c.len[j], max_len);
    assert_true(memo[FINISH_LENGTH] > 0);
    assert_true(forward_logp_diff(f, &c, 2, 1.0f) <= 1e-4);
    completions_free(&c);
}

/* The stop string with multi-byte pieces (a byte-level BPE tokenizer, the
 * fuzz corpus's: pieces such as "he" and " the" besides single bytes): a
 * completion ends STOP on the first token whose piece completes the stop
 * string (which may then end inside that piece), never later, and one that
 * ends otherwise never contains it. */
static void test_stop_string_bpe_pieces(void **state) {
    (void)state;
    const char *tests = getenv("GRPO_TESTS_DIR");
    char path[600], err[600];
    snprintf(path, sizeof path, "%s/fuzz/corpus/tokenizer_json/byte_level.json",
             tests ? tests : "tests");
    Tokenizer tok;
    if (tokenizer_load_file(&tok, path, err, sizeof err) != 0) fail_msg("%s", err);
    ModelConfig cfg = {.vocab_size = tok.vocab_size, .dim = 32, .n_layers = 2, .n_heads = 4,
                       .n_kv_heads = 2, .hidden_dim = 64, .max_seq_len = 48,
                       .tied_embeddings = 1, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &cfg);
    model_init_weights(&m, 99);
    int pbuf[4][8];
    const int *prompts[4];
    int lens[4];
    for (int p = 0; p < 4; p++) {
        pbuf[p][0] = tok.bos_id;
        int n = tokenizer_encode(&tok, " the", pbuf[p] + 1, 7, NULL);
        assert_true(n > 0);
        lens[p] = n + 1;
        prompts[p] = pbuf[p];
    }
    int stops = 0, inside = 0;
    for (int seed = 0; seed < 12; seed++) {
        SamplerConfig sc = sampler_cfg(1.0f, 0, 1.0f);
        sc.max_new_tokens = 24;
        /* "t" is also completed inside " the", whose "he" then follows it */
        snprintf(sc.stop, sizeof sc.stop, "%s", seed % 2 ? "he" : "t");
        KVCache *cache = kv_cache_new(&m.cfg, 16, 48);
        Rng rng;
        rng_seed(&rng, 500 + seed, 0);
        Completions c;
        completions_alloc(&c, 16, sc.max_new_tokens);
        generate(&m, cache, prompts, lens, 4, 4, &sc, &tok, &rng, &c);
        for (int j = 0; j < c.n; j++) {
            /* lengths, not strlen: a byte-level piece may be the byte 0 */
            char text[1024], before[1024];
            const int tl = completion_text(&tok, &c, j, text, sizeof text);
            assert_true(tl >= 0);
            /* the text without the last token */
            Completions cut = c;
            int len = c.len[j];
            cut.len = (int[16]){0};
            memcpy(cut.len, c.len, sizeof(int) * 16);
            cut.len[j] = len - 1;
            const int bl = completion_text(&tok, &cut, j, before, sizeof before);
            assert_true(bl >= 0);
            const size_t sl = strlen(sc.stop);
            if (c.finish[j] == FINISH_STOP) {
                stops++;
                assert_non_null(memmem(text, (size_t)tl, sc.stop, sl));
                assert_null(memmem(before, (size_t)bl, sc.stop, sl));
                inside += !((size_t)tl >= sl && !memcmp(text + tl - sl, sc.stop, sl));
            } else {
                assert_null(memmem(text, (size_t)tl, sc.stop, sl));
            }
        }
        completions_free(&c);
        kv_cache_free(cache);
    }
    printf("bpe stop strings: %d completions stopped, %d with the stop string ending inside the "
           "last piece\n", stops, inside);
    assert_true(stops > 0 && inside > 0); /* both cases were seen */
    model_free(&m);
    tokenizer_free(&tok);
}

static void test_completion_text(void **state) {
    GenFixture *f = *state;
    Completions c;
    completions_alloc(&c, 2, 6);
    const char *s = "ab=c";
    for (int i = 0; i < 4; i++) c.tokens[i] = f->tok.byte_to_id[(unsigned char)s[i]];
    c.tokens[4] = TOK_EOS;
    c.len[0] = 5;
    c.finish[0] = FINISH_EOS;
    char out[16];
    assert_int_equal(completion_text(&f->tok, &c, 0, out, sizeof out), 4);
    assert_string_equal(out, "ab=c");
    assert_int_equal(completion_text(&f->tok, &c, 0, out, 3), -1); /* overflow */
    c.len[1] = 0;
    assert_int_equal(completion_text(&f->tok, &c, 1, out, sizeof out), 0);
    assert_string_equal(out, "");
    completions_free(&c);
}

/* ---- the stop string and the verifier ---- */

/* A model whose next token depends only on the current one: attention and
 * MLP contribute nothing (zero weights), so the residual stream is the
 * token's embedding, one basis vector per token of from[], and the head
 * maps basis vector k to a large logit for to[k]. Greedy decoding then
 * follows the chain from[k] -> to[k] whatever the prompt before. */
static void bigram_model(Model *m, const Tokenizer *tok, const char *from, const char *to) {
    const int D = 8;
    ModelConfig cfg = {.vocab_size = tok->vocab_size, .dim = D, .n_layers = 1, .n_heads = 2,
                       .n_kv_heads = 1, .hidden_dim = 8, .max_seq_len = 32,
                       .tied_embeddings = 0, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    model_init(m, &cfg);
    memset(m->params, 0, sizeof(float) * m->n_params);
    for (int i = 0; i < D; i++) m->w.rms_att[i] = m->w.rms_ffn[i] = m->w.rms_final[i] = 1.0f;
    assert_true(strlen(from) == strlen(to) && strlen(from) <= (size_t)D);
    for (int k = 0; from[k]; k++) {
        m->w.wte[(size_t)tok->byte_to_id[(unsigned char)from[k]] * D + k] = 1.0f;
        m->w.wcls[(size_t)tok->byte_to_id[(unsigned char)to[k]] * D + k] = 10.0f;
    }
}

/* A jsonl task over one line, all of it in the given split. */
static Task *one_line_task(const char *path, int eval_permille) {
    TaskParams p;
    task_params_default(&p);
    snprintf(p.jsonl_path, sizeof p.jsonl_path, "%s", path);
    p.eval_permille = eval_permille;
    char err[512];
    Task *t = task_create("jsonl", &p, 7, err, sizeof err);
    if (!t) fail_msg("%s", err);
    return t;
}

/* Issue 13.15: with sampler.stop set, a correct answer followed by the stop
 * string used to score zero with every strict verifier, in rollouts and in
 * evaluation alike. Now both score it fully, and the rollout still ships
 * the stop string's tokens with their log-probs. */
static void test_stop_string_not_verified(void **state) {
    (void)state;
    Tokenizer tok;
    tokenizer_init_char(&tok);
    Model m;
    bigram_model(&m, &tok, "=ab#", "ab##"); /* "q=" -> "ab##", stop at "##" */
    char path[] = "/tmp/test_sampler_stop_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"prompt\": \"q=\", \"answer\": \"ab\"}\n", f);
    fclose(f);
    SamplerConfig sc = sampler_cfg(0.0f, 0, 1.0f);
    sc.max_new_tokens = 8;
    snprintf(sc.stop, sizeof sc.stop, "##");

    Task *eval_task = one_line_task(path, 1000);
    EvalResult r;
    evaluate(&m, &tok, eval_task, &sc, 1, 2, 3, &r);
    assert_true(r.greedy_acc == 1.0 && r.greedy_format == 1.0);
    assert_true(r.sampled_acc == 1.0 && r.pass_at_k == 1.0);
    assert_true(r.mean_len == 4.0); /* the stop string's tokens count */
    eval_task->destroy(eval_task);

    Task *train_task = one_line_task(path, 0);
    Roller ro;
    roller_init(&ro, &m, &tok, train_task, NULL, &sc, 2, 1, 1, 11, 1);
    Group g;
    roller_run(&ro, 1, 0, 1, 0, &g);
    const char *want = "ab##";
    int64_t off = 0;
    for (int k = 0; k < g.G; k++) {
        assert_int_equal(g.finish[k], FINISH_STOP);
        assert_int_equal(g.completion_len[k], 4);
        assert_true(g.reward_comp[k * 2 + 0] == 1.0f && g.reward_comp[k * 2 + 1] == 1.0f);
        assert_true(fabsf(g.reward[k] - 1.1f) < 1e-6f);
        for (int t = 0; t < 4; t++) {
            assert_int_equal(g.tokens[off + t], tok.byte_to_id[(unsigned char)want[t]]);
            assert_true(g.old_logprobs[off + t] <= 0 && g.old_logprobs[off + t] > -1e-3f);
        }
        off += g.completion_len[k];
    }
    group_free(&g);
    roller_free(&ro);
    train_task->destroy(train_task);
    unlink(path);
    model_free(&m);
}

/* The verifier text cuts the stop string only when it ended the completion. */
static void test_verifier_text_strips_stop(void **state) {
    GenFixture *f = *state;
    TaskParams p;
    task_params_default(&p);
    char err[256];
    Task *t = task_create("arith", &p, 1, err, sizeof err);
    assert_non_null(t);
    TaskItem it;
    assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, 0, &it), 0);
    char text[TASK_MAX_TEXT + 4];
    snprintf(text, sizeof text, "%s##", it.solution);
    const int n = (int)strlen(text);
    Completions c;
    completions_alloc(&c, 1, n);
    for (int i = 0; i < n; i++) c.tokens[i] = f->tok.byte_to_id[(unsigned char)text[i]];
    c.len[0] = n;
    c.finish[0] = FINISH_STOP;
    char out[TASK_MAX_TEXT + 4];
    assert_int_equal(completion_verifier_text(&f->tok, &c, 0, "##", out, sizeof out), n - 2);
    assert_string_equal(out, it.solution);
    Reward r;
    t->verify(t, &it, out, 1, &r);
    assert_int_equal(r.correct, 1);
    /* cut at the length limit: the text stays as written */
    c.finish[0] = FINISH_LENGTH;
    assert_int_equal(completion_verifier_text(&f->tok, &c, 0, "##", out, sizeof out), n);
    assert_string_equal(out, text);
    /* no stop string configured */
    c.finish[0] = FINISH_EOS;
    assert_int_equal(completion_verifier_text(&f->tok, &c, 0, "", out, sizeof out), n);
    completions_free(&c);
    t->destroy(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_argmax_and_tie),
        cmocka_unit_test(test_logp_matches_reference),
        cmocka_unit_test(test_sample_dist_keep),
        cmocka_unit_test(test_frequencies_full),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test_setup_teardown(test_completion_text, gen_setup, gen_teardown),
        cmocka_unit_test_setup_teardown(test_generate_matches_forward, gen_setup, gen_teardown),
        cmocka_unit_test_setup_teardown(test_generate_truncated_matches_forward, gen_setup,
                                        gen_teardown),
        cmocka_unit_test_setup_teardown(test_generate_deterministic, gen_setup, gen_teardown),
        cmocka_unit_test_setup_teardown(test_generate_streams_batch_invariant, gen_setup,
                                        gen_teardown),
        cmocka_unit_test_setup_teardown(test_generate_topk1_is_greedy, gen_setup, gen_teardown),
        cmocka_unit_test_setup_teardown(test_generate_finish_reasons, gen_setup, gen_teardown),
        cmocka_unit_test_setup_teardown(test_verifier_text_strips_stop, gen_setup, gen_teardown),
        cmocka_unit_test(test_stop_string_not_verified),
        cmocka_unit_test(test_stop_string_bpe_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
