/* bench_step_batch.h: the GRPO-step batch issue 12's rows are stated on,
 * shared by bench_perf_targets.c and bench_perf_two_cores_mpi.c: 4 prompts
 * x G = 8, prompt 32 + completion 96 tokens (random tokens, old log-probs
 * ~ log(1/V)), the same on every run and every rank. Header-only. */
#ifndef TESTS_BENCH_STEP_BATCH_H
#define TESTS_BENCH_STEP_BATCH_H

#include <stdint.h>

#include "rng.h"
#include "wire.h"

enum { STEP_NP = 4, STEP_G = 8, STEP_PLEN = 32, STEP_CLEN = 96 };

static inline void step_batch(Group *g, int V) {
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

#endif
