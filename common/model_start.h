/* model_start.h: the model a training command (sft, distill) starts from. */
#ifndef COMMON_MODEL_START_H
#define COMMON_MODEL_START_H

#include <stddef.h>

#include "config.h"
#include "model.h"
#include "tokenizer.h"

/* The model a training command starts from: the checkpoint at init
 * (ckpt_read_model_with; its shape recorded in cfg by model_config_adopt,
 * which refuses a contradicting [model] override), or, when init is "",
 * fresh weights of cfg's [model] shape seeded by run.seed. key names the
 * setting in errors ("[sft] init"). 0, or -1 with err (m not built). */
int model_start(Config *cfg, const char *init, const char *key, const Tokenizer *tok, Model *m,
                char *err, size_t errlen);

#endif
