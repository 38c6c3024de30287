/* model.c: the Llama-style decoder of model.h: parameter layout and the
 * training forward/backward over (B, T) batches.
 * The layer kernels live in model_kernels.c; this file wires them together
 * top to bottom. KV-cache decoding is model_decode.c.
 *
 * Legend (model.h): V vocab, D dim, L layers, NH heads, NKV kv heads,
 * HD = D/NH, KVD = NKV*HD, HF SwiGLU width, B sequences, T tokens,
 * N rows: the packed positions the trunk runs on (packed_layout.h), B*T for
 * a plain (B, T) forward, fewer when rows share a prompt or are padded
 * (padding is never computed). One layer:
 *   xn = rmsnorm(x) ; q,k,v = xn Wq^T, xn Wk^T, xn Wv^T ; rope(q, k)
 *   x += attention(q, k, v) Wo^T
 *   xn = rmsnorm(x) ; x += (silu(xn W1^T) * xn W3^T) W2^T
 * then the head on xf = rmsnorm(x): logits = xf Wcls^T (Wcls = wte when
 * tied) for MODEL_HEAD_LM, or value = xf . w + b for MODEL_HEAD_SCALAR.
 * Both heads sit on one trunk (trunk_forward / trunk_backward): a second
 * copy of the layers could drift from the first. */
#include "model.h"

#include <math.h>
#include <string.h>

#include "attention_packed.h"
#include "model_internal.h"
#include "model_kernels.h"
#include "rng.h"
#include "util.h"

/* ---- configuration and parameter layout ----------------------------------- */

const char *model_config_check(const ModelConfig *c) {
    if (c->vocab_size < 1) return "vocab_size must be >= 1";
    if (c->dim < 2) return "dim must be >= 2";
    if (c->n_layers < 1) return "n_layers must be >= 1";
    if (c->n_heads < 1 || c->dim % c->n_heads != 0) return "n_heads must divide dim";
    if ((c->dim / c->n_heads) % 2 != 0) return "head dim (dim / n_heads) must be even for RoPE";
    if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads != 0)
        return "n_kv_heads must divide n_heads";
    if (c->hidden_dim < 1) return "hidden_dim must be >= 1";
    if (c->max_seq_len < 1) return "max_seq_len must be >= 1";
    if (c->tied_embeddings != 0 && c->tied_embeddings != 1) return "tied_embeddings must be 0 or 1";
    if (c->head != MODEL_HEAD_LM && c->head != MODEL_HEAD_SCALAR)
        return "head must be 0 (LM: next-token logits) or 1 (scalar: one value per position)";
    if (c->head == MODEL_HEAD_SCALAR && c->tied_embeddings)
        return "a scalar head (reward/value model) cannot be tied to the embedding";
    if (!(c->rope_theta > 0.0f)) return "rope_theta must be > 0";
    if (!(c->norm_eps > 0.0f)) return "norm_eps must be > 0";
    return NULL;
}

size_t model_tensor_sizes(const ModelConfig *c, size_t s[MODEL_NUM_TENSORS]) {
    size_t V = c->vocab_size, D = c->dim, L = c->n_layers, HF = c->hidden_dim;
    size_t KVD = (size_t)c->n_kv_heads * (D / c->n_heads);
    s[0] = V * D;                          /* wte */
    s[1] = L * D;                          /* rms_att */
    s[2] = L * D * D;                      /* wq */
    s[3] = L * KVD * D;                    /* wk */
    s[4] = L * KVD * D;                    /* wv */
    s[5] = L * D * D;                      /* wo */
    s[6] = L * D;                          /* rms_ffn */
    s[7] = L * HF * D;                     /* w1 */
    s[8] = L * D * HF;                     /* w2 */
    s[9] = L * HF * D;                     /* w3 */
    s[10] = D;                             /* rms_final */
    /* wcls: (V, D) logits, none when tied, or a scalar head's w (D) and b */
    s[11] = c->head == MODEL_HEAD_SCALAR ? D + 1 : c->tied_embeddings ? 0 : V * D;
    size_t total = 0;
    for (int i = 0; i < MODEL_NUM_TENSORS; i++) total += s[i];
    return total;
}

static const char *const tensor_names[MODEL_NUM_TENSORS] = {
    "wte", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3", "rms_final", "wcls"};
_Static_assert(sizeof tensor_names / sizeof tensor_names[0] == MODEL_NUM_TENSORS,
               "one name per tensor");

const char *model_tensor_name(int i) {
    CHECK(i >= 0 && i < MODEL_NUM_TENSORS);
    return tensor_names[i];
}

/* Matrices decay, gains (the RMSNorm weights) do not. */
int model_tensor_decays(int i) {
    CHECK(i >= 0 && i < MODEL_NUM_TENSORS);
    return !(i == 1 || i == 6 || i == 10);
}

void model_point_tensors(const ModelConfig *cfg, float *buf, ParamTensors *t) {
    size_t s[MODEL_NUM_TENSORS];
    model_tensor_sizes(cfg, s);
    float **ptrs[MODEL_NUM_TENSORS] = {&t->wte, &t->rms_att, &t->wq, &t->wk,
                                       &t->wv,  &t->wo,      &t->rms_ffn, &t->w1,
                                       &t->w2,  &t->w3,      &t->rms_final, &t->wcls};
    for (int i = 0; i < MODEL_NUM_TENSORS; i++) {
        *ptrs[i] = buf;
        buf += s[i];
    }
}

void model_init(Model *m, const ModelConfig *cfg) {
    const char *err = model_config_check(cfg);
    if (err) die("bad model config: %s", err);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    size_t s[MODEL_NUM_TENSORS];
    m->n_params = model_tensor_sizes(cfg, s);
    m->params = xmalloc(sizeof(float) * m->n_params);
    model_point_tensors(cfg, m->params, &m->w);
}

void model_init_weights(Model *m, uint64_t seed) {
    size_t s[MODEL_NUM_TENSORS];
    model_tensor_sizes(&m->cfg, s);
    Rng rng;
    rng_seed(&rng, seed, 0x30DE1);
    float out_scale = 1.0f / sqrtf(2.0f * m->cfg.n_layers);
    float *p = m->params;
    for (int i = 0; i < MODEL_NUM_TENSORS; i++) {
        if (!model_tensor_decays(i)) {
            for (size_t j = 0; j < s[i]; j++) p[j] = 1.0f;
        } else {
            float std = 0.02f * ((i == 5 || i == 8) ? out_scale : 1.0f); /* wo, w2 */
            for (size_t j = 0; j < s[i]; j++) p[j] = std * rng_normal(&rng);
        }
        p += s[i];
    }
    /* a scalar head's bias starts at 0: the value of nothing learned yet */
    if (m->cfg.head == MODEL_HEAD_SCALAR) m->w.wcls[m->cfg.dim] = 0.0f;
}

void model_alloc_grads(Model *m) {
    if (m->grads) return;
    m->grads = xcalloc(m->n_params, sizeof(float));
    model_point_tensors(&m->cfg, m->grads, &m->g);
}

void model_zero_grads(Model *m) {
    CHECK(m->grads != NULL);
    memset(m->grads, 0, sizeof(float) * m->n_params);
}

void model_free(Model *m) {
    xfree(m->params);
    xfree(m->grads);
    memset(m, 0, sizeof *m);
}

/* Counts the parameters that take part in a matmul: all but the embedding
 * lookup (a copy) when the head is untied, and the RMSNorm gains. */
static double matmul_params(const ModelConfig *c) {
    size_t s[MODEL_NUM_TENSORS];
    size_t n = model_tensor_sizes(c, s);
    n -= s[1] + s[6] + s[10];
    if (!c->tied_embeddings) n -= s[0];
    return (double)n;
}

double model_train_flops_per_token(const ModelConfig *cfg, int T) {
    return 6.0 * matmul_params(cfg) + 6.0 * cfg->n_layers * (double)T * cfg->dim;
}

/* ---- training forward / backward ------------------------------------------ */

struct ForwardState {
    ModelConfig cfg;
    int max_B, max_T;
    int B, T;            /* of the last forward */
    float temperature;
    PackedLayout lay;    /* the last forward's positions: N = lay.n_rows rows below */
    int *targets;        /* (n_rows) the head's targets */
    float *rope_cos, *rope_sin; /* (max_T, HD/2) */
    /* activations kept for backward */
    float *res;          /* (L+1, N, D) residual entering layer l; res[L] enters the head */
    float *res_mid;      /* (L, N, D) residual after the attention block */
    float *xn_att;       /* (L, N, D) */
    float *rstd_att;     /* (L, N) */
    float *q;            /* (L, N, D) after RoPE */
    float *k;            /* (L, N, KVD) after RoPE */
    float *v;            /* (L, N, KVD) */
    float *att;          /* (L, NH * packed_layout_att_floats) attention probabilities
                          * (attention_packed.h), at most (L, NH, B*T, T) */
    float *atty;         /* (L, N, D) attention output, before Wo */
    float *xn_ffn;       /* (L, N, D) */
    float *rstd_ffn;     /* (L, N) */
    float *h1, *h3;      /* (L, N, HF) gate and up projections */
    float *hg;           /* (L, N, HF) silu(h1) * h3, W2's input: kept for W2's weight
                          * gradient (recomputing it was 1.6% of a ~1M step) */
    float *xn_final;     /* (N, D) */
    float *rstd_final;   /* (N) */
    /* The LM head runs on n_rows rows, the needed positions gathered in
     * (b, t) order: row i is position row_pos[i] of the (B, T) grid, its
     * input the trunk's row lay.row_of[row_pos[i]] (every b*T + t in order
     * after a plain model_forward). */
    int n_rows;
    int *row_pos;        /* (N) */
    float *xf_rows;      /* (N, D) gathered xn_final rows, the head's input */
    float *d_xf_rows;    /* (N, D) their gradient, scattered into d_xn */
    float *row_logp, *row_ent, *row_w; /* (N) packed logp, entropy, weights */
    float *logits;       /* (n_rows, V) raw */
    double *lse;         /* (n_rows) log-sum-exp of logits / temperature (over the kept set) */
    int truncated;       /* 1: log-probs of the last forward are of the kept set */
    float *keep_z;       /* (N) kept-set threshold pair per row (sample_dist_kept) */
    int *keep_id;        /* (N) */
    float *keep_scratch; /* SAMPLE_DIST_SCRATCH_FLOATS(V) */
    /* backward scratch, reused by every layer */
    float *d_res;        /* (N, D) gradient of the residual stream */
    float *d_xn;         /* (N, D) */
    float *d_atty;       /* (N, D) */
    float *d_q;          /* (N, D) */
    float *d_k, *d_v;    /* (N, KVD) */
    float *d_h1, *d_h3;  /* (N, HF); d_h1 doubles as d(hg) */
    float *d_logits;     /* (N, V) */
    float *d_score;      /* (B*T, T) at most: attention_dscore_floats */
};

ForwardState *forward_state_new(const ModelConfig *cfg, int max_B, int max_T) {
    const char *err = model_config_check(cfg);
    if (err) die("bad model config: %s", err);
    if (max_B < 1 || max_T < 1 || max_T > cfg->max_seq_len)
        die("forward_state_new: need 1 <= max_B and 1 <= max_T <= max_seq_len (%d), got %d, %d",
            cfg->max_seq_len, max_B, max_T);
    ForwardState *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->max_B = max_B;
    s->max_T = max_T;
    size_t N = (size_t)max_B * max_T, L = cfg->n_layers, D = cfg->dim, HF = cfg->hidden_dim;
    size_t V = cfg->vocab_size, NH = cfg->n_heads, HD = D / NH, KVD = cfg->n_kv_heads * HD;
    packed_layout_init(&s->lay, max_B, max_T);
    s->targets = xmalloc(sizeof(int) * N);
    s->rope_cos = xmalloc(sizeof(float) * max_T * (HD / 2));
    s->rope_sin = xmalloc(sizeof(float) * max_T * (HD / 2));
    rope_tables(s->rope_cos, s->rope_sin, max_T, (int)HD, cfg->rope_theta);
#define F(n) xmalloc(sizeof(float) * (n))
    s->res = F((L + 1) * N * D);
    s->res_mid = F(L * N * D);
    s->xn_att = F(L * N * D);
    s->rstd_att = F(L * N);
    s->q = F(L * N * D);
    s->k = F(L * N * KVD);
    s->v = F(L * N * KVD);
    s->att = F(L * max_B * NH * max_T * max_T);
    s->atty = F(L * N * D);
    s->xn_ffn = F(L * N * D);
    s->rstd_ffn = F(L * N);
    s->h1 = F(L * N * HF);
    s->h3 = F(L * N * HF);
    s->hg = F(L * N * HF);
    s->xn_final = F(N * D);
    s->rstd_final = F(N);
    /* the V-wide buffers exist for the LM head only: a scalar model's
     * values go straight to the caller's (B, T) array */
    if (cfg->head == MODEL_HEAD_LM) {
        s->logits = F(N * V);
        s->lse = xmalloc(sizeof(double) * N);
        s->keep_z = F(N);
        s->keep_id = xmalloc(sizeof(int) * N);
        s->keep_scratch = F(SAMPLE_DIST_SCRATCH_FLOATS(V));
        s->d_logits = F(N * V);
        s->row_pos = xmalloc(sizeof(int) * N);
        s->xf_rows = F(N * D);
        s->d_xf_rows = F(N * D);
        s->row_logp = F(N);
        s->row_ent = F(N);
        s->row_w = F(N);
    }
    s->d_res = F(N * D);
    s->d_xn = F(N * D);
    s->d_atty = F(N * D);
    s->d_q = F(N * D);
    s->d_k = F(N * KVD);
    s->d_v = F(N * KVD);
    s->d_h1 = F(N * HF);
    s->d_h3 = F(N * HF);
    s->d_score = F(N * max_T);
#undef F
    return s;
}

void forward_state_free(ForwardState *s) {
    if (!s) return;
    packed_layout_free(&s->lay);
    void *bufs[] = {s->targets, s->rope_cos, s->rope_sin, s->res, s->res_mid,
                    s->xn_att, s->rstd_att, s->q, s->k, s->v, s->att, s->atty, s->xn_ffn,
                    s->rstd_ffn, s->h1, s->h3, s->xn_final, s->rstd_final, s->logits,
                    s->lse, s->keep_z, s->keep_id, s->keep_scratch, s->hg, s->d_res, s->d_xn, s->d_atty, s->d_q, s->d_k, s->d_v,
                    s->d_h1, s->d_h3, s->d_logits, s->d_score, s->row_pos, s->xf_rows,
                    s->d_xf_rows, s->row_logp, s->row_ent, s->row_w};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) xfree(bufs[i]);
    xfree(s);
}

const float *model_lm_head(const Model *m) {
    return m->cfg.tied_embeddings ? m->w.wte : m->w.wcls;
}

void model_forward(const Model *m, ForwardState *s, const int *tokens, const int *targets,
                   int B, int T, float temperature, float *logp, float *entropy) {
    const SampleDist full = {temperature, 0, 1.0f, LOGPROB_FULL};
    model_forward_dist(m, s, tokens, targets, B, T, &full, logp, entropy);
}

static const char *const head_kind[] = {"an LM (next-token logits)", "a scalar (value/reward)"};

void model_require_head(const Model *m, int head, const char *what) {
    if (m->cfg.head != head)
        die("%s needs %s model, got %s model", what, head_kind[head], head_kind[m->cfg.head]);
}

/* Dies unless m and s are both of head kind `head` (what= the caller, for
 * the message): the wrong head is a programming error, never data. */
static void check_head(const Model *m, const ForwardState *s, int head, const char *what) {
    model_require_head(m, head, what);
    if (s && s->cfg.head != head)
        die("%s: the ForwardState was made for %s model, not %s one", what, head_kind[s->cfg.head],
            head_kind[head]);
}

/* Rotates each row of x (N, C) by its own position's angles (lay->pos);
 * dir -1 undoes it (the backward). */
static void rope_packed(float *x, const ForwardState *s, int C, int HD, int dir) {
    const int half = HD / 2;
    for (int i = 0; i < s->lay.n_rows; i++) {
        const size_t p = (size_t)s->lay.pos[i] * half;
        rope_row(x + (size_t)i * C, s->rope_cos + p, s->rope_sin + p, C, HD, dir);
    }
}

/* The trunk, shared by both heads: embeds the packed rows of s->lay (set
 * by the caller), runs every layer and the final RMSNorm into s->xn_final
 * (N, D), keeping what trunk_backward needs. */
static void trunk_forward(const Model *m, ForwardState *s) {
    const ModelConfig *c = &m->cfg;
    const PackedLayout *lay = &s->lay;
    const int B = lay->B, T = lay->T;
    CHECK(B >= 1 && B <= s->max_B && T >= 1 && T <= s->max_T);
    int D = c->dim, L = c->n_layers, NH = c->n_heads, NKV = c->n_kv_heads, HF = c->hidden_dim;
    int V = c->vocab_size, HD = D / NH, KVD = NKV * HD, N = lay->n_rows;
    for (int i = 0; i < N; i++) CHECK(lay->tokens[i] >= 0 && lay->tokens[i] < V);
    s->B = B;
    s->T = T;
    size_t ND = (size_t)N * D, NK = (size_t)N * KVD, NF = (size_t)N * HF;
    size_t NA = (size_t)NH * packed_layout_att_floats(lay);
    CHECK(NA <= (size_t)s->max_B * NH * s->max_T * s->max_T);

    encoder_forward(s->res, lay->tokens, m->w.wte, N, D);
    for (int l = 0; l < L; l++) {
        const float *x = s->res + l * ND;           /* (N, D) */
        float *xmid = s->res_mid + l * ND;          /* (N, D) */
        float *xout = s->res + (l + 1) * ND;        /* (N, D) */
        float *xn = s->xn_att + l * ND, *xn2 = s->xn_ffn + l * ND;
        float *q = s->q + l * ND, *k = s->k + l * NK, *v = s->v + l * NK;
        float *h1 = s->h1 + l * NF, *h3 = s->h3 + l * NF;
        const float *wq = m->w.wq + (size_t)l * D * D, *wk = m->w.wk + (size_t)l * KVD * D;
        const float *wv = m->w.wv + (size_t)l * KVD * D, *wo = m->w.wo + (size_t)l * D * D;
        const float *w1 = m->w.w1 + (size_t)l * HF * D, *w2 = m->w.w2 + (size_t)l * D * HF;
        const float *w3 = m->w.w3 + (size_t)l * HF * D;

        /* xn, and the residual copy x -> xmid that Wo's product adds into */
        rmsnorm_forward_copy(xn, s->rstd_att + (size_t)l * N, xmid, x,
                             m->w.rms_att + (size_t)l * D, N, D, c->norm_eps);
        matmul_forward(q, xn, wq, N, D, D, 0.0f);
        matmul_forward(k, xn, wk, N, D, KVD, 0.0f);
        matmul_forward(v, xn, wv, N, D, KVD, 0.0f);
        rope_packed(q, s, D, HD, +1);
        rope_packed(k, s, KVD, HD, +1);
        attention_forward_packed(s->atty + l * ND, s->att + l * NA, q, k, v, lay, NH, NKV, HD);
        matmul_forward(xmid, s->atty + l * ND, wo, N, D, D, 1.0f); /* xmid = x + atty Wo^T */

        rmsnorm_forward_copy(xn2, s->rstd_ffn + (size_t)l * N, xout, xmid,
                             m->w.rms_ffn + (size_t)l * D, N, D, c->norm_eps);
        matmul_forward(h1, xn2, w1, N, D, HF, 0.0f);
        matmul_forward(h3, xn2, w3, N, D, HF, 0.0f);
        swiglu_forward(s->hg + l * NF, h1, h3, NF);
        matmul_forward(xout, s->hg + l * NF, w2, N, HF, D, 1.0f); /* xout = xmid + hg W2^T */
    }
    rmsnorm_forward(s->xn_final, s->rstd_final, s->res + (size_t)L * ND, m->w.rms_final, N, D,
                    c->norm_eps);
}

void model_forward_dist(const Model *m, ForwardState *s, const int *tokens, const int *targets,
                        int B, int T, const SampleDist *dist, float *logp, float *entropy) {
    model_forward_from(m, s, tokens, targets, NULL, B, T, dist, logp, entropy);
}

/* Chooses the head's rows: the positions t >= first[b] (every one if
 * first is NULL) that the layout computes (no padding), gathered into
 * s->row_pos in (b, t) order. */
static void head_rows(ForwardState *s, const int *first) {
    const int B = s->lay.B, T = s->lay.T;
    for (int b = 0; first && b < B; b++) CHECK(first[b] >= 0 && first[b] <= T);
    int n = 0;
    for (int b = 0; b < B; b++)
        for (int t = first ? first[b] : 0; t < T; t++)
            if (s->lay.row_of[b * T + t] >= 0) s->row_pos[n++] = b * T + t;
    s->n_rows = n;
}

/* The LM forward over the layout in s->lay: the trunk, then the head on
 * head_rows' positions; logp, entropy (B, T) as model_forward_from says. */
static void forward_lm(const Model *m, ForwardState *s, const int *targets, const int *first,
                       const SampleDist *dist, float *logp, float *entropy) {
    const float temperature = dist->temperature;
    CHECK(temperature > 0.0f);
    int D = m->cfg.dim, V = m->cfg.vocab_size, N = s->lay.B * s->lay.T;
    for (int i = 0; i < N; i++) CHECK(targets[i] >= 0 && targets[i] < V);
    trunk_forward(m, s);
    s->temperature = temperature;
    head_rows(s, first);
    const int n = s->n_rows;
    /* the head's input, targets and outputs: its rows packed */
    for (int i = 0; i < n; i++) {
        const int r = s->lay.row_of[s->row_pos[i]];
        memcpy(s->xf_rows + (size_t)i * D, s->xn_final + (size_t)r * D, sizeof(float) * D);
        s->targets[i] = targets[s->row_pos[i]];
    }
    float *lp = s->row_logp, *ent = entropy ? s->row_ent : NULL;
    if (n > 0) matmul_forward(s->logits, s->xf_rows, model_lm_head(m), n, D, V, 0.0f);
    s->truncated = sample_dist_truncates(dist, V);
    if (s->truncated)
        logp_forward_truncated(lp, ent, s->lse, s->keep_z, s->keep_id, s->logits, s->targets, n,
                               V, dist, s->keep_scratch);
    else
        logp_forward(lp, ent, s->lse, s->logits, s->targets, n, V, temperature);
    memset(logp, 0, sizeof(float) * N);
    if (entropy) memset(entropy, 0, sizeof(float) * N);
    for (int i = 0; i < n; i++) {
        logp[s->row_pos[i]] = lp[i];
        if (entropy) entropy[s->row_pos[i]] = ent[i];
    }
}

void model_forward_from(const Model *m, ForwardState *s, const int *tokens, const int *targets,
                        const int *first, int B, int T, const SampleDist *dist, float *logp,
                        float *entropy) {
    check_head(m, s, MODEL_HEAD_LM, "model_forward");
    CHECK(B >= 1 && B <= s->max_B && T >= 1 && T <= s->max_T);
    packed_layout_rows(&s->lay, tokens, NULL, B, T);
    forward_lm(m, s, targets, first, dist, logp, entropy);
}

void model_forward_batch(const Model *m, ForwardState *s, const SeqBatch *b,
                         const SampleDist *dist, float *logp, float *entropy) {
    check_head(m, s, MODEL_HEAD_LM, "model_forward_batch");
    CHECK(b->B >= 1 && b->B <= s->max_B && b->T >= 1 && b->T <= s->max_T);
    CHECK(b->layout.B == b->B && b->layout.T == b->T); /* batch_layout has run */
    packed_layout_copy(&s->lay, &b->layout);
    forward_lm(m, s, b->targets, b->first, dist, logp, entropy);
}

const float *forward_state_logits(const ForwardState *s, int *rows, const int **pos) {
    CHECK(s->B > 0);
    if (s->cfg.head != MODEL_HEAD_LM) die("forward_state_logits: a scalar model has no logits");
    if (rows) *rows = s->n_rows;
    if (pos) *pos = s->row_pos;
    return s->logits;
}

/* The one backward of the trunk, from s->d_xn, the gradient of the loss
 * with respect to xn_final (N, D), down to every weight below the head;
 * every public backward ends here, so they cannot drift apart. */
static void trunk_backward(Model *m, ForwardState *s) {
    const ModelConfig *c = &m->cfg;
    const PackedLayout *lay = &s->lay;
    int D = c->dim, L = c->n_layers, NH = c->n_heads, NKV = c->n_kv_heads;
    int HF = c->hidden_dim, HD = D / NH, KVD = NKV * HD, N = lay->n_rows;
    size_t ND = (size_t)N * D, NK = (size_t)N * KVD, NF = (size_t)N * HF;
    size_t NA = (size_t)NH * packed_layout_att_floats(lay);
    CHECK(attention_dscore_floats(lay) <= (long)s->max_B * s->max_T * s->max_T);
    ParamTensors *g = &m->g;

    memset(s->d_res, 0, sizeof(float) * ND); /* rmsnorm_backward adds into it */
    rmsnorm_backward(s->d_res, g->rms_final, s->d_xn, s->res + (size_t)L * ND, m->w.rms_final,
                     s->rstd_final, N, D);

    for (int l = L - 1; l >= 0; l--) {
        size_t lw = (size_t)l * D * D, lk = (size_t)l * KVD * D, lf = (size_t)l * HF * D;
        const float *x = s->res + l * ND, *xmid = s->res_mid + l * ND;
        const float *xn = s->xn_att + l * ND, *xn2 = s->xn_ffn + l * ND;
        const float *h1 = s->h1 + l * NF, *h3 = s->h3 + l * NF;

        /* MLP block: d_res is the gradient of this layer's output */
        matmul_backward(s->d_h1, g->w2 + lf, s->d_res, s->hg + l * NF, m->w.w2 + lf, N, HF, D,
                        0.0f);
        swiglu_backward(s->d_h1, s->d_h3, s->d_h1, h1, h3, NF);
        matmul_backward_input(s->d_xn, s->d_h1, m->w.w1 + lf, N, D, HF, 0.0f);
        matmul_backward_input(s->d_xn, s->d_h3, m->w.w3 + lf, N, D, HF, 1.0f);
        matmul_backward_weights(2, (float *[]){g->w1 + lf, g->w3 + lf},
                                (const float *[]){s->d_h1, s->d_h3}, (int[]){HF, HF}, xn2, N, D);
        rmsnorm_backward(s->d_res, g->rms_ffn + (size_t)l * D, s->d_xn, xmid,
                         m->w.rms_ffn + (size_t)l * D, s->rstd_ffn + (size_t)l * N, N, D);

        /* attention block: d_res is now the gradient of res_mid */
        matmul_backward(s->d_atty, g->wo + lw, s->d_res, s->atty + l * ND, m->w.wo + lw, N, D, D,
                        0.0f);
        attention_backward_packed(s->d_q, s->d_k, s->d_v, s->d_score, s->d_atty,
                                  s->att + l * NA, s->q + l * ND, s->k + l * NK, s->v + l * NK,
                                  lay, NH, NKV, HD);
        rope_packed(s->d_q, s, D, HD, -1);
        rope_packed(s->d_k, s, KVD, HD, -1);
        matmul_backward_input(s->d_xn, s->d_q, m->w.wq + lw, N, D, D, 0.0f);
        matmul_backward_input(s->d_xn, s->d_k, m->w.wk + lk, N, D, KVD, 1.0f);
        matmul_backward_input(s->d_xn, s->d_v, m->w.wv + lk, N, D, KVD, 1.0f);
        matmul_backward_weights(3, (float *[]){g->wq + lw, g->wk + lk, g->wv + lk},
                                (const float *[]){s->d_q, s->d_k, s->d_v}, (int[]){D, KVD, KVD},
                                xn, N, D);
        rmsnorm_backward(s->d_res, g->rms_att + (size_t)l * D, s->d_xn, x,
                         m->w.rms_att + (size_t)l * D, s->rstd_att + (size_t)l * N, N, D);
    }
    encoder_backward(g->wte, s->d_res, lay->tokens, N, D);
}

/* The LM head's backward, from the gradient with respect to the raw
 * logits (n_rows, V), then the trunk's. Positions the head skipped get a
 * zero gradient, as the full path's zero-weight rows do. */
static void backward_from_logits(Model *m, ForwardState *s, const float *d_logits) {
    const ModelConfig *c = &m->cfg;
    const int D = c->dim, n = s->n_rows;
    float *gw = c->tied_embeddings ? m->g.wte : m->g.wcls;
    if (n > 0)
        matmul_backward(s->d_xf_rows, gw, d_logits, s->xf_rows, model_lm_head(m), n, D,
                        c->vocab_size, 0.0f);
    /* added: several grid positions can share a trunk row (a prompt's) */
    memset(s->d_xn, 0, sizeof(float) * (size_t)s->lay.n_rows * D);
    for (int i = 0; i < n; i++) {
        float *dst = s->d_xn + (size_t)s->lay.row_of[s->row_pos[i]] * D;
        const float *src = s->d_xf_rows + (size_t)i * D;
        for (int j = 0; j < D; j++) dst[j] += src[j];
    }
    trunk_backward(m, s);
}

void model_backward(Model *m, ForwardState *s, const float *weights) {
    check_head(m, s, MODEL_HEAD_LM, "model_backward");
    CHECK(m->grads != NULL && s->B > 0);
    const int n = s->n_rows, V = m->cfg.vocab_size;
    for (int i = 0; i < n; i++) s->row_w[i] = weights[s->row_pos[i]];
    logp_backward(s->d_logits, s->logits, s->lse, s->targets, s->row_w, s->truncated ? s->keep_z : NULL,
                  s->truncated ? s->keep_id : NULL, n, V, s->temperature);
    backward_from_logits(m, s, s->d_logits);
}

void model_backward_logits(Model *m, ForwardState *s, const float *d_logits) {
    check_head(m, s, MODEL_HEAD_LM, "model_backward_logits");
    CHECK(m->grads != NULL && s->B > 0);
    backward_from_logits(m, s, d_logits);
}

/* ---- scalar head ------------------------------------------------------------ */

/* value = xf . w + b at each computed grid position, one double-accumulated
 * dot product per row in index order: a row's value depends on that row
 * alone, never on what else is in the batch (the reward model's scores
 * must not). */
void model_forward_values(const Model *m, ForwardState *s, const int *tokens, const int *n,
                          int B, int T, float *values) {
    check_head(m, s, MODEL_HEAD_SCALAR, "model_forward_values");
    CHECK(B >= 1 && B <= s->max_B && T >= 1 && T <= s->max_T);
    packed_layout_rows(&s->lay, tokens, n, B, T);
    trunk_forward(m, s);
    const int D = m->cfg.dim, N = B * T;
    const float *w = m->w.wcls, b = m->w.wcls[D];
    for (int i = 0; i < N; i++) {
        const int r = s->lay.row_of[i];
        if (r < 0) { /* padding: computed nowhere */
            values[i] = 0.0f;
            continue;
        }
        const float *x = s->xn_final + (size_t)r * D;
        double acc = b;
        for (int j = 0; j < D; j++) acc += (double)x[j] * w[j];
        values[i] = (float)acc;
    }
}

/* d_xf = d_values w at each computed position (added: a layout may give
 * positions one trunk row); dw += sum d_values xf; db += sum d_values; then
 * the trunk. */
void model_backward_values(Model *m, ForwardState *s, const float *d_values) {
    check_head(m, s, MODEL_HEAD_SCALAR, "model_backward_values");
    CHECK(m->grads != NULL && s->B > 0);
    const int D = m->cfg.dim, N = s->B * s->T;
    const float *w = m->w.wcls;
    float *gw = m->g.wcls;
    double gb = 0;
    memset(s->d_xn, 0, sizeof(float) * (size_t)s->lay.n_rows * D);
    for (int i = 0; i < N; i++) {
        const int r = s->lay.row_of[i];
        if (r < 0) continue;
        const float dv = d_values[i], *x = s->xn_final + (size_t)r * D;
        float *dx = s->d_xn + (size_t)r * D;
        for (int j = 0; j < D; j++) dx[j] += dv * w[j];
        if (dv == 0.0f) continue;
        for (int j = 0; j < D; j++) gw[j] += dv * x[j];
        gb += dv;
    }
    gw[D] += (float)gb;
    trunk_backward(m, s);
}

void model_swap_head(Model *dst, const Model *src, int head) {
    ModelConfig c = src->cfg;
    c.head = head;
    c.tied_embeddings = 0; /* a scalar head is never tied; a new LM head is its own */
    const char *err = model_config_check(&c);
    if (err) die("model_swap_head: %s", err);
    model_init(dst, &c);
    size_t ss[MODEL_NUM_TENSORS], ds[MODEL_NUM_TENSORS];
    model_tensor_sizes(&src->cfg, ss);
    model_tensor_sizes(&c, ds);
    size_t trunk = 0;
    for (int i = 0; i < MODEL_NUM_TENSORS - 1; i++) {
        CHECK(ss[i] == ds[i]);
        trunk += ss[i];
    }
    CHECK(dst->w.wcls == dst->params + trunk);
    memcpy(dst->params, src->params, sizeof(float) * trunk);
    if (head == MODEL_HEAD_SCALAR) {
        memset(dst->w.wcls, 0, sizeof(float) * ds[11]); /* w = 0, b = 0 */
    } else {
        /* fixed seed: the same source gives the same new head */
        Rng rng;
        rng_seed(&rng, 0x5A4B, 0x30DE2);
        for (size_t j = 0; j < ds[11]; j++) dst->w.wcls[j] = 0.02f * rng_normal(&rng);
    }
}
