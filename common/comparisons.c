/* comparisons.c: JSON-lines comparison pairs (comparisons.h), parsed with
 * jansson line by line as sft_data.c and task_jsonl.c read theirs. */
#include "comparisons.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "reward_model.h"
#include "task.h"
#include "util.h"

static const char *const skip_why[CMP_SKIP_REASONS] = {
    "an empty completion", "chosen identical to rejected", "longer than the model"};

/* Field key of obj as a malloc'd copy (possibly empty), or NULL with err
 * naming path, line and key: missing, not a string, or holding a NUL. */
static char *field(json_t *obj, const char *key, const char *path, long line, char *err,
                   size_t errlen) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        set_err(err, errlen, "%s line %ld: \"%s\" is %s (expected a string; each line is "
                "{\"prompt\", \"chosen\", \"rejected\"})", path, line, key,
                v ? "not a string" : "missing");
        return NULL;
    }
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) {
        set_err(err, errlen, "%s line %ld: \"%s\" holds a NUL character", path, line, key);
        return NULL;
    }
    char *c = strdup(s);
    if (!c) die("out of memory reading %s", path);
    return c;
}

/* 0 if every character of text is in tok's vocabulary, else -1 with err
 * naming path, line, key and the character. */
static int check_chars(const Tokenizer *tok, const char *text, const char *key, const char *path,
                       long line, char *err, size_t errlen) {
    size_t n = strlen(text);
    if (n >= (size_t)1 << 30) {
        set_err(err, errlen, "%s line %ld: \"%s\" has %zu bytes", path, line, key, n);
        return -1;
    }
    int *ids = xmalloc(sizeof(int) * (n + 1));
    /* as reward_model_tokens encodes: the completion continues the prompt */
    int bad = -1, k = strcmp(key, "prompt") == 0
                          ? tokenizer_encode(tok, text, ids, (int)n + 1, &bad)
                          : tokenizer_encode_cont(tok, text, ids, (int)n + 1, &bad);
    xfree(ids);
    if (k >= 0) return 0;
    char what[48] = "?";
    if (bad >= 0) tokenizer_describe_char(text, bad, what, sizeof what);
    set_err(err, errlen, "%s line %ld: \"%s\" has character %s that the tokenizer does not have",
            path, line, key, what);
    return -1;
}

/* Tokens of (prompt, completion) as a malloc'd array, its length in *len;
 * NULL when it does not fit max_seq_len (*len then -1; check_chars has
 * ruled out reward_model_tokens' -2, an unencodable text). */
static int *pair_tokens(const Tokenizer *tok, const char *prompt, const char *completion,
                        int max_seq_len, int *len) {
    int *ids = xmalloc(sizeof(int) * (size_t)max_seq_len);
    *len = reward_model_tokens(tok, prompt, completion, ids, max_seq_len);
    CHECK(*len != -2);
    if (*len < 0) {
        xfree(ids);
        return NULL;
    }
    return ids;
}

static void skip(Comparisons *c, ComparisonSkip why, long line, const char *detail, FILE *warn) {
    if (warn && c->skipped[why] < COMPARISONS_WARN_LINES)
        fprintf(warn, "warning: %s line %ld: %s%s (skipped)\n", c->path, line, skip_why[why],
                detail);
    c->skipped[why]++;
}

/* Reads one parsed line into c (appended, or counted as skipped); 0 or -1
 * with err. */
static int add_line(Comparisons *c, json_t *root, const Tokenizer *tok, int max_seq_len,
                    long line, FILE *warn, int *cap, char *err, size_t errlen) {
    char *p = field(root, "prompt", c->path, line, err, errlen);
    char *ch = p ? field(root, "chosen", c->path, line, err, errlen) : NULL;
    char *rj = ch ? field(root, "rejected", c->path, line, err, errlen) : NULL;
    int rc = rj ? 0 : -1;
    if (rc == 0 && (check_chars(tok, p, "prompt", c->path, line, err, errlen) != 0 ||
                    check_chars(tok, ch, "chosen", c->path, line, err, errlen) != 0 ||
                    check_chars(tok, rj, "rejected", c->path, line, err, errlen) != 0))
        rc = -1;
    if (rc != 0) goto out;
    if (!ch[0] || !rj[0]) {
        skip(c, CMP_SKIP_EMPTY, line, !ch[0] ? " (\"chosen\" is \"\")" : " (\"rejected\" is \"\")",
             warn);
        goto out;
    }
    if (strcmp(ch, rj) == 0) {
        skip(c, CMP_SKIP_IDENTICAL, line, "", warn);
        goto out;
    }
    Comparison q = {.line = line, .prompt_hash = task_item_id(p)};
    q.chosen = pair_tokens(tok, p, ch, max_seq_len, &q.len_c);
    q.rejected = q.chosen ? pair_tokens(tok, p, rj, max_seq_len, &q.len_r) : NULL;
    if (!q.rejected) {
        char detail[160];
        snprintf(detail, sizeof detail, " (prompt + %s with BOS and EOS exceed [model] "
                 "max_seq_len = %d)", q.chosen ? "rejected" : "chosen", max_seq_len);
        skip(c, CMP_SKIP_TOO_LONG, line, detail, warn);
        xfree(q.chosen);
        goto out;
    }
    if (c->n == *cap) {
        if (*cap >= 1 << 28) die("%s: more than %d pairs", c->path, 1 << 28);
        *cap = *cap ? 2 * *cap : 256;
        c->pairs = realloc(c->pairs, sizeof *c->pairs * (size_t)*cap);
        if (!c->pairs) die("out of memory reading %s", c->path);
    }
    c->pairs[c->n++] = q;
    if (q.len_c > c->max_len) c->max_len = q.len_c;
    if (q.len_r > c->max_len) c->max_len = q.len_r;
out:
    free(p);
    free(ch);
    free(rj);
    return rc;
}

Comparisons *comparisons_load(const char *path, const Tokenizer *tok, int max_seq_len, FILE *warn,
                              char *err, size_t errlen) {
    FILE *fp = fopen(path, "r");
    if (!fp) {
        set_err(err, errlen, "comparisons: cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    Comparisons *c = xcalloc(1, sizeof *c);
    c->path = strdup(path);
    if (!c->path) die("out of memory reading %s", path);
    char *buf = NULL;
    size_t bufcap = 0;
    long line = 0;
    int cap = 0, rc = 0;
    while (rc == 0 && getline(&buf, &bufcap, fp) >= 0) {
        line++;
        const char *q = buf;
        while (isspace((unsigned char)*q)) q++;
        if (*q == '\0') continue; /* blank line */
        c->lines++;
        json_error_t jerr;
        json_t *root = json_loads(buf, JSON_REJECT_DUPLICATES, &jerr);
        if (!root || !json_is_object(root)) {
            set_err(err, errlen, "%s line %ld: %s%s", path, line,
                    root ? "not a JSON object" : "not valid JSON: ", root ? "" : jerr.text);
            rc = -1;
        } else {
            rc = add_line(c, root, tok, max_seq_len, line, warn, &cap, err, errlen);
        }
        json_decref(root);
    }
    if (rc == 0 && ferror(fp)) {
        set_err(err, errlen, "%s: read error after line %ld", path, line);
        rc = -1;
    }
    free(buf);
    fclose(fp);
    if (rc == 0 && warn)
        for (int r = 0; r < CMP_SKIP_REASONS; r++)
            if (c->skipped[r])
                fprintf(warn, "warning: %s: skipped %ld of %ld lines for %s\n", path,
                        c->skipped[r], c->lines, skip_why[r]);
    if (rc == 0 && c->n == 0) {
        set_err(err, errlen, "%s: no usable comparison pair (%ld lines, %ld skipped; expected "
                "JSON lines {\"prompt\", \"chosen\", \"rejected\"})", path, c->lines,
                comparisons_skipped(c));
        rc = -1;
    }
    if (rc != 0) {
        comparisons_free(c);
        return NULL;
    }
    return c;
}

void comparisons_free(Comparisons *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        xfree(c->pairs[i].chosen);
        xfree(c->pairs[i].rejected);
    }
    free(c->pairs);
    free(c->path);
    xfree(c);
}

long comparisons_skipped(const Comparisons *c) {
    long s = 0;
    for (int r = 0; r < CMP_SKIP_REASONS; r++) s += c->skipped[r];
    return s;
}
