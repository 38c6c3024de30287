/* bench_learner_step.c: learner_step (grpo_step.c) on a reasoning-sized
 * batch, one BLAS thread, by [grpo] micro_batches: 16 prompts x G = 8,
 * completions 60-180 tokens (half the groups short like the sums, half
 * long like the products), the 107k model (dim 64, 2 layers, 4 heads,
 * hidden 176, vocab 98, max_seq_len 192), beta > 0 (reference forward).
 * Prints per setting the positions the forwards ran (padding included) and
 * the median wall and thread-CPU seconds of 5 steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas_setup.h"
#include "config.h"
#include "grpo_step.h"
#include "model.h"
#include "rng.h"
#include "sections.h"
#include "util.h"
#include "wire.h"

enum { NP = 16, G = 8, PLEN = 10, MAXC = 180, REPS = 5 };

#define PLAN(c) ((TrainPlan *)config_get_mut((c), &plan_section))
#define GRPO(c) ((GrpoSettings *)config_get_mut((c), &grpo_section))
#define SAMP(c) ((SamplingSettings *)config_get_mut((c), &sampling_section))

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void make_batch(Group *g) {
    Rng r;
    rng_seed(&r, 11, 0);
    for (int i = 0; i < NP; i++) {
        int len[G];
        int64_t n = 0;
        for (int k = 0; k < G; k++) {
            len[k] = i % 2 ? 150 + (int)rng_below(&r, MAXC - 150 + 1) : 60 + (int)rng_below(&r, 31);
            n += len[k];
        }
        group_alloc(&g[i], G, PLEN, 1, n);
        g[i].actor_rank = 1;
        g[i].seq_no = (uint64_t)i;
        g[i].prompt[0] = 1;
        for (int j = 1; j < PLEN; j++) g[i].prompt[j] = 3 + (int)rng_below(&r, 95);
        for (int64_t j = 0; j < n; j++) {
            g[i].tokens[j] = 3 + (int)rng_below(&r, 95);
            g[i].old_logprobs[j] = -4.585f + 0.1f * (rng_uniform(&r) - 0.5f); /* ~ log(1/98) */
        }
        for (int k = 0; k < G; k++) {
            g[i].completion_len[k] = len[k];
            g[i].reward[k] = g[i].reward_comp[k] = (float)((i + k) % 3 == 0);
            g[i].finish[k] = WIRE_FINISH_EOS;
        }
    }
}

static void bench(const ModelConfig *mc, Group *g, int minibatches, int epochs, int k) {
    Config *cfg = grpo_config_new();
    PLAN(cfg)->prompts_per_step = NP;
    PLAN(cfg)->group_size = G;
    PLAN(cfg)->steps = 100;
    SAMP(cfg)->max_new_tokens = MAXC;
    GRPO(cfg)->beta = 0.04f;
    GRPO(cfg)->minibatches = minibatches;
    GRPO(cfg)->inner_epochs = epochs;
    GRPO(cfg)->micro_batches = k;
    Model policy, ref;
    model_init(&policy, mc);
    model_init_weights(&policy, 1);
    model_init(&ref, mc);
    model_init_weights(&ref, 1);
    model_alloc_grads(&policy);
    Learner L;
    learner_init(&L, &policy, &ref, cfg);
    double wall[REPS], cpu[REPS];
    StepMetrics m;
    for (int rep = 0; rep < REPS; rep++) {
        const double w0 = now_seconds(), c0 = cpu_seconds();
        learner_step(&L, g, NP, 0, &m);
        wall[rep] = now_seconds() - w0;
        cpu[rep] = cpu_seconds() - c0;
    }
    printf("  minibatches %d, inner_epochs %d, micro_batches %d: %8ld positions (%ld tokens), "
           "%.3f s wall, %.3f s cpu (medians of %d)\n",
           minibatches, epochs, k, m.learner_tokens, m.tokens, median(wall, REPS),
           median(cpu, REPS), REPS);
    learner_free(&L);
    model_free(&policy);
    model_free(&ref);
    config_free(cfg);
}

int main(void) {
    blas_set_threads(1);
    ModelConfig mc = {.vocab_size = 98, .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 4,
                      .hidden_dim = 176, .max_seq_len = 192, .tied_embeddings = 1,
                      .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Group g[NP];
    make_batch(g);
    printf("learner_step: %d prompts x G=%d, completions 60-180 tokens, dim %d, %d layers, "
           "beta 0.04, 1 thread\n", NP, G, mc.dim, mc.n_layers);
    const int ks[] = {1, 2, 4, 8};
    for (size_t q = 0; q < sizeof ks / sizeof *ks; q++) bench(&mc, g, 1, 1, ks[q]);
    for (size_t q = 0; q < sizeof ks / sizeof *ks; q += 2) bench(&mc, g, 2, 2, ks[q]);
    for (int i = 0; i < NP; i++) group_free(&g[i]);
    return 0;
}
