#include "rollout.h"

#include <string.h>

#include "util.h"

_Static_assert((int)WIRE_MAX_COMPONENTS >= (int)REWARD_MAX_COMPONENTS,
               "a Group must carry every component of a mixed reward");

/* Rollout streams live in their own part of the stream space (other
 * consumers key theirs by rank, split or item index): bit 63 set, then
 * prompt index and completion index packed below it. */
void roller_stream_seed(Rng *rng, uint64_t seed, uint64_t q, int k) {
    CHECK(k >= 0 && k < 4096 && q < (1ull << 50));
    rng_seed(rng, seed, (1ull << 63) | (q << 12) | (uint64_t)k);
}

void roller_init(Roller *r, const Model *m, const Tokenizer *tok, const Task *task,
                 const ScorerSet *scorers, const SamplerConfig *sc, int G, int max_prompts,
                 int prompts_per_step, uint64_t seed, uint32_t rank) {
    char err[512];
    if (task_check_tokenizer(task, tok, err, sizeof err) != 0) die("%s", err);
    memset(r, 0, sizeof *r);
    r->m = m;
    r->tok = tok;
    r->task = task;
    r->scorers = scorers;
    r->sc = *sc;
    r->G = G;
    r->max_prompts = max_prompts;
    r->rank = rank;
    r->seed = seed;
    r->prompts_per_step = prompts_per_step;
    r->rngs = xmalloc(sizeof(Rng) * (size_t)max_prompts * G);
    int L = m->cfg.max_seq_len;
    /* one slot per completion plus one per prompt for the shared prefill */
    r->cache = kv_cache_new(&m->cfg, max_prompts * (G + 1), L);
    completions_alloc(&r->comp, max_prompts * G, sc->max_new_tokens);
    r->prompt_buf = xmalloc(sizeof(int) * (size_t)max_prompts * L);
    r->prompt_len = xmalloc(sizeof(int) * (size_t)max_prompts);
    r->items = xmalloc(sizeof(TaskItem) * (size_t)max_prompts);
    r->prompts = xmalloc(sizeof(const int *) * (size_t)max_prompts);
    /* a BPE token decodes to several bytes: room for the whole completion */
    r->text_cap = (size_t)sc->max_new_tokens * (size_t)tok->max_piece + 1;
    if (r->text_cap < ROLLER_TEXT_MAX) r->text_cap = ROLLER_TEXT_MAX;
    r->texts = xmalloc((size_t)max_prompts * G * r->text_cap);
    r->jobs = xmalloc(sizeof(VerifyJob) * (size_t)max_prompts * G);
    r->rewards = xmalloc(sizeof(Reward) * (size_t)max_prompts * G);
}

void roller_free(Roller *r) {
    kv_cache_free(r->cache);
    completions_free(&r->comp);
    xfree(r->prompt_buf);
    xfree(r->prompt_len);
    xfree(r->items);
    xfree(r->prompts);
    xfree(r->rngs);
    xfree(r->texts);
    xfree(r->jobs);
    xfree(r->rewards);
    memset(r, 0, sizeof *r);
}

/* Scores every completion of the last generate into r->rewards: the
 * task's verifier on the whole batch at once (an external verifier or
 * the sandbox works on several together), then the [reward] scorers.
 * Returns the wall time it took. */
static double score_all(Roller *r, int n) {
    const Completions *c = &r->comp;
    const int N = n * r->G;
    double t0 = now_seconds();
    for (int j = 0; j < N; j++) {
        char *text = r->texts + (size_t)j * r->text_cap;
        completion_verifier_text(r->tok, c, j, r->sc.stop, text, r->text_cap);
        r->jobs[j] = (VerifyJob){&r->items[j / r->G], text, c->finish[j] != FINISH_LENGTH};
    }
    task_verify_batch(r->task, r->jobs, N, r->rewards);
    for (int j = 0; j < N; j++)
        reward_mix_apply(r->task, r->scorers, r->jobs[j].item, r->jobs[j].completion,
                         c->tokens + (size_t)j * c->max_new, c->len[j], r->jobs[j].finished,
                         &r->rewards[j]);
    return now_seconds() - t0;
}

/* Packs completions [i*G, (i+1)*G) of the last generate, scored, into g. */
static void pack_group(Roller *r, int i, uint64_t prompt_q, uint64_t policy_version, double gen_s,
                       double verify_s, Group *g) {
    const Completions *c = &r->comp;
    int G = r->G, nc = r->task->n_components + (r->scorers ? r->scorers->n : 0);
    int64_t n_tokens = 0;
    for (int k = 0; k < G; k++) n_tokens += c->len[i * G + k];
    group_alloc(g, G, r->prompt_len[i], nc, n_tokens);
    g->actor_rank = r->rank;
    g->seq_no = prompt_q;
    g->prompt_id = r->items[i].id;
    g->policy_version = policy_version;
    g->gen_seconds = gen_s;
    g->verify_seconds = verify_s;
    for (int p = 0; p < r->prompt_len[i]; p++)
        g->prompt[p] = r->prompt_buf[(size_t)i * r->m->cfg.max_seq_len + p];
    int64_t off = 0;
    for (int k = 0; k < G; k++) {
        int j = i * G + k, len = c->len[j];
        g->completion_len[k] = len;
        for (int t = 0; t < len; t++) {
            g->tokens[off + t] = c->tokens[(size_t)j * c->max_new + t];
            g->old_logprobs[off + t] = c->logp[(size_t)j * c->max_new + t];
        }
        off += len;
        g->finish[k] = c->finish[j];
        const Reward *rw = &r->rewards[j];
        CHECK(rw->n == nc && rw->status >= 0 && rw->status < REWARD_STATUS_COUNT);
        g->reward[k] = rw->total;
        g->status[k] = (uint8_t)rw->status;
        for (int q = 0; q < nc; q++) g->reward_comp[k * nc + q] = rw->value[q];
    }
}

/* The run's training prompt q, as slot i of this call. */
static uint64_t prompt_index(const Roller *r, long step, int slot) {
    return (uint64_t)(step - 1) * (uint64_t)r->prompts_per_step + (uint64_t)slot;
}

void roller_run(Roller *r, long step, int lo, int hi, uint64_t policy_version, Group *groups) {
    const int n = hi - lo;
    CHECK(step >= 1 && lo >= 0 && n >= 1 && n <= r->max_prompts && hi <= r->prompts_per_step);
    int L = r->m->cfg.max_seq_len;
    for (int i = 0; i < n; i++) {
        const uint64_t q = prompt_index(r, step, lo + i);
        /* one stream of training items for the whole run, indexed by q */
        if (r->task->sample(r->task, SPLIT_TRAIN, 0, q, &r->items[i]) != 0)
            die("task %s has no training items", r->task->name);
        int *buf = r->prompt_buf + (size_t)i * L;
        r->prompt_len[i] = encode_prompt(r->tok, r->items[i].prompt, buf, L);
        r->prompts[i] = buf;
        for (int k = 0; k < r->G; k++) roller_stream_seed(&r->rngs[i * r->G + k], r->seed, q, k);
    }
    double t0 = now_seconds();
    kv_cache_reset(r->cache);
    generate_streams(r->m, r->cache, r->prompts, r->prompt_len, n, r->G, &r->sc, r->tok, r->rngs,
                     &r->comp);
    double gen_s = (now_seconds() - t0) / n;
    double verify_s = score_all(r, n) / n;
    for (int i = 0; i < n; i++)
        pack_group(r, i, prompt_index(r, step, lo + i), policy_version, gen_s, verify_s,
                   &groups[i]);
}
