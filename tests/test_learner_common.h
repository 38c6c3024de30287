/* test_learner_common.h: what the learner_step tests (test_learner_step.c,
 * test_ppo_step.c, test_grpo_micro_batches.c, test_learner_shards.c) build
 * their steps from: the config views they adjust, a one-layer policy with
 * weights that make log-probs differ, and groups made by hand. */
#ifndef TESTS_TEST_LEARNER_COMMON_H
#define TESTS_TEST_LEARNER_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "config.h"
#include "grpo_step.h"
#include "model.h"
#include "sample_dist.h"
#include "sections.h"
#include "test_model_weights.h"
#include "util.h"
#include "wire.h"

/* Writable views of the sections a test adjusts. */
#define PLAN(c) ((TrainPlan *)config_get_mut((c), &plan_section))
#define GRPO(c) ((GrpoSettings *)config_get_mut((c), &grpo_section))
#define SAMP(c) ((SamplingSettings *)config_get_mut((c), &sampling_section))

/* One layer, dim 16, two heads over one KV head, tied embeddings: a step
 * of it takes milliseconds. */
static inline ModelConfig learner_test_model(int vocab, int max_seq_len) {
    ModelConfig c = {.vocab_size = vocab, .dim = 16, .n_layers = 1, .n_heads = 2,
                     .n_kv_heads = 1, .hidden_dim = 32, .max_seq_len = max_seq_len,
                     .tied_embeddings = 1, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    return c;
}

/* m initialised to c with weights large enough that log-probs differ
 * between tokens (N(0, 0.02) leaves the output nearly uniform). */
static inline void learner_test_init(Model *m, const ModelConfig *c, uint64_t seed) {
    model_init(m, c);
    fill_test_weights(m, seed, 3, 0.3f, 0.1f);
}

/* Per-token log-probs of completion comp (clen tokens) after prompt (plen)
 * under m and dist, in the layout the learner scores it in (sampler.h). */
static inline void completion_logps(const Model *m, const SampleDist *dist, const int *prompt,
                                    int plen, const int *comp, int clen, float *out) {
    SeqBatch b;
    batch_init(&b, 1, m->cfg.max_seq_len);
    batch_add(&b, prompt, plen, comp, clen);
    batch_layout(&b);
    ForwardState *fs = forward_state_new(&m->cfg, 1, b.T);
    float *logp = xmalloc(sizeof(float) * (size_t)b.T);
    model_forward_dist(m, fs, b.tokens, b.targets, 1, b.T, dist, logp, NULL);
    for (int j = 0; j < clen; j++) out[j] = logp[batch_index(&b, 0, j)];
    free(logp);
    forward_state_free(fs);
    batch_free(&b);
}

/* A handmade group: a 3-token prompt, up to 4 completions of up to 4
 * tokens (len[k] each), their rewards. */
enum { SPEC_PLEN = 3, SPEC_MAXG = 4, SPEC_MAXC = 4 };
typedef struct {
    int prompt[SPEC_PLEN];
    int comp[SPEC_MAXG][SPEC_MAXC];
    int len[SPEC_MAXG];
    float reward[SPEC_MAXG];
} Spec;

static const Spec spec_a = {{1, 2, 3}, {{4, 5, 6, 2}, {7, 8, 0, 0}}, {4, 2}, {1.0f, 0.0f}};
static const Spec spec_b = {{1, 9, 9}, {{3, 3, 0, 0}, {10, 4, 5, 0}}, {2, 3}, {0.0f, 1.0f}};

/* Group g of the first G completions of s (seq_no orders groups), with old
 * log-probs under model `behaviour` and dist, shifted by shift[k] per
 * completion (NULL: none): old = logp + shift, so the first-step ratio is
 * exp(-shift). */
static inline void spec_group(Group *g, const Spec *s, int G, uint64_t seq_no,
                              const Model *behaviour, const SampleDist *dist,
                              const double *shift) {
    int64_t n = 0;
    for (int k = 0; k < G; k++) n += s->len[k];
    group_alloc(g, G, SPEC_PLEN, 1, n);
    g->actor_rank = 1;
    g->seq_no = seq_no;
    memcpy(g->prompt, s->prompt, sizeof s->prompt);
    int64_t off = 0;
    for (int k = 0; k < G; k++) {
        g->completion_len[k] = s->len[k];
        memcpy(g->tokens + off, s->comp[k], sizeof(int) * (size_t)s->len[k]);
        completion_logps(behaviour, dist, s->prompt, SPEC_PLEN, s->comp[k], s->len[k],
                         g->old_logprobs + off);
        if (shift)
            for (int j = 0; j < s->len[k]; j++) g->old_logprobs[off + j] += (float)shift[k];
        g->reward[k] = g->reward_comp[k] = s->reward[k];
        g->finish[k] = WIRE_FINISH_EOS;
        off += s->len[k];
    }
}

#endif
