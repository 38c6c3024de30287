/* update.h: one optimizer update of the model from its accumulated
 * gradients (clip, schedule, AdamW, zero the gradients), shared by SFT and
 * the RL learner so both train with exactly the same rule, including the
 * guard against non-finite gradients. */
#ifndef LEARNER_UPDATE_H
#define LEARNER_UPDATE_H

#include "model.h"
#include "optim.h"

/* Exit status of a run stopped because max_nonfinite_steps steps in a row
 * had a non-finite gradient (SFT and train). */
enum { EXIT_NONFINITE = 6 };

typedef struct {
    double grad_norm; /* before clipping; NaN or inf when skipped */
    float lr;         /* of this schedule position (not applied when skipped) */
    int skipped;      /* 1: the gradient was not finite and nothing changed */
} UpdateStats;

/* Applies m->grads to m->params at schedule position step (of total) and
 * zeroes the gradients. A NaN or inf anywhere in the gradient makes its
 * norm non-finite; the update is then skipped: parameters, AdamW moments
 * and AdamW's step count stay as they were (AdamW would otherwise write
 * NaN into every weight, found only later by the sampler). The gradients
 * are zeroed either way. */
UpdateStats model_update(Model *m, AdamW *opt, const OptimSettings *os, long step, long total);

/* Steps in a row that skipped an update, and skipped updates in all. */
typedef struct {
    long in_a_row, total;
} NonfiniteTally;

/* Records one training step that skipped `skipped` updates (0 = all were
 * applied, which ends a run of bad steps). Returns 1 when limit (>= 1)
 * steps in a row have now skipped one: the caller stops with
 * EXIT_NONFINITE. */
int nonfinite_tally(NonfiniteTally *t, int skipped, int limit);

#endif
