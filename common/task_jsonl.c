/* task_jsonl.c: a data set task read from a JSON-lines file.
 *
 * Each non-blank line is an object {"prompt": "...", "answer": "..."}
 * (other keys ignored). The whole file is checked at creation: a line that
 * is not JSON, lacks a field, has a non-string or empty field, or a field of
 * TASK_MAX_TEXT bytes or more fails task_create with "<path> line N: ...".
 * A line belongs to the eval split iff task_id_is_eval(task_item_id(prompt)).
 * Characters are checked against the model's tokenizer once it is known
 * (task_check_tokenizer), again naming the file and line.
 *
 * Verifier: numeric answers are compared in a canonical form (whitespace
 * trimmed, leading '+', thousands separators "1,000", integer vs decimal
 * "1000.0", leading zeros dropped), so "1,000", "+1000", "1000.0" and
 * " 1000 " all equal "1000"; exponents ("1e3") are not numbers here. Other
 * answers are compared after trimming whitespace. Components: "accuracy" =
 * equal and finished; "format" = non-blank, a single line, finished. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "json_line.h"
#include "util.h"

typedef struct {
    TaskParams p;
    uint64_t seed;
    int n_lines;
    char **prompt, **answer;  /* [n_lines], owned */
    long *line_no;            /* [n_lines] line of the file each item came from */
    int n_split[2];
    int *split[2];            /* [n_split[s]] line numbers of each split */
} JsonlState;

/* ---- answer normalisation ---- */

/* Copies s without leading/trailing whitespace into out (cap bytes). */
static void trim_copy(const char *s, char *out, size_t cap) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    if (n >= cap) n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* If s (trimmed) is a decimal number, writes its canonical form into out
 * (cap bytes) and returns 1: sign '-' only if non-zero, integer digits
 * without leading zeros, fraction without trailing zeros. Accepts a leading
 * '+' or '-', digits in plain form or grouped by commas in threes
 * ("12,345"), then optionally '.' and digits. Returns 0 otherwise. */
static int num_canon(const char *s, char *out, size_t cap) {
    char ip[TASK_MAX_TEXT * 2], fp[TASK_MAX_TEXT * 2];
    size_t ni = 0, nf = 0;
    int neg = 0;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    int group = -1; /* digits since the last comma, -1 before any comma */
    const char *p = s;
    for (; *p && *p != '.'; p++) {
        if (isdigit((unsigned char)*p)) {
            if (ni + 1 >= sizeof ip) return 0;
            ip[ni++] = *p;
            if (group >= 0 && ++group > 3) return 0;
        } else if (*p == ',') {
            /* first group 1..3 digits, every later group exactly 3 */
            if (ni == 0 || (group < 0 && ni > 3) || (group >= 0 && group != 3)) return 0;
            group = 0;
        } else {
            return 0;
        }
    }
    if (group >= 0 && group != 3) return 0;
    if (*p == '.')
        for (p++; *p; p++) {
            if (!isdigit((unsigned char)*p) || nf + 1 >= sizeof fp) return 0;
            fp[nf++] = *p;
        }
    if (ni == 0 && nf == 0) return 0;
    size_t i0 = 0;
    while (i0 + 1 < ni && ip[i0] == '0') i0++;
    while (nf > 0 && fp[nf - 1] == '0') nf--;
    int zero = nf == 0 && (ni == 0 || (ni - i0 == 1 && ip[i0] == '0'));
    int n = snprintf(out, cap, "%s%.*s%s%.*s", neg && !zero ? "-" : "", ni ? (int)(ni - i0) : 1,
                     ni ? ip + i0 : "0", nf ? "." : "", (int)nf, fp);
    return n >= 0 && (size_t)n < cap;
}

/* 1 if completion c matches the reference answer a (see file comment). */
static int jsonl_answers_equal(const char *c, const char *a) {
    char tc[TASK_MAX_TEXT * 2], ta[TASK_MAX_TEXT * 2], nc[TASK_MAX_TEXT * 2], na[TASK_MAX_TEXT * 2];
    if (strlen(c) >= sizeof tc) return 0;
    trim_copy(c, tc, sizeof tc);
    trim_copy(a, ta, sizeof ta);
    if (num_canon(tc, nc, sizeof nc) && num_canon(ta, na, sizeof na)) return strcmp(nc, na) == 0;
    return strcmp(tc, ta) == 0;
}

/* ---- the task ---- */

/* Fills out from line index i. */
static void jsonl_item(const JsonlState *s, int i, TaskItem *out) {
    memset(out, 0, sizeof *out);
    strcpy(out->prompt, s->prompt[i]);
    strcpy(out->answer, s->answer[i]);
    strcpy(out->solution, s->answer[i]);
    out->id = task_item_id(out->prompt);
}

/* Task.sample: a pseudo-random line of the split, fixed by (seed, split,
 * stream, index); -1 if the split has no lines. */
static int jsonl_sample(const Task *t, TaskSplit split, uint64_t stream, uint64_t index,
                        TaskItem *out) {
    const JsonlState *s = t->state;
    int n = s->n_split[split == SPLIT_EVAL];
    if (n == 0) return -1;
    Rng r;
    task_item_rng(&r, s->seed, split, stream, index);
    jsonl_item(s, s->split[split == SPLIT_EVAL][rng_below(&r, (uint32_t)n)], out);
    return 0;
}

/* qsort order of (id, index) pairs: by id, then by index. */
static int cmp_id_index(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* Task.eval_split: the eval lines, one per distinct prompt (its first
 * line: a repeated prompt is one held-out prompt, not several). */
static int jsonl_eval_split(const Task *t, uint64_t **keys) {
    const JsonlState *s = t->state;
    const int n = s->n_split[1];
    uint64_t *pair = xmalloc(sizeof(uint64_t) * 2 * (size_t)(n ? n : 1));
    for (int j = 0; j < n; j++) {
        const int i = s->split[1][j];
        pair[2 * j] = task_item_id(s->prompt[i]);
        pair[2 * j + 1] = (uint64_t)i;
    }
    qsort(pair, (size_t)n, 2 * sizeof(uint64_t), cmp_id_index);
    uint64_t *k = xmalloc(sizeof(uint64_t) * (size_t)(n ? n : 1));
    int m = 0;
    for (int j = 0; j < n; j++) {
        /* duplicates share an id, and so sit together after the sort */
        int dup = 0;
        for (int q = j - 1; q >= 0 && pair[2 * q] == pair[2 * j] && !dup; q--)
            dup = strcmp(s->prompt[pair[2 * q + 1]], s->prompt[pair[2 * j + 1]]) == 0;
        if (!dup) k[m++] = pair[2 * j + 1];
    }
    xfree(pair);
    task_shuffle_keys(k, m, s->seed);
    *keys = k;
    return m;
}

/* Task.eval_item: the line of a jsonl_eval_split key. */
static int jsonl_eval_item(const Task *t, uint64_t key, TaskItem *out) {
    const JsonlState *s = t->state;
    if (key >= (uint64_t)s->n_lines) return -1;
    jsonl_item(s, (int)key, out);
    return 0;
}

/* The demonstrator answers with the reference answer. */
static int jsonl_demonstrate(const Task *t, const TaskItem *item, Rng *rng, char *out,
                             size_t cap) {
    if (strlen(item->answer) + 1 > cap) return -1;
    strcpy(out, item->answer);
    return 0;
}

/* Task.verify: normalised comparison and single-line format. */
static void jsonl_verify(const Task *t, const TaskItem *item, const char *completion, int finished,
                         Reward *out) {
    memset(out, 0, sizeof *out);
    out->n = 2;
    const char *p = completion;
    while (isspace((unsigned char)*p)) p++;
    int ok_form = *p != '\0' && strchr(completion, '\n') == NULL && finished;
    int ok_acc = finished && jsonl_answers_equal(completion, item->answer);
    out->value[0] = (float)ok_acc;
    out->value[1] = (float)ok_form;
    out->correct = ok_acc;
    reward_finish(t, out);
}

/* Task.destroy: frees the lines, the split tables, the state and t. */
static void jsonl_destroy(Task *t) {
    if (!t) return;
    JsonlState *s = t->state;
    for (int i = 0; i < s->n_lines; i++) {
        free(s->prompt[i]);
        free(s->answer[i]);
    }
    free(s->prompt);
    free(s->answer);
    free(s->line_no);
    free(s->split[0]);
    free(s->split[1]);
    xfree(s);
    xfree(t);
}


/* Appends (prompt, answer) of file line line to s, growing its arrays. */
static void jsonl_push(JsonlState *s, int *cap, char *prompt, char *answer, long line) {
    if (s->n_lines == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        s->prompt = realloc(s->prompt, sizeof(char *) * (size_t)*cap);
        s->answer = realloc(s->answer, sizeof(char *) * (size_t)*cap);
        s->line_no = realloc(s->line_no, sizeof(long) * (size_t)*cap);
        if (!s->prompt || !s->answer || !s->line_no)
            die("out of memory reading the jsonl data set");
    }
    s->prompt[s->n_lines] = prompt;
    s->answer[s->n_lines] = answer;
    s->line_no[s->n_lines] = line;
    s->n_lines++;
}

/* Task.check_tokenizer: every prompt and answer encodes, or the first that
 * does not is named by file line and character. */
static int jsonl_check_tokenizer(const Task *t, const Tokenizer *tok, char *err, size_t errlen) {
    const JsonlState *s = t->state;
    int ids[TASK_MAX_TEXT]; /* a field has < TASK_MAX_TEXT bytes, each at most one token */
    for (int i = 0; i < s->n_lines; i++) {
        const char *field[2] = {s->prompt[i], s->answer[i]}, *name[2] = {"prompt", "answer"};
        for (int k = 0; k < 2; k++) {
            int bad = -1;
            if (tokenizer_encode(tok, field[k], ids, TASK_MAX_TEXT, &bad) >= 0) continue;
            if (bad < 0) {
                set_err(err, errlen, "%s line %ld: %s does not fit %d tokens", s->p.jsonl_path,
                        s->line_no[i], name[k], TASK_MAX_TEXT);
                return -1;
            }
            char what[48];
            tokenizer_describe_char(field[k], bad, what, sizeof what);
            set_err(err, errlen, "%s line %ld: %s has character %s that the tokenizer does not "
                    "have", s->p.jsonl_path, s->line_no[i], name[k], what);
            return -1;
        }
    }
    return 0;
}

/* Loads and checks every line of path into s; 0 or -1 with err. */
static int jsonl_load(JsonlState *s, const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        set_err(err, errlen, "[task] data = '%s': cannot open the jsonl file", path);
        return -1;
    }
    char *buf = NULL;
    size_t bufcap = 0;
    long line = 0;
    int cap = 0, rc = 0;
    ssize_t len;
    while ((len = getline(&buf, &bufcap, f)) >= 0) {
        line++;
        const char *q = buf;
        while (isspace((unsigned char)*q)) q++;
        if (*q == '\0') continue; /* blank line */
        json_error_t jerr;
        json_t *root = json_loads(buf, JSON_REJECT_DUPLICATES, &jerr);
        if (!root || !json_is_object(root)) {
            set_err(err, errlen, "%s line %ld: %s%s", path, line,
                    root ? "not a JSON object" : "not valid JSON: ", root ? "" : jerr.text);
            json_decref(root);
            rc = -1;
            break;
        }
        const size_t max = TASK_MAX_TEXT - 1;
        char *prompt = json_line_string(root, "prompt", max, path, line, err, errlen);
        char *answer = prompt ? json_line_string(root, "answer", max, path, line, err, errlen) : NULL;
        json_decref(root);
        if (!answer) {
            free(prompt);
            rc = -1;
            break;
        }
        if (s->n_lines == 1 << 30) die("%s: too many lines", path);
        jsonl_push(s, &cap, prompt, answer, line);
    }
    free(buf);
    fclose(f);
    if (rc == 0 && s->n_lines == 0) {
        set_err(err, errlen, "[task] data = '%s': no items in the file", path);
        rc = -1;
    }
    return rc;
}

Task *task_jsonl_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen) {
    if (p->jsonl_path[0] == '\0') {
        set_err(err, errlen, "[task] data is empty: the jsonl task needs a data file");
        return NULL;
    }
    JsonlState *s = xcalloc(1, sizeof *s);
    s->p = *p;
    s->seed = seed;
    Task *t = xcalloc(1, sizeof *t);
    t->state = s;
    t->destroy = jsonl_destroy;
    if (jsonl_load(s, p->jsonl_path, err, errlen) != 0) {
        jsonl_destroy(t);
        return NULL;
    }
    for (int k = 0; k < 2; k++) s->split[k] = xmalloc(sizeof(int) * (size_t)s->n_lines);
    for (int i = 0; i < s->n_lines; i++) {
        int e = task_id_is_eval(task_item_id(s->prompt[i]), p->eval_permille);
        s->split[e][s->n_split[e]++] = i;
    }
    t->name = "jsonl";
    t->n_components = 2;
    t->component_names[0] = "accuracy";
    t->component_names[1] = "format";
    t->weights[0] = p->weights[0];
    t->weights[1] = p->weights[1];
    t->sample = jsonl_sample;
    t->demonstrate = jsonl_demonstrate;
    t->verify = jsonl_verify;
    t->check_tokenizer = jsonl_check_tokenizer;
    t->eval_split = jsonl_eval_split;
    t->eval_item = jsonl_eval_item;
    return t;
}
