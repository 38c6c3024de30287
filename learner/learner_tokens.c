/* learner_tokens.c: see learner_tokens.h. */
#include "learner_tokens.h"

/* Copies per-position values (B, T) of the batch of rows L->order[lo, hi)
 * to per-token dst (each row at its own place, L->tok_of). */
void learner_gather_tokens(const Learner *L, int lo, int hi, const float *src, float *dst) {
    for (int i = lo; i < hi; i++) {
        const int r = L->order[i];
        float *d = dst + L->tok_of[r];
        for (int j = 0; j < L->len[r]; j++) d[j] = src[batch_index(&L->batch, i - lo, j)];
    }
}

/* The inverse of learner_gather_tokens: per-token src into the batch's
 * (B, T) dst. */
void learner_scatter_tokens(const Learner *L, int lo, int hi, const float *src, float *dst) {
    for (int i = lo; i < hi; i++) {
        const int r = L->order[i];
        const float *sp = src + L->tok_of[r];
        for (int j = 0; j < L->len[r]; j++) dst[batch_index(&L->batch, i - lo, j)] = sp[j];
    }
}

