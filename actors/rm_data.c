/* rm_data.c: the pair sources, the collection loop and the JSON lines of
 * `grpo rm-data` (rm_data.h). */
#include "rm_data.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_line.h"
#include "util.h"

/* Candidates before a collection gives up: enough for a policy whose
 * pairs tie 95% of the time. */
static uint64_t max_candidates(int want) { return 20 * (uint64_t)want + 1000; }

/* ---- sources ---- */

typedef struct {
    const Task *t;
    uint64_t seed;
} DemoCtx;

static void demo_pairs(RmSource *s, const TaskItem *items, int n, uint64_t stream,
                       char *const *texts, int *finished) {
    const DemoCtx *c = s->ctx;
    Rng rng;
    rng_seed(&rng, c->seed, 0xD3A0u ^ (stream << 8));
    for (int j = 0; j < 2 * n; j++) {
        if (c->t->demonstrate(c->t, &items[j / 2], &rng, texts[j], s->text_cap) != 0)
            die("rm-data: task %s's demonstrator wrote nothing for '%s' (no demonstrator, or a "
                "completion over %zu bytes)", c->t->name, items[j / 2].prompt, s->text_cap);
        finished[j] = 1;
    }
}

RmSource rm_source_demos(const Task *t, uint64_t seed) {
    DemoCtx *c = xcalloc(1, sizeof *c);
    c->t = t;
    c->seed = seed;
    return (RmSource){demo_pairs, TASK_MAX_TEXT, c};
}

typedef struct {
    const Model *m;
    const Tokenizer *tok;
    SamplerConfig sc;
    uint64_t seed;
    KVCache *cache;
    int *buf, *lens;
    const int **prompts;
    Completions c;
} PolicyCtx;

static void policy_pairs(RmSource *s, const TaskItem *items, int n, uint64_t stream,
                         char *const *texts, int *finished) {
    PolicyCtx *c = s->ctx;
    const int cap = c->m->cfg.max_seq_len;
    for (int i = 0; i < n; i++) {
        c->prompts[i] = c->buf + (size_t)i * cap;
        c->lens[i] = encode_prompt(c->tok, items[i].prompt, c->buf + (size_t)i * cap, cap);
    }
    Rng rng;
    rng_seed(&rng, c->seed, 0x524D0000u ^ (stream << 8));
    generate(c->m, c->cache, c->prompts, c->lens, n, 2, &c->sc, c->tok, &rng, &c->c);
    for (int j = 0; j < 2 * n; j++) {
        if (completion_verifier_text(c->tok, &c->c, j, c->sc.stop, texts[j], s->text_cap) < 0)
            die("rm-data: completion %d of prompt '%s' does not decode", j % 2,
                items[j / 2].prompt);
        finished[j] = c->c.finish[j] != FINISH_LENGTH;
    }
}

RmSource rm_source_policy(const Model *m, const Tokenizer *tok, const SamplerConfig *sc,
                          uint64_t seed) {
    PolicyCtx *c = xcalloc(1, sizeof *c);
    c->m = m;
    c->tok = tok;
    c->sc = *sc;
    c->seed = seed;
    const int cap = m->cfg.max_seq_len;
    c->cache = kv_cache_new(&m->cfg, 2 * RM_BATCH_PROMPTS, cap);
    c->buf = xmalloc(sizeof(int) * (size_t)RM_BATCH_PROMPTS * cap);
    c->lens = xmalloc(sizeof(int) * RM_BATCH_PROMPTS);
    c->prompts = xmalloc(sizeof *c->prompts * RM_BATCH_PROMPTS);
    completions_alloc(&c->c, 2 * RM_BATCH_PROMPTS, sc->max_new_tokens);
    /* a token decodes to at most tok->max_piece bytes */
    size_t text_cap = (size_t)sc->max_new_tokens * (size_t)tok->max_piece + 1;
    return (RmSource){policy_pairs, text_cap, c};
}

void rm_source_free(RmSource *s) {
    if (s->pairs == policy_pairs) {
        PolicyCtx *c = s->ctx;
        completions_free(&c->c);
        xfree(c->prompts);
        xfree(c->lens);
        xfree(c->buf);
        kv_cache_free(c->cache);
    }
    xfree(s->ctx);
    s->ctx = NULL;
}

/* ---- collection ---- */

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

static void push(RmPairs *ps, const char *prompt, const char *chosen, const char *rejected) {
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 256;
        RmPair *grown = xmalloc(sizeof *grown * (size_t)cap);
        if (ps->n) memcpy(grown, ps->p, sizeof *grown * (size_t)ps->n);
        xfree(ps->p);
        ps->p = grown;
        ps->cap = cap;
    }
    ps->p[ps->n++] = (RmPair){xstrdup(prompt), xstrdup(chosen), xstrdup(rejected)};
}

void rm_pairs_free(RmPairs *ps) {
    for (int i = 0; i < ps->n; i++) {
        xfree(ps->p[i].prompt);
        xfree(ps->p[i].chosen);
        xfree(ps->p[i].rejected);
    }
    xfree(ps->p);
    memset(ps, 0, sizeof *ps);
}

int rm_collect(const Task *t, TaskSplit split, int want, RmSource *src, Labeler *lab,
               RmPairs *out, char *err, size_t errlen) {
    const char *split_name = split == SPLIT_EVAL ? "eval" : "training";
    TaskItem items[RM_BATCH_PROMPTS];
    char *texts[2 * RM_BATCH_PROMPTS];
    int finished[2 * RM_BATCH_PROMPTS];
    VerifyJob jobs[2 * RM_BATCH_PROMPTS];
    Reward rewards[2 * RM_BATCH_PROMPTS];
    char *arena = xmalloc(src->text_cap * 2 * RM_BATCH_PROMPTS);
    for (int j = 0; j < 2 * RM_BATCH_PROMPTS; j++) texts[j] = arena + src->text_cap * (size_t)j;
    RmCounts *c = &out->counts;
    const int goal = out->n + want;
    const uint64_t limit = max_candidates(want);
    int rc = 0;
    for (uint64_t batch = 0, cand = 0; out->n < goal; batch++) {
        if (cand >= limit) {
            set_err(err, errlen,
                    "rm-data: only %d of %d %s pairs after %llu candidates: %llu of them tied "
                    "(identical or equally preferred completions: is [sampler] temperature 0?)",
                    out->n - (goal - want), want, split_name, (unsigned long long)cand,
                    (unsigned long long)c->ties);
            rc = -1;
            break;
        }
        for (int i = 0; i < RM_BATCH_PROMPTS; i++)
            if (t->sample(t, split, RM_STREAM, cand + (uint64_t)i, &items[i]) != 0) {
                set_err(err, errlen, "rm-data: task %s has no %s items ([task] eval_permille)",
                        t->name, split_name);
                rc = -1;
                goto done;
            }
        src->pairs(src, items, RM_BATCH_PROMPTS, (uint64_t)split << 40 | batch, texts, finished);
        /* one verification per completion, all at once (an external
         * verifier's processes work in parallel) */
        for (int j = 0; j < 2 * RM_BATCH_PROMPTS; j++)
            jobs[j] = (VerifyJob){&items[j / 2], texts[j], finished[j]};
        task_verify_batch(t, jobs, 2 * RM_BATCH_PROMPTS, rewards);
        for (int i = 0; i < RM_BATCH_PROMPTS && out->n < goal; i++, cand++) {
            const char *a = texts[2 * i], *b = texts[2 * i + 1];
            float score[2];
            for (int k = 0; k < 2; k++) {
                const Reward *r = &rewards[2 * i + k];
                score[k] = r->value[lab->component];
                c->completions++;
                c->well_formed += (uint64_t)r->correct;
                c->score_sum += score[k];
                c->score_sq += (double)score[k] * score[k];
            }
            int flipped = 0;
            Label l = labeler_compare_scores(lab, score[0], score[1],
                                             (uint64_t)split << 40 | cand, &flipped);
            c->candidates++;
            if (l == LABEL_TIE) {
                c->ties++;
                continue;
            }
            c->flips += (uint64_t)flipped;
            if (l == LABEL_FIRST) push(out, items[i].prompt, a, b);
            else push(out, items[i].prompt, b, a);
        }
    }
done:
    xfree(arena);
    return rc;
}

/* ---- output ---- */

char *rm_pairs_jsonl(const RmPairs *ps, size_t *len) {
    size_t n = 0, cap = 4096;
    char *out = xmalloc(cap);
    for (int i = 0; i < ps->n; i++) {
        json_t *o = json_object(), *p = json_string(ps->p[i].prompt),
               *ch = json_string(ps->p[i].chosen), *rj = json_string(ps->p[i].rejected);
        /* jansson refuses text that is not UTF-8 (a byte-level policy can
         * write half a character): say which pair */
        if (!p || !ch || !rj) die("rm-data: pair %d (prompt '%s') is not UTF-8 text", i + 1,
                                  ps->p[i].prompt);
        json_object_set_new(o, "prompt", p);
        json_object_set_new(o, "chosen", ch);
        json_object_set_new(o, "rejected", rj);
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!line) die("rm-data: pair %d cannot be written as JSON", i + 1);
        json_line_append(&out, &n, &cap, line);
        free(line);
    }
    out[n] = 0;
    *len = n;
    return out;
}

void rm_eval_path(const char *out, const char *eval_out, char *path, size_t cap) {
    if (eval_out && eval_out[0]) {
        snprintf(path, cap, "%s", eval_out);
        return;
    }
    size_t n = strlen(out);
    if (n > 6 && strcmp(out + n - 6, ".jsonl") == 0)
        snprintf(path, cap, "%.*s.eval.jsonl", (int)(n - 6), out);
    else
        snprintf(path, cap, "%s.eval.jsonl", out);
}
