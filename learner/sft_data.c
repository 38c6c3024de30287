/* sft_data.c: JSON-lines demonstrations and their weighted mixture
 * (sft_data.h). Parsed with jansson line by line, as common/task_jsonl.c
 * reads its data set; every line is checked at load so a bad one stops the
 * run before any training step, naming the file and line. */
#include "sft_data.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "json_line.h"
#include "util.h"

/* Draw streams are (seed ^ this, index): distinct from the task's streams. */
#define SFT_DATA_STREAM 0x5F7DA7AULL

static void files_free(SftFile *f, int n) {
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < f[i].n; j++) {
            free(f[i].prompt[j]);
            free(f[i].completion[j]);
        }
        free(f[i].prompt);
        free(f[i].completion);
        free(f[i].path);
    }
    free(f);
}

/* Parses spec into *out (n_out files with path and weight, no examples). */
static int parse_spec(const char *spec, SftFile **out, int *n_out, char *err, size_t errlen) {
    *out = NULL;
    *n_out = 0;
    int n = 0, cap = 0;
    SftFile *f = NULL;
    const char *p = spec;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && isspace((unsigned char)*p)) p++, len--;
        while (len > 0 && isspace((unsigned char)p[len - 1])) len--;
        char *entry = xmalloc(len + 1);
        memcpy(entry, p, len);
        entry[len] = '\0';
        double w = 1.0;
        char *colon = strrchr(entry, ':');
        if (colon) {
            char *wend = NULL;
            errno = 0;
            w = strtod(colon + 1, &wend);
            if (wend == colon + 1 || *wend || errno || !isfinite(w) || !(w > 0)) {
                set_err(err, errlen, "[sft] data entry '%s': weight '%s' is not a positive number "
                        "(the syntax is FILE or FILE:WEIGHT, comma separated)", entry, colon + 1);
                xfree(entry);
                files_free(f, n);
                return -1;
            }
            *colon = '\0';
        }
        if (entry[0] == '\0') {
            set_err(err, errlen, "[sft] data = '%s': entry %d has no file name (the syntax is "
                    "FILE or FILE:WEIGHT, comma separated)", spec, n + 1);
            xfree(entry);
            files_free(f, n);
            return -1;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 4;
            f = realloc(f, sizeof *f * (size_t)cap);
            if (!f) die("out of memory parsing [sft] data");
        }
        memset(&f[n], 0, sizeof f[n]);
        f[n].path = strdup(entry);
        if (!f[n].path) die("out of memory parsing [sft] data");
        f[n].weight = w;
        n++;
        xfree(entry);
        if (!end) break;
        p = end + 1;
    }
    *out = f;
    *n_out = n;
    return 0;
}

int sft_data_check_spec(const char *spec, char *err, size_t errlen) {
    SftFile *f;
    int n;
    if (parse_spec(spec, &f, &n, err, errlen) != 0) return -1;
    files_free(f, n);
    return 0;
}


/* Tokens of text under tok, or -1 with err naming path, line and the
 * character the tokenizer lacks. */
static int count_tokens(const Tokenizer *tok, const char *text, const char *field,
                        const char *path, long line, char *err, size_t errlen) {
    size_t n = strlen(text);
    /* a token covers at least one byte, so n + 1 ids always suffice */
    if (n >= (size_t)1 << 30) {
        set_err(err, errlen, "%s line %ld: %s has %zu bytes", path, line, field, n);
        return -1;
    }
    int *ids = xmalloc(sizeof(int) * (n + 1));
    /* a completion continues its prompt: no SentencePiece dummy prefix */
    int bad = -1, k = strcmp(field, "completion") == 0
                          ? tokenizer_encode_cont(tok, text, ids, (int)n + 1, &bad)
                          : tokenizer_encode(tok, text, ids, (int)n + 1, &bad);
    xfree(ids);
    if (k < 0) {
        char what[48] = "?";
        if (bad >= 0) tokenizer_describe_char(text, bad, what, sizeof what);
        set_err(err, errlen, "%s line %ld: %s has character %s that the tokenizer does not have",
                path, line, field, what);
        return -1;
    }
    return k;
}

/* Reads every line of f->path into f; 0 or -1 with err. */
static int load_file(SftFile *f, const Tokenizer *tok, int max_seq_len, char *err,
                     size_t errlen) {
    FILE *fp = fopen(f->path, "r");
    if (!fp) {
        set_err(err, errlen, "[sft] data: cannot open '%s': %s", f->path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t bufcap = 0;
    long line = 0;
    int cap = 0, rc = 0;
    while (getline(&buf, &bufcap, fp) >= 0) {
        line++;
        const char *q = buf;
        while (isspace((unsigned char)*q)) q++;
        if (*q == '\0') continue; /* blank line */
        json_error_t jerr;
        json_t *root = json_loads(buf, JSON_REJECT_DUPLICATES, &jerr);
        if (!root || !json_is_object(root)) {
            set_err(err, errlen, "%s line %ld: %s%s", f->path, line,
                    root ? "not a JSON object" : "not valid JSON: ", root ? "" : jerr.text);
            json_decref(root);
            rc = -1;
            break;
        }
        char *prompt = json_line_string(root, "prompt", 0, f->path, line, err, errlen);
        char *comp =
            prompt ? json_line_string(root, "completion", 0, f->path, line, err, errlen) : NULL;
        json_decref(root);
        int np = comp ? count_tokens(tok, prompt, "prompt", f->path, line, err, errlen) : -1;
        int nc = np >= 0 ? count_tokens(tok, comp, "completion", f->path, line, err, errlen) : -1;
        /* [BOS] prompt completion [EOS]: the layout sft_fill_batch builds */
        if (nc >= 0 && (long)np + nc + 2 > max_seq_len) {
            set_err(err, errlen, "%s line %ld: prompt + completion are %d tokens with BOS and "
                    "EOS, more than [model] max_seq_len = %d (raise max_seq_len, or drop the "
                    "line)", f->path, line, np + nc + 2, max_seq_len);
            nc = -1;
        }
        if (nc < 0) {
            free(prompt);
            free(comp);
            rc = -1;
            break;
        }
        if (f->n == cap) {
            if (cap >= 1 << 30) die("%s: more than %d examples", f->path, 1 << 30);
            cap = cap ? 2 * cap : 256;
            f->prompt = realloc(f->prompt, sizeof(char *) * (size_t)cap);
            f->completion = realloc(f->completion, sizeof(char *) * (size_t)cap);
            if (!f->prompt || !f->completion) die("out of memory reading %s", f->path);
        }
        f->prompt[f->n] = prompt;
        f->completion[f->n] = comp;
        f->n++;
    }
    if (rc == 0 && ferror(fp)) {
        set_err(err, errlen, "%s: read error after line %ld", f->path, line);
        rc = -1;
    }
    free(buf);
    fclose(fp);
    if (rc == 0 && f->n == 0) {
        set_err(err, errlen, "%s: no examples in the file (expected JSON lines with \"prompt\" "
                "and \"completion\")", f->path);
        rc = -1;
    }
    return rc;
}

SftData *sft_data_load(const char *spec, const Tokenizer *tok, int max_seq_len, uint64_t seed,
                       char *err, size_t errlen) {
    SftFile *f;
    int n;
    if (parse_spec(spec, &f, &n, err, errlen) != 0) return NULL;
    double total = 0;
    for (int i = 0; i < n; i++) {
        if (load_file(&f[i], tok, max_seq_len, err, errlen) != 0) {
            files_free(f, n);
            return NULL;
        }
        total += f[i].weight;
    }
    SftData *d = xmalloc(sizeof *d);
    d->n_files = n;
    d->files = f;
    d->seed = seed;
    d->cum = xmalloc(sizeof(double) * (size_t)n);
    double acc = 0;
    for (int i = 0; i < n; i++) d->cum[i] = (acc += f[i].weight / total);
    d->cum[n - 1] = 1.0; /* rounding must not leave a gap past the last file */
    return d;
}

void sft_data_free(SftData *d) {
    if (!d) return;
    files_free(d->files, d->n_files);
    xfree(d->cum);
    xfree(d);
}

void sft_data_draw(const SftData *d, uint64_t index, const char **prompt, const char **completion,
                   int *file) {
    Rng r;
    rng_seed(&r, d->seed ^ SFT_DATA_STREAM, index);
    /* 53 random bits: weights as small as 1e-15 of the total still draw */
    double u = (double)(rng_u64(&r) >> 11) * (1.0 / 9007199254740992.0);
    int k = 0;
    while (k + 1 < d->n_files && u >= d->cum[k]) k++;
    const SftFile *f = &d->files[k];
    uint32_t j = rng_below(&r, (uint32_t)f->n);
    *prompt = f->prompt[j];
    *completion = f->completion[j];
    if (file) *file = k;
}
