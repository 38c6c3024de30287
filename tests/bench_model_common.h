/* bench_model_common.h: what bench_model.c and bench_vocab.c share: the
 * sgemm reference (every timed rep runs right after one sgemm, figures are
 * medians of the ratios) and the train / decode / sample timers, which
 * print one row each and return its tokens/s. Header-only, static inline. */
#ifndef TESTS_BENCH_MODEL_COMMON_H
#define TESTS_BENCH_MODEL_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

#include "model.h"
#include "optim.h"
#include "rng.h"
#include "sampler.h"
#include "tokenizer.h"
#include "util.h"

#include "bench_common.h"

/* A square n x n sgemm, set up once: the machine's reference speed. */
typedef struct {
    int n;
    float *a, *b, *c;
} Sgemm;

static inline void sgemm_init(Sgemm *g, int n) {
    g->n = n;
    g->a = xmalloc(sizeof(float) * n * n);
    g->b = xmalloc(sizeof(float) * n * n);
    g->c = xmalloc(sizeof(float) * n * n);
    Rng r;
    rng_seed(&r, 1, 0);
    for (long i = 0; i < (long)n * n; i++) {
        g->a[i] = rng_uniform(&r) - 0.5f;
        g->b[i] = rng_uniform(&r) - 0.5f;
    }
}

static inline void sgemm_free(Sgemm *g) { xfree(g->a); xfree(g->b); xfree(g->c); }

/* A rate by wall clock and by CPU time. */
typedef struct {
    double wall, cpu;
} Rate;

/* GFLOP/s of one product, by wall clock and by CPU time. */
static inline Rate sgemm_once(const Sgemm *g) {
    int n = g->n;
    double t0 = now_seconds(), c0 = cpu_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, g->a, n, g->b, n, 0.0f,
                g->c, n);
    double f = 2.0 * n * n * (double)n * 1e-9;
    return (Rate){f / (now_seconds() - t0), f / (cpu_seconds() - c0)};
}

/* The machine is shared (other jobs come and go), so every timed rep below
 * runs right after one sgemm, and "% of sgemm" is the median over reps of
 * the rep's GFLOP/s over that sgemm's: drift in the background load hits
 * both halves of a ratio alike. The same ratio by CPU time ("cpu") is the
 * steadier figure when the machine is oversubscribed. */
static Sgemm ref;

static inline double bench_sgemm(int reps) {
    double t[16];
    sgemm_once(&ref); /* warm-up */
    for (int k = 0; k < reps; k++) t[k] = sgemm_once(&ref).wall;
    return median(t, reps);
}

/* 2 FLOPs per matmul parameter (not the norm gains, not the embedding
 * lookup unless it is the head) per token. */
static inline double matmul_params(const ModelConfig *c) {
    size_t s[MODEL_NUM_TENSORS];
    size_t n = model_tensor_sizes(c, s);
    n -= s[1] + s[6] + s[10];
    if (!c->tied_embeddings) n -= s[0];
    return (double)n;
}

/* opt, when not NULL, adds one AdamW step over every parameter to each
 * timed step (its time counts; its FLOPs do not). */
static inline double bench_train(const Model *mc, int B, int T, int reps, AdamW *opt) {
    Model *m = (Model *)mc;
    int N = B * T, V = m->cfg.vocab_size;
    int *tok = xmalloc(sizeof(int) * N), *tgt = xmalloc(sizeof(int) * N);
    float *w = xmalloc(sizeof(float) * N), *logp = xmalloc(sizeof(float) * N);
    Rng r;
    rng_seed(&r, 2, 0);
    for (int i = 0; i < N; i++) {
        tok[i] = (int)rng_below(&r, V);
        tgt[i] = (int)rng_below(&r, V);
        w[i] = 1.0f / N;
    }
    ForwardState *s = forward_state_new(&m->cfg, B, T);
    double t[16], tf[16], ratio[16], cratio[16];
    for (int k = -1; k < reps; k++) { /* k = -1 warms up */
        Rate sg = sgemm_once(&ref);
        double t0 = now_seconds(), c0 = cpu_seconds();
        model_forward(m, s, tok, tgt, B, T, 1.0f, logp, NULL);
        double t1 = now_seconds();
        model_backward(m, s, w);
        if (opt) {
            AdamWConfig ac = {.beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.1f};
            ParamGroup pg = {0, m->n_params, 1};
            adamw_step(opt, &ac, m->params, m->grads, &pg, 1, 1e-4f);
        }
        double t2 = now_seconds();
        if (k >= 0) {
            t[k] = t2 - t0;
            tf[k] = t1 - t0;
            double f = N * model_train_flops_per_token(&m->cfg, T) * 1e-9;
            ratio[k] = f / t[k] / sg.wall;
            cratio[k] = f / (cpu_seconds() - c0) / sg.cpu;
        }
    }
    double sec = median(t, reps), fsec = median(tf, reps);
    double tps = N / sec, gf = tps * model_train_flops_per_token(&m->cfg, T) * 1e-9;
    printf("  train%s B=%-3d T=%d: %8.0f tok/s  %6.1f GFLOP/s  %5.1f%% of sgemm  "
           "(cpu %5.1f%%; step %.0f ms, forward %.0f%%)\n",
           opt ? "+adamw" : "", B, T, tps, gf, 100.0 * median(ratio, reps), 100.0 * median(cratio, reps), 1e3 * sec,
           100.0 * fsec / sec);
    forward_state_free(s);
    xfree(tok); xfree(tgt); xfree(w); xfree(logp);
    return tps;
}

/* Prefills `prompt` tokens into each of n slots (untimed), then times the
 * decode steps that fill every slot to T tokens. */
static inline double bench_decode(const Model *m, int n, int T, int prompt, int reps) {
    const ModelConfig *c = &m->cfg;
    int V = c->vocab_size;
    KVCache *kc = kv_cache_new(c, n, T);
    float *logits = xmalloc(sizeof(float) * n * V);
    int *slots = xmalloc(sizeof(int) * n), *tok = xmalloc(sizeof(int) * n);
    int ptok[64];
    Rng r;
    rng_seed(&r, 3, 0);
    for (int i = 0; i < prompt; i++) ptok[i] = (int)rng_below(&r, V);
    double flops = 0; /* per full decode run */
    for (int pos = prompt; pos < T; pos++)
        flops += n * (2.0 * matmul_params(c) + 4.0 * c->n_layers * c->dim * (pos + 1.0));
    double t[16], ratio[16], cratio[16];
    for (int k = -1; k < reps; k++) {
        kv_cache_reset(kc);
        for (int i = 0; i < n; i++) model_prefill(m, kc, i, ptok, prompt, logits);
        Rate sg = sgemm_once(&ref);
        double t0 = now_seconds(), c0 = cpu_seconds();
        for (int pos = prompt; pos < T; pos++) {
            for (int i = 0; i < n; i++) {
                slots[i] = i;
                tok[i] = (int)rng_below(&r, V);
            }
            model_decode_step(m, kc, slots, tok, n, logits);
        }
        if (k >= 0) {
            t[k] = now_seconds() - t0;
            ratio[k] = flops / t[k] * 1e-9 / sg.wall;
            cratio[k] = flops / (cpu_seconds() - c0) * 1e-9 / sg.cpu;
        }
    }
    double sec = median(t, reps), gf = flops / sec * 1e-9;
    printf("  decode B=%-3d pos %d..%d: %8.0f tok/s  %6.1f GFLOP/s  %5.1f%% of sgemm  (cpu %5.1f%%)\n",
           n, prompt, T - 1, n * (T - prompt) / sec, gf, 100.0 * median(ratio, reps),
           100.0 * median(cratio, reps));
    kv_cache_free(kc);
    xfree(logits); xfree(slots); xfree(tok);
    return n * (T - prompt) / sec;
}

/* The sampling benchmarks' workload: up to 16 random prompts of
 * BENCH_PROMPT_LEN tokens (BOS first, then ordinary ids: 3.. in both
 * tokenizer kinds) drawn from r, and at most BENCH_MAX_NEW new tokens at
 * temperature 1. */
enum { BENCH_PROMPT_LEN = 8, BENCH_MAX_NEW = 56, BENCH_MAX_PROMPTS = 16 };
typedef struct {
    int tok[BENCH_MAX_PROMPTS][BENCH_PROMPT_LEN];
    const int *ptr[BENCH_MAX_PROMPTS];
    int len[BENCH_MAX_PROMPTS];
    SamplerConfig sc;
} BenchPrompts;

static inline void bench_prompts(BenchPrompts *bp, const Tokenizer *tok, int vocab_size,
                                 int n_prompts, Rng *r) {
    CHECK(n_prompts <= BENCH_MAX_PROMPTS);
    for (int p = 0; p < n_prompts; p++) {
        bp->tok[p][0] = tok->bos_id;
        for (int i = 1; i < BENCH_PROMPT_LEN; i++)
            bp->tok[p][i] = 3 + (int)rng_below(r, vocab_size - 3);
        bp->ptr[p] = bp->tok[p];
        bp->len[p] = BENCH_PROMPT_LEN;
    }
    bp->sc = (SamplerConfig){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f,
                             .max_new_tokens = BENCH_MAX_NEW};
}

/* Times generate(): n_prompts random 8-token prompts (BOS first) x G
 * completions at temperature 1, up to 56 new tokens, so a sequence that
 * never samples EOS reaches 64 tokens (random weights sample EOS about once
 * in V tokens, so some stop early: the mean completion length is printed).
 * Tokens/s counts sampled tokens; FLOPs count every model row run: each
 * prompt prefilled once, then one row per fed-back token. */
static inline double bench_sample(const Model *m, const Tokenizer *tok, int n_prompts, int G, int reps) {
    const ModelConfig *c = &m->cfg;
    enum { P = BENCH_PROMPT_LEN, MAX_NEW = BENCH_MAX_NEW };
    int N = n_prompts * G;
    KVCache *kc = kv_cache_new(c, N, P + MAX_NEW);
    BenchPrompts bp;
    Rng r;
    rng_seed(&r, 4, 0);
    bench_prompts(&bp, tok, c->vocab_size, n_prompts, &r);
    Completions comp;
    completions_alloc(&comp, N, MAX_NEW);
    double t[16], fl[16], toks[16], ratio[16], cratio[16];
    double per_row = 2.0 * matmul_params(c), att = 4.0 * c->n_layers * c->dim;
    for (int k = -1; k < reps; k++) {
        Rate sg = sgemm_once(&ref);
        double t0 = now_seconds(), c0 = cpu_seconds();
        generate(m, kc, bp.ptr, bp.len, n_prompts, G, &bp.sc, tok, &r, &comp);
        double dt = now_seconds() - t0, dc = cpu_seconds() - c0;
        if (k < 0) continue;
        double flops = 0, ntok = 0;
        for (int p = 0; p < n_prompts; p++)
            for (int pos = 0; pos < P; pos++) flops += per_row + att * (pos + 1.0);
        for (int j = 0; j < N; j++) {
            ntok += comp.len[j];
            for (int pos = P; pos < P + comp.len[j] - 1; pos++) flops += per_row + att * (pos + 1.0);
        }
        t[k] = dt;
        fl[k] = flops / dt * 1e-9;
        toks[k] = ntok;
        ratio[k] = fl[k] / sg.wall;
        cratio[k] = flops / dc * 1e-9 / sg.cpu;
    }
    double mean_len = median(toks, reps) / N, gf = median(fl, reps);
    printf("  sample B=%-3d (%d x G=%d, mean len %.1f): %8.0f tok/s  %6.1f GFLOP/s  %5.1f%% of "
           "sgemm  (cpu %5.1f%%)\n", N, n_prompts, G, mean_len, N * mean_len / median(t, reps), gf,
           100.0 * median(ratio, reps), 100.0 * median(cratio, reps));
    completions_free(&comp);
    kv_cache_free(kc);
    return N * mean_len / median(t, reps);
}

#endif
