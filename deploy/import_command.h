/* import_command.h: `grpo import` and `grpo export`, other programs' model
 * files to and from this project's checkpoints (common/model_formats.h). */
#ifndef DEPLOY_IMPORT_COMMAND_H
#define DEPLOY_IMPORT_COMMAND_H

#include <stddef.h>

#include "cli.h"
#include "config.h"
#include "model.h"
#include "tokenizer.h"

/* grpo import --from llama2c FILE --out X.ckpt
 * grpo import --from hf DIR --out X.ckpt */
int import_command(Config *cfg, const CliArgs *a);
/* grpo export --format llama2c|llama2c-v1|hf --checkpoint X.ckpt --out PATH */
int export_command(Config *cfg, const CliArgs *a);

/* The tokenizer an imported model of m's vocabulary runs with; source is
 * the file or directory it came from. Today: the character tokenizer when
 * the vocabulary is its size, else -1 with err (tokenizer.bin /
 * tokenizer.json import is the next piece). The one place a tokenizer
 * loader plugs in. */
int import_tokenizer(const Model *m, const char *source, Tokenizer *tok, char *err,
                     size_t errlen);

#endif
