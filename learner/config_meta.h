/* config_meta.h: the META section, the effective config a checkpoint was
 * made under (config_to_string's text). A trained model carries it so a
 * later stage can see how it was made; a resume checkpoint so that
 * resume_config_check can refuse a changed run. */
#ifndef LEARNER_CONFIG_META_H
#define LEARNER_CONFIG_META_H

#include <stddef.h>

#include "checkpoint.h"
#include "config.h"
#include "model.h"
#include "tokenizer.h"

/* Adds META: cfg's text. */
void ckpt_put_config(Checkpoint *ck, const Config *cfg);

/* Writes the checkpoint of m and tok (ckpt_put_model) with META from cfg
 * to path, atomically: 0, or -1 with err naming the path and the reason. */
int write_model_with_config(const char *path, const Model *m, const Tokenizer *tok,
                            const Config *cfg, char *err, size_t errlen);

#endif
