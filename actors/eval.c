#include "eval.h"

#include <stdio.h>
#include <string.h>

#include "run_settings.h"
#include "util.h"

enum { EVAL_BATCH = 64 };

/* Which greedy completions of a batch to keep for samples.jsonl: items
 * whose held-out index (base + i) is below n. */
typedef struct {
    int base, n;
    EvalSampleSet *set;
} Keep;

/* Adds completion j of item to keep->set: the whole text the model wrote
 * (think part and stop string included, EOS dropped), not only what the
 * verifier read. */
static void keep_sample(const Keep *keep, int idx, const Tokenizer *tok, const Completions *c,
                        int j, const TaskItem *item, const Reward *r) {
    char *full = xmalloc(EVAL_SAMPLE_TEXT_MAX + 1);
    double value[TASK_MAX_COMPONENTS] = {0};
    for (int q = 0; q < r->n; q++) value[q] = r->value[q];
    if (completion_text(tok, c, j, full, EVAL_SAMPLE_TEXT_MAX + 1) < 0)
        snprintf(full, EVAL_SAMPLE_TEXT_MAX + 1,
                 "[completion of %d tokens is longer than %d bytes: not kept]", c->len[j],
                 EVAL_SAMPLE_TEXT_MAX);
    eval_samples_add(keep->set, (uint32_t)idx, r->correct, c->len[j], value, item->prompt,
                     full);
    xfree(full);
}

/* Runs G completions for each of n items and scores them; adds per-item
 * correct counts to n_correct and component sums to comp_sum; keeps the
 * completions keep asks for (NULL: none). */
static void run_batch(const Model *m, KVCache *cache, const Tokenizer *tok, const Task *t,
                      const TaskItem *items, int n, int G, const SamplerConfig *sc, Rng *rng,
                      int *n_correct, double *comp_sum, double *len_sum, const Keep *keep) {
    int cap = m->cfg.max_seq_len;
    int *buf = xmalloc(sizeof(int) * (size_t)n * cap);
    const int *prompts[EVAL_BATCH];
    int lens[EVAL_BATCH];
    CHECK(n <= EVAL_BATCH);
    for (int i = 0; i < n; i++) {
        prompts[i] = buf + (size_t)i * cap;
        lens[i] = encode_prompt(tok, items[i].prompt, buf + (size_t)i * cap, cap);
    }
    Completions c;
    completions_alloc(&c, n * G, sc->max_new_tokens);
    kv_cache_reset(cache);
    generate(m, cache, prompts, lens, n, G, sc, tok, rng, &c);
    /* the verifier alone, not the [reward] scorers: held-out numbers
     * measure the task, and stay comparable between runs that shape their
     * training reward differently; the whole batch at once, as a rollout */
    /* room for the whole completion (a BPE token decodes to several bytes) */
    size_t text_cap = (size_t)sc->max_new_tokens * (size_t)tok->max_piece + 1;
    if (text_cap < TASK_MAX_TEXT * 2) text_cap = TASK_MAX_TEXT * 2;
    const int N = n * G;
    char *texts = xmalloc((size_t)N * text_cap);
    VerifyJob *jobs = xmalloc(sizeof *jobs * (size_t)N);
    Reward *rewards = xmalloc(sizeof *rewards * (size_t)N);
    for (int j = 0; j < N; j++) {
        completion_verifier_text(tok, &c, j, sc->stop, texts + (size_t)j * text_cap, text_cap);
        jobs[j] = (VerifyJob){&items[j / G], texts + (size_t)j * text_cap,
                              c.finish[j] != FINISH_LENGTH};
    }
    task_verify_batch(t, jobs, N, rewards);
    for (int i = 0; i < n; i++) {
        n_correct[i] = 0;
        for (int g = 0; g < G; g++) {
            int j = i * G + g;
            const Reward *r = &rewards[j];
            n_correct[i] += r->correct;
            if (keep && g == 0 && keep->base + i < keep->n)
                keep_sample(keep, keep->base + i, tok, &c, j, &items[i], r);
            for (int q = 0; q < r->n; q++) comp_sum[q] += r->value[q];
            *len_sum += c.len[j];
        }
    }
    xfree(texts);
    xfree(jobs);
    xfree(rewards);
    completions_free(&c);
    xfree(buf);
}

int eval_batch_rows(int k) { return k > EVAL_BATCH ? k : EVAL_BATCH; }

void eval_share(int n, int idx, int n_actors, int *lo, int *hi) {
    int batches = (n + EVAL_BATCH - 1) / EVAL_BATCH;
    int b0 = (int)((long)batches * idx / n_actors), b1 = (int)((long)batches * (idx + 1) / n_actors);
    *lo = b0 * EVAL_BATCH < n ? b0 * EVAL_BATCH : n;
    *hi = b1 * EVAL_BATCH < n ? b1 * EVAL_BATCH : n;
}

void eval_tally(const Model *m, const Tokenizer *tok, const Task *t, const TaskEvalSet *set,
                const SamplerConfig *sc, int lo, int hi, int k, uint64_t seed, int n_keep,
                EvalSampleSet *keep, EvalTally *out) {
    memset(out, 0, sizeof *out);
    out->k = k;
    out->asked = set->asked;
    out->whole_split = set->whole_split;
    CHECK(lo >= 0 && hi <= set->n);
    CHECK(lo % EVAL_BATCH == 0 || lo == hi);
    int G = k > 1 ? k : 1;
    int per_batch = EVAL_BATCH / G > 0 ? EVAL_BATCH / G : 1;
    KVCache *cache = kv_cache_new(&m->cfg, eval_batch_rows(G), m->cfg.max_seq_len);
    TaskItem items[EVAL_BATCH];
    int correct[EVAL_BATCH];
    double scomp[TASK_MAX_COMPONENTS] = {0}, slen = 0;
    SamplerConfig greedy = *sc;
    greedy.temperature = 0;
    for (int start = lo; start < hi; start += EVAL_BATCH) {
        int n = hi - start < EVAL_BATCH ? hi - start : EVAL_BATCH;
        /* one stream per batch of the whole set: shares add up exactly */
        Rng rng;
        rng_seed(&rng, seed, 0xE7A1u + ((uint64_t)(start / EVAL_BATCH) << 16));
        for (int i = 0; i < n; i++) CHECK(task_eval_item(t, set, start + i, &items[i]) == 0);
        Keep kp = {start, keep ? n_keep : 0, keep};
        run_batch(m, cache, tok, t, items, n, 1, &greedy, &rng, correct, out->comp, &out->len,
                  &kp);
        for (int i = 0; i < n; i++) out->greedy_ok += correct[i];
        out->n_prompts += n;
        if (k < 1) continue;
        for (int s = 0; s < n; s += per_batch) {
            int nb = n - s < per_batch ? n - s : per_batch;
            run_batch(m, cache, tok, t, items + s, nb, G, sc, &rng, correct, scomp, &slen, NULL);
            for (int i = 0; i < nb; i++) {
                out->sampled_ok += correct[i];
                out->passed += correct[i] > 0;
            }
        }
    }
    kv_cache_free(cache);
}

void evaluate(const Model *m, const Tokenizer *tok, const Task *t, const SamplerConfig *sc,
              int n_prompts, int k, uint64_t seed, EvalResult *out) {
    char err[512];
    if (task_check_tokenizer(t, tok, err, sizeof err) != 0) die("%s", err);
    TaskEvalSet set;
    if (task_eval_set(t, n_prompts, &set, err, sizeof err) != 0) die("%s", err);
    EvalTally tally;
    eval_tally(m, tok, t, &set, sc, 0, set.n, k, seed, 0, NULL, &tally);
    task_eval_set_free(&set);
    eval_result_from_tally(&tally, t->n_components, out);
}

static void run_local(const void *ctx, const Model *m, const Tokenizer *tok, const Task *t,
                      int n_prompts, EvalResult *out) {
    const Config *cfg = ctx;
    const EvalSettings *es = eval_settings(cfg);
    SamplerConfig sc = sampler_config_from(sampling_settings(cfg));
    int n = n_prompts > 0 ? n_prompts : es->prompts, k = n_prompts > 0 ? 0 : es->pass_k;
    evaluate(m, tok, t, &sc, n, k, run_settings(cfg)->seed, out);
}

Evaluator local_evaluator(const Config *cfg) { return (Evaluator){run_local, cfg}; }
