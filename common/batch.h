/* batch.h: packing variable-length sequences into the right-padded (B, T)
 * arrays model_forward takes.
 *
 * A sequence is prompt tokens (BOS first) followed by completion tokens.
 * Row b holds inputs seq[0..n-2] and targets seq[1..n-1], so completion
 * token j of row b is scored at target index prompt_len - 1 + j. T is the
 * longest row of the batch, not the model's maximum: short batches cost
 * less. Padding has token PAD and weight 0. */
#ifndef COMMON_BATCH_H
#define COMMON_BATCH_H

#include "packed_layout.h"

typedef struct {
    int max_B, max_len;  /* capacity: rows, tokens per sequence */
    int B, T;            /* current rows and padded row length (targets) */
    int *seq;            /* (max_B, max_len) raw sequences */
    int *seq_len;        /* (max_B) */
    int *prompt_len;     /* (max_B) */
    int *tokens;         /* (B, T) inputs, after batch_layout */
    int *targets;        /* (B, T) */
    float *weights;      /* (B, T) per-target weights, zeroed by batch_layout */
    int *first;          /* (B) target index of row r's first completion token,
                          * prompt_len - 1 (batch_layout): model_forward_from's
                          * first, as no loss scores a prompt token */
    PackedLayout layout; /* the positions to compute (batch_layout): rows with
                          * the same prompt share its first prompt_len - 1
                          * positions; padding is left out (model_forward_batch) */
    int *n_pos;          /* (max_B) row r's positions, seq_len - 1 (batch_layout) */
    int *shared, *key, *distinct; /* (max_B) batch_layout's scratch for layout */
} SeqBatch;

void batch_init(SeqBatch *b, int max_B, int max_len);
void batch_free(SeqBatch *b);
void batch_clear(SeqBatch *b);
/* Appends prompt + completion as a new row; returns the row index. A full
 * batch or a sequence longer than max_len fails a CHECK (a caller bug:
 * lengths are bounded by the config, and the learner's wire limits reject
 * records that would not fit). */
int batch_add(SeqBatch *b, const int *prompt, int plen, const int *completion, int clen);
/* Lays rows out into tokens/targets with T = longest row - 1, zeroes
 * weights, sets first, and builds layout: rows whose prompts are equal
 * (length and tokens) share the positions before the prompt's last token
 * (every one whose input and context is prompt alone, save the one the
 * first completion token is scored at, which the head needs per row). */
void batch_layout(SeqBatch *b);
/* Index into the (B, T) arrays of completion token j of row r. */
static inline int batch_index(const SeqBatch *b, int r, int j) {
    return r * b->T + b->prompt_len[r] - 1 + j;
}

#endif
