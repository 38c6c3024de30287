#include "rejection_sample.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_line.h"
#include "util.h"

/* 64 sequences in flight, as a held-out evaluation batch */
enum { RS_BATCH_ROWS = 64 };

int rs_batch_prompts(int k) { return k >= RS_BATCH_ROWS ? 1 : RS_BATCH_ROWS / k; }

void rs_share(int n, int k, int rank, int size, int *lo, int *hi) {
    int per = rs_batch_prompts(k), batches = (n + per - 1) / per;
    long b0 = (long)batches * rank / size, b1 = (long)batches * (rank + 1) / size;
    *lo = b0 * per < n ? (int)(b0 * per) : n;
    *hi = b1 * per < n ? (int)(b1 * per) : n;
}

void rs_filter(const Task *t, const TaskItem *item, uint32_t index, const char *const *texts,
               const int *finished, int k, RsRecords *out, RsStats *st) {
    RsCount *c = &st->cat[rs_category(item->prompt)];
    int first = out->n, ok = 0;
    VerifyJob *jobs = xmalloc(sizeof *jobs * (size_t)k);
    Reward *rewards = xmalloc(sizeof *rewards * (size_t)k);
    for (int j = 0; j < k; j++) jobs[j] = (VerifyJob){item, texts[j], finished[j]};
    task_verify_batch(t, jobs, k, rewards);
    for (int j = 0; j < k; j++) {
        const Reward r = rewards[j];
        c->sampled++;
        if (!r.correct || !texts[j][0]) continue; /* SFT refuses an empty completion */
        c->accepted++;
        ok = 1;
        int dup = 0;
        for (int q = first; q < out->n && !dup; q++) dup = !strcmp(out->r[q].completion, texts[j]);
        if (!dup) rs_records_push(out, index, (uint32_t)j, r.total, item->prompt, texts[j]);
    }
    c->prompts++;
    c->prompts_ok += ok;
    xfree(jobs);
    xfree(rewards);
}

static int by_order(const RsRecord *a, const RsRecord *b) {
    if (a->index != b->index) return a->index < b->index ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}
static int cmp_order(const void *a, const void *b) { return by_order(a, b); }

/* prompt, then (shortest: length, then) completion text, then order: equal
 * keys end up adjacent, the one to keep first */
static int cmp_text(const void *pa, const void *pb) {
    const RsRecord *a = pa, *b = pb;
    int c = strcmp(a->prompt, b->prompt);
    if (c) return c;
    c = strcmp(a->completion, b->completion);
    return c ? c : by_order(a, b);
}
static int cmp_short(const void *pa, const void *pb) {
    const RsRecord *a = pa, *b = pb;
    int c = strcmp(a->prompt, b->prompt);
    if (c) return c;
    size_t la = strlen(a->completion), lb = strlen(b->completion);
    if (la != lb) return la < lb ? -1 : 1;
    return by_order(a, b);
}

void rs_dedupe(RsRecords *rs, int shortest) {
    if (rs->n == 0) return;
    qsort(rs->r, (size_t)rs->n, sizeof *rs->r, shortest ? cmp_short : cmp_text);
    int w = 0;
    for (int i = 0; i < rs->n; i++) {
        RsRecord *r = &rs->r[i];
        int same = w > 0 && !strcmp(rs->r[w - 1].prompt, r->prompt) &&
                   (shortest || !strcmp(rs->r[w - 1].completion, r->completion));
        if (same) {
            xfree(r->prompt);
            xfree(r->completion);
            continue;
        }
        rs->r[w++] = *r;
    }
    rs->n = w;
    qsort(rs->r, (size_t)rs->n, sizeof *rs->r, cmp_order);
}

int rs_sample_share(const Model *m, const Tokenizer *tok, const Task *t, const SamplerConfig *sc,
                    int lo, int hi, int k, uint64_t seed, RsRecords *out, RsStats *st,
                    RsBatchDone done, void *ctx) {
    int per = rs_batch_prompts(k), cap = m->cfg.max_seq_len;
    CHECK(lo % per == 0 || lo == hi);
    KVCache *cache = kv_cache_new(&m->cfg, per * k, cap);
    int *buf = xmalloc(sizeof(int) * (size_t)per * cap);
    const int **prompts = xmalloc(sizeof *prompts * (size_t)per);
    int *lens = xmalloc(sizeof(int) * (size_t)per), *finished = xmalloc(sizeof(int) * (size_t)k);
    TaskItem *items = xmalloc(sizeof *items * (size_t)per);
    /* a token decodes to at most tok->max_piece bytes */
    size_t text_cap = (size_t)sc->max_new_tokens * (size_t)tok->max_piece + 1;
    char *text = xmalloc(text_cap * (size_t)k);
    const char **texts = xmalloc(sizeof *texts * (size_t)k);
    Completions c;
    completions_alloc(&c, per * k, sc->max_new_tokens);
    int stopped = 0;
    for (int start = lo; start < hi; start += per) {
        int n = hi - start < per ? hi - start : per;
        Rng rng;
        rng_seed(&rng, seed, 0x85A3u + ((uint64_t)(start / per) << 16));
        for (int i = 0; i < n; i++) {
            if (t->sample(t, SPLIT_TRAIN, RS_STREAM, (uint64_t)(start + i), &items[i]) != 0)
                die("rejection-sample: task %s has no training items", t->name);
            prompts[i] = buf + (size_t)i * cap;
            lens[i] = encode_prompt(tok, items[i].prompt, buf + (size_t)i * cap, cap);
        }
        kv_cache_reset(cache);
        generate(m, cache, prompts, lens, n, k, sc, tok, &rng, &c);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < k; j++) {
                int row = i * k + j;
                char *tx = text + (size_t)j * text_cap;
                /* the text the verifier scores, cut before a stop string: SFT
                 * then ends it with EOS, the stop the model learns */
                if (completion_verifier_text(tok, &c, row, sc->stop, tx, text_cap) < 0)
                    die("rejection-sample: completion %d of prompt %d does not decode", j,
                        start + i);
                texts[j] = tx;
                finished[j] = c.finish[row] != FINISH_LENGTH;
            }
            rs_filter(t, &items[i], (uint32_t)(start + i), texts, finished, k, out, st);
        }
        if (done && done(ctx)) {
            stopped = 1;
            break;
        }
    }
    completions_free(&c);
    xfree(texts);
    xfree(text);
    xfree(items);
    xfree(finished);
    xfree(lens);
    xfree(prompts);
    xfree(buf);
    kv_cache_free(cache);
    return stopped;
}

char *rs_jsonl(const RsRecords *rs, const char *source, size_t *len) {
    size_t n = 0, cap = 4096;
    char *out = xmalloc(cap);
    for (int i = 0; i < rs->n; i++) {
        json_t *o = json_object(), *p = json_string(rs->r[i].prompt),
               *c = json_string(rs->r[i].completion), *src = json_string(source);
        /* jansson refuses text that is not UTF-8: say which record */
        if (!p || !c) die("rejection-sample: record %d (prompt index %u) is not UTF-8 text", i,
                          rs->r[i].index);
        if (!src) die("rejection-sample: the checkpoint path '%s' is not UTF-8", source);
        json_object_set_new(o, "prompt", p);
        json_object_set_new(o, "completion", c);
        json_object_set_new(o, "reward", json_real(rs->r[i].reward));
        json_object_set_new(o, "source", src);
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        json_decref(o);
        if (!line) die("rejection-sample: record %d cannot be written as JSON", i);
        json_line_append(&out, &n, &cap, line);
        free(line);
    }
    out[n] = 0;
    *len = n;
    return out;
}

static double rate(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0; }

void rs_print_stats(FILE *f, const RsStats *st, int kept) {
    RsCount t = rs_stats_total(st);
    fprintf(f, "rejection-sample: accepted %llu of %llu completions (%.3f); %llu of %llu prompts "
               "(%.3f) have at least one; %d records kept after deduplication\n",
            (unsigned long long)t.accepted, (unsigned long long)t.sampled, rate(t.accepted, t.sampled),
            (unsigned long long)t.prompts_ok, (unsigned long long)t.prompts,
            rate(t.prompts_ok, t.prompts), kept);
    for (int c = 0; c < RS_N_CATEGORIES; c++) {
        const RsCount *x = &st->cat[c];
        if (!x->prompts) continue;
        fprintf(f, "  %-6s prompts %6llu  acceptance %.3f  prompts with one %.3f\n",
                rs_category_names[c], (unsigned long long)x->prompts, rate(x->accepted, x->sampled),
                rate(x->prompts_ok, x->prompts));
    }
}
