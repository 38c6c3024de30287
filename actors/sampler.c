/* sampler.c: token selection (greedy, temperature, top-k, top-p) and
 * batched generation over the KV cache. Contracts are in sampler.h. */
#include "sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_kernels.h"
#include "sample_dist.h"
#include "util.h"

/* log_sum_exp_row (the model's log-softmax) over logits / T, dying on
 * non-finite logits; *mx gets the scaled max. */
static double checked_lse(const float *logits, int V, double inv_t, double *mx) {
    double m;
    const double lse = log_sum_exp_row(logits, V, inv_t, &m, NULL);
    if (!isfinite(m)) die("sampler: non-finite logits (max %g): the model produced inf/NaN", m);
    if (!isfinite(lse)) die("sampler: non-finite logits (NaN in the softmax sum)");
    *mx = m;
    return lse;
}

double sampler_logprob(const float *logits, int V, float temperature, int id) {
    CHECK(id >= 0 && id < V);
    const double inv_t = temperature > 0 ? 1.0 / (double)temperature : 1.0;
    double m;
    const double lse = checked_lse(logits, V, inv_t, &m);
    return (double)logits[id] * inv_t - lse;
}

int sampler_pick(const float *logits, int V, const SamplerConfig *sc, Rng *rng, float *scratch,
                 float *logp) {
    CHECK(V > 0);
    /* Drawn first and unconditionally: one uniform per token, greedy too. */
    const double u = (double)rng_uniform(rng);

    if (sc->temperature <= 0.0f) {
        int best = 0;
        for (int i = 1; i < V; i++)
            if (logits[i] > logits[best]) best = i; /* strict: lowest id wins ties */
        if (logp) *logp = (float)sampler_logprob(logits, V, 1.0f, best);
        return best;
    }

    const double inv_t = 1.0 / (double)sc->temperature;
    double m;
    double lse = checked_lse(logits, V, inv_t, &m);
    const SampleDist dist = sample_dist_scoring(sc->temperature, sc->top_k, sc->top_p, sc->logprob);
    const int truncate = sample_dist_cuts(&dist, V);
    int pick = -1;

    if (!truncate) {
        /* Inverse CDF in id order over exp(x - m); target scaled by the sum
         * instead of normalising every term. */
        pick = softmax_cdf_pick(logits, V, inv_t, m, u * exp(lse - m));
    } else {
        /* scratch: the candidates sorted, the kept ones first */
        double mass;
        const int n_keep = sample_dist_keep(logits, V, &dist, m, scratch, &mass);
        const double target = u * mass;
        double cum = 0.0;
        pick = (int)scratch[2 * (n_keep - 1) + 1];
        for (int r = 0; r < n_keep; r++) {
            cum += exp((double)scratch[2 * r] * inv_t - m);
            if (cum > target) {
                pick = (int)scratch[2 * r + 1];
                break;
            }
        }
        /* the learner's recompute (logp_forward_truncated) forms the same
         * sum: zmax + log(kept mass) */
        if (dist.logprob == LOGPROB_TRUNCATED) lse = m + log(mass);
    }
    if (logp) *logp = (float)((double)logits[pick] * inv_t - lse);
    return pick;
}

void completions_alloc(Completions *c, int n, int max_new) {
    if (n < 1 || max_new < 1)
        die("completions_alloc: need n >= 1 and max_new >= 1 (got %d, %d)", n, max_new);
    c->n = n;
    c->max_new = max_new;
    c->tokens = xcalloc((size_t)n * max_new, sizeof(int));
    c->logp = xcalloc((size_t)n * max_new, sizeof(float));
    c->len = xcalloc((size_t)n, sizeof(int));
    c->finish = xcalloc((size_t)n, sizeof(uint8_t));
}

void completions_free(Completions *c) {
    xfree(c->tokens);
    xfree(c->logp);
    xfree(c->len);
    xfree(c->finish);
    memset(c, 0, sizeof *c);
}

/* Per-call workspace of generate(), allocated once per call. */
typedef struct {
    int N, V;
    float *logits;   /* (N, V) row r = r-th active sequence of the step */
    float *scratch;  /* (SAMPLER_SCRATCH_FLOATS(V)) */
    int *active;     /* (N) sequence indices still decoding, ascending */
    int *slots;      /* (N) their cache slots, for model_decode_step */
    int *feed;       /* (N) their last sampled tokens */
    /* Window for the stop-string check: the last (stop_len - 1) bytes of
     * a sequence's text plus the newest piece, so any match found in it
     * ends in the newest token. */
    int tail_cap;    /* stop_len + the tokenizer's longest piece + 1 */
    char *tail;      /* (N, tail_cap) recent text for the stop check */
    int *tail_len;   /* (N) */
} Generator;

static void generator_init(Generator *g, int N, int V, int tail_cap) {
    g->N = N;
    g->tail_cap = tail_cap;
    g->V = V;
    g->logits = xmalloc(sizeof(float) * (size_t)N * V);
    g->scratch = xmalloc(sizeof(float) * SAMPLER_SCRATCH_FLOATS(V));
    g->active = xmalloc(sizeof(int) * (size_t)N);
    g->slots = xmalloc(sizeof(int) * (size_t)N);
    g->feed = xmalloc(sizeof(int) * (size_t)N);
    g->tail = xcalloc((size_t)N * (size_t)tail_cap, 1);
    g->tail_len = xcalloc((size_t)N, sizeof(int));
}

static void generator_free(Generator *g) {
    xfree(g->logits);
    xfree(g->scratch);
    xfree(g->active);
    xfree(g->slots);
    xfree(g->feed);
    xfree(g->tail);
    xfree(g->tail_len);
}

/* Appends token id's text to sequence j's tail; returns 1 if the stop
 * string (length stop_len > 0) now occurs in it. Specials (PAD, BOS, EOS)
 * have no text, as in tokenizer_decode. A piece may hold any byte (a
 * byte-level token for NUL too), hence memmem. */
static int tail_push(Generator *g, int j, const Tokenizer *tok, int id, const char *stop,
                     int stop_len) {
    int pl;
    const char *piece = tokenizer_piece(tok, id, &pl);
    if (pl == 0) return 0;
    char *t = g->tail + (size_t)j * (size_t)g->tail_cap;
    int n = g->tail_len[j];
    CHECK(n + pl < g->tail_cap);
    memcpy(t + n, piece, (size_t)pl);
    n += pl;
    t[n] = '\0';
    const int hit = memmem(t, (size_t)n, stop, (size_t)stop_len) != NULL;
    /* Keep only what a later match could still use. */
    const int keep = stop_len - 1 < n ? stop_len - 1 : n;
    memmove(t, t + n - keep, (size_t)keep);
    t[keep] = '\0';
    g->tail_len[j] = keep;
    return hit;
}

/* generate() and generate_streams(): sequence j draws from rngs[per_seq ? j : 0]. */
static void generate_with(const Model *m, KVCache *cache, const int *const *prompts,
                          const int *prompt_lens, int n_prompts, int G, const SamplerConfig *sc,
                          const Tokenizer *tok, Rng *rngs, int per_seq, Completions *out) {
    const int V = m->cfg.vocab_size;
    if (n_prompts < 1 || G < 1)
        die("generate: need n_prompts >= 1 and G >= 1 (got %d, %d)", n_prompts, G);
    const int N = n_prompts * G;
    if (cache->n_slots < N)
        die("generate: the KV cache has %d slots but %d prompts x G=%d completions need %d; "
            "create it with kv_cache_new(cfg, >= %d, ...)", cache->n_slots, n_prompts, G, N, N);
    if (out->n < N || out->max_new < sc->max_new_tokens)
        die("generate: Completions holds %d x %d tokens but the call needs %d x %d; "
            "allocate it with completions_alloc(c, %d, %d)", out->n, out->max_new, N,
            sc->max_new_tokens, N, sc->max_new_tokens);
    if (sc->max_new_tokens < 1)
        die("generate: sampler max_new_tokens must be >= 1 (got %d)", sc->max_new_tokens);
    if (tok->vocab_size != V)
        die("generate: tokenizer has %d tokens but the model's vocab_size is %d", tok->vocab_size, V);
    const int stop_len = (int)strnlen(sc->stop, sizeof sc->stop);
    if (stop_len == (int)sizeof sc->stop) die("generate: sampler stop string is not NUL-terminated");
    const int max_new = sc->max_new_tokens;
    /* The learner re-scores prompt + completion in one forward pass, so a
     * sequence must fit max_seq_len as well as the cache. */
    const int max_len = cache->max_len < m->cfg.max_seq_len ? cache->max_len : m->cfg.max_seq_len;

    Generator g;
    generator_init(&g, N, V, stop_len + tok->max_piece + 1);
    kv_cache_reset(cache);

    /* Prefill each prompt once into its first slot and share the cache
     * with its siblings; its last-token logits seed all G completions.
     * The prompts are checked first, then prefilled together. */
    for (int p = 0; p < n_prompts; p++) {
        const int P = prompt_lens[p];
        if (P < 1 || prompts[p][0] != tok->bos_id)
            die("generate: prompt %d must be non-empty and start with BOS (len %d)", p, P);
        if (P >= max_len)
            die("generate: prompt %d has %d tokens, leaving no room for a completion in a cache "
                "of max_len %d (cache %d, model %d): raise model.max_seq_len or shorten the prompts",
                p, P, max_len, cache->max_len, m->cfg.max_seq_len);
        for (int i = 0; i < P; i++)
            if (prompts[p][i] < 0 || prompts[p][i] >= V)
                die("generate: prompt %d token %d is id %d, outside the vocabulary [0, %d)", p, i,
                    prompts[p][i], V);
        g.slots[p] = p * G;
    }
    /* all prompts in one pass over the weights: logits row p, then moved
     * to row p * G (last first: a row is moved before anything lands on it) */
    model_prefill_many(m, cache, g.slots, prompts, prompt_lens, n_prompts, g.logits);
    for (int p = n_prompts - 1; p >= 0; p--) {
        float *row = g.logits + (size_t)p * G * V;
        if (p * G != p) memcpy(row, g.logits + (size_t)p * V, sizeof(float) * (size_t)V);
        for (int k = 1; k < G; k++) {
            kv_cache_copy_slot(cache, p * G + k, p * G);
            memcpy(row + (size_t)k * V, row, sizeof(float) * (size_t)V);
        }
    }
    for (int j = 0; j < N; j++) {
        g.active[j] = j;
        out->len[j] = 0;
        out->finish[j] = FINISH_LENGTH;
        for (int t = 0; t < out->max_new; t++) {
            out->tokens[(size_t)j * out->max_new + t] = tok->pad_id;
            out->logp[(size_t)j * out->max_new + t] = 0.0f;
        }
    }

    /* Lockstep decoding: sample for every active sequence in index order
     * (row r of logits belongs to active[r]), then feed the survivors. */
    int n_active = N;
    while (n_active > 0) {
        int n_next = 0;
        for (int r = 0; r < n_active; r++) {
            const int j = g.active[r];
            float lp;
            Rng *rng = per_seq ? &rngs[j] : rngs;
            const int id = sampler_pick(g.logits + (size_t)r * V, V, sc, rng, g.scratch, &lp);
            const size_t at = (size_t)j * out->max_new + out->len[j];
            out->tokens[at] = id;
            out->logp[at] = lp;
            const int len = ++out->len[j];
            int done = 1;
            if (id == tok->eos_id)
                out->finish[j] = FINISH_EOS;
            else if (stop_len > 0 && tail_push(&g, j, tok, id, sc->stop, stop_len))
                out->finish[j] = FINISH_STOP;
            else if (len >= max_new || prompt_lens[j / G] + len >= max_len)
                out->finish[j] = FINISH_LENGTH; /* the next token would not fit */
            else
                done = 0;
            if (!done) {
                g.active[n_next] = j; /* n_next <= r: compaction keeps index order */
                g.slots[n_next] = j;
                g.feed[n_next] = id;
                n_next++;
            }
        }
        n_active = n_next;
        if (n_active > 0) model_decode_step(m, cache, g.slots, g.feed, n_active, g.logits);
        if (sc->between_steps) sc->between_steps(sc->between_ctx);
    }
    generator_free(&g);
}

void generate(const Model *m, KVCache *cache, const int *const *prompts, const int *prompt_lens,
              int n_prompts, int G, const SamplerConfig *sc, const Tokenizer *tok, Rng *rng,
              Completions *out) {
    generate_with(m, cache, prompts, prompt_lens, n_prompts, G, sc, tok, rng, 0, out);
}

void generate_streams(const Model *m, KVCache *cache, const int *const *prompts,
                      const int *prompt_lens, int n_prompts, int G, const SamplerConfig *sc,
                      const Tokenizer *tok, Rng *rngs, Completions *out) {
    generate_with(m, cache, prompts, prompt_lens, n_prompts, G, sc, tok, rngs, 1, out);
}

int completion_text(const Tokenizer *tok, const Completions *c, int i, char *out, size_t cap) {
    CHECK(i >= 0 && i < c->n);
    const int *ids = c->tokens + (size_t)i * c->max_new;
    int n = c->len[i];
    if (n > 0 && ids[n - 1] == tok->eos_id) n--;
    return tokenizer_decode(tok, ids, n, out, cap);
}

SamplerConfig sampler_config_from(const SamplingSettings *s) {
    SamplerConfig sc;
    memset(&sc, 0, sizeof sc);
    sc.temperature = s->temperature;
    sc.top_k = s->top_k;
    sc.top_p = s->top_p;
    sc.logprob = s->logprob;
    sc.max_new_tokens = s->max_new_tokens;
    snprintf(sc.stop, sizeof sc.stop, "%s", s->stop);
    return sc;
}

int completion_verifier_text(const Tokenizer *tok, const Completions *c, int i, const char *stop,
                             char *out, size_t cap) {
    int n = completion_text(tok, c, i, out, cap);
    if (n < 0 || c->finish[i] != FINISH_STOP || stop[0] == '\0') return n;
    /* generate() checks after every token, so the first occurrence is the
     * one that ended the completion. */
    char *hit = strstr(out, stop);
    if (hit) {
        *hit = '\0';
        n = (int)(hit - out);
    }
    return n;
}
