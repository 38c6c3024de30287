/* rm_batch.h: comparison pairs through the reward model: n pairs as one
 * model_forward_values of 2n right-padded rows (chosen at row 2i,
 * rejected at 2i + 1, padded to the batch's longest; the padding is not
 * computed: the forward is given each row's length), each reward read at
 * its sequence's last token (EOS), the Bradley-Terry loss (bt_loss.h) and
 * its gradient put back at those positions for model_backward_values.
 * Used by rm-train's steps and its held-out accuracy alike. */
#ifndef LEARNER_RM_BATCH_H
#define LEARNER_RM_BATCH_H

#include "comparisons.h"
#include "model.h"

typedef struct {
    int max_pairs, L;
    int *tokens;      /* (2 max_pairs, L) */
    float *values;    /* (2 max_pairs, L) */
    float *d_values;  /* (2 max_pairs, L) */
    int *len;         /* (2 max_pairs) each row's tokens */
    int *last;        /* (2 max_pairs) index in tokens/values of each row's last token */
    float *rc, *rr;   /* (max_pairs) rewards of chosen and rejected */
    float *gc, *gr;   /* (max_pairs) dL/dR of each (the batch mean's) */
    ForwardState *fs;
} RmBatch;

/* Buffers for up to max_pairs pairs of sequences of up to L tokens. */
void rm_batch_init(RmBatch *b, const ModelConfig *mc, int max_pairs, int L);
void rm_batch_free(RmBatch *b);

/* Runs pairs[idx[0..n)] forward and reads the rewards into b->rc, b->rr.
 * Returns T, the padded length; adds the real tokens to *tokens. */
int rm_batch_forward(const Model *m, RmBatch *b, const Comparison *pairs, const int *idx, int n,
                     int pad, long long *tokens);

/* Accumulates into m->grads the gradient of the mean Bradley-Terry loss
 * of pairs[idx[0..n)] and returns that loss; *correct gets the pairs
 * ranked right (ties 1/2), *tokens gains the real tokens. */
double rm_step_grad(Model *m, RmBatch *b, const Comparison *pairs, const int *idx, int n, int pad,
                    double *correct, long long *tokens);

/* Pairwise accuracy of m on pairs[idx[0..n)] (ties count 1/2), in
 * forwards of b->max_pairs pairs. */
double rm_accuracy(const Model *m, RmBatch *b, const Comparison *pairs, const int *idx, int n,
                   int pad);

#endif
