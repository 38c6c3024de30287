/* comparisons.h: comparison pairs for the reward model (RLHF step 2) read
 * from a JSON-lines file, one object per non-blank line:
 *   {"prompt": "...", "chosen": "...", "rejected": "..."}
 * (other keys ignored). A pair is tokenized once, at load, as the reward
 * model reads it (reward_model_tokens: BOS prompt completion EOS).
 *
 * Bad input, each named "FILE line N: ..." (the policy: what is malformed
 * refuses the file, what is well formed but teaches nothing is skipped and
 * counted):
 *   refused (load fails):  not valid JSON, not an object, "prompt",
 *                          "chosen" or "rejected" missing, not a string or
 *                          holding a NUL, a character the tokenizer lacks;
 *                          a file that cannot be read, or with no usable
 *                          pair left;
 *   skipped with a warning (each line named, up to COMPARISONS_WARN_LINES
 *                          per reason, then a count): an empty "chosen" or
 *                          "rejected"; chosen identical to rejected (no
 *                          preference: the loss is log 2 whatever the
 *                          model does); a pair whose longer sequence does
 *                          not fit max_seq_len tokens (cutting it could
 *                          cut away the very difference the label is
 *                          about).
 * An empty prompt is allowed (a comparison of unconditioned texts). */
#ifndef COMMON_COMPARISONS_H
#define COMMON_COMPARISONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tokenizer.h"

enum { COMPARISONS_WARN_LINES = 5 };

/* Why a line was skipped. */
typedef enum {
    CMP_SKIP_EMPTY = 0,  /* empty chosen or rejected */
    CMP_SKIP_IDENTICAL,  /* chosen == rejected */
    CMP_SKIP_TOO_LONG,   /* a sequence longer than max_seq_len */
    CMP_SKIP_REASONS
} ComparisonSkip;

typedef struct {
    long line;            /* of the file */
    uint64_t prompt_hash; /* task_item_id(prompt): the held-out split's key */
    int len_c, len_r;     /* tokens of chosen's and rejected's sequences */
    int *chosen, *rejected; /* [len_c], [len_r] token ids, owned */
} Comparison;

typedef struct {
    char *path;            /* owned */
    int n;                 /* usable pairs */
    Comparison *pairs;     /* [n], in file order */
    long lines;            /* non-blank lines read */
    long skipped[CMP_SKIP_REASONS];
    int max_len;           /* longest sequence of any pair */
} Comparisons;

/* Reads path, tokenizing with tok for a model of max_seq_len tokens.
 * Returns the pairs, or NULL with err (see the file comment). Each
 * skipped line is reported on warn (NULL: silent) as "warning: FILE line
 * N: ... (skipped)", then one summary line per reason. */
Comparisons *comparisons_load(const char *path, const Tokenizer *tok, int max_seq_len, FILE *warn,
                              char *err, size_t errlen);
void comparisons_free(Comparisons *c);

/* Total lines skipped. */
long comparisons_skipped(const Comparisons *c);

#endif
