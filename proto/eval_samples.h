/* eval_samples.h: a few held-out prompts with the greedy completions of an
 * evaluation, for users to read while a run trains (samples.jsonl).
 *
 * The actors make them: each actor keeps the greedy completions of the held-out items
 * with index < [eval] samples that fall in its share, and sends them to the
 * learner right after its tally (TAG_EVAL_SAMPLES; usually only one actor's
 * message is not empty). On the wire, little-endian:
 *   off size  field
 *    0   4    magic         "GSMP"
 *    4   4    n             u32 samples that follow, <= EVAL_SAMPLES_MAX
 *    8   8    version       u64 policy version evaluated
 *   16   4    n_components  u32 reward components, <= TASK_MAX_COMPONENTS
 *   20   4    reserved      u32, 0
 * then n samples, indices strictly increasing, each:
 *    0   4    index         u32 held-out item (task_eval_item)
 *    4   4    correct       u32 0 or 1
 *    8   4    tokens        u32 completion length in tokens
 *   12   4    prompt_len    u32 bytes, <= EVAL_SAMPLE_TEXT_MAX
 *   16   4    text_len      u32 bytes of the completion, <= EVAL_SAMPLE_TEXT_MAX
 *   20  32    reward        4 x f64 reward components (finite; the
 *                               verifier's, TASK_MAX_COMPONENTS)
 *   52   .    prompt bytes, then completion bytes (no NUL; not terminated)
 * The message ends exactly after the last sample. */
#ifndef PROTO_EVAL_SAMPLES_H
#define PROTO_EVAL_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "task.h"

/* Caps that the decoder enforces, so a hostile length cannot make the
 * learner allocate without bound. A completion is at most max_new_tokens
 * tokens; the actor cuts a longer text at EVAL_SAMPLE_TEXT_MAX bytes. */
enum {
    EVAL_SAMPLES_MAX = 64,
    EVAL_SAMPLE_TEXT_MAX = 4096,
    EVAL_SAMPLES_HEADER = 24,
    EVAL_SAMPLE_FIXED = 52,
};

typedef struct {
    uint32_t index;
    int correct, tokens;
    double reward[TASK_MAX_COMPONENTS];
    char *prompt, *text; /* owned, NUL-terminated */
} EvalSample;

typedef struct {
    uint64_t version;
    int n_components;
    int n, cap;
    EvalSample *s; /* owned */
} EvalSampleSet;

/* An empty set; every EvalSampleSet is freed with eval_samples_free. */
void eval_samples_init(EvalSampleSet *set, int n_components);
void eval_samples_free(EvalSampleSet *set);
/* Appends a copy of prompt and text (each cut at EVAL_SAMPLE_TEXT_MAX bytes). */
void eval_samples_add(EvalSampleSet *set, uint32_t index, int correct, int tokens,
                      const double *reward, const char *prompt, const char *text);
/* Moves every sample of src into dst and keeps dst sorted by index (the
 * actors' shares arrive in any order); src is left empty. */
void eval_samples_merge(EvalSampleSet *dst, EvalSampleSet *src);

/* Encodes set into a malloc'd buffer (*out, *len). */
void eval_samples_encode(const EvalSampleSet *set, uint8_t **out, size_t *len);
/* Decodes a message into an initialised set (emptied first). 0, or -1 with
 * err naming what is wrong (magic, a count over its cap, a length that runs
 * past the end, a non-finite reward, a NUL in a text, unsorted indices,
 * trailing bytes); the set is then empty. */
int eval_samples_decode(const uint8_t *in, size_t len, EvalSampleSet *set, char *err,
                        size_t errlen);

#endif
