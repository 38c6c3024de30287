/* scorer.c: the scorer kinds and the [reward] scorers list (scorer.h). */
#include "scorer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reward_model.h"
#include "sampling.h"
#include "util.h"

struct ScorerKind {
    const char *name;
    int takes_arg;
    int (*open)(const Scorer *s, const Config *cfg, void **ctx, char *err, size_t errlen);
    ScoreFn score;
    void (*close)(void *ctx);
};

/* ---- length: brevity among (correct) completions ---- */

static int length_open(const Scorer *s, const Config *cfg, void **ctx, char *err, size_t errlen) {
    int *limit = xmalloc(sizeof *limit);
    *limit = sampling_settings(cfg)->max_new_tokens;
    *ctx = limit;
    return 0;
}

static float length_score(void *ctx, const char *prompt, const char *completion, const int *tokens,
                          int n_tokens, int finished) {
    /* tokens, not characters: what the policy pays for and what the
     * length limit counts, whatever the tokenizer */
    float v = 1.0f - (float)n_tokens / (float)*(const int *)ctx;
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* ---- rm:PATH: a reward model trained from comparisons ---- */

/* Loads the checkpoint once per scoring rank (never broadcast: it is
 * frozen). One pair per call: reward_model_score runs one forward per
 * pair anyway (its determinism), so a batch would save only the calls. */
static int rm_open(const Scorer *s, const Config *cfg, void **ctx, char *err, size_t errlen) {
    char why[2048];
    RewardModel *rm = reward_model_open(s->arg, 1, why, sizeof why);
    if (!rm) {
        set_err(err, errlen, "[reward] scorers entry rm:%s: %s", s->arg, why);
        return -1;
    }
    *ctx = rm;
    return 0;
}

/* sigmoid(raw reward): the scorer contract is [0, 1] (scorer_value dies
 * outside it), and a Bradley-Terry reward model's raw value is a logit,
 * so sigmoid(r) is the probability of a win against a completion whose
 * raw reward is 0; a difference of raw rewards keeps its sign and order.
 * The reward model reads the text (prompt and completion, re-encoded with
 * its own tokenizer, reward_model_tokens), not the sampled ids, so it
 * scores exactly what it was trained on. */
static float rm_score(void *ctx, const char *prompt, const char *completion, const int *tokens,
                      int n_tokens, int finished) {
    float raw;
    reward_model_score(ctx, &prompt, &completion, 1, &raw);
    return (float)(1.0 / (1.0 + exp(-(double)raw))); /* NaN stays NaN: scorer_value dies */
}

static void rm_close(void *ctx) { reward_model_close(ctx); }

static const ScorerKind kinds[] = {
    {"length", 0, length_open, length_score, xfree},
    {"rm", 1, rm_open, rm_score, rm_close},
};
enum { N_KINDS = (int)(sizeof kinds / sizeof kinds[0]) };

static const char *const SYNTAX =
    "the syntax is NAME:WEIGHT or NAME:ARG:WEIGHT, comma separated, e.g. length:0.1";

/* Parses one entry [e, e + n) into s; 0 or -1 with err. */
static int parse_entry(const char *e, size_t n, Scorer *s, char *err, size_t errlen) {
    char entry[CFG_STR_MAX];
    snprintf(entry, sizeof entry, "%.*s", (int)n, e);
    const char *first = strchr(entry, ':'), *last = strrchr(entry, ':');
    if (!first) {
        set_err(err, errlen, "[reward] scorers entry '%s': no weight (%s)", entry, SYNTAX);
        return -1;
    }
    memset(s, 0, sizeof *s);
    size_t name_len = (size_t)(first - entry);
    for (int k = 0; k < N_KINDS; k++)
        if (strlen(kinds[k].name) == name_len && memcmp(kinds[k].name, entry, name_len) == 0)
            s->kind = &kinds[k];
    if (!s->kind) {
        set_err(err, errlen,
                "[reward] scorers entry '%s': unknown scorer '%.*s' (known: length, rm:PATH "
                "for a reward model checkpoint)",
                entry, (int)name_len, entry);
        return -1;
    }
    if (first != last && !s->kind->takes_arg) {
        set_err(err, errlen, "[reward] scorers entry '%s': scorer '%s' takes no argument (%s)",
                entry, s->kind->name, SYNTAX);
        return -1;
    }
    if (first == last && s->kind->takes_arg) {
        set_err(err, errlen, "[reward] scorers entry '%s': scorer '%s' needs an argument (%s)",
                entry, s->kind->name, SYNTAX);
        return -1;
    }
    const char *w = last + 1;
    char *end;
    errno = 0;
    double v = strtod(w, &end);
    if (!*w || *end || errno == ERANGE || !isfinite(v)) {
        set_err(err, errlen, "[reward] scorers entry '%s': weight '%s' is not a finite number (%s)",
                entry, w, SYNTAX);
        return -1;
    }
    if (v < 0) {
        set_err(err, errlen,
                "[reward] scorers entry '%s': weight '%s' is negative (a scorer ranks correct "
                "completions by adding to their reward, which could then fall to a wrong one's)",
                entry, w);
        return -1;
    }
    snprintf(s->name, sizeof s->name, "%s", s->kind->name);
    if (first != last) snprintf(s->arg, sizeof s->arg, "%.*s", (int)(last - first - 1), first + 1);
    s->weight = (float)v;
    s->score = s->kind->score;
    return 0;
}

int scorer_set_parse(const char *list, ScorerSet *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const char *p = list;
    while (*p == ' ') p++;
    if (!*p) return 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && p[0] == ' ') p++, n--;
        while (n && p[n - 1] == ' ') n--;
        if (!n) {
            set_err(err, errlen, "[reward] scorers = '%s': an empty entry (%s)", list, SYNTAX);
            goto fail;
        }
        if (out->n == SCORER_MAX) {
            set_err(err, errlen, "[reward] scorers = '%s': more than %d scorers", list, SCORER_MAX);
            goto fail;
        }
        Scorer *s = &out->s[out->n];
        if (parse_entry(p, n, s, err, errlen) != 0) goto fail;
        for (int i = 0; i < out->n; i++)
            if (strcmp(out->s[i].name, s->name) == 0) {
                set_err(err, errlen,
                        "[reward] scorers entry '%.*s': scorer '%s' is listed twice (each is one "
                        "reward component)",
                        (int)n, p, s->name);
                goto fail;
            }
        out->n++;
        if (!comma) return 0;
        p = comma + 1;
    }
fail:
    memset(out, 0, sizeof *out);
    return -1;
}

int scorer_set_open(ScorerSet *set, const Config *cfg, char *err, size_t errlen) {
    CHECK(!set->opened);
    for (int i = 0; i < set->n; i++) {
        Scorer *s = &set->s[i];
        if (s->kind->open(s, cfg, &s->ctx, err, errlen) != 0) {
            for (int j = 0; j < i; j++) set->s[j].kind->close(set->s[j].ctx), set->s[j].ctx = NULL;
            return -1;
        }
    }
    set->opened = 1;
    return 0;
}

void scorer_set_close(ScorerSet *set) {
    if (!set->opened) return;
    for (int i = 0; i < set->n; i++) {
        set->s[i].kind->close(set->s[i].ctx);
        set->s[i].ctx = NULL;
    }
    set->opened = 0;
}

float scorer_value(const ScorerSet *set, int i, const char *prompt, const char *completion,
                   const int *tokens, int n_tokens, int finished) {
    CHECK(i >= 0 && i < set->n);
    const Scorer *s = &set->s[i];
    if (!set->opened) die("scorer '%s' scored before scorer_set_open", s->name);
    float v = s->score(s->ctx, prompt, completion, tokens, n_tokens, finished);
    if (!(v >= 0 && v <= 1))
        die("scorer '%s' ([reward] scorers) returned %g for a completion of prompt '%s': "
            "expected a value in [0, 1]",
            s->name, (double)v, prompt);
    return v;
}
