/* bench_learner_step.c: learner_step (grpo_step.c) on the reasoning-sized
 * batch of bench_common.h (16 prompts x G = 8, completions 60-180 tokens,
 * the 107k model), one BLAS thread, by [grpo] micro_batches, beta > 0
 * (reference forward).
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

#include "bench_common.h"
#include "wire.h"

enum { REPS = 5 };

#define PLAN(c) ((TrainPlan *)config_get_mut((c), &plan_section))
#define GRPO(c) ((GrpoSettings *)config_get_mut((c), &grpo_section))
#define SAMP(c) ((SamplingSettings *)config_get_mut((c), &sampling_section))


static void bench(const ModelConfig *mc, Group *g, int minibatches, int epochs, int k) {
    Config *cfg = grpo_config_new();
    PLAN(cfg)->prompts_per_step = BENCH_NP;
    PLAN(cfg)->group_size = BENCH_G;
    PLAN(cfg)->steps = 100;
    SAMP(cfg)->max_new_tokens = BENCH_MAXC;
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
        learner_step(&L, g, BENCH_NP, 0, &m);
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
    const ModelConfig mc = bench_reasoning_model();
    Group g[BENCH_NP];
    bench_reasoning_batch(g);
    printf("learner_step: %d prompts x G=%d, completions 60-180 tokens, dim %d, %d layers, "
           "beta 0.04, 1 thread\n", BENCH_NP, BENCH_G, mc.dim, mc.n_layers);
    const int ks[] = {1, 2, 4, 8};
    for (size_t q = 0; q < sizeof ks / sizeof *ks; q++) bench(&mc, g, 1, 1, ks[q]);
    for (size_t q = 0; q < sizeof ks / sizeof *ks; q += 2) bench(&mc, g, 2, 2, ks[q]);
    for (int i = 0; i < BENCH_NP; i++) group_free(&g[i]);
    return 0;
}
