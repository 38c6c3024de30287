/* update.h: one optimizer update of the model from its accumulated
 * gradients (clip, schedule, AdamW, zero the gradients), shared by SFT and
 * the RL learner so both train with exactly the same rule. */
#ifndef LEARNER_UPDATE_H
#define LEARNER_UPDATE_H

#include "model.h"
#include "optim.h"

typedef struct {
    double grad_norm; /* before clipping */
    float lr;
} UpdateStats;

/* Applies m->grads to m->params at schedule position step (of total) and
 * zeroes the gradients. */
UpdateStats model_update(Model *m, AdamW *opt, const OptimSettings *os, long step, long total);

#endif
