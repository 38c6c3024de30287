/* test_model_weights.h: random weights and logits for the tests that need
 * a model whose outputs differ between tokens. */
#ifndef TESTS_TEST_MODEL_WEIGHTS_H
#define TESTS_TEST_MODEL_WEIGHTS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rng.h"
#include "util.h"

/* Fills m's (initialised) weights from the generator (seed, stream):
 * matrices N(0, scale), gains 1 + N(0, gain_sd). model_init_weights'
 * N(0, 0.02) would leave attention uniform, the network nearly linear and
 * the log-probs nearly equal, so a wrong kernel could pass. */
static inline void fill_test_weights(Model *m, uint64_t seed, uint64_t stream, float scale,
                                     float gain_sd) {
    size_t s[MODEL_NUM_TENSORS];
    model_tensor_sizes(&m->cfg, s);
    Rng r;
    rng_seed(&r, seed, stream);
    float *p = m->params;
    for (int i = 0; i < MODEL_NUM_TENSORS; i++) {
        for (size_t j = 0; j < s[i]; j++)
            p[j] = model_tensor_decays(i) ? scale * rng_normal(&r) : 1.0f + gain_sd * rng_normal(&r);
        p += s[i];
    }
}

/* m's logits (T, V) on the one row seq (T tokens, each one's target the
 * next, cyclically), at temperature 1; the caller frees them. */
static inline float *logits_on(const Model *m, const int *seq, int T) {
    ForwardState *s = forward_state_new(&m->cfg, 1, T);
    int *targets = xmalloc(sizeof(int) * (size_t)T);
    float *logp = xmalloc(sizeof(float) * (size_t)T);
    for (int t = 0; t < T; t++) targets[t] = seq[(t + 1) % T];
    model_forward(m, s, seq, targets, 1, T, 1.0f, logp, NULL);
    size_t n = (size_t)T * m->cfg.vocab_size;
    float *out = xmalloc(sizeof(float) * n);
    memcpy(out, forward_state_logits(s, NULL, NULL), sizeof(float) * n);
    forward_state_free(s);
    free(targets);
    free(logp);
    return out;
}

#endif
