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
 * grpo import --from hf DIR --out X.ckpt [--tokenizer FILE] (an hf directory's
 * tokenizer.json is taken by itself) */
int import_command(Config *cfg, const CliArgs *a);
/* grpo export --format llama2c|llama2c-v1|hf --checkpoint X.ckpt --out PATH */
int export_command(Config *cfg, const CliArgs *a);

/* The tokenizer an imported model of m's vocabulary runs with; source is
 * the file or directory it came from. file: a tokenizer.bin or
 * tokenizer.json (tokenizer_load_file), whose size must equal the
 * model's vocabulary; NULL: the character tokenizer, when the vocabulary
 * is its size. 0, or -1 with err. Free *tok with tokenizer_free. */
int import_tokenizer(const Model *m, const char *source, const char *file, Tokenizer *tok,
                     char *err, size_t errlen);

#endif
