/* model_internal.h: what model.c and model_decode.c (the training and the
 * decoding paths of one model) share, and nobody else uses. */
#ifndef COMMON_MODEL_INTERNAL_H
#define COMMON_MODEL_INTERNAL_H

#include "model.h"

/* The LM head's weights (V, D): wcls, or wte when tied. */
const float *model_lm_head(const Model *m);
/* Dies unless m has head kind `head` (what = the caller, for the message):
 * the wrong head is a programming error, never data. */
void model_require_head(const Model *m, int head, const char *what);

#endif
