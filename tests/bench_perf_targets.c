/* bench_perf_targets.c: the rows issue 12's performance targets are stated
 * in, at the ~1M and ~4M sizes of bench_model.c (V = 98, untied head,
 * max_seq_len 256), one BLAS thread, each as a fraction of an sgemm run just
 * before it (bench_model_common.h):
 *   - train+adamw (forward + backward + one AdamW step) at T = 64 (B = 32)
 *     and T = 256 (B = 8): the same 2048 tokens a step;
 *   - the GRPO learner step (learner_step, default [grpo]: beta 0.01 so the
 *     reference forward runs, micro_batches 4) on 4 prompts x G = 8, prompt
 *     32 + completion 96 tokens (random tokens, old log-probs ~ log(1/V)).
 *     Useful tokens are the completion tokens (the only ones the loss reads);
 *     its useful FLOPs count each of them once as a training token at
 *     T = 128 (model_train_flops_per_token) plus once as a reference forward
 *     (a third of that), so work the step need not do (prompt positions'
 *     head, the G copies of a shared prompt) lowers the fraction. "positions
 *     run" is StepMetrics.learner_tokens: the positions the trunk computed
 *     over the step's reference and policy forwards, each group's prompt
 *     once per forward and no padding (2 x 4 x (31 + 8 x 96) = 6392 here;
 *     the padded (B, T) grid would be 2 x 32 x 127 = 8128);
 *   - sampling, generate() at temperature 1, B = 16 and 64;
 *   - "packed matmul": matmul_forward_packed alone (the decode products,
 *     model_kernels.h) at one decode step's shapes, rows = 16 and 64: per
 *     layer the fused QKV (D -> 3D), Wo (D -> D), the fused W1;W3 (D ->
 *     2 HF), W2 (HF -> D), then the head (D -> V), over all L layers'
 *     weights packed as decoding packs them; GFLOP/s per product and all
 *     together, the total also as a fraction of sgemm;
 *   - "sample KV prefetch": the sampling rows with KVCache.prefetch on and
 *     off, alternating, the same seed (the same tokens and log-probs, checked): the
 *     median of the per-pair time ratios off / on, which is what
 *     kernel_kv_prefetch()'s choice for this CPU rests on.
 * Every figure is the median of BENCH_REPS timed reps (default 5; at most
 * 15) after one warm-up. BENCH_ONLY=substring runs only the rows whose
 * label contains it, e.g. BENCH_ONLY="~1M train+adamw T=256" BENCH_REPS=1
 * for a profiler (valgrind --tool=callgrind), with BENCH_SGEMM_N=64 so the
 * reference sgemm (default 2048^3) does not fill the profile. Peak RSS at
 * exit is printed beside memory_needed()'s estimate of the largest training
 * row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_setup.h"
#include "config.h"
#include "grpo_step.h"
#include "kernel_dispatch.h"
#include "memory.h"
#include "model.h"
#include "model_kernels.h"
#include "optim.h"
#include "rng.h"
#include "sections.h"
#include "tokenizer.h"
#include "util.h"
#include "wire.h"

#include "bench_common.h"
#include "bench_fma_peak.h"
#include "bench_model_common.h"
#include "bench_step_batch.h"

enum { MAX_REPS = 15 };

#define PLAN(c) ((TrainPlan *)config_get_mut((c), &plan_section))
#define SAMP(c) ((SamplingSettings *)config_get_mut((c), &sampling_section))

/* generate() on n_prompts x G with the KV cache's software prefetch on and
 * off in turn (after one warm-up pair): the median off / on time ratio, so
 * > 1 means prefetching pays on this CPU. */
static void bench_kv_prefetch(const Model *m, const Tokenizer *tok, int n_prompts, int G,
                              int reps) {
    enum { MAX_NEW = BENCH_MAX_NEW };
    const int N = n_prompts * G;
    KVCache *kc = kv_cache_new(&m->cfg, N, BENCH_PROMPT_LEN + MAX_NEW);
    BenchPrompts bp;
    Rng r;
    rng_seed(&r, 4, 0);
    bench_prompts(&bp, tok, m->cfg.vocab_size, n_prompts, &r);
    Completions comp[2];
    completions_alloc(&comp[0], N, MAX_NEW);
    completions_alloc(&comp[1], N, MAX_NEW);
    double ratio[MAX_REPS], t[2][MAX_REPS];
    for (int k = -1; k < reps; k++) {
        double dt[2];
        for (int on = 1; on >= 0; on--) {
            kc->prefetch = on;
            rng_seed(&r, 5, (uint64_t)k + 1); /* both runs sample the same tokens */
            const double t0 = now_seconds();
            generate(m, kc, bp.ptr, bp.len, n_prompts, G, &bp.sc, tok, &r, &comp[on]);
            dt[on] = now_seconds() - t0;
        }
        for (int j = 0; j < N; j++)
            CHECK(comp[0].len[j] == comp[1].len[j] &&
                  memcmp(comp[0].tokens + (size_t)j * MAX_NEW, comp[1].tokens + (size_t)j * MAX_NEW,
                         sizeof(int) * comp[0].len[j]) == 0 &&
                  memcmp(comp[0].logp + (size_t)j * MAX_NEW, comp[1].logp + (size_t)j * MAX_NEW,
                         sizeof(float) * comp[0].len[j]) == 0);
        if (k < 0) continue;
        t[1][k] = dt[1];
        t[0][k] = dt[0];
        ratio[k] = dt[0] / dt[1];
    }
    const double on = median(t[1], reps), off = median(t[0], reps);
    printf("  sample KV prefetch B=%-3d: on %.1f ms, off %.1f ms, off / on %.3f (median of %d "
           "pairs; > 1: prefetching pays); this CPU's default: %s\n", N, on * 1e3, off * 1e3,
           median(ratio, reps), reps, kernel_kv_prefetch() ? "on" : "off");
    completions_free(&comp[0]);
    completions_free(&comp[1]);
    kv_cache_free(kc);
}

/* Whether the row labelled `label` runs under BENCH_ONLY. */
static int row_selected(const char *label) {
    const char *only = getenv("BENCH_ONLY");
    return !only || !*only || strstr(label, only) != NULL;
}

/* BENCH_REPS, or 5; dies naming the variable when it is out of 1..15. */
static int bench_reps(void) {
    const char *s = getenv("BENCH_REPS");
    if (!s || !*s) return 5;
    char *end;
    long n = strtol(s, &end, 10);
    if (*end || n < 1 || n > MAX_REPS)
        die("bench_perf_targets.c: BENCH_REPS=%s: want an integer in 1..%d", s, MAX_REPS);
    return (int)n;
}

/* BENCH_SGEMM_N, or 2048: the reference sgemm's size. */
static int bench_sgemm_n(void) {
    const char *s = getenv("BENCH_SGEMM_N");
    if (!s || !*s) return 2048;
    char *end;
    long n = strtol(s, &end, 10);
    if (*end || n < 16 || n > 8192)
        die("bench_perf_targets.c: BENCH_SGEMM_N=%s: want an integer in 16..8192", s);
    return (int)n;
}

/* Times learner_step on step_batch with a fresh policy and reference. */
static void bench_grpo_step(const ModelConfig *mc, int reps) {
    Config *cfg = grpo_config_new();
    PLAN(cfg)->prompts_per_step = STEP_NP;
    PLAN(cfg)->group_size = STEP_G;
    PLAN(cfg)->steps = 100;
    SAMP(cfg)->max_new_tokens = STEP_CLEN;
    Model policy, refm;
    model_init(&policy, mc);
    model_init_weights(&policy, 1);
    model_init(&refm, mc);
    model_init_weights(&refm, 1);
    model_alloc_grads(&policy);
    Learner L;
    learner_init(&L, &policy, &refm, cfg);
    Group g[STEP_NP];
    step_batch(g, mc->vocab_size);
    const double useful = (double)STEP_NP * STEP_G * STEP_CLEN;
    const double flops = useful * model_train_flops_per_token(mc, STEP_PLEN + STEP_CLEN) * (4.0 / 3.0);
    double t[MAX_REPS], ratio[MAX_REPS], cratio[MAX_REPS];
    StepMetrics m;
    for (int k = -1; k < reps; k++) { /* k = -1 warms up */
        Rate sg = sgemm_once(&ref);
        double t0 = now_seconds(), c0 = cpu_seconds();
        learner_step(&L, g, STEP_NP, 0, &m);
        double dt = now_seconds() - t0, dc = cpu_seconds() - c0;
        if (k < 0) continue;
        t[k] = dt;
        ratio[k] = flops / dt * 1e-9 / sg.wall;
        cratio[k] = flops / dc * 1e-9 / sg.cpu;
    }
    double sec = median(t, reps);
    printf("  grpo step %d x G=%d, prompt %d + completion %d: %8.0f useful tok/s  %6.1f useful "
           "GFLOP/s  %5.1f%% of sgemm  (cpu %5.1f%%; step %.0f ms, %ld positions run for %ld "
           "useful)\n", STEP_NP, STEP_G, STEP_PLEN, STEP_CLEN, useful / sec, flops / sec * 1e-9,
           100.0 * median(ratio, reps), 100.0 * median(cratio, reps), 1e3 * sec,
           m.learner_tokens, m.tokens);
    for (int i = 0; i < STEP_NP; i++) group_free(&g[i]);
    learner_free(&L);
    model_free(&policy);
    model_free(&refm);
    config_free(cfg);
}

/* The decode products of one step over L layers (see the top). */
enum { PK_QKV, PK_O, PK_13, PK_2, PK_HEAD, PK_COUNT };

static void bench_packed_matmul(const ModelConfig *mc, int rows, int reps) {
    const int D = mc->dim, HF = mc->hidden_dim, V = mc->vocab_size, L = mc->n_layers;
    const int Cs[PK_COUNT] = {D, D, D, HF, D}, OCs[PK_COUNT] = {3 * D, D, 2 * HF, D, V};
    const char *names[PK_COUNT] = {"qkv", "o", "w13", "w2", "head"};
    float *w[PK_COUNT], *x = xmalloc(sizeof(float) * rows * (size_t)(HF > D ? HF : D));
    float *y = xmalloc(sizeof(float) * rows * (size_t)(2 * HF > 3 * D ? 2 * HF : 3 * D));
    Rng r;
    rng_seed(&r, 9, 0);
    for (int i = 0; i < rows * (HF > D ? HF : D); i++) x[i] = rng_normal(&r);
    for (int j = 0; j < PK_COUNT; j++) {
        const int nl = j == PK_HEAD ? 1 : L;
        const size_t per = matmul_packed_floats(Cs[j], OCs[j]);
        w[j] = xcalloc(per * nl, sizeof(float));
        for (size_t i = 0; i < per * nl; i++) w[j][i] = 0.05f * rng_normal(&r);
    }
    /* ~20 ms of work per timed rep */
    double step_flops = 0;
    for (int j = 0; j < PK_COUNT; j++)
        step_flops += 2.0 * rows * Cs[j] * OCs[j] * (j == PK_HEAD ? 1 : L);
    const int iters = (int)(2e9 / step_flops) + 1;
    double tj[PK_COUNT][MAX_REPS], tall[MAX_REPS], ratio[MAX_REPS], cratio[MAX_REPS];
    for (int k = -1; k < reps; k++) {
        Rate sg = sgemm_once(&ref);
        double all = 0, c0 = cpu_seconds();
        for (int j = 0; j < PK_COUNT; j++) {
            const int nl = j == PK_HEAD ? 1 : L;
            const size_t per = matmul_packed_floats(Cs[j], OCs[j]);
            double t0 = now_seconds();
            for (int it = 0; it < iters; it++)
                for (int l = 0; l < nl; l++)
                    matmul_forward_packed(y, OCs[j], x, Cs[j], w[j] + l * per, rows, Cs[j], OCs[j],
                                          0.0f);
            double dt = now_seconds() - t0;
            all += dt;
            if (k >= 0) tj[j][k] = 2.0 * rows * Cs[j] * OCs[j] * nl * iters / dt * 1e-9;
        }
        const double dc = cpu_seconds() - c0;
        if (k < 0) continue;
        tall[k] = step_flops * iters / all * 1e-9;
        ratio[k] = tall[k] / sg.wall;
        cratio[k] = step_flops * iters / dc * 1e-9 / sg.cpu;
    }
    printf("  packed matmul rows=%-2d:", rows);
    for (int j = 0; j < PK_COUNT; j++)
        printf(" %s %dx%d %.1f,", names[j], Cs[j], OCs[j], median(tj[j], reps));
    printf(" all %.1f GFLOP/s  %5.1f%% of sgemm  (cpu %5.1f%%)\n", median(tall, reps),
           100.0 * median(ratio, reps), 100.0 * median(cratio, reps));
    for (int j = 0; j < PK_COUNT; j++) xfree(w[j]);
    xfree(x);
    xfree(y);
}

int main(void) {
    blas_set_threads(1);
    char compute[256];
    blas_describe(compute, sizeof compute);
    printf("%s\n", compute);
    const int reps = bench_reps();
    Tokenizer *tok = xmalloc(sizeof *tok);
    tokenizer_init_char(tok);
    const int sn = bench_sgemm_n();
    sgemm_init(&ref, sn);
    const double sg = bench_sgemm(5);
    printf("sgemm %d^3: %.1f GFLOP/s (median of 5; each figure below is a median of %d ratios "
           "to an sgemm run just before it)\n", sn, sg, reps);
    int fma_bits = 0;
    const double peak = bench_fma_peak(5, &fma_bits);
    if (peak > 0)
        printf("FMA peak (%d-bit, registers only): %.1f GFLOP/s; sgemm is %.0f%% of it (a row at "
               "X%% of sgemm runs at %.2f X%% of the peak)\n", fma_bits, peak,
               100.0 * sg / peak, sg / peak);

    struct { const char *name; int D, L, NH, HF; } sizes[2] = {
        {"~1M", 128, 4, 4, 352}, {"~4M", 256, 4, 8, 688}};
    const struct { int B, T; } train[2] = {{32, 64}, {8, 256}};
    double est_max = 0;
    for (int i = 0; i < 2; i++) {
        ModelConfig c = {.vocab_size = 98, .dim = sizes[i].D, .n_layers = sizes[i].L,
                         .n_heads = sizes[i].NH, .n_kv_heads = sizes[i].NH,
                         .hidden_dim = sizes[i].HF, .max_seq_len = 256, .tied_embeddings = 0,
                         .rope_theta = 10000.0f, .norm_eps = 1e-5f};
        Model m;
        model_init(&m, &c);
        model_init_weights(&m, 1);
        model_alloc_grads(&m);
        AdamW opt;
        adamw_init(&opt, m.n_params);
        printf("%s model: D=%d L=%d NH=%d HF=%d V=%d, %.2fM params\n", sizes[i].name, c.dim,
               c.n_layers, c.n_heads, c.hidden_dim, c.vocab_size, m.n_params * 1e-6);
        char label[96];
        for (int j = 0; j < 2; j++) {
            snprintf(label, sizeof label, "%s train+adamw T=%d", sizes[i].name, train[j].T);
            if (!row_selected(label)) continue;
            bench_train(&m, train[j].B, train[j].T, reps, &opt);
            double est = memory_needed(&c, ROLE_SFT, train[j].B, train[j].T, 0) / (1 << 20);
            if (est > est_max) est_max = est;
        }
        snprintf(label, sizeof label, "%s grpo step", sizes[i].name);
        if (row_selected(label)) bench_grpo_step(&c, reps);
        for (int n = 4; n <= 16; n *= 4) {
            snprintf(label, sizeof label, "%s sample B=%d", sizes[i].name, n * 4);
            if (row_selected(label)) bench_sample(&m, tok, n, 4, reps);
        }
        for (int n = 4; n <= 16; n *= 4) {
            snprintf(label, sizeof label, "%s sample KV prefetch B=%d", sizes[i].name, n * 4);
            if (row_selected(label)) bench_kv_prefetch(&m, tok, n, 4, reps);
        }
        for (int rows = 16; rows <= 64; rows *= 4) {
            snprintf(label, sizeof label, "%s packed matmul rows=%d", sizes[i].name, rows);
            if (row_selected(label)) bench_packed_matmul(&c, rows, reps);
        }
        adamw_free(&opt);
        model_free(&m);
    }
    printf("peak RSS at exit: %.0f MiB; largest training row's estimate %.0f MiB (memory_needed, "
           "ROLE_SFT; 0: no training row ran) + %.0f MiB sgemm buffers\n", peak_rss_mib(),
           est_max, 3.0 * sn * sn * 4 / (1 << 20));
    xfree(tok);
    sgemm_free(&ref);
    return 0;
}
