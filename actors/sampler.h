/* sampler.h: turning logits into tokens, and batched generation of G
 * completions per prompt over the KV cache (what every actor rank runs).
 *
 * Two contracts matter to the rest of the trainer:
 *
 *   1. The log-probability reported for each sampled token is under the
 *      distribution [sampler] logprob names (common/sample_dist.h), which
 *      the learner recomputes with model_forward_dist (model.h) for the
 *      importance ratio and the gradient, through the same kept-set rule
 *      (sample_dist_keep) and the same log-softmax (log_sum_exp_row):
 *        full (default): softmax(logits / temperature) over the whole
 *          vocabulary, even when top-k / top-p cut the sampling
 *          distribution (the gradient is then biased: see sample_dist.h);
 *        truncated: the renormalised top-k / top-p distribution at that
 *          temperature, the one the token was actually drawn from.
 *      Greedy decoding (temperature 0) reports logp under the full softmax
 *      at temperature 1.
 *
 *   2. The RNG advances by exactly one rng_uniform draw per generated token,
 *      whatever the settings (greedy too), in sequence-index order; so a
 *      run is reproducible from the saved Rng and G, and a restored
 *      checkpoint continues the same stream.
 *
 * Training layout the learner builds from a completion (prompt_len P,
 * completion length n, both counted in tokens):
 *   seq      = prompt (BOS first) ++ completion tokens      (P + n)
 *   inputs   = seq[0 .. P+n-2], targets = seq[1 .. P+n-1]
 *   completion token j is scored at target index P - 1 + j.
 * generate() keeps P + n <= min(cache max_len, max_seq_len), so the whole
 * sequence always fits one training forward. */
#ifndef ACTORS_SAMPLER_H
#define ACTORS_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "rng.h"
#include "sample_dist.h"
#include "sampling.h"
#include "tokenizer.h"

typedef struct {
    float temperature;   /* 0 = greedy (argmax, lowest id wins ties) */
    int top_k;           /* keep the k most likely tokens; 0 = off */
    float top_p;         /* keep the smallest most-likely prefix with mass >= p; 1 = off */
    int logprob;         /* LogprobKind (sample_dist.h): full or truncated */
    int max_new_tokens;  /* completion length limit (EOS included) */
    char stop[16];       /* stop string, NUL-terminated; "" = stop on EOS only */
    /* Called between decode steps when set: the asynchronous actor drives
     * its in-flight weight broadcast there, so a transfer progresses while
     * generation goes on. Must not touch the model. */
    void (*between_steps)(void *ctx);
    void *between_ctx;
} SamplerConfig;

/* The sampler settings of the [sampler] section (no callback). */
SamplerConfig sampler_config_from(const SamplingSettings *s);

/* Floats of scratch sampler_pick needs for a vocabulary of V. */
#define SAMPLER_SCRATCH_FLOATS(V) SAMPLE_DIST_SCRATCH_FLOATS(V)

/* Samples one token id from logits (V) under sc, drawing exactly one
 * rng_uniform from rng, and writes to *logp (if not NULL) its
 * log-probability under softmax(logits / temperature) (temperature 1 when
 * greedy), or with sc->logprob = truncated under the renormalised kept-set
 * distribution it was drawn from, computed with max subtraction and double
 * accumulation. The kept set is sample_dist_keep's: top_k first, then
 * top_p on the renormalised top-k mass; candidates ordered by probability,
 * ties by lower id. scratch holds
 * SAMPLER_SCRATCH_FLOATS(V) floats owned by the caller. Dies on non-finite
 * logits (a model bug, not a sampling decision). */
int sampler_pick(const float *logits, int V, const SamplerConfig *sc, Rng *rng, float *scratch,
                 float *logp);

/* log softmax(logits / temperature)[id] in double, with max subtraction:
 * the reference the learner's forward must agree with. */
double sampler_logprob(const float *logits, int V, float temperature, int id);

typedef enum { FINISH_EOS = 0, FINISH_STOP = 1, FINISH_LENGTH = 2 } FinishReason;

/* n completions of up to max_new tokens. Row i of tokens / logp holds len[i]
 * valid entries (EOS included when emitted: it is an action the policy took
 * and is trained on); the rest is the tokenizer's pad_id / 0. */
typedef struct {
    int n, max_new;
    int *tokens;      /* (n, max_new) token ids */
    float *logp;      /* (n, max_new) log-prob of each token, under sc->logprob (contract 1) */
    int *len;         /* (n) completion tokens, EOS included */
    uint8_t *finish;  /* (n) FinishReason */
} Completions;

/* Allocates c's arrays (zeroed) for n completions of up to max_new tokens;
 * c owns them until completions_free. */
void completions_alloc(Completions *c, int n, int max_new);
void completions_free(Completions *c);

/* Generates G completions for each of n_prompts prompts (token ids, BOS
 * first) into out rows p*G .. p*G+G-1. Each prompt is prefilled once into
 * slot p*G and copied to its other G-1 slots; all sequences then decode in
 * lockstep, only the active ones per step, until EOS, the stop string,
 * max_new_tokens, or prompt + completion reaching min(cache->max_len,
 * max_seq_len) (then FINISH_LENGTH with len < max_new_tokens). The cache is emptied first and
 * needs n_prompts*G slots; out needs n >= n_prompts*G and max_new >=
 * sc->max_new_tokens; violations die with a message (setup errors).
 * Buffers are allocated once per call and freed before returning. */
void generate(const Model *m, KVCache *cache, const int *const *prompts, const int *prompt_lens,
              int n_prompts, int G, const SamplerConfig *sc, const Tokenizer *tok, Rng *rng,
              Completions *out);

/* generate() with one random stream per sequence: sequence j (prompt j / G,
 * completion j % G) draws only from rngs[j] (n_prompts * G of them). Every
 * decode kernel computes a row independently of the others in its batch
 * (model.h), so a sequence's tokens and log-probs depend on its prompt, the
 * weights and its own stream alone, not on which other prompts share the
 * call or where it sits in the batch: the rollout keys each stream by
 * (seed, step, prompt, completion) and any split of a step's prompts over
 * the actors gives the same completions, bit for bit. */
void generate_streams(const Model *m, KVCache *cache, const int *const *prompts,
                      const int *prompt_lens, int n_prompts, int G, const SamplerConfig *sc,
                      const Tokenizer *tok, Rng *rngs, Completions *out);

/* Decodes completion i into out (capacity cap, NUL-terminated) without the
 * EOS token; a stop string, when that is how it ended, is kept in the text
 * (exactly what the policy wrote). Returns the length, or -1 on overflow or
 * a bad id (as tokenizer_decode). */
int completion_text(const Tokenizer *tok, const Completions *c, int i, char *out, size_t cap);

/* The text a verifier scores for completion i: completion_text cut where
 * the stop string begins when that is how it ended (stop, as in
 * SamplerConfig, is a delimiter the run asked for, not part of the answer:
 * a strict verifier would reject every answer followed by it). c is not
 * changed: the stop string's tokens stay part of the completion, with their
 * log-probs, since the policy produced them. Returns the length, or -1 as
 * completion_text. */
int completion_verifier_text(const Tokenizer *tok, const Completions *c, int i, const char *stop,
                             char *out, size_t cap);

#endif
