/* model.h: a Llama-style decoder-only transformer over one flat float32
 * parameter buffer (llm.c style), with three paths over the same weights:
 *   1. model_forward:   training forward over B sequences of T tokens,
 *                       keeping the activations backward needs;
 *   2. model_backward:  gradient of L = -sum_{b,t} w[b,t] * logp[b,t], the
 *                       per-token weighted log-likelihood (SFT: w = 1/N on
 *                       target tokens; GRPO: w = dJ/dlogp from the learner);
 *                       model_backward_logits: from any gradient with
 *                       respect to the logits (distillation);
 *   3. model_prefill / model_decode_step: incremental decoding with a KV
 *                       cache for many sequences in lockstep (the actors).
 *
 * Dimension legend
 *   V  vocab_size         D  dim               L  n_layers
 *   NH n_heads            NKV n_kv_heads       HD head dim = D / NH
 *   KVD = NKV * HD        HF hidden_dim (SwiGLU inner width)
 *   B  sequences          T  tokens per sequence (<= max_seq_len)
 *
 * Weight matrices are stored (out, in), row-major, and applied as
 * y = x W^T, exactly as llama2.c stores them, so its checkpoints map onto
 * this layout tensor by tensor.
 *
 * Log-probabilities are of the temperature-scaled distribution
 * softmax(logits / temperature), or of its top-k / top-p truncation
 * (model_forward_dist): what the actors report and what the learner must
 * recompute. */
#ifndef COMMON_MODEL_H
#define COMMON_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "config.h"
#include "sample_dist.h"

typedef struct {
    int vocab_size;       /* V */
    int dim;              /* D */
    int n_layers;         /* L */
    int n_heads;          /* NH, divides D */
    int n_kv_heads;       /* NKV, divides NH (grouped-query attention) */
    int hidden_dim;       /* HF */
    int max_seq_len;      /* longest sequence (prompt + completion) */
    int tied_embeddings;  /* 1: the output head is wte */
    float rope_theta;     /* RoPE base, 10000 */
    float norm_eps;       /* RMSNorm epsilon, 1e-5 */
    int head;             /* ModelHead: what the last layer outputs */
} ModelConfig;

/* What a model's head outputs. MODEL_HEAD_LM: next-token logits over V
 * (wcls (V, D), or wte when tied): the policy, the reference, a teacher.
 * MODEL_HEAD_SCALAR: one number per position, value = rmsnorm(x) . w + b
 * with wcls holding (D + 1) floats, w then the bias b, never tied: a
 * reward model (read at the last token) or a PPO value model (read at
 * every completion position). Both share everything below the head, so
 * one is made from the other by swapping the head (model_swap_head). */
typedef enum { MODEL_HEAD_LM = 0, MODEL_HEAD_SCALAR = 1 } ModelHead;

/* The [model] section (model_config.c): the shape of a model trained from
 * scratch. */
extern const CfgSection model_section;
static inline const ModelConfig *model_settings(const Config *c) {
    return config_get(c, &model_section);
}
/* Makes cfg's [model] record the shape of a model loaded from source
 * (what actually runs). A [model] key the user gave that disagrees with it
 * is refused: 0, or -1 with err naming the key and both values. */
int model_config_adopt(Config *cfg, const ModelConfig *actual, const char *source, char *err,
                       size_t errlen);

enum { MODEL_NUM_TENSORS = 12 };

/* Named pointers into one flat buffer; the same struct names the gradients.
 * Order is llama2.c's. */
typedef struct {
    float *wte;       /* (V, D) token embedding */
    float *rms_att;   /* (L, D) */
    float *wq;        /* (L, D, D) */
    float *wk;        /* (L, KVD, D) */
    float *wv;        /* (L, KVD, D) */
    float *wo;        /* (L, D, D) */
    float *rms_ffn;   /* (L, D) */
    float *w1;        /* (L, HF, D) SwiGLU gate */
    float *w2;        /* (L, D, HF) down projection */
    float *w3;        /* (L, HF, D) SwiGLU up */
    float *rms_final; /* (D) */
    float *wcls;      /* (V, D) output head; size 0 (points at end) if tied;
                       * a scalar head's (D + 1): w, then the bias b */
} ParamTensors;

typedef struct {
    ModelConfig cfg;
    size_t n_params;
    float *params;    /* (n_params) all weights, contiguous */
    ParamTensors w;   /* pointers into params */
    float *grads;     /* (n_params) same layout, NULL until model_alloc_grads */
    ParamTensors g;
} Model;

/* Returns NULL if cfg is usable, else a static string saying which field is
 * wrong and why. */
const char *model_config_check(const ModelConfig *cfg);

/* Element count of every tensor (in ParamTensors order); returns the total. */
size_t model_tensor_sizes(const ModelConfig *cfg, size_t sizes[MODEL_NUM_TENSORS]);
/* "wte", "rms_att", ... */
const char *model_tensor_name(int i);
/* 1 if AdamW should apply weight decay to tensor i (matrices, not norms). */
int model_tensor_decays(int i);

/* Sets t's pointers into buf (which holds model_tensor_sizes() floats). */
void model_point_tensors(const ModelConfig *cfg, float *buf, ParamTensors *t);

/* Allocates params (uninitialised); dies on a bad config. */
void model_init(Model *m, const ModelConfig *cfg);
/* Fills params: norms to 1, matrices N(0, 0.02), output projections (wo, w2)
 * scaled by 1/sqrt(2L) as GPT-2 does; a scalar head's w N(0, 0.02) and its
 * bias 0. Deterministic in seed. */
void model_init_weights(Model *m, uint64_t seed);
/* Allocates (zeroed) gradients. */
void model_alloc_grads(Model *m);
void model_zero_grads(Model *m);
void model_free(Model *m);

/* FLOPs of one training token (forward + backward), counting 6 per
 * parameter-token plus attention at context length T (6 * 2 * L * T * D
 * per token, halved for causality), for the benchmarks. */
double model_train_flops_per_token(const ModelConfig *cfg, int T);

/* ---- training forward / backward ---------------------------------------- */

/* Activations for up to B x T tokens; opaque, sized at creation for
 * cfg's head (a scalar model's has no V-wide logit buffers). A state is
 * for models of its cfg's head kind only. */
typedef struct ForwardState ForwardState;
ForwardState *forward_state_new(const ModelConfig *cfg, int max_B, int max_T);
void forward_state_free(ForwardState *s);

/* LM head only (dies on a scalar model, as do model_backward*,
 * forward_state_logits, kv_cache_new, model_prefill and model_decode_step).
 * tokens (B, T): inputs; targets (B, T): the token to score at each
 * position (any valid id at padding, whose weight will be 0). Sequences are
 * right-padded; causal attention means padding never affects real tokens.
 * Writes logp (B, T) = log softmax(logits / temperature)[target] and, if
 * entropy != NULL, the entropy of that distribution (B, T). Keeps what
 * model_backward needs in s. */
void model_forward(const Model *m, ForwardState *s, const int *tokens, const int *targets,
                   int B, int T, float temperature, float *logp, float *entropy);
/* model_forward with log-probs (and entropy) under dist (sample_dist.h):
 * the full softmax at dist->temperature, or, when sample_dist_truncates,
 * the renormalised top-k / top-p kept-set distribution the sampler draws
 * from (model_kernels.h: logp_forward_truncated); model_backward then
 * differentiates that, the kept set held fixed. model_forward(T) is this
 * with the full distribution at T. */
void model_forward_dist(const Model *m, ForwardState *s, const int *tokens, const int *targets,
                        int B, int T, const SampleDist *dist, float *logp, float *entropy);
/* model_forward_dist scoring only positions t >= first[b] of each row b
 * (first (B), each in [0, T]; NULL: every position, model_forward_dist
 * itself). The trunk runs over every position (attention needs them); the
 * head, the log-softmax and their backward run on the needed rows alone,
 * packed: the learner's prompts, whose log-probs no loss uses, cost no
 * (., V) work. logp and entropy are 0 before first[b], and model_backward
 * ignores weights there (they must be 0 for the loss to be what it says).
 * A needed position's logp equals the full path's up to sgemm rounding,
 * which can move with the number of rows (tests/test_model.c bounds it).
 * forward_state_logits and model_backward_logits then hold the needed
 * positions' rows only. */
void model_forward_from(const Model *m, ForwardState *s, const int *tokens, const int *targets,
                        const int *first, int B, int T, const SampleDist *dist, float *logp,
                        float *entropy);
/* model_forward_from over a laid-out batch (batch_layout), scoring from
 * b->first, with the trunk on b->layout's packed positions
 * (packed_layout.h): each distinct prompt's positions once, however many
 * rows share it, then each row's own, and no padding. logp and entropy
 * still come out on the (B, T) grid (0 before first and at padding), and
 * model_backward takes (B, T) weights as after any forward; a shared
 * prompt's gradient is every sharing row's, added. A log-prob equals the
 * unshared path's up to sgemm rounding (the products change shape:
 * tests/test_shared_prompts.c bounds it). */
void model_forward_batch(const Model *m, ForwardState *s, const SeqBatch *b,
                         const SampleDist *dist, float *logp, float *entropy);

/* Accumulates into m->grads the gradient of L = -sum w[b,t] * logp[b,t]
 * for the batch of the last model_forward on s. weights: (B, T). */
void model_backward(Model *m, ForwardState *s, const float *weights);

/* The raw logits (rows, V), before any temperature, of the last forward
 * on s (valid until the next forward on s), at the positions its head ran
 * on, in (b, t) order: *rows (if not NULL) gets their number and *pos (if
 * not NULL) their (rows) indices b*T + t into the (B, T) grid. After
 * model_forward: every position, pos[i] = i; after model_forward_batch:
 * the scored ones (t >= first[b], no padding). For losses over the whole
 * next-token distribution (distillation), which the target log-probs do
 * not give. */
const float *forward_state_logits(const ForwardState *s, int *rows, const int **pos);
/* Accumulates into m->grads the gradient of any loss whose gradient with
 * respect to the raw logits of the last forward on s is d_logits (rows,
 * V), row for row forward_state_logits'. model_backward is this with
 * d_logits from the weighted target log-probs: the same backward below
 * the head. */
void model_backward_logits(Model *m, ForwardState *s, const float *d_logits);

/* ---- scalar head (MODEL_HEAD_SCALAR) ------------------------------------- */

/* The scalar model's forward over B right-padded sequences of T tokens,
 * row b's first n[b] (in [0, T]) real (n NULL: all T): values (B, T), the
 * head's output at every real position (position t has seen tokens
 * 0..t), 0 at padding, which is computed nowhere (packed_layout_rows).
 * Keeps what model_backward_values needs in s. The trunk is
 * model_forward's own (one implementation, the head factored out); no
 * (B, T, V) logits are computed. Dies on an LM model or state. A value is
 * a function of its sequence's tokens alone, but its float rounding can
 * move by an ulp with the batch's shape (sgemm blocking), which is why
 * reward_model_score runs one sequence per forward. */
void model_forward_values(const Model *m, ForwardState *s, const int *tokens, const int *n,
                          int B, int T, float *values);
/* Accumulates into m->grads the gradient of any loss whose gradient with
 * respect to the values of the last model_forward_values on s is d_values
 * (B, T); padding's entries are not read. */
void model_backward_values(Model *m, ForwardState *s, const float *d_values);

/* Builds dst with src's trunk (every tensor but the head, copied bit for
 * bit) and a fresh head of kind head: a scalar head starts at w = 0, b = 0
 * (a value model or reward model from a policy); an LM head starts
 * N(0, 0.02) from a fixed seed, untied. dst is model_init'd here (free it
 * with model_free); src is only read. */
void model_swap_head(Model *dst, const Model *src, int head);

/* ---- incremental decoding ------------------------------------------------ */

/* Key/value cache for n_slots independent sequences of up to max_len
 * tokens, plus scratch for decoding all slots at once. */
typedef struct {
    int n_slots, max_len, n_layers, kv_dim;
    float *k;   /* (L, n_slots, max_len, KVD) */
    float *v;   /* (L, n_slots, max_len, KVD) */
    int *len;   /* (n_slots) positions filled */
    /* (n_slots) positions 0 .. share_len[s]-1 of slot s are read from
     * slot share_from[s]'s rows (kv_cache_copy_slot shares a prompt
     * instead of copying it: G completions of one prompt read its keys
     * and values from one place, once from memory); share_len 0: none */
    int *share_from, *share_len;
    /* 1: decoding asks for each row's cached keys and values ahead of its
     * attention (software prefetch); kv_cache_new sets kernel_kv_prefetch().
     * A hint only: the logits are the same bits either way. */
    int prefetch;
    void *scratch; /* owned by model.c */
} KVCache;

KVCache *kv_cache_new(const ModelConfig *cfg, int n_slots, int max_len);
void kv_cache_free(KVCache *c);
/* Empties every slot. */
void kv_cache_reset(KVCache *c);
/* Makes slot dst a copy of slot src (one prompt prefilled, G completions):
 * dst shares the rows (no copy) unless src holds shared rows and rows of
 * its own, which are copied. Slots sharing dst's old rows get their own
 * copy first. */
void kv_cache_copy_slot(KVCache *c, int dst, int src);

/* Appends n tokens to one slot (at positions len[slot] ...) and writes the
 * raw logits (V) of the last one. */
void model_prefill(const Model *m, KVCache *c, int slot, const int *tokens, int n,
                   float *logits);

/* model_prefill for n_seq sequences at once: sequence p's lens[p] tokens
 * are appended to slot slots[p] (distinct slots), and row p of logits
 * (n_seq, V) gets the raw logits of its last token. The weights are
 * streamed once per chunk of rows rather than once per sequence; the
 * logits and cached rows are those model_prefill gives, bit for bit. */
void model_prefill_many(const Model *m, KVCache *c, const int *slots,
                        const int *const *tokens, const int *lens, int n_seq, float *logits);

/* Appends one token to each of n slots (slots[i] gets tokens[i] at position
 * len[slots[i]]) and writes raw logits (n, V). */
void model_decode_step(const Model *m, KVCache *c, const int *slots, const int *tokens, int n,
                       float *logits);

#endif
