/* samples_log.c: samples.jsonl lines and the console excerpt (samples_log.h). */
#include "samples_log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
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
    json_object_set_new(o, "kind", json_string("eval"));
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

/* The text of n token ids (specials skipped), malloc'd. The intake has
 * checked every id against the vocabulary, so a failure is a bug. */
static char *decode_text(const Tokenizer *tok, const int32_t *ids, int n) {
    size_t cap = (size_t)n * (size_t)tok->max_piece + 1;
    char *out = xmalloc(cap);
    CHECK(tokenizer_decode(tok, ids, n, out, cap) >= 0);
    return out;
}

/* Appends s and its newline as one line (run_files.h: whole lines only);
 * frees s. */
static int append_line(LineFile *f, char *s, char *err, size_t errlen) {
    size_t n = strlen(s);
    char *line = xmalloc(n + 1);
    memcpy(line, s, n);
    line[n] = '\n';
    free(s);
    int rc = linefile_append(f, line, n + 1, err, errlen);
    xfree(line);
    return rc;
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
    for (int i = 0; i < set->n; i++)
        if (append_line(f, sample_line(comp_names, step, set, &set->s[i]), err, errlen) != 0)
            return -1;
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

/* One completion k of a training group, without its newline, malloc'd.
 * Its numbers are floats: 9 significant digits read back to the same float. */
static char *train_line(const char *const *comp_names, long step, const Group *g, int k,
                        float adv, const char *prompt, const char *text) {
    json_t *o = json_object(), *r = json_object();
    json_object_set_new(o, "kind", json_string("train"));
    json_object_set_new(o, "step", json_integer(step));
    json_object_set_new(o, "version", json_integer((json_int_t)g->policy_version));
    json_object_set_new(o, "actor", json_integer(g->actor_rank));
    json_object_set_new(o, "seq", json_integer((json_int_t)g->seq_no));
    json_object_set_new(o, "index", json_integer(k));
    json_object_set_new(o, "prompt", text_value(prompt));
    json_object_set_new(o, "completion", text_value(text));
    json_object_set_new(o, "reward_total", json_real(g->reward[k]));
    for (int q = 0; q < g->n_components; q++)
        json_object_set_new(r, comp_names[q], json_real(g->reward_comp[k * g->n_components + q]));
    json_object_set_new(o, "reward", r);
    json_object_set_new(o, "advantage", json_real(adv));
    json_object_set_new(o, "tokens", json_integer(g->completion_len[k]));
    json_object_set_new(o, "truncated", json_boolean(g->finish[k] == WIRE_FINISH_LENGTH));
    json_object_set_new(o, "status", json_string(reward_status_name(g->status[k])));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!s) die("building a samples.jsonl line failed: out of memory");
    return s;
}

/* Past this many completions the console line says how many it left out. */
enum { GROUP_EXCERPT_MAX = 16 };

int samples_log_write_group(LineFile *f, const char *const *comp_names, long step, const Group *g,
                            const float *adv, const Tokenizer *tok, FILE *console, char *err,
                            size_t errlen) {
    char *prompt = decode_text(tok, g->prompt, g->prompt_len);
    int rc = 0;
    int64_t off = 0;
    for (int k = 0; k < g->G && rc == 0; k++) {
        char *text = decode_text(tok, g->tokens + off, g->completion_len[k]);
        rc = append_line(f, train_line(comp_names, step, g, k, adv[k], prompt, text), err, errlen);
        xfree(text);
        off += g->completion_len[k];
    }
    if (rc == 0 && console) {
        int shown = g->G < GROUP_EXCERPT_MAX ? g->G : GROUP_EXCERPT_MAX;
        fprintf(console, "train group (step %ld, actor %u #%llu): ", step, g->actor_rank,
                (unsigned long long)g->seq_no);
        put_excerpt(console, prompt, 80);
        fputs(" | reward", console);
        for (int k = 0; k < shown; k++) fprintf(console, " %.3g", g->reward[k]);
        fputs(" | advantage", console);
        for (int k = 0; k < shown; k++) fprintf(console, " %+.2f", adv[k]);
        if (shown < g->G) fprintf(console, " (%d more in samples.jsonl)", g->G - shown);
        fputc('\n', console);
        fflush(console);
    }
    xfree(prompt);
    return rc;
}
