/* samples_log.c: samples.jsonl lines and the console excerpt (samples_log.h). */
#include "samples_log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A JSON string of s. jansson refuses invalid UTF-8, which a model can
 * emit with a byte-level vocabulary: such bytes become '?' so the line
 * still parses. */
static json_t *text_value(const char *s) {
    json_t *v = json_string(s);
    if (v) return v;
    size_t n = strlen(s);
    char *c = xmalloc(n + 1);
    for (size_t i = 0; i <= n; i++) c[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
    v = json_string(c);
    xfree(c);
    CHECK(v);
    return v;
}

/* One line, without its newline, malloc'd. */
static char *sample_line(const char *const *comp_names, long step, const EvalSampleSet *set,
                         const EvalSample *e) {
    json_t *o = json_object(), *r = json_object();
    json_object_set_new(o, "step", json_integer(step));
    json_object_set_new(o, "version", json_integer((json_int_t)set->version));
    json_object_set_new(o, "index", json_integer(e->index));
    json_object_set_new(o, "prompt", text_value(e->prompt));
    json_object_set_new(o, "completion", text_value(e->text));
    json_object_set_new(o, "correct", json_integer(e->correct));
    json_object_set_new(o, "tokens", json_integer(e->tokens));
    for (int q = 0; q < set->n_components; q++)
        json_object_set_new(r, comp_names[q], json_real(e->reward[q]));
    json_object_set_new(o, "reward", r);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) die("building a samples.jsonl line failed: out of memory");
    return s;
}

/* Prints s, control characters shown as ^X-style escapes so a newline
 * in a completion cannot break the console line, cut after max bytes. */
static void put_excerpt(FILE *out, const char *s, size_t max) {
    size_t n = strlen(s);
    fputc('"', out);
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n') fputs("\\n", out);
        else if (ch < 0x20) fprintf(out, "\\x%02x", ch);
        else fputc(ch, out);
    }
    fputc('"', out);
    if (n > max) fprintf(out, "... (%zu bytes)", n);
}

int samples_log_write(LineFile *f, const char *const *comp_names, long step,
                      const EvalSampleSet *set, FILE *console, char *err, size_t errlen) {
    for (int i = 0; i < set->n; i++) {
        char *s = sample_line(comp_names, step, set, &set->s[i]);
        size_t n = strlen(s);
        /* the line and its newline in one write: run_files.h */
        char *line = xmalloc(n + 1);
        memcpy(line, s, n);
        line[n] = '\n';
        free(s);
        int rc = linefile_append(f, line, n + 1, err, errlen);
        xfree(line);
        if (rc != 0) return -1;
    }
    if (console && set->n > 0) {
        const EvalSample *e = &set->s[0];
        fprintf(console, "sample (step %ld, held-out #%u; %d in samples.jsonl): ", step, e->index,
                set->n);
        put_excerpt(console, e->prompt, 80);
        fputs(" -> ", console);
        put_excerpt(console, e->text, 200);
        fputs(" |", console);
        for (int q = 0; q < set->n_components; q++)
            fprintf(console, " %s %.3g", comp_names[q], e->reward[q]);
        fputc('\n', console);
        fflush(console);
    }
    return 0;
}
