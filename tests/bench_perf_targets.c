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
 *     head, the G copies of a shared prompt) lowers the fraction;
 *   - sampling, generate() at temperature 1, B = 16 and 64.
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
#include "memory.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "sections.h"
#include "tokenizer.h"
#include "util.h"
#include "wire.h"

#include "bench_common.h"
#include "bench_model_common.h"

enum { STEP_NP = 4, STEP_G = 8, STEP_PLEN = 32, STEP_CLEN = 96, MAX_REPS = 15 };

#define PLAN(c) ((TrainPlan *)config_get_mut((c), &plan_section))
#define SAMP(c) ((SamplingSettings *)config_get_mut((c), &sampling_section))

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

/* 4 prompts x G = 8, prompt 32 + completion 96 tokens, the same every run. */
static void step_batch(Group *g, int V) {
    Rng r;
    rng_seed(&r, 12, 0);
    for (int i = 0; i < STEP_NP; i++) {
        group_alloc(&g[i], STEP_G, STEP_PLEN, 1, (int64_t)STEP_G * STEP_CLEN);
        g[i].actor_rank = 1;
        g[i].seq_no = (uint64_t)i;
        g[i].prompt[0] = 1;
        for (int j = 1; j < STEP_PLEN; j++) g[i].prompt[j] = 3 + (int)rng_below(&r, V - 3);
        for (int j = 0; j < STEP_G * STEP_CLEN; j++) {
            g[i].tokens[j] = 3 + (int)rng_below(&r, V - 3);
            g[i].old_logprobs[j] = -4.585f + 0.1f * (rng_uniform(&r) - 0.5f); /* ~ log(1/98) */
        }
        for (int k = 0; k < STEP_G; k++) {
            g[i].completion_len[k] = STEP_CLEN;
            g[i].reward[k] = g[i].reward_comp[k] = (float)((i + k) % 3 == 0);
            g[i].finish[k] = WIRE_FINISH_LENGTH;
        }
    }
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
    printf("sgemm %d^3: %.1f GFLOP/s (median of 5; each figure below is a median of %d ratios "
           "to an sgemm run just before it)\n", sn, bench_sgemm(5), reps);

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
