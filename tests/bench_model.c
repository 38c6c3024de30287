/* bench_model.c: model throughput against the machine's sgemm, one BLAS
 * thread. Prints the OpenBLAS kernel set, sgemm GFLOP/s on a large square
 * product, then per model size the training tokens/s and GFLOP/s (FLOPs
 * from model_train_flops_per_token) and the KV-cache decode tokens/s at 16
 * and 64 slots (2 FLOPs per matmul parameter plus attention per token), each
 * as a fraction of sgemm. Every figure is the median of several runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "model.h"
#include "rng.h"
#include "util.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double bench_sgemm(int n, int reps) {
    float *a = xmalloc(sizeof(float) * n * n), *b = xmalloc(sizeof(float) * n * n);
    float *c = xmalloc(sizeof(float) * n * n);
    Rng r;
    rng_seed(&r, 1, 0);
    for (long i = 0; i < (long)n * n; i++) {
        a[i] = rng_uniform(&r) - 0.5f;
        b[i] = rng_uniform(&r) - 0.5f;
    }
    double t[16];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    for (int k = 0; k < reps; k++) {
        double t0 = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                    c, n);
        t[k] = now_seconds() - t0;
    }
    xfree(a); xfree(b); xfree(c);
    return 2.0 * n * n * (double)n / median(t, reps) * 1e-9;
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

static void bench_train(const Model *mc, int B, int T, int reps, double sgemm_gflops) {
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
    double t[16], tf[16];
    for (int k = -1; k < reps; k++) { /* k = -1 warms up */
        double t0 = now_seconds();
        model_forward(m, s, tok, tgt, B, T, 1.0f, logp, NULL);
        double t1 = now_seconds();
        model_backward(m, s, w);
        double t2 = now_seconds();
        if (k >= 0) {
            t[k] = t2 - t0;
            tf[k] = t1 - t0;
        }
    }
    double sec = median(t, reps), fsec = median(tf, reps);
    double tps = N / sec, gf = tps * model_train_flops_per_token(&m->cfg, T) * 1e-9;
    printf("  train  B=%-3d T=%d: %8.0f tok/s  %6.1f GFLOP/s  %5.1f%% of sgemm  "
           "(step %.0f ms, forward %.0f%%)\n",
           B, T, tps, gf, 100.0 * gf / sgemm_gflops, 1e3 * sec, 100.0 * fsec / sec);
    forward_state_free(s);
    xfree(tok); xfree(tgt); xfree(w); xfree(logp);
}

/* Prefills `prompt` tokens into each of n slots (untimed), then times the
 * decode steps that fill every slot to T tokens. */
static void bench_decode(const Model *m, int n, int T, int prompt, int reps,
                         double sgemm_gflops) {
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
    double t[16];
    for (int k = -1; k < reps; k++) {
        kv_cache_reset(kc);
        for (int i = 0; i < n; i++) model_prefill(m, kc, i, ptok, prompt, logits);
        double t0 = now_seconds();
        for (int pos = prompt; pos < T; pos++) {
            for (int i = 0; i < n; i++) {
                slots[i] = i;
                tok[i] = (int)rng_below(&r, V);
            }
            model_decode_step(m, kc, slots, tok, n, logits);
        }
        if (k >= 0) t[k] = now_seconds() - t0;
    }
    double sec = median(t, reps), gf = flops / sec * 1e-9;
    printf("  decode B=%-3d pos %d..%d: %8.0f tok/s  %6.1f GFLOP/s  %5.1f%% of sgemm\n", n, prompt,
           T - 1, n * (T - prompt) / sec, gf, 100.0 * gf / sgemm_gflops);
    kv_cache_free(kc);
    xfree(logits); xfree(slots); xfree(tok);
}

int main(void) {
    blas_set_threads(1);
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS core %s%s%s, 1 thread\n", blas_corename(), ct ? ", OPENBLAS_CORETYPE=" : "",
           ct ? ct : "");
    double sg = bench_sgemm(2048, 5);
    printf("sgemm 2048^3: %.1f GFLOP/s (median of 5)\n", sg);

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
        bench_train(&m, 32, 64, 5, sg);
        bench_train(&m, 64, 64, 3, sg);
        bench_decode(&m, 16, 64, 8, 5, sg);
        bench_decode(&m, 64, 64, 8, 5, sg);
        model_free(&m);
    }
    return 0;
}
