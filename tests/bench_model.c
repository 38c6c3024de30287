/* bench_model.c: model throughput against the machine's sgemm, one BLAS
 * thread. Prints the OpenBLAS kernel set, sgemm GFLOP/s on a large square
 * product, then per model size the training tokens/s and GFLOP/s (FLOPs
 * from model_train_flops_per_token) and the KV-cache decode tokens/s at 16
 * and 64 slots (2 FLOPs per matmul parameter plus attention per token), and
 * full sampling, generate() at 16 and 64 sequences (the same FLOPs per model
 * row, over the rows it actually ran: prefill and decode), each as a
 * fraction of sgemm. Every figure is the median of several runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "model.h"
#include "rng.h"
#include "sampler.h"
#include "tokenizer.h"
#include "blas_setup.h"
#include "util.h"

#include "bench_common.h"

/* A square n x n sgemm, set up once: the machine's reference speed. */
typedef struct {
    int n;
    float *a, *b, *c;
} Sgemm;

static void sgemm_init(Sgemm *g, int n) {
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

static void sgemm_free(Sgemm *g) { xfree(g->a); xfree(g->b); xfree(g->c); }

/* A rate by wall clock and by CPU time. */
typedef struct {
    double wall, cpu;
} Rate;

/* GFLOP/s of one product, by wall clock and by CPU time. */
static Rate sgemm_once(const Sgemm *g) {
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

static double bench_sgemm(int reps) {
    double t[16];
    sgemm_once(&ref); /* warm-up */
    for (int k = 0; k < reps; k++) t[k] = sgemm_once(&ref).wall;
    return median(t, reps);
}

/* 2 FLOPs per matmul parameter (not the norm gains, not the embedding
 * lookup unless it is the head) per token. */
static double matmul_params(const ModelConfig *c) {
    size_t s[MODEL_NUM_TENSORS];
    size_t n = model_tensor_sizes(c, s);
    n -= s[1] + s[6] + s[10];
    if (!c->tied_embeddings) n -= s[0];
    return (double)n;
}

static void bench_train(const Model *mc, int B, int T, int reps) {
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
    printf("  train  B=%-3d T=%d: %8.0f tok/s  %6.1f GFLOP/s  %5.1f%% of sgemm  "
           "(cpu %5.1f%%; step %.0f ms, forward %.0f%%)\n",
           B, T, tps, gf, 100.0 * median(ratio, reps), 100.0 * median(cratio, reps), 1e3 * sec,
           100.0 * fsec / sec);
    forward_state_free(s);
    xfree(tok); xfree(tgt); xfree(w); xfree(logp);
}

/* Prefills `prompt` tokens into each of n slots (untimed), then times the
 * decode steps that fill every slot to T tokens. */
static void bench_decode(const Model *m, int n, int T, int prompt, int reps) {
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
}

/* Times generate(): n_prompts random 8-token prompts (BOS first) x G
 * completions at temperature 1, up to 56 new tokens, so a sequence that
 * never samples EOS reaches 64 tokens (random weights sample EOS about once
 * in V tokens, so some stop early: the mean completion length is printed).
 * Tokens/s counts sampled tokens; FLOPs count every model row run: each
 * prompt prefilled once, then one row per fed-back token. */
static void bench_sample(const Model *m, const Tokenizer *tok, int n_prompts, int G, int reps) {
    const ModelConfig *c = &m->cfg;
    enum { P = 8, MAX_NEW = 56 };
    int N = n_prompts * G;
    KVCache *kc = kv_cache_new(c, N, P + MAX_NEW);
    int pbuf[16][P];
    const int *prompts[16];
    int plen[16];
    Rng r;
    rng_seed(&r, 4, 0);
    CHECK(n_prompts <= 16);
    for (int p = 0; p < n_prompts; p++) {
        pbuf[p][0] = TOK_BOS;
        for (int i = 1; i < P; i++) pbuf[p][i] = TOK_EOS + 1 + (int)rng_below(&r, c->vocab_size - 3);
        prompts[p] = pbuf[p];
        plen[p] = P;
    }
    SamplerConfig sc = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .max_new_tokens = MAX_NEW};
    Completions comp;
    completions_alloc(&comp, N, MAX_NEW);
    double t[16], fl[16], toks[16], ratio[16], cratio[16];
    double per_row = 2.0 * matmul_params(c), att = 4.0 * c->n_layers * c->dim;
    for (int k = -1; k < reps; k++) {
        Rate sg = sgemm_once(&ref);
        double t0 = now_seconds(), c0 = cpu_seconds();
        generate(m, kc, prompts, plen, n_prompts, G, &sc, tok, &r, &comp);
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
}

int main(void) {
    blas_set_threads(1);
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS core %s (openblas_get_corename), OPENBLAS_CORETYPE=%s, 1 thread\n",
           blas_corename(), ct ? ct : "(unset)");
    Tokenizer *tok = xmalloc(sizeof *tok);
    tokenizer_init_char(tok);
    sgemm_init(&ref, 2048);
    printf("sgemm 2048^3: %.1f GFLOP/s (median of 5; each figure below is a median of ratios to "
           "an sgemm run just before it)\n", bench_sgemm(5));

    struct { const char *name; int D, L, NH, HF; } sizes[2] = {
        {"~1M", 128, 4, 4, 352}, {"~4M", 256, 4, 8, 688}};
    for (int i = 0; i < 2; i++) {
        ModelConfig c = {.vocab_size = 98, .dim = sizes[i].D, .n_layers = sizes[i].L,
                         .n_heads = sizes[i].NH, .n_kv_heads = sizes[i].NH,
                         .hidden_dim = sizes[i].HF, .max_seq_len = 64, .tied_embeddings = 0,
                         .rope_theta = 10000.0f, .norm_eps = 1e-5f};
        Model m;
        model_init(&m, &c);
        model_init_weights(&m, 1);
        model_alloc_grads(&m);
        printf("%s model: D=%d L=%d NH=%d HF=%d V=%d, %.2fM params, %.1f MFLOP/train token\n",
               sizes[i].name, c.dim, c.n_layers, c.n_heads, c.hidden_dim, c.vocab_size,
               m.n_params * 1e-6, model_train_flops_per_token(&c, 64) * 1e-6);
        bench_train(&m, 32, 64, 5);
        bench_train(&m, 64, 64, 3);
        bench_decode(&m, 16, 64, 8, 5);
        bench_decode(&m, 64, 64, 8, 5);
        bench_sample(&m, tok, 4, 4, 5);
        bench_sample(&m, tok, 16, 4, 5);
        model_free(&m);
    }
    xfree(tok);
    sgemm_free(&ref);
    return 0;
}
