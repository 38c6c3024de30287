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
/* grpo export --format llama2c|llama2c-v1|hf --checkpoint X.ckpt --out PATH
 *   [--tokenizer-out FILE]
 * hf writes tokenizer.json beside the weights; llama2c / llama2c-v1 write
 * tokenizer.bin to --tokenizer-out FILE (overwritten), else to tokenizer.bin
 * in the --out file's directory, refusing (before writing anything) to
 * replace one there that holds another tokenizer. A tokenizer with no
 * tokenizer.bin form (the character one, byte-level BPE) is said so and the
 * model file alone written, or refused with --tokenizer-out. */
int export_command(Config *cfg, const CliArgs *a);

/* The tokenizer an imported model m runs with; source is the file or
 * directory m came from. file: a tokenizer.bin or tokenizer.json
 * (tokenizer_load_file); a model with more embedding rows than it has
 * tokens (a padded vocabulary) has the extra rows dropped (model_trim_vocab;
 * *dropped says how many), one with fewer is refused. NULL: the character
 * tokenizer, whose size the vocabulary must equal (another size is a
 * forgotten --tokenizer, not padding). 0, or -1 with err. Free *tok with
 * tokenizer_free. */
int import_tokenizer(Model *m, const char *source, const char *file, Tokenizer *tok,
                     int *dropped, char *err, size_t errlen);

#endif
