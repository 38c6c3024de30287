/* bench_common.h: what the benchmarks share: medians, the thread's CPU
 * clock, and the learner benchmarks' reasoning-sized batch (16 prompts x
 * G = 8, completions 60-180 tokens: half the groups short like the sums,
 * half long like the products) with its 107k model (dim 64, 2 layers, 4
 * heads, hidden 176, vocab 98, max_seq_len 192). Header-only: every
 * benchmark is one file linked against libgrpo. */
#ifndef TESTS_BENCH_COMMON_H
#define TESTS_BENCH_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "model.h"
#include "rng.h"
#include "wire.h"

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v). */
static inline double median(double *v, int n) {
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* CPU seconds of this thread: unlike wall time, it stops while another
 * job holds the core (cache and memory sharing still show). */
static inline double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

enum { BENCH_NP = 16, BENCH_G = 8, BENCH_PLEN = 10, BENCH_MAXC = 180 };

static inline ModelConfig bench_reasoning_model(void) {
    ModelConfig mc = {.vocab_size = 98, .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 4,
                      .hidden_dim = 176, .max_seq_len = 192, .tied_embeddings = 1,
                      .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    return mc;
}

/* The batch g[0 .. BENCH_NP), the same for a given seed on every rank. */
static inline void bench_reasoning_batch(Group *g) {
    Rng r;
    rng_seed(&r, 11, 0);
    for (int i = 0; i < BENCH_NP; i++) {
        int len[BENCH_G];
        int64_t n = 0;
        for (int k = 0; k < BENCH_G; k++) {
            len[k] = i % 2 ? 150 + (int)rng_below(&r, BENCH_MAXC - 150 + 1)
                           : 60 + (int)rng_below(&r, 31);
            n += len[k];
        }
        group_alloc(&g[i], BENCH_G, BENCH_PLEN, 1, n);
        g[i].actor_rank = 1;
        g[i].seq_no = (uint64_t)i;
        g[i].prompt[0] = 1;
        for (int j = 1; j < BENCH_PLEN; j++) g[i].prompt[j] = 3 + (int)rng_below(&r, 95);
        for (int64_t j = 0; j < n; j++) {
            g[i].tokens[j] = 3 + (int)rng_below(&r, 95);
            g[i].old_logprobs[j] = -4.585f + 0.1f * (rng_uniform(&r) - 0.5f); /* ~ log(1/98) */
        }
        for (int k = 0; k < BENCH_G; k++) {
            g[i].completion_len[k] = len[k];
            g[i].reward[k] = g[i].reward_comp[k] = (float)((i + k) % 3 == 0);
            g[i].finish[k] = WIRE_FINISH_EOS;
        }
    }
}

#endif
