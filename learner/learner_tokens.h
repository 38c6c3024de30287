/* learner_tokens.h: between the two layouts of a learner step's numbers:
 * per position of the padded batch (B, T), as the model's forwards give
 * and its backwards take them, and per completion token (each row's run
 * at L->tok_of), as the losses work on them. */
#ifndef LEARNER_LEARNER_TOKENS_H
#define LEARNER_LEARNER_TOKENS_H

#include "learner_state.h"

/* Per-position src (B, T) of the batch of rows L->order[lo, hi) laid out
 * in L->batch into per-token dst. */
void learner_gather_tokens(const Learner *L, int lo, int hi, const float *src, float *dst);
/* The inverse: per-token src into the batch's (B, T) dst. */
void learner_scatter_tokens(const Learner *L, int lo, int hi, const float *src, float *dst);

#endif
