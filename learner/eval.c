#include "eval.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

enum { EVAL_BATCH = 64 };


/* Runs G completions for each of n items and scores them; adds per-item
 * correct counts to n_correct and component sums to comp_sum. */
static void run_batch(const Model *m, KVCache *cache, const Tokenizer *tok, const Task *t,
                      const TaskItem *items, int n, int G, const SamplerConfig *sc, Rng *rng,
                      int *n_correct, double *comp_sum, double *len_sum) {
    int cap = m->cfg.max_seq_len;
    int *buf = xmalloc(sizeof(int) * (size_t)n * cap);
    const int *prompts[EVAL_BATCH];
    int lens[EVAL_BATCH];
    for (int i = 0; i < n; i++) {
        prompts[i] = buf + (size_t)i * cap;
        lens[i] = encode_prompt(tok, items[i].prompt, buf + (size_t)i * cap, cap);
    }
    Completions c;
    completions_alloc(&c, n * G, sc->max_new_tokens);
    kv_cache_reset(cache);
    generate(m, cache, prompts, lens, n, G, sc, tok, rng, &c);
    char text[TASK_MAX_TEXT * 2];
    for (int i = 0; i < n; i++) {
        n_correct[i] = 0;
        for (int g = 0; g < G; g++) {
            int j = i * G + g;
            completion_verifier_text(tok, &c, j, sc->stop, text, sizeof text);
            Reward r;
            t->verify(t, &items[i], text, c.finish[j] != FINISH_LENGTH, &r);
            n_correct[i] += r.correct;
            for (int q = 0; q < r.n; q++) comp_sum[q] += r.value[q];
            *len_sum += c.len[j];
        }
    }
    completions_free(&c);
    xfree(buf);
}

void evaluate(const Model *m, const Tokenizer *tok, const Task *t, const SamplerConfig *sc,
              int n_prompts, int k, uint64_t seed, EvalResult *out) {
    char err[512];
    if (task_check_tokenizer(t, tok, err, sizeof err) != 0) die("%s", err);
    TaskEvalSet set;
    if (task_eval_set(t, n_prompts, &set, err, sizeof err) != 0) die("%s", err);
    memset(out, 0, sizeof *out);
    out->asked = n_prompts;
    out->whole_split = set.whole_split;
    const int n_items = out->n_prompts = set.n;
    out->k = k;
    int G = k > 1 ? k : 1;
    int per_batch = EVAL_BATCH / G > 0 ? EVAL_BATCH / G : 1;
    KVCache *cache = kv_cache_new(&m->cfg, EVAL_BATCH > G ? EVAL_BATCH : G, m->cfg.max_seq_len);
    TaskItem items[EVAL_BATCH];
    int correct[EVAL_BATCH];
    double comp[REWARD_MAX_COMPONENTS] = {0}, len_sum = 0, scomp[REWARD_MAX_COMPONENTS] = {0};
    double slen = 0;
    Rng rng;
    rng_seed(&rng, seed, 0xE7A1);
    SamplerConfig greedy = *sc;
    greedy.temperature = 0;
    long n_greedy_ok = 0, n_sampled_ok = 0, n_pass = 0;
    for (int start = 0; start < n_items; start += EVAL_BATCH) {
        int n = n_items - start < EVAL_BATCH ? n_items - start : EVAL_BATCH;
        for (int i = 0; i < n; i++) CHECK(task_eval_item(t, &set, start + i, &items[i]) == 0);
        run_batch(m, cache, tok, t, items, n, 1, &greedy, &rng, correct, comp, &len_sum);
        for (int i = 0; i < n; i++) n_greedy_ok += correct[i];
        if (k < 1) continue;
        for (int s = 0; s < n; s += per_batch) {
            int nb = n - s < per_batch ? n - s : per_batch;
            run_batch(m, cache, tok, t, items + s, nb, G, sc, &rng, correct, scomp, &slen);
            for (int i = 0; i < nb; i++) {
                n_sampled_ok += correct[i];
                n_pass += correct[i] > 0;
            }
        }
    }
    kv_cache_free(cache);
    task_eval_set_free(&set);
    out->greedy_acc = (double)n_greedy_ok / n_items;
    for (int q = 0; q < t->n_components; q++) out->greedy_reward[q] = comp[q] / n_items;
    out->greedy_format = t->n_components > 1 ? out->greedy_reward[1] : 0;
    out->mean_len = len_sum / n_items;
    if (k >= 1) {
        out->sampled_acc = (double)n_sampled_ok / ((double)n_items * G);
        out->pass_at_k = (double)n_pass / n_items;
    }
}

void eval_print(const char *label, const EvalResult *r, const Task *t) {
    printf("%s held-out on %d distinct prompts", label, r->n_prompts);
    if (r->whole_split && r->n_prompts < r->asked)
        printf(" (the whole held-out split; %d asked)", r->asked);
    else if (r->whole_split)
        printf(" (the whole held-out split)");
    printf(": greedy accuracy %.3f", r->greedy_acc);
    for (int q = 1; q < t->n_components; q++)
        printf(", %s %.3f", t->component_names[q], r->greedy_reward[q]);
    if (r->k >= 1)
        printf(" | sampled accuracy %.3f, pass@%d %.3f", r->sampled_acc, r->k, r->pass_at_k);
    printf(" | mean length %.2f\n", r->mean_len);
    fflush(stdout);
}
