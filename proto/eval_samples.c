/* eval_samples.c: the held-out samples message (layout in eval_samples.h). */
#include "eval_samples.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "wire.h"

_Static_assert(EVAL_SAMPLE_FIXED == 20 + 8 * TASK_MAX_COMPONENTS,
               "a sample's fixed part holds exactly the verifier's components");

void eval_samples_init(EvalSampleSet *set, int n_components) {
    memset(set, 0, sizeof *set);
    CHECK(n_components >= 0 && n_components <= TASK_MAX_COMPONENTS);
    set->n_components = n_components;
}

static void clear(EvalSampleSet *set) {
    for (int i = 0; i < set->n; i++) {
        xfree(set->s[i].prompt);
        xfree(set->s[i].text);
    }
    set->n = 0;
}

void eval_samples_free(EvalSampleSet *set) {
    clear(set);
    xfree(set->s);
    set->s = NULL;
    set->cap = 0;
}

static char *copy_text(const char *p, size_t n) {
    if (n > EVAL_SAMPLE_TEXT_MAX) n = EVAL_SAMPLE_TEXT_MAX;
    char *c = xmalloc(n + 1);
    memcpy(c, p, n);
    c[n] = '\0';
    return c;
}

/* Room for one more sample; returns it, zeroed. */
static EvalSample *push(EvalSampleSet *set) {
    if (set->n == set->cap) {
        int cap = set->cap ? 2 * set->cap : 4;
        EvalSample *grown = xcalloc((size_t)cap, sizeof *grown);
        if (set->n) memcpy(grown, set->s, (size_t)set->n * sizeof *grown);
        xfree(set->s);
        set->s = grown;
        set->cap = cap;
    }
    EvalSample *e = &set->s[set->n++];
    memset(e, 0, sizeof *e);
    return e;
}

void eval_samples_add(EvalSampleSet *set, uint32_t index, int correct, int tokens,
                      const double *reward, const char *prompt, const char *text) {
    EvalSample *e = push(set);
    e->index = index;
    e->correct = correct != 0;
    e->tokens = tokens;
    for (int q = 0; q < set->n_components; q++) e->reward[q] = reward[q];
    e->prompt = copy_text(prompt, strlen(prompt));
    e->text = copy_text(text, strlen(text));
}

static int by_index(const void *a, const void *b) {
    uint32_t x = ((const EvalSample *)a)->index, y = ((const EvalSample *)b)->index;
    return x < y ? -1 : x > y;
}

void eval_samples_merge(EvalSampleSet *dst, EvalSampleSet *src) {
    for (int i = 0; i < src->n; i++) *push(dst) = src->s[i]; /* texts change owner */
    src->n = 0;
    if (src->version > dst->version) dst->version = src->version;
    if (dst->n > 1) qsort(dst->s, (size_t)dst->n, sizeof *dst->s, by_index); /* s may be NULL */
}

void eval_samples_encode(const EvalSampleSet *set, uint8_t **out, size_t *len) {
    CHECK(set->n <= EVAL_SAMPLES_MAX);
    size_t total = EVAL_SAMPLES_HEADER;
    for (int i = 0; i < set->n; i++)
        total += EVAL_SAMPLE_FIXED + strlen(set->s[i].prompt) + strlen(set->s[i].text);
    uint8_t *p = xmalloc(total);
    memcpy(p, "GSMP", 4);
    wire_put_u32(p + 4, (uint32_t)set->n);
    wire_put_u64(p + 8, set->version);
    wire_put_u32(p + 16, (uint32_t)set->n_components);
    wire_put_u32(p + 20, 0);
    size_t off = EVAL_SAMPLES_HEADER;
    for (int i = 0; i < set->n; i++) {
        const EvalSample *e = &set->s[i];
        size_t pl = strlen(e->prompt), tl = strlen(e->text);
        wire_put_u32(p + off, e->index);
        wire_put_u32(p + off + 4, (uint32_t)e->correct);
        wire_put_u32(p + off + 8, (uint32_t)e->tokens);
        wire_put_u32(p + off + 12, (uint32_t)pl);
        wire_put_u32(p + off + 16, (uint32_t)tl);
        for (int q = 0; q < TASK_MAX_COMPONENTS; q++)
            wire_put_f64(p + off + 20 + 8 * q, q < set->n_components ? e->reward[q] : 0);
        off += EVAL_SAMPLE_FIXED;
        memcpy(p + off, e->prompt, pl);
        memcpy(p + off + pl, e->text, tl);
        off += pl + tl;
    }
    CHECK(off == total);
    *out = p;
    *len = total;
}

/* -1 with err, the set emptied. */
static int bad(EvalSampleSet *set, char *err, size_t errlen, const char *what, long v) {
    set_err(err, errlen, "eval samples: %s (%ld)", what, v);
    clear(set);
    return -1;
}

int eval_samples_decode(const uint8_t *in, size_t len, EvalSampleSet *set, char *err,
                        size_t errlen) {
    clear(set);
    if (!in || len < EVAL_SAMPLES_HEADER || memcmp(in, "GSMP", 4) != 0)
        return bad(set, err, errlen, "not a GSMP message; its length in bytes", (long)len);
    uint32_t n = wire_get_u32(in + 4), nc = wire_get_u32(in + 16);
    if (n > EVAL_SAMPLES_MAX) return bad(set, err, errlen, "more samples than EVAL_SAMPLES_MAX", n);
    if (nc > TASK_MAX_COMPONENTS)
        return bad(set, err, errlen, "more reward components than TASK_MAX_COMPONENTS", nc);
    if (wire_get_u32(in + 20) != 0)
        return bad(set, err, errlen, "reserved word is not 0", (long)wire_get_u32(in + 20));
    set->version = wire_get_u64(in + 8);
    set->n_components = (int)nc;
    size_t off = EVAL_SAMPLES_HEADER;
    for (uint32_t i = 0; i < n; i++) {
        if (len - off < EVAL_SAMPLE_FIXED)
            return bad(set, err, errlen, "message ends inside the fixed part of sample", i);
        const uint8_t *p = in + off;
        uint32_t index = wire_get_u32(p), correct = wire_get_u32(p + 4);
        uint32_t pl = wire_get_u32(p + 12), tl = wire_get_u32(p + 16);
        if (i > 0 && index <= set->s[i - 1].index)
            return bad(set, err, errlen, "held-out indices not strictly increasing at sample", i);
        if (correct > 1) return bad(set, err, errlen, "correct is neither 0 nor 1 in sample", i);
        if (pl > EVAL_SAMPLE_TEXT_MAX || tl > EVAL_SAMPLE_TEXT_MAX)
            return bad(set, err, errlen, "a text longer than EVAL_SAMPLE_TEXT_MAX in sample", i);
        if (len - off - EVAL_SAMPLE_FIXED < (size_t)pl + tl)
            return bad(set, err, errlen, "texts run past the end of the message in sample", i);
        double r[TASK_MAX_COMPONENTS];
        for (int q = 0; q < TASK_MAX_COMPONENTS; q++) {
            r[q] = wire_get_f64(p + 20 + 8 * q);
            if (!isfinite(r[q])) return bad(set, err, errlen, "a non-finite reward in sample", i);
        }
        const char *pt = (const char *)p + EVAL_SAMPLE_FIXED, *tt = pt + pl;
        if (memchr(pt, '\0', pl) || memchr(tt, '\0', tl))
            return bad(set, err, errlen, "a NUL byte in the text of sample", i);
        EvalSample *e = push(set);
        e->index = index;
        e->correct = (int)correct;
        e->tokens = (int)wire_get_u32(p + 8);
        memcpy(e->reward, r, sizeof r);
        e->prompt = copy_text(pt, pl);
        e->text = copy_text(tt, tl);
        off += EVAL_SAMPLE_FIXED + pl + tl;
    }
    if (off != len) return bad(set, err, errlen, "trailing bytes after the last sample", (long)(len - off));
    return 0;
}
