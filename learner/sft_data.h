/* sft_data.h: demonstrations for SFT read from JSON-lines files, alone or
 * as a weighted mixture ([sft] data).
 *
 * The spec is a comma-separated list of FILE or FILE:WEIGHT entries, e.g.
 * "new.jsonl,old.jsonl:0.3": a weight is a positive finite number (default
 * 1), relative to the others (they are normalised by their sum). The weight
 * is what follows the last ':', so a path with a ':' needs an explicit
 * weight ("a:b.jsonl:1"); a path cannot hold a ','.
 *
 * Each non-blank line of a file is an object with string fields "prompt"
 * and "completion" (both non-empty, no NUL); other fields ("reward",
 * "source", ...) are ignored. The training sequence is [BOS] prompt
 * completion [EOS], so it must fit [model] max_seq_len tokens. */
#ifndef LEARNER_SFT_DATA_H
#define LEARNER_SFT_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

typedef struct {
    char *path;
    double weight;       /* as given */
    int n;               /* examples */
    char **prompt, **completion; /* [n], owned */
} SftFile;

typedef struct {
    int n_files;
    SftFile *files;      /* [n_files] */
    double *cum;         /* [n_files] cumulative normalised weights, last = 1 */
    uint64_t seed;
} SftData;

/* Checks the syntax of spec (entries and weights, not the files). 0, or
 * -1 with err naming the entry, e.g. "[sft] data entry 'b.jsonl:0': weight
 * '0' is not a positive number". */
int sft_data_check_spec(const char *spec, char *err, size_t errlen);

/* Loads every file of spec and checks every line against tok and
 * max_seq_len. Returns the data, or NULL with err: "FILE line N: ..." for
 * invalid JSON, a missing, non-string or empty prompt/completion, a
 * character tok lacks, a sequence longer than max_seq_len; "FILE: ..." for
 * a file that cannot be opened or has no example. Draws are fixed by seed. */
SftData *sft_data_load(const char *spec, const Tokenizer *tok, int max_seq_len, uint64_t seed,
                       char *err, size_t errlen);
void sft_data_free(SftData *d);

/* The example of draw number index: a file chosen by weight, then a
 * uniform example of it, both fixed by (seed, index). Sets *file (may be
 * NULL) to the file's position in the spec. */
void sft_data_draw(const SftData *d, uint64_t index, const char **prompt, const char **completion,
                   int *file);

#endif
