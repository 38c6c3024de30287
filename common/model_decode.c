/* model_decode.c: KV-cache decoding for model.h (kv_cache_*, model_prefill,
 * model_prefill_many, model_decode_step): the sampler's path through the
 * same layers as model.c's training forward, one token per slot per step,
 * over weights packed once per cache (matmul_forward_packed). Legend as in
 * model.c. */
#include "model.h"

#include <string.h>

#include "kernel_dispatch.h"
#include "model_internal.h"
#include "model_kernels.h"
#include "util.h"

/* ---- incremental decoding -------------------------------------------------- */

/* Per-step buffers, sized once for `rows` tokens at a time (no malloc per
 * step), and the weights packed for matmul_forward_packed. Decode steps use
 * one row per slot; prefill runs in chunks.
 *
 * The packed weights belong to the cache's contents: they are taken from the
 * model on the first prefill or decode step after kv_cache_new or
 * kv_cache_reset (O(params), a few ms), and reused until the next reset. The
 * cached keys and values are only valid for the weights that computed them,
 * so weights may change only across a reset anyway; generate() resets at its
 * start, so every call packs the weights it is given. */
typedef struct {
    int rows;
    float *x;        /* (rows, D) residual */
    float *xn;       /* (rows, D) */
    float *qkv;      /* (rows, D + 2 KVD): q | k | v, one fused product */
    float *atty;     /* (rows, D) */
    float *g;        /* (rows, HF): silu(x W1^T) * (x W3^T), SwiGLU fused into the product */
    float *scores;   /* (NH, max_len) */
    float *rope_cos, *rope_sin; /* (max_len, HD/2) */
    int *slot, *pos; /* (rows) */
    int *out_row;    /* (rows) rows whose logits are wanted, ascending */
    int *tok;        /* (rows) model_prefill_many's tokens of one chunk */
    float *packed;   /* per layer [Wq;Wk;Wv] (D+2KVD, D), Wo (D, D), W1 and W3 (2HF, D)
                      * as matmul_pack_swiglu lays them out, W2 (D, HF); then the head
                      * (V, D); zero padding between panels */
    size_t off_o, off_13, off_2, per_layer, off_head; /* float offsets into packed */
    const float *packed_from; /* params the packing was taken from; NULL: none yet */
} DecodeScratch;

KVCache *kv_cache_new(const ModelConfig *cfg, int n_slots, int max_len) {
    const char *err = model_config_check(cfg);
    if (err) die("bad model config: %s", err);
    if (cfg->head != MODEL_HEAD_LM)
        die("kv_cache_new: a scalar-head (reward/value) model does not decode");
    if (n_slots < 1 || max_len < 1) die("kv_cache_new: need n_slots, max_len >= 1");
    int D = cfg->dim, HD = D / cfg->n_heads, HF = cfg->hidden_dim;
    KVCache *c = xcalloc(1, sizeof *c);
    c->n_slots = n_slots;
    c->max_len = max_len;
    c->n_layers = cfg->n_layers;
    c->kv_dim = cfg->n_kv_heads * HD;
    int KVD = c->kv_dim;
    size_t n = (size_t)cfg->n_layers * n_slots * max_len * c->kv_dim;
    c->k = xmalloc(sizeof(float) * n);
    c->v = xmalloc(sizeof(float) * n);
    c->len = xcalloc(n_slots, sizeof(int));
    c->share_from = xcalloc(n_slots, sizeof(int));
    c->share_len = xcalloc(n_slots, sizeof(int));
    c->prefetch = kernel_kv_prefetch();
    DecodeScratch *d = xcalloc(1, sizeof *d);
    /* 64 rows is enough for the matmuls to run near full speed on a prefill chunk */
    d->rows = n_slots > 64 ? n_slots : 64;
    size_t R = d->rows;
    d->x = xmalloc(sizeof(float) * R * D);
    d->xn = xmalloc(sizeof(float) * R * D);
    d->qkv = xmalloc(sizeof(float) * R * (D + 2 * KVD));
    d->atty = xmalloc(sizeof(float) * R * D);
    d->g = xmalloc(sizeof(float) * R * HF);
    d->scores = xmalloc(sizeof(float) * cfg->n_heads * max_len);
    d->rope_cos = xmalloc(sizeof(float) * max_len * (HD / 2));
    d->rope_sin = xmalloc(sizeof(float) * max_len * (HD / 2));
    rope_tables(d->rope_cos, d->rope_sin, max_len, HD, cfg->rope_theta);
    d->slot = xmalloc(sizeof(int) * R);
    d->pos = xmalloc(sizeof(int) * R);
    d->out_row = xmalloc(sizeof(int) * R);
    d->tok = xmalloc(sizeof(int) * R);
    d->off_o = matmul_packed_floats(D, D + 2 * KVD);
    d->off_13 = d->off_o + matmul_packed_floats(D, D);
    d->off_2 = d->off_13 + matmul_packed_floats(D, 2 * HF);
    d->per_layer = d->off_2 + matmul_packed_floats(HF, D);
    d->off_head = (size_t)cfg->n_layers * d->per_layer;
    /* zeroed once: padding columns are never written */
    d->packed = xcalloc(d->off_head + matmul_packed_floats(D, cfg->vocab_size), sizeof(float));
    c->scratch = d;
    return c;
}

void kv_cache_free(KVCache *c) {
    if (!c) return;
    DecodeScratch *d = c->scratch;
    void *bufs[] = {d->x, d->xn, d->qkv, d->atty, d->g, d->scores, d->rope_cos,
                    d->rope_sin, d->slot, d->pos, d->out_row, d->tok, d->packed, d, c->k, c->v,
                    c->len, c->share_from, c->share_len};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) xfree(bufs[i]);
    xfree(c);
}

/* Packs m's matrices into d (see DecodeScratch) unless they already are. */
static void decode_pack(const Model *m, DecodeScratch *d) {
    if (d->packed_from == m->params) return;
    const ModelConfig *cf = &m->cfg;
    int D = cf->dim, HF = cf->hidden_dim, KVD = cf->n_kv_heads * (D / cf->n_heads);
    for (int l = 0; l < cf->n_layers; l++) {
        size_t lw = (size_t)l * D * D, lk = (size_t)l * KVD * D, lf = (size_t)l * HF * D;
        float *p = d->packed + (size_t)l * d->per_layer;
        matmul_pack(p, m->w.wq + lw, D, D, 0);
        matmul_pack(p, m->w.wk + lk, D, KVD, D);
        matmul_pack(p, m->w.wv + lk, D, KVD, D + KVD);
        matmul_pack(p + d->off_o, m->w.wo + lw, D, D, 0);
        matmul_pack_swiglu(p + d->off_13, m->w.w1 + lf, m->w.w3 + lf, D, HF);
        matmul_pack(p + d->off_2, m->w.w2 + lf, HF, D, 0);
    }
    matmul_pack(d->packed + d->off_head, model_lm_head(m), D, cf->vocab_size, 0);
    d->packed_from = m->params;
}

void kv_cache_reset(KVCache *c) {
    memset(c->len, 0, sizeof(int) * c->n_slots);
    memset(c->share_len, 0, sizeof(int) * c->n_slots);
    ((DecodeScratch *)c->scratch)->packed_from = NULL; /* the weights may have changed */
}

/* Copies rows [t0, t1) of slot src's own storage into slot dst's. */
static void kv_copy_rows(KVCache *c, int dst, int src, int t0, int t1) {
    size_t per = (size_t)c->max_len * c->kv_dim, off = (size_t)t0 * c->kv_dim;
    size_t n = (size_t)(t1 - t0) * c->kv_dim;
    for (int l = 0; l < c->n_layers; l++) {
        size_t base = (size_t)l * c->n_slots * per;
        memcpy(c->k + base + dst * per + off, c->k + base + src * per + off, sizeof(float) * n);
        memcpy(c->v + base + dst * per + off, c->v + base + src * per + off, sizeof(float) * n);
    }
}

/* Gives slot s its shared rows as its own. */
static void kv_unshare(KVCache *c, int s) {
    if (c->share_len[s] == 0) return;
    kv_copy_rows(c, s, c->share_from[s], 0, c->share_len[s]);
    c->share_len[s] = 0;
}

/* Rows a slot owns are only ever appended (len grows, until a reset), so
 * a sharer's rows 0 .. share_len-1 stay valid while its source decodes
 * on; only a copy into the source rewrites them, hence the unsharing. */
void kv_cache_copy_slot(KVCache *c, int dst, int src) {
    CHECK(dst >= 0 && dst < c->n_slots && src >= 0 && src < c->n_slots);
    if (dst == src) return;
    for (int s = 0; s < c->n_slots; s++)
        if (c->share_len[s] > 0 && c->share_from[s] == dst) kv_unshare(c, s);
    if (c->share_len[src] == 0 && c->len[src] > 0) { /* src owns all its rows: share them */
        c->share_from[dst] = src;
        c->share_len[dst] = c->len[src];
    } else if (c->share_len[src] == c->len[src]) { /* src shares all of its: so does dst */
        c->share_from[dst] = c->share_from[src];
        c->share_len[dst] = c->share_len[src];
    } else { /* part shared, part own: copy both parts */
        c->share_len[dst] = 0;
        if (c->share_len[src] > 0) kv_copy_rows(c, dst, c->share_from[src], 0, c->share_len[src]);
        kv_copy_rows(c, dst, src, c->share_len[src], c->len[src]);
    }
    c->len[dst] = c->len[src];
}

/* Asks for n floats from p into L1 (a hint: no effect on results). */
static void prefetch_floats(const float *p, size_t n) {
    for (size_t i = 0; i < n; i += 16) __builtin_prefetch(p + i, 0, 3);
}

/* Asks for n floats from p into L2. */
static void prefetch_floats_l2(const float *p, size_t n) {
    for (size_t i = 0; i < n; i += 16) __builtin_prefetch(p + i, 0, 2);
}

/* Runs n rows (token tokens[i] of slot d->slot[i] at position d->pos[i])
 * through the model, appending their keys and values to the cache, and
 * writes logits (n_out, V) for rows d->out_row[0 .. n_out-1] (NULL: the
 * last n_out rows). Rows of one slot must come in position order
 * (prefill); the cache is written for all rows of a layer before
 * attention reads it, so each row sees its own prefix. Each row's
 * arithmetic is its own: the same bits whatever else shares the call. */
static void decode_rows(const Model *m, KVCache *c, const int *tokens, int n, int n_out,
                        const int *out_row, float *logits) {
    const ModelConfig *cf = &m->cfg;
    DecodeScratch *d = c->scratch;
    int D = cf->dim, L = cf->n_layers, NH = cf->n_heads, NKV = cf->n_kv_heads;
    int HF = cf->hidden_dim, V = cf->vocab_size, HD = D / NH, KVD = NKV * HD, half = HD / 2;
    int QKV = D + 2 * KVD;
    size_t per_slot = (size_t)c->max_len * KVD, per_layer = (size_t)c->n_slots * per_slot;

    decode_pack(m, d);
    encoder_forward(d->x, tokens, m->w.wte, n, D);
    for (int l = 0; l < L; l++) {
        const float *pw = d->packed + (size_t)l * d->per_layer;
        float *kc = c->k + l * per_layer, *vc = c->v + l * per_layer;

        rmsnorm_forward(d->xn, NULL, d->x, m->w.rms_att + (size_t)l * D, n, D, cf->norm_eps);
        matmul_forward_packed(d->qkv, QKV, d->xn, D, pw, n, D, QKV, 0.0f);
        for (int i = 0; i < n; i++) {
            float *q = d->qkv + (size_t)i * QKV, *k = q + D, *v = k + KVD;
            const float *cs = d->rope_cos + (size_t)d->pos[i] * half;
            const float *sn = d->rope_sin + (size_t)d->pos[i] * half;
            rope_row(q, cs, sn, D, HD, +1);
            rope_row(k, cs, sn, KVD, HD, +1);
            size_t at = d->slot[i] * per_slot + (size_t)d->pos[i] * KVD;
            memcpy(kc + at, k, sizeof(float) * KVD);
            memcpy(vc + at, v, sizeof(float) * KVD);
        }
        for (int i = 0; i < n; i++) {
            const int s = d->slot[i];
            const size_t so = s * per_slot, sp = c->share_from[s] * per_slot;
            if (c->prefetch && i + 1 < n) { /* while this row's attention runs, the next row's own
                                              keys and values come into L2 (its first keys into
                                              L1): it starts without a miss */
                const int s1 = d->slot[i + 1], t0 = c->share_len[s1], t1 = d->pos[i + 1] + 1;
                prefetch_floats(kc + s1 * per_slot + (size_t)t0 * KVD,
                                (size_t)(t1 - t0 < 4 ? t1 - t0 : 4) * KVD);
                prefetch_floats_l2(kc + s1 * per_slot + (size_t)t0 * KVD, (size_t)(t1 - t0) * KVD);
                prefetch_floats_l2(vc + s1 * per_slot + (size_t)t0 * KVD, (size_t)(t1 - t0) * KVD);
            }
            attention_decode_row(d->atty + (size_t)i * D, d->scores, d->qkv + (size_t)i * QKV,
                                 kc + so, vc + so, kc + sp, vc + sp, c->share_len[s],
                                 d->pos[i] + 1, NH, NKV, HD, c->prefetch);
        }
        matmul_forward_packed(d->x, D, d->atty, D, pw + d->off_o, n, D, D, 1.0f);

        rmsnorm_forward(d->xn, NULL, d->x, m->w.rms_ffn + (size_t)l * D, n, D, cf->norm_eps);
        matmul_forward_packed_swiglu(d->g, HF, d->xn, D, pw + d->off_13, n, D, HF);
        matmul_forward_packed(d->x, D, d->g, HF, pw + d->off_2, n, HF, D, 1.0f);
    }
    if (n_out == 0) return;
    if (out_row)
        for (int j = 0; j < n_out; j++)
            rmsnorm_forward(d->xn + (size_t)j * D, NULL, d->x + (size_t)out_row[j] * D,
                            m->w.rms_final, 1, D, cf->norm_eps);
    else
        rmsnorm_forward(d->xn, NULL, d->x + (size_t)(n - n_out) * D, m->w.rms_final, n_out, D,
                        cf->norm_eps);
    matmul_forward_packed(logits, V, d->xn, D, d->packed + d->off_head, n_out, D, V, 0.0f);
}

void model_prefill(const Model *m, KVCache *c, int slot, const int *tokens, int n,
                   float *logits) {
    model_require_head(m, MODEL_HEAD_LM, "model_prefill");
    DecodeScratch *d = c->scratch;
    CHECK(slot >= 0 && slot < c->n_slots && n >= 1);
    if (c->len[slot] + n > c->max_len)
        die("model_prefill: slot %d would hold %d tokens, cache max_len is %d", slot,
            c->len[slot] + n, c->max_len);
    for (int i = 0; i < n; i++) CHECK(tokens[i] >= 0 && tokens[i] < m->cfg.vocab_size);
    for (int start = 0; start < n; start += d->rows) {
        int chunk = n - start < d->rows ? n - start : d->rows;
        for (int i = 0; i < chunk; i++) {
            d->slot[i] = slot;
            d->pos[i] = c->len[slot] + i;
        }
        /* only the prompt's last token needs logits */
        int last = start + chunk == n;
        decode_rows(m, c, tokens + start, chunk, last ? 1 : 0, NULL, logits);
        c->len[slot] += chunk;
    }
}

void model_prefill_many(const Model *m, KVCache *c, const int *slots,
                        const int *const *tokens, const int *lens, int n_seq, float *logits) {
    model_require_head(m, MODEL_HEAD_LM, "model_prefill_many");
    DecodeScratch *d = c->scratch;
    const int V = m->cfg.vocab_size;
    CHECK(n_seq >= 1);
    for (int p = 0; p < n_seq; p++) {
        const int s = slots[p];
        CHECK(s >= 0 && s < c->n_slots && lens[p] >= 1);
        for (int q = 0; q < p; q++) CHECK(slots[q] != s); /* one sequence per slot */
        if (c->len[s] + lens[p] > c->max_len)
            die("model_prefill_many: slot %d would hold %d tokens, cache max_len is %d", s,
                c->len[s] + lens[p], c->max_len);
        for (int i = 0; i < lens[p]; i++)
            CHECK(tokens[p][i] >= 0 && tokens[p][i] < V);
    }
    /* the sequences' tokens end to end, cut into chunks of d->rows rows;
     * a sequence may straddle two chunks (its first rows are cached by
     * the time the later ones attend to them) */
    int *tok = d->tok;
    int p = 0, i = 0, n_done = 0; /* next token: sequence p, its token i */
    while (p < n_seq) {
        int n = 0, n_out = 0;
        while (n < d->rows && p < n_seq) {
            tok[n] = tokens[p][i];
            d->slot[n] = slots[p];
            d->pos[n] = c->len[slots[p]] + i;
            if (++i == lens[p]) { /* its last token: logits wanted */
                d->out_row[n_out++] = n;
                i = 0;
                p++;
            }
            n++;
        }
        decode_rows(m, c, tok, n, n_out, d->out_row, logits + (size_t)n_done * V);
        n_done += n_out;
    }
    for (int q = 0; q < n_seq; q++) c->len[slots[q]] += lens[q];
}

void model_decode_step(const Model *m, KVCache *c, const int *slots, const int *tokens, int n,
                       float *logits) {
    model_require_head(m, MODEL_HEAD_LM, "model_decode_step");
    DecodeScratch *d = c->scratch;
    CHECK(n >= 1 && n <= c->n_slots);
    for (int i = 0; i < n; i++) {
        int s = slots[i];
        CHECK(s >= 0 && s < c->n_slots && tokens[i] >= 0 && tokens[i] < m->cfg.vocab_size);
        if (c->len[s] >= c->max_len)
            die("model_decode_step: slot %d is full (%d tokens)", s, c->max_len);
        d->slot[i] = s;
        d->pos[i] = c->len[s];
        for (int j = 0; j < i; j++) CHECK(slots[j] != s); /* one row per slot per step */
    }
    decode_rows(m, c, tokens, n, n, NULL, logits);
    for (int i = 0; i < n; i++) c->len[slots[i]]++;
}
