/* test_model_formats.c: llama2.c and Hugging Face model files
 * (common/model_formats.h, common/format_safetensors.h).
 *
 * Round trips (project -> llama2.c legacy / v1 -> project, project -> HF ->
 * project) must give bit-identical weights and logits that differ by
 * exactly 0. The byte layouts are checked against offsets computed here
 * from llama2.c's run.c / export.py, not from the writer. The q/k row
 * permutation is proven by a naive forward written here the way
 * transformers' LlamaForCausalLM computes it (rotate_half RoPE, repeat_kv)
 * on the Hugging Face tensors themselves: it must match this project's
 * forward on the imported model within 1e-4, and must NOT match when the
 * permutation is left out (so the check can fail). Every kind of bad file
 * must be refused with a message naming the file and what is wrong.
 * No downloads: the models are small and random. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "format_safetensors.h"
#include "model_formats.h"
#include "rng.h"
#include "test_files.h"
#include "test_shell.h"
#include "test_model_weights.h"
#include "util.h"

static char dir[256]; /* per-run scratch directory, removed at the end */

static const char *tpath(const char *name) {
    static char buf[8][600];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 600, "%s/%s", dir, name);
    return p;
}

static void assert_contains(const char *s, const char *sub) {
    if (!strstr(s, sub)) fail_msg("message '%s' does not contain '%s'", s, sub);
}

/* ---- models --------------------------------------------------------------- */

static ModelConfig small_cfg(int tied) {
    ModelConfig c = {.vocab_size = 98, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                     .hidden_dim = 48, .max_seq_len = 24, .tied_embeddings = tied,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    return c;
}

/* Weights large enough that attention is far from uniform (a wrong RoPE
 * convention then changes the logits by much more than the tolerance). */
static void random_model(Model *m, const ModelConfig *c, uint64_t seed) {
    model_init(m, c);
    fill_test_weights(m, seed, 7, 0.25f, 0.2f);
}

static const int seq[] = {1, 17, 40, 5, 93, 60, 22, 8, 71, 33, 2, 64, 11, 50, 97, 3};
enum { SEQ_T = sizeof seq / sizeof seq[0] };

/* This project's logits (T, V) for seq. */
static float *project_logits(const Model *m) { return logits_on(m, seq, SEQ_T); }

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

static double logits_diff(const Model *a, const Model *b) {
    float *la = project_logits(a), *lb = project_logits(b);
    double d = max_abs_diff(la, lb, (size_t)SEQ_T * a->cfg.vocab_size);
    free(la);
    free(lb);
    return d;
}

static void assert_same_model(const Model *a, const Model *b) {
    assert_memory_equal(&a->cfg, &b->cfg, sizeof a->cfg);
    assert_int_equal(a->n_params, b->n_params);
    assert_memory_equal(a->params, b->params, sizeof(float) * a->n_params);
}

/* ---- llama2.c ------------------------------------------------------------- */

static void llama2c_roundtrip(int version, int tied) {
    ModelConfig c = small_cfg(tied);
    Model m, back;
    random_model(&m, &c, 11 + tied);
    char err[600];
    const char *p = tpath(version ? "v1.bin" : "legacy.bin");
    assert_int_equal(llama2c_write(&m, version, p, err, sizeof err), 0);
    int got = -1;
    if (llama2c_read(p, &back, &got, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(got, version);
    assert_same_model(&m, &back);
    double d = logits_diff(&m, &back);
    printf("llama2.c %s %s: weights bit-identical, max |logits difference| %g\n",
           version ? "v1" : "legacy", tied ? "tied" : "untied", d);
    assert_true(d == 0.0);
    model_free(&m);
    model_free(&back);
}

static void test_llama2c_legacy_roundtrip(void **st) {
    (void)st;
    llama2c_roundtrip(LLAMA2C_LEGACY, 0);
    llama2c_roundtrip(LLAMA2C_LEGACY, 1);
}

static void test_llama2c_v1_roundtrip(void **st) {
    (void)st;
    llama2c_roundtrip(LLAMA2C_V1, 0);
    llama2c_roundtrip(LLAMA2C_V1, 1);
}

static float f32_at(const uint8_t *b, size_t off) {
    float x;
    memcpy(&x, b + off, 4);
    return x;
}
static int32_t i32_at(const uint8_t *b, size_t off) {
    int32_t x;
    memcpy(&x, b + off, 4);
    return x;
}

/* The writer's bytes at offsets computed from run.c (legacy) and
 * export.py version1_export (v1), independently of the reader. */
static void test_llama2c_byte_layout(void **st) {
    (void)st;
    ModelConfig c = small_cfg(0);
    Model m;
    random_model(&m, &c, 5);
    char err[600];
    size_t V = 98, D = 32, L = 2, KVD = 16, HF = 48, S = 24, HD = 8, n;
    assert_int_equal(llama2c_write(&m, LLAMA2C_LEGACY, tpath("lay0.bin"), err, sizeof err), 0);
    uint8_t *b = slurp(tpath("lay0.bin"), &n);
    const int32_t hdr[7] = {32, 48, 2, 4, 2, -98, 24}; /* negative vocab: unshared */
    for (int i = 0; i < 7; i++) assert_int_equal(i32_at(b, 4 * i), hdr[i]);
    size_t off = 28;
    assert_true(f32_at(b, off) == m.w.wte[0]);
    off += 4 * V * D;
    assert_true(f32_at(b, off) == m.w.rms_att[0]);
    off += 4 * L * D;
    assert_true(f32_at(b, off) == m.w.wq[0]);
    off += 4 * (L * D * D + 2 * L * KVD * D + L * D * D + L * D);
    assert_true(f32_at(b, off) == m.w.w1[0]);
    off += 4 * 3 * L * HF * D;
    assert_true(f32_at(b, off) == m.w.rms_final[0]);
    off += 4 * D;
    /* freq_cis_real[pos 1][0] = cos(1 * 10000^0), imag[pos 1][1] = sin(10000^(-2/8)) */
    assert_true(fabs(f32_at(b, off + 4 * (HD / 2)) - cos(1.0)) < 1e-6);
    assert_true(fabs(f32_at(b, off + 4 * (S * HD / 2) + 4 * (HD / 2 + 1)) - sin(pow(1e4, -0.25))) < 1e-6);
    off += 4 * S * HD;
    assert_true(f32_at(b, off) == m.w.wcls[0]);
    assert_int_equal(n, off + 4 * V * D);
    free(b);

    assert_int_equal(llama2c_write(&m, LLAMA2C_V1, tpath("lay1.bin"), err, sizeof err), 0);
    b = slurp(tpath("lay1.bin"), &n);
    assert_int_equal((uint32_t)i32_at(b, 0), 0x616b3432u);
    assert_int_equal(i32_at(b, 4), 1);
    const int32_t hdr1[7] = {32, 48, 2, 4, 2, 98, 24};
    for (int i = 0; i < 7; i++) assert_int_equal(i32_at(b, 8 + 4 * i), hdr1[i]);
    assert_int_equal(b[36], 0);
    for (size_t i = 37; i < 256; i++) assert_int_equal(b[i], 0);
    off = 256; /* norms first: rms_att, rms_ffn, rms_final, then wte */
    assert_true(f32_at(b, off) == m.w.rms_att[0]);
    off += 4 * L * D;
    assert_true(f32_at(b, off) == m.w.rms_ffn[0]);
    off += 4 * L * D;
    assert_true(f32_at(b, off) == m.w.rms_final[0]);
    off += 4 * D;
    assert_true(f32_at(b, off) == m.w.wte[0]);
    off += 4 * V * D;
    assert_true(f32_at(b, off) == m.w.wq[0]);
    off += 4 * (2 * L * D * D + 2 * L * KVD * D);
    assert_true(f32_at(b, off) == m.w.w1[0]);
    off += 4 * L * HF * D;
    assert_true(f32_at(b, off) == m.w.w2[0]);
    off += 4 * 2 * L * HF * D;
    assert_true(f32_at(b, off) == m.w.wcls[0]);
    assert_int_equal(n, off + 4 * V * D);
    free(b);
    model_free(&m);
}

/* A version 2 (Q8_0) file built here as runq.c reads it: norms in float32,
 * then per tensor (per layer) int8 values followed by their group scales;
 * it must load as exactly q * scale. */
static void test_llama2c_v2_dequantized(void **st) {
    (void)st;
    ModelConfig c = small_cfg(1);
    Model m;
    random_model(&m, &c, 9);
    const int GS = 16;
    size_t s[MODEL_NUM_TENSORS];
    model_tensor_sizes(&c, s);
    size_t cap = 256 + 8 * m.n_params;
    uint8_t *b = calloc(cap, 1), *p = b;
    const int32_t hdr[9] = {0x616b3432, 2, 32, 48, 2, 4, 2, 98, 24};
    memcpy(p, hdr, sizeof hdr);
    b[36] = 1; /* shared classifier */
    memcpy(b + 37, &GS, 4);
    p = b + 256;
    const float *norms[3] = {m.w.rms_att, m.w.rms_ffn, m.w.rms_final};
    const size_t nn[3] = {s[1], s[6], s[10]};
    for (int i = 0; i < 3; i++) {
        memcpy(p, norms[i], 4 * nn[i]);
        p += 4 * nn[i];
    }
    Model want;
    model_init(&want, &c);
    memcpy(want.params, m.params, 4 * m.n_params);
    float *mats[8] = {want.w.wte, want.w.wq, want.w.wk, want.w.wv, want.w.wo, want.w.w1, want.w.w2, want.w.w3};
    const size_t tot[8] = {s[0], s[2], s[3], s[4], s[5], s[7], s[8], s[9]};
    for (int i = 0; i < 8; i++) {
        size_t each = i == 0 ? tot[i] : tot[i] / 2;
        for (size_t o = 0; o < tot[i]; o += each) {
            float *w = mats[i] + o;
            int8_t *q = (int8_t *)p;
            float *sc = malloc(4 * each / GS);
            for (size_t g = 0; g < each / GS; g++) {
                float mx = 0;
                for (int k = 0; k < GS; k++) mx = fmaxf(mx, fabsf(w[g * GS + k]));
                sc[g] = mx / 127.0f;
                for (int k = 0; k < GS; k++) {
                    q[g * GS + k] = (int8_t)lrintf(w[g * GS + k] / sc[g]);
                    w[g * GS + k] = (float)q[g * GS + k] * sc[g]; /* what the loader must give */
                }
            }
            memcpy(p + each, sc, 4 * each / GS);
            p += each + 4 * each / GS;
            free(sc);
        }
    }
    spit(tpath("v2.bin"), b, (size_t)(p - b));
    Model got;
    int ver = -1;
    char err[600];
    if (llama2c_read(tpath("v2.bin"), &got, &ver, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(ver, 2);
    assert_same_model(&want, &got);
    printf("llama2.c v2 (Q8_0, group 16): dequantized weights exact; max |logits difference| to "
           "the float32 model %g (quantization)\n", logits_diff(&m, &got));
    /* one byte short: truncated, named */
    spit(tpath("v2short.bin"), b, (size_t)(p - b) - 1);
    assert_int_equal(llama2c_read(tpath("v2short.bin"), &got, NULL, err, sizeof err), -1);
    assert_contains(err, tpath("v2short.bin"));
    assert_contains(err, "truncated");
    free(b);
    model_free(&m);
    model_free(&want);
    model_free(&got);
}

static void test_llama2c_bad_files(void **st) {
    (void)st;
    ModelConfig c = small_cfg(0);
    Model m, x;
    random_model(&m, &c, 3);
    char err[600];
    assert_int_equal(llama2c_write(&m, LLAMA2C_LEGACY, tpath("ok.bin"), err, sizeof err), 0);
    size_t n;
    uint8_t *b = slurp(tpath("ok.bin"), &n);
    spit(tpath("trunc.bin"), b, n - 4);
    assert_int_equal(llama2c_read(tpath("trunc.bin"), &x, NULL, err, sizeof err), -1);
    assert_contains(err, tpath("trunc.bin"));
    assert_contains(err, "truncated");
    printf("truncated: %s\n", err);
    spit(tpath("tail.bin"), b, n);
    FILE *f = fopen(tpath("tail.bin"), "ab");
    fputc(0, f);
    fclose(f);
    assert_int_equal(llama2c_read(tpath("tail.bin"), &x, NULL, err, sizeof err), -1);
    assert_contains(err, "1 bytes after the end");
    spit(tpath("short.bin"), b, 10);
    assert_int_equal(llama2c_read(tpath("short.bin"), &x, NULL, err, sizeof err), -1);
    assert_contains(err, "28-byte");
    free(b);

    assert_int_equal(llama2c_write(&m, LLAMA2C_V1, tpath("ok1.bin"), err, sizeof err), 0);
    b = slurp(tpath("ok1.bin"), &n);
    int32_t three = 3;
    memcpy(b + 4, &three, 4);
    spit(tpath("ver3.bin"), b, n);
    assert_int_equal(llama2c_read(tpath("ver3.bin"), &x, NULL, err, sizeof err), -1);
    assert_contains(err, tpath("ver3.bin"));
    assert_contains(err, "version 3");
    printf("wrong version: %s\n", err);
    /* a wrong magic reads as a legacy header, whose fields are then absurd */
    memcpy(b, "GGUF", 4);
    spit(tpath("magic.bin"), b, n);
    assert_int_equal(llama2c_read(tpath("magic.bin"), &x, NULL, err, sizeof err), -1);
    assert_contains(err, tpath("magic.bin"));
    assert_contains(err, "not a llama2.c model file");
    printf("wrong magic: %s\n", err);
    free(b);
    /* n_heads not dividing dim */
    int32_t bad[7] = {30, 48, 2, 4, 2, 98, 24};
    spit(tpath("shape.bin"), bad, sizeof bad);
    assert_int_equal(llama2c_read(tpath("shape.bin"), &x, NULL, err, sizeof err), -1);
    assert_contains(err, "n_heads must divide dim");
    assert_int_equal(llama2c_read(tpath("missing.bin"), &x, NULL, err, sizeof err), -1);
    assert_contains(err, tpath("missing.bin"));
    /* rope_theta llama2.c cannot express */
    m.cfg.rope_theta = 500000.0f;
    assert_int_equal(llama2c_write(&m, LLAMA2C_LEGACY, tpath("theta.bin"), err, sizeof err), -1);
    assert_contains(err, "rope_theta");
    m.cfg.rope_theta = 10000.0f;
    model_free(&m);
}

/* ---- hand-built safetensors files (independent of st_write) ---------------- */

typedef struct {
    const char *name, *dtype;
    int ndim;
    long long shape[2];
    const void *data;
    size_t bytes;
} Raw;

/* Writes a safetensors file by hand; extra_json (may be "") is spliced in
 * after the entries, and data_offsets come from the byte counts unless a
 * test forges the header text itself. */
static void write_raw_st(const char *path, const Raw *t, int n) {
    char *hdr = malloc(1 << 20);
    size_t h = 0, off = 0;
    h += (size_t)sprintf(hdr + h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        h += (size_t)sprintf(hdr + h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++) h += (size_t)sprintf(hdr + h, "%s%lld", d ? "," : "", t[i].shape[d]);
        h += (size_t)sprintf(hdr + h, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].bytes);
        off += t[i].bytes;
    }
    h += (size_t)sprintf(hdr + h, "}");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t hl = h;
    fwrite(&hl, 8, 1, f);
    fwrite(hdr, 1, h, f);
    for (int i = 0; i < n; i++) fwrite(t[i].data, 1, t[i].bytes, f);
    fclose(f);
    free(hdr);
}

/* A raw file: 8-byte length, the given header text, then data bytes. */
static void write_forged_st(const char *path, const char *header, size_t data_bytes) {
    FILE *f = fopen(path, "wb");
    uint64_t hl = strlen(header);
    fwrite(&hl, 8, 1, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
}

/* HF tensors of a model, names and shapes as transformers saves them. */
typedef struct {
    ModelConfig c;
    int n;
    char name[64][96];
    int rows[64], cols[64];
    float *data[64];
} HfTensors;

static void hf_add(HfTensors *h, const char *name, int rows, int cols, Rng *r, int is_norm) {
    int i = h->n++;
    snprintf(h->name[i], sizeof h->name[i], "%s", name);
    h->rows[i] = rows;
    h->cols[i] = cols;
    size_t cnt = (size_t)rows * (cols ? cols : 1);
    h->data[i] = malloc(sizeof(float) * cnt);
    for (size_t j = 0; j < cnt; j++)
        h->data[i][j] = is_norm ? 1.0f + 0.2f * rng_normal(r) : 0.25f * rng_normal(r);
}

static void hf_random(HfTensors *h, const ModelConfig *c, uint64_t seed) {
    memset(h, 0, sizeof *h);
    h->c = *c;
    Rng r;
    rng_seed(&r, seed, 3);
    int D = c->dim, KVD = c->n_kv_heads * (D / c->n_heads), F = c->hidden_dim;
    char nm[96];
    hf_add(h, "model.embed_tokens.weight", c->vocab_size, D, &r, 0);
    for (int l = 0; l < c->n_layers; l++) {
#define ADD(suffix, R, C, norm)                                                                    \
    snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix);                                      \
    hf_add(h, nm, R, C, &r, norm)
        ADD("input_layernorm.weight", D, 0, 1);
        ADD("self_attn.q_proj.weight", D, D, 0);
        ADD("self_attn.k_proj.weight", KVD, D, 0);
        ADD("self_attn.v_proj.weight", KVD, D, 0);
        ADD("self_attn.o_proj.weight", D, D, 0);
        ADD("post_attention_layernorm.weight", D, 0, 1);
        ADD("mlp.gate_proj.weight", F, D, 0);
        ADD("mlp.up_proj.weight", F, D, 0);
        ADD("mlp.down_proj.weight", D, F, 0);
#undef ADD
    }
    hf_add(h, "model.norm.weight", D, 0, &r, 1);
    if (!c->tied_embeddings) hf_add(h, "lm_head.weight", c->vocab_size, D, &r, 0);
}

static void hf_free(HfTensors *h) {
    for (int i = 0; i < h->n; i++) free(h->data[i]);
}

static const float *hf_get(const HfTensors *h, const char *fmt, int l) {
    char nm[96];
    snprintf(nm, sizeof nm, fmt, l);
    for (int i = 0; i < h->n; i++)
        if (!strcmp(h->name[i], nm)) return h->data[i];
    fail_msg("no tensor %s", nm);
    return NULL;
}

/* HF tensors as read back from a safetensors file (the exported model). */
static void hf_from_file(HfTensors *h, const ModelConfig *c, const char *path) {
    memset(h, 0, sizeof *h);
    h->c = *c;
    StFile f;
    char err[600];
    if (st_open(path, &f, err, sizeof err) != 0) fail_msg("%s", err);
    for (int i = 0; i < f.n; i++) {
        const StTensor *t = &f.t[i];
        int k = h->n++;
        snprintf(h->name[k], sizeof h->name[k], "%s", t->name);
        size_t cnt = (size_t)t->shape[0] * (t->ndim > 1 ? (size_t)t->shape[1] : 1);
        h->data[k] = malloc(sizeof(float) * cnt);
        assert_int_equal(st_read_f32(&f, t, h->data[k], cnt, err, sizeof err), 0);
    }
    st_close(&f);
}

static void rmsnorm_ref(double *o, const double *x, const float *w, int D, double eps) {
    double ss = 0;
    for (int i = 0; i < D; i++) ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / D + eps);
    for (int i = 0; i < D; i++) o[i] = w[i] * (x[i] * r);
}

/* y (R) = W (R, C) x (C) */
static void linear_ref(double *y, const float *W, const double *x, int R, int C) {
    for (int r = 0; r < R; r++) {
        double a = 0;
        for (int c = 0; c < C; c++) a += (double)W[(size_t)r * C + c] * x[c];
        y[r] = a;
    }
}

/* transformers' apply_rotary_pos_emb on one head: x*cos + rotate_half(x)*sin
 * with cos/sin = cat(freqs, freqs), rotate_half(x) = cat(-x2, x1). */
static void rope_half_ref(double *x, int hd, int pos, double theta) {
    int half = hd / 2;
    double out[256];
    for (int j = 0; j < hd; j++) {
        double inv = 1.0 / pow(theta, (double)(2 * (j % half)) / hd);
        double a = pos * inv, rot = j < half ? -x[j + half] : x[j - half];
        out[j] = x[j] * cos(a) + rot * sin(a);
    }
    memcpy(x, out, sizeof(double) * hd);
}

/* LlamaForCausalLM's forward on HF tensors, in double: logits (T, V). */
static float *hf_reference_logits(const HfTensors *h) {
    const ModelConfig *c = &h->c;
    int V = c->vocab_size, D = c->dim, NH = c->n_heads, NKV = c->n_kv_heads, hd = D / NH,
        KVD = NKV * hd, F = c->hidden_dim, T = SEQ_T;
    double *x = calloc((size_t)T * D, sizeof(double)), *xn = malloc(sizeof(double) * D),
           *q = malloc(sizeof(double) * T * D), *k = malloc(sizeof(double) * T * KVD),
           *v = malloc(sizeof(double) * T * KVD), *att = malloc(sizeof(double) * D),
           *tmp = malloc(sizeof(double) * (D > F ? D : F)), *g = malloc(sizeof(double) * F),
           *u = malloc(sizeof(double) * F), *sc = malloc(sizeof(double) * T);
    const float *emb = hf_get(h, "model.embed_tokens.weight", 0);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < D; i++) x[t * D + i] = emb[(size_t)seq[t] * D + i];
    for (int l = 0; l < c->n_layers; l++) {
        const float *wq = hf_get(h, "model.layers.%d.self_attn.q_proj.weight", l),
                    *wk = hf_get(h, "model.layers.%d.self_attn.k_proj.weight", l),
                    *wv = hf_get(h, "model.layers.%d.self_attn.v_proj.weight", l),
                    *wo = hf_get(h, "model.layers.%d.self_attn.o_proj.weight", l),
                    *n1 = hf_get(h, "model.layers.%d.input_layernorm.weight", l),
                    *n2 = hf_get(h, "model.layers.%d.post_attention_layernorm.weight", l),
                    *wg = hf_get(h, "model.layers.%d.mlp.gate_proj.weight", l),
                    *wu = hf_get(h, "model.layers.%d.mlp.up_proj.weight", l),
                    *wd = hf_get(h, "model.layers.%d.mlp.down_proj.weight", l);
        for (int t = 0; t < T; t++) {
            rmsnorm_ref(xn, x + t * D, n1, D, c->norm_eps);
            linear_ref(q + t * D, wq, xn, D, D);
            linear_ref(k + t * KVD, wk, xn, KVD, D);
            linear_ref(v + t * KVD, wv, xn, KVD, D);
            for (int hh = 0; hh < NH; hh++) rope_half_ref(q + t * D + hh * hd, hd, t, c->rope_theta);
            for (int hh = 0; hh < NKV; hh++) rope_half_ref(k + t * KVD + hh * hd, hd, t, c->rope_theta);
        }
        for (int t = 0; t < T; t++) {
            for (int hh = 0; hh < NH; hh++) {
                int kvh = hh / (NH / NKV); /* repeat_kv */
                double mx = -1e300, sum = 0;
                for (int s = 0; s <= t; s++) {
                    double a = 0;
                    for (int i = 0; i < hd; i++) a += q[t * D + hh * hd + i] * k[s * KVD + kvh * hd + i];
                    sc[s] = a / sqrt((double)hd);
                    mx = fmax(mx, sc[s]);
                }
                for (int s = 0; s <= t; s++) sum += (sc[s] = exp(sc[s] - mx));
                for (int i = 0; i < hd; i++) {
                    double a = 0;
                    for (int s = 0; s <= t; s++) a += sc[s] / sum * v[s * KVD + kvh * hd + i];
                    att[hh * hd + i] = a;
                }
            }
            linear_ref(tmp, wo, att, D, D);
            for (int i = 0; i < D; i++) x[t * D + i] += tmp[i];
            rmsnorm_ref(xn, x + t * D, n2, D, c->norm_eps);
            linear_ref(g, wg, xn, F, D);
            linear_ref(u, wu, xn, F, D);
            for (int i = 0; i < F; i++) g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
            linear_ref(tmp, wd, g, D, F);
            for (int i = 0; i < D; i++) x[t * D + i] += tmp[i];
        }
    }
    const float *head = c->tied_embeddings ? emb : hf_get(h, "lm_head.weight", 0);
    float *out = malloc(sizeof(float) * T * V);
    double *lg = malloc(sizeof(double) * V);
    for (int t = 0; t < T; t++) {
        rmsnorm_ref(xn, x + t * D, hf_get(h, "model.norm.weight", 0), D, c->norm_eps);
        linear_ref(lg, head, xn, V, D);
        for (int i = 0; i < V; i++) out[t * V + i] = (float)lg[i];
    }
    free(x), free(xn), free(q), free(k), free(v), free(att), free(tmp), free(g), free(u), free(sc), free(lg);
    return out;
}

static void write_config_json(const char *d, const ModelConfig *c, const char *drop) {
    char path[700], buf[2000];
    const char *keys[10] = {"hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads", "num_key_value_heads", "vocab_size",
                            "max_position_embeddings", "rms_norm_eps", "rope_theta",
                            "tie_word_embeddings"};
    char vals[10][32];
    snprintf(vals[0], 32, "%d", c->dim);
    snprintf(vals[1], 32, "%d", c->hidden_dim);
    snprintf(vals[2], 32, "%d", c->n_layers);
    snprintf(vals[3], 32, "%d", c->n_heads);
    snprintf(vals[4], 32, "%d", c->n_kv_heads);
    snprintf(vals[5], 32, "%d", c->vocab_size);
    snprintf(vals[6], 32, "%d", c->max_seq_len);
    snprintf(vals[7], 32, "%.9g", (double)c->norm_eps);
    snprintf(vals[8], 32, "%.9g", (double)c->rope_theta);
    snprintf(vals[9], 32, "%s", c->tied_embeddings ? "true" : "false");
    size_t n = (size_t)sprintf(buf, "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": "
                               "\"llama\", \"hidden_act\": \"silu\", \"bos_token_id\": 1, "
                               "\"eos_token_id\": 2");
    for (int i = 0; i < 10; i++)
        if (!drop || strcmp(drop, keys[i])) n += (size_t)sprintf(buf + n, ", \"%s\": %s", keys[i], vals[i]);
    sprintf(buf + n, "}\n");
    mkdir(d, 0777);
    snprintf(path, sizeof path, "%s/config.json", d);
    spit(path, buf, strlen(buf));
}

/* Writes h as d/model.safetensors (F32) by hand, or split over two shards
 * with an index when sharded. */
static void write_hf_dir(const char *d, const HfTensors *h, int sharded) {
    write_config_json(d, &h->c, NULL);
    Raw *r = calloc((size_t)h->n, sizeof *r);
    for (int i = 0; i < h->n; i++) {
        r[i].name = h->name[i];
        r[i].dtype = "F32";
        r[i].ndim = h->cols[i] ? 2 : 1;
        r[i].shape[0] = h->rows[i];
        r[i].shape[1] = h->cols[i];
        r[i].data = h->data[i];
        r[i].bytes = 4 * (size_t)h->rows[i] * (h->cols[i] ? h->cols[i] : 1);
    }
    char path[700];
    if (!sharded) {
        snprintf(path, sizeof path, "%s/model.safetensors", d);
        write_raw_st(path, r, h->n);
    } else {
        int cut = h->n / 2;
        snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", d);
        write_raw_st(path, r, cut);
        snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", d);
        write_raw_st(path, r + cut, h->n - cut);
        char *idx = malloc(1 << 16);
        size_t n = (size_t)sprintf(idx, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
        for (int i = 0; i < h->n; i++)
            n += (size_t)sprintf(idx + n, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"",
                                 i ? ", " : "", h->name[i], i < cut ? 1 : 2);
        sprintf(idx + n, "}}\n");
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", d);
        spit(path, idx, strlen(idx));
        free(idx);
    }
    free(r);
}

/* An HF-layout model built here: this project's forward on the import must
 * match the rotate_half reference on the HF tensors; without the q/k
 * permutation it must not. */
static void hf_import_matches_reference(int tied, int sharded) {
    ModelConfig c = small_cfg(tied);
    c.rope_theta = 500000.0f; /* Llama 3's, to see it is read */
    c.norm_eps = 1e-6f;
    HfTensors h;
    hf_random(&h, &c, 21 + tied);
    const char *d = tpath(sharded ? "hf_sharded" : tied ? "hf_tied" : "hf_untied");
    write_hf_dir(d, &h, sharded);
    Model m;
    char err[800];
    HfExtra x;
    if (hf_read_dir(d, &m, &x, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(x.bos_token_id, 1);
    assert_int_equal(x.eos_token_id, 2);
    assert_true(m.cfg.rope_theta == 500000.0f && m.cfg.norm_eps == 1e-6f);
    assert_int_equal(m.cfg.tied_embeddings, tied);
    float *ref = hf_reference_logits(&h), *ours = project_logits(&m);
    size_t n = (size_t)SEQ_T * c.vocab_size;
    double dmax = max_abs_diff(ref, ours, n), scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    /* the negative control: the same weights without the permutation */
    Model raw;
    model_init(&raw, &c);
    memcpy(raw.params, m.params, 4 * m.n_params);
    for (int l = 0; l < c.n_layers; l++) {
        memcpy(raw.w.wq + (size_t)l * 32 * 32, hf_get(&h, "model.layers.%d.self_attn.q_proj.weight", l), 4 * 32 * 32);
        memcpy(raw.w.wk + (size_t)l * 16 * 32, hf_get(&h, "model.layers.%d.self_attn.k_proj.weight", l), 4 * 16 * 32);
    }
    float *unperm = project_logits(&raw);
    double dwrong = max_abs_diff(ref, unperm, n);
    printf("HF import (%s%s): max |logits - rotate_half reference| %.3g (logits up to %.3g); "
           "without the q/k permutation %.3g\n", tied ? "tied" : "untied",
           sharded ? ", 2 shards" : "", dmax, scale, dwrong);
    assert_true(dmax < 1e-4);
    assert_true(dwrong > 1e-2);
    /* and the weights themselves: the non-permuted tensors copied as-is */
    assert_memory_equal(m.w.wv, hf_get(&h, "model.layers.%d.self_attn.v_proj.weight", 0), 4 * 16 * 32);
    free(ref), free(ours), free(unperm);
    model_free(&raw);
    model_free(&m);
    hf_free(&h);
}

static void test_hf_import_reference(void **st) {
    (void)st;
    hf_import_matches_reference(0, 0);
    hf_import_matches_reference(1, 0);
}

static void test_hf_sharded(void **st) {
    (void)st;
    hf_import_matches_reference(0, 1);
    /* an index that puts a tensor in the wrong shard */
    const char *d = tpath("hf_sharded");
    char path[700], err[800];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", d);
    size_t n;
    char *idx = (char *)slurp(path, &n);
    idx[n] = 0;
    char *p = strstr(idx, "\"model.embed_tokens.weight\": \"model-00001");
    assert_non_null(p);
    p[strlen("\"model.embed_tokens.weight\": \"model-0000")] = '2';
    spit(path, idx, n);
    Model m;
    assert_int_equal(hf_read_dir(d, &m, NULL, err, sizeof err), -1);
    assert_contains(err, "model.safetensors.index.json");
    assert_contains(err, "model.embed_tokens.weight");
    printf("bad index: %s\n", err);
    /* a shard outside the directory */
    p = strstr(idx, "\"model-00002-of-00002.safetensors\"");
    memcpy(p + 1, "../", 3);
    spit(path, idx, n);
    assert_int_equal(hf_read_dir(d, &m, NULL, err, sizeof err), -1);
    assert_contains(err, "same directory");
    free(idx);
    /* a model.safetensors beside the (now broken) index wins, as in transformers */
    ModelConfig c = small_cfg(0);
    HfTensors h;
    hf_random(&h, &c, 23);
    write_hf_dir(d, &h, 0);
    if (hf_read_dir(d, &m, NULL, err, sizeof err) != 0) fail_msg("%s", err);
    assert_memory_equal(m.w.wte, hf_get(&h, "model.embed_tokens.weight", 0), 4 * 98 * 32);
    model_free(&m);
    hf_free(&h);
}

/* project -> HF -> project, bit-identical; the exported tensors also match
 * the rotate_half reference. */
static void test_hf_roundtrip_export(void **st) {
    (void)st;
    for (int tied = 0; tied <= 1; tied++) {
        ModelConfig c = small_cfg(tied);
        Model m, back;
        random_model(&m, &c, 31 + tied);
        char err[800];
        const char *d = tpath(tied ? "exp_tied" : "exp_untied");
        if (hf_write_dir(&m, d, 1, 2, err, sizeof err) != 0) fail_msg("%s", err);
        HfExtra x;
        if (hf_read_dir(d, &back, &x, err, sizeof err) != 0) fail_msg("%s", err);
        assert_same_model(&m, &back);
        double dl = logits_diff(&m, &back);
        HfTensors h;
        char sp[700];
        snprintf(sp, sizeof sp, "%s/model.safetensors", d);
        hf_from_file(&h, &c, sp);
        assert_int_equal(h.n, 2 + 9 * c.n_layers + !tied);
        float *ref = hf_reference_logits(&h), *ours = project_logits(&m);
        double dr = max_abs_diff(ref, ours, (size_t)SEQ_T * c.vocab_size);
        printf("HF export/import (%s): weights bit-identical, max |logits difference| %g; "
               "exported tensors vs rotate_half reference %.3g\n", tied ? "tied" : "untied", dl, dr);
        assert_true(dl == 0.0);
        assert_true(dr < 1e-4);
        free(ref), free(ours);
        hf_free(&h);
        model_free(&m);
        model_free(&back);
    }
}

/* grpo import --from hf DIR takes the directory's tokenizer.json (a
 * byte-level BPE: the fuzz corpus's, which the project's own generator
 * wrote): the checkpoint holds the model bit for bit and that tokenizer,
 * grpo sample runs on it, and so does a GRPO run. */
static void test_hf_import_with_tokenizer_json(void **st) {
    (void)st;
    const char *bin = getenv("GRPO_BIN"), *tests = getenv("GRPO_TESTS_DIR");
    if (!bin) bin = "build/grpo";
    if (!tests) tests = "tests";
    char json[600], err[800];
    snprintf(json, sizeof json, "%s/fuzz/corpus/tokenizer_json/byte_level.json", tests);
    Tokenizer tok;
    if (tokenizer_load_file(&tok, json, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(tok.vocab_size, 261);
    ModelConfig c = small_cfg(1);
    c.vocab_size = tok.vocab_size;
    Model m, back;
    random_model(&m, &c, 77);
    const char *d = tpath("hf_bpe");
    if (hf_write_dir(&m, d, tok.bos_id, tok.eos_id, err, sizeof err) != 0) fail_msg("%s", err);
    size_t n;
    uint8_t *b = slurp(json, &n);
    char dst[700];
    snprintf(dst, sizeof dst, "%s/tokenizer.json", d);
    spit(dst, b, n);
    free(b);
    const char *ck = tpath("hf_bpe.ckpt");
    assert_int_equal(run("%s import --from hf %s --out %s > %s.log 2>&1", bin, d, ck, ck), 0);
    Tokenizer got;
    if (ckpt_read_model(ck, &back, &got, err, sizeof err) != 0) fail_msg("%s", err);
    assert_true(tokenizer_same(&tok, &got));
    assert_same_model(&m, &back);
    assert_true(logits_diff(&m, &back) == 0.0);
    assert_int_equal(run("%s sample --checkpoint %s --prompt ' the' -n 2 > %s.sample 2>&1", bin,
                         ck, ck),
                     0);
    /* export --format hf writes the tokenizer too: importing that
     * directory gives the same weights and tokenizer again */
    const char *d3 = tpath("hf_bpe_again");
    assert_int_equal(run("%s export --format hf --checkpoint %s --out %s > %s.exp 2>&1 && "
                         "%s import --from hf %s --out %s.again > %s.imp2 2>&1",
                         bin, ck, d3, ck, bin, d3, ck, ck),
                     0);
    char again[800];
    snprintf(again, sizeof again, "%s.again", ck);
    Model m2;
    Tokenizer t2;
    if (ckpt_read_model(again, &m2, &t2, err, sizeof err) != 0) fail_msg("%s", err);
    assert_true(tokenizer_same(&tok, &t2));
    assert_same_model(&m, &m2);
    tokenizer_free(&t2);
    model_free(&m2);
    /* GRPO on the imported model: the arith task's prompts in BPE tokens,
     * its verifier on the decoded text; the run finishes and reports its
     * held-out accuracy */
    const char *run_dir = tpath("grpo_bpe");
    assert_int_equal(run("mpirun --oversubscribe -np 2 %s train run.dir=%s grpo.init=%s "
                         "grpo.layout=colocated grpo.steps=2 grpo.prompts_per_step=4 "
                         "grpo.group_size=4 eval.prompts=16 eval.pass_k=2 > %s.log 2>&1",
                         bin, run_dir, ck, run_dir),
                     0);
    assert_int_equal(run("grep -q '\"grpo_greedy_acc\":' %s/summary.json", run_dir), 0);
    assert_int_equal(run("grep -q 'held-out on 16 distinct prompts' %s.log", run_dir), 0);
    /* eval, and SFT from JSON lines into it, on the jsonl task: text in,
     * BPE tokens inside */
    char data[700];
    snprintf(data, sizeof data, "%s", tpath("bpe.jsonl"));
    FILE *f = fopen(data, "w");
    assert_non_null(f);
    for (int i = 0; i < 40; i++)
        fprintf(f, "{\"prompt\": \"what is %d plus %d? \", \"answer\": \"%d\", \"completion\": \"%d\"}\n", i,
                i + 1, 2 * i + 1, 2 * i + 1);
    fclose(f);
    assert_int_equal(run("%s eval --checkpoint %s task.name=jsonl task.data=%s task.eval_permille=500 "
                         "eval.prompts=8 eval.pass_k=2 > %s.eval 2>&1",
                         bin, ck, data, ck),
                     0);
    assert_int_equal(run("grep -q 'greedy accuracy' %s.eval", ck), 0);
    assert_int_equal(run("%s sft run.dir=%s.sft sft.init=%s --data %s sft.steps=3 sft.batch_size=8 "
                         "task.name=jsonl task.data=%s task.eval_permille=500 sft.eval_prompts=8 "
                         "> %s.sftlog 2>&1",
                         bin, ck, ck, data, data, ck),
                     0);
    /* and a tokenizer whose size is not the model's is refused, naming both */
    const char *d2 = tpath("hf_char");
    if (hf_write_dir(&m, d2, tok.bos_id, tok.eos_id, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_not_equal(run("%s import --from hf %s --out %s.x > %s.log2 2>&1", bin, d2, ck, ck), 0);
    assert_int_equal(run("grep -q 'not the character tokenizer' %s.log2", ck), 0);
    tokenizer_free(&tok);
    tokenizer_free(&got);
    model_free(&m);
    model_free(&back);
}

/* F16 and BF16 tensors load to the floats they encode. */
static void test_f16_bf16(void **st) {
    (void)st;
    const uint16_t h16[8] = {0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8400, 0x7c00, 0x0000};
    const float h32[8] = {1.0f, -2.0f, 0.5f, 65504.0f, 5.9604644775390625e-08f, -6.103515625e-05f,
                          INFINITY, 0.0f};
    const uint16_t b16[4] = {0x3f80, 0xc040, 0x4049, 0x0001};
    const float b32[4] = {1.0f, -3.0f, 3.140625f, 9.18354961579912e-41f};
    Raw r[2] = {{"a", "F16", 2, {2, 4}, h16, sizeof h16}, {"b", "BF16", 1, {4, 0}, b16, sizeof b16}};
    write_raw_st(tpath("half.safetensors"), r, 2);
    StFile f;
    char err[600];
    if (st_open(tpath("half.safetensors"), &f, err, sizeof err) != 0) fail_msg("%s", err);
    float out[8];
    assert_int_equal(st_read_f32(&f, st_find(&f, "a"), out, 8, err, sizeof err), 0);
    for (int i = 0; i < 8; i++) assert_true(out[i] == h32[i]);
    assert_int_equal(st_read_f32(&f, st_find(&f, "b"), out, 4, err, sizeof err), 0);
    for (int i = 0; i < 4; i++) assert_true(out[i] == b32[i]);
    uint16_t nan16 = 0x7e00;
    assert_true(isnan(st_f16_to_f32(nan16)));
    st_close(&f);
    /* every F16 bit pattern: the conversion agrees with the compiler's _Float16 */
#ifdef __FLT16_MAX__
    for (uint32_t u = 0; u < 65536; u++) {
        _Float16 hv;
        uint16_t bits = (uint16_t)u;
        memcpy(&hv, &bits, 2);
        float a = st_f16_to_f32(bits), b = (float)hv;
        assert_true((isnan(a) && isnan(b)) || !memcmp(&a, &b, 4));
    }
#endif

    /* a whole HF model in BF16 (values that bfloat16 holds exactly) */
    ModelConfig c = small_cfg(0);
    HfTensors h;
    hf_random(&h, &c, 41);
    write_config_json(tpath("hf_bf16"), &c, NULL);
    Raw *rr = calloc((size_t)h.n, sizeof *rr);
    uint16_t **bits = calloc((size_t)h.n, sizeof *bits);
    for (int i = 0; i < h.n; i++) {
        size_t cnt = (size_t)h.rows[i] * (h.cols[i] ? h.cols[i] : 1);
        bits[i] = malloc(2 * cnt);
        for (size_t j = 0; j < cnt; j++) {
            uint32_t u;
            memcpy(&u, &h.data[i][j], 4);
            bits[i][j] = (uint16_t)(u >> 16);
            u &= 0xffff0000u;
            memcpy(&h.data[i][j], &u, 4); /* what the loader must give */
        }
        rr[i] = (Raw){h.name[i], "BF16", h.cols[i] ? 2 : 1, {h.rows[i], h.cols[i]}, bits[i], 2 * cnt};
    }
    char path[700];
    snprintf(path, sizeof path, "%s/model.safetensors", tpath("hf_bf16"));
    write_raw_st(path, rr, h.n);
    Model m;
    if (hf_read_dir(tpath("hf_bf16"), &m, NULL, err, sizeof err) != 0) fail_msg("%s", err);
    assert_memory_equal(m.w.wte, hf_get(&h, "model.embed_tokens.weight", 0), 4 * 98 * 32);
    assert_memory_equal(m.w.w2, hf_get(&h, "model.layers.%d.mlp.down_proj.weight", 0), 4 * 32 * 48);
    float *ref = hf_reference_logits(&h), *ours = project_logits(&m);
    double d = max_abs_diff(ref, ours, (size_t)SEQ_T * 98);
    printf("HF BF16 import: max |logits - reference| %.3g\n", d);
    assert_true(d < 1e-4);
    free(ref), free(ours);
    for (int i = 0; i < h.n; i++) free(bits[i]);
    free(bits), free(rr);
    model_free(&m);
    hf_free(&h);
}

static void expect_st_error(const char *file, const char *header, size_t data, const char *want1,
                            const char *want2) {
    write_forged_st(tpath(file), header, data);
    StFile f;
    char err[800];
    assert_int_equal(st_open(tpath(file), &f, err, sizeof err), -1);
    assert_contains(err, tpath(file));
    assert_contains(err, want1);
    if (want2) assert_contains(err, want2);
    printf("%s: %s\n", file, err);
}

static void test_safetensors_bad_headers(void **st) {
    (void)st;
    expect_st_error("past.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
                    "'w'", "past the end of the data area");
    expect_st_error("size.st", "{\"w\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
                    "'w'", "needs 8");
    expect_st_error("dtype.st", "{\"w\":{\"dtype\":\"F33\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
                    "'w'", "unknown dtype 'F33'");
    expect_st_error("overlap.st",
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16,
                    "overlap", "'b'");
    expect_st_error("json.st", "{\"w\":", 0, "not valid JSON", NULL);
    expect_st_error("neg.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16,
                    "'w'", "shape");
    expect_st_error("rev.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", 16,
                    "'w'", "begin <= end");
    expect_st_error("dup.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                    "not valid JSON", "duplicate");
    expect_st_error("huge.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],"
                    "\"data_offsets\":[0,16]}}", 16, "'w'", "overflows");
    /* header length past the end of the file */
    FILE *f = fopen(tpath("hlen.st"), "wb");
    uint64_t hl = 1000;
    fwrite(&hl, 8, 1, f);
    fputs("{}", f);
    fclose(f);
    StFile sf;
    char err[800];
    assert_int_equal(st_open(tpath("hlen.st"), &sf, err, sizeof err), -1);
    assert_contains(err, tpath("hlen.st"));
    assert_contains(err, "header length 1000 runs past the end of the file (10 bytes)");
    printf("hlen.st: %s\n", err);
    spit(tpath("tiny.st"), "abc", 3);
    assert_int_equal(st_open(tpath("tiny.st"), &sf, err, sizeof err), -1);
    assert_contains(err, "too short");
    /* an I64 tensor parses but does not convert */
    write_forged_st(tpath("i64.st"), "{\"w\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
    assert_int_equal(st_open(tpath("i64.st"), &sf, err, sizeof err), 0);
    float x;
    assert_int_equal(st_read_f32(&sf, st_find(&sf, "w"), &x, 1, err, sizeof err), -1);
    assert_contains(err, "'w' is I64");
    st_close(&sf);
}

/* HF directories that lie: a missing config field, a wrong shape, a
 * missing tensor, an extra one. */
static void test_hf_bad_dirs(void **st) {
    (void)st;
    ModelConfig c = small_cfg(0);
    HfTensors h;
    hf_random(&h, &c, 51);
    const char *d = tpath("hf_bad");
    write_hf_dir(d, &h, 0);
    Model m;
    char err[800], path[700];
    snprintf(path, sizeof path, "%s/config.json", d);
    const char *required[6] = {"hidden_size", "intermediate_size", "num_hidden_layers",
                               "num_attention_heads", "vocab_size", "max_position_embeddings"};
    for (int i = 0; i < 6; i++) {
        write_config_json(d, &c, required[i]);
        assert_int_equal(hf_read_dir(d, &m, NULL, err, sizeof err), -1);
        assert_contains(err, path);
        char want[100];
        snprintf(want, sizeof want, "missing required field \"%s\"", required[i]);
        assert_contains(err, want);
        if (i == 0) printf("config.json: %s\n", err);
    }
    /* num_key_value_heads defaults to the heads: then k_proj has the wrong shape */
    write_config_json(d, &c, "num_key_value_heads");
    assert_int_equal(hf_read_dir(d, &m, NULL, err, sizeof err), -1);
    assert_contains(err, "model.safetensors");
    assert_contains(err, "'model.layers.0.self_attn.k_proj.weight' has shape [16, 32], config.json implies [32, 32]");
    printf("shape: %s\n", err);
    /* tied in config.json: lm_head.weight is then ignored, as transformers does */
    ModelConfig ct = c;
    ct.tied_embeddings = 1;
    write_config_json(d, &ct, NULL);
    assert_int_equal(hf_read_dir(d, &m, NULL, err, sizeof err), 0);
    model_free(&m);
    /* untied without lm_head.weight */
    HfTensors h2 = h;
    h2.n--; /* drop lm_head */
    write_hf_dir(d, &h2, 0);
    assert_int_equal(hf_read_dir(d, &m, NULL, err, sizeof err), -1);
    assert_contains(err, "no tensor 'lm_head.weight'");
    /* a bias the model has no place for */
    snprintf(h.name[1], sizeof h.name[1], "model.layers.0.self_attn.q_proj.bias");
    write_hf_dir(d, &h, 0);
    assert_int_equal(hf_read_dir(d, &m, NULL, err, sizeof err), -1);
    assert_contains(err, "unexpected tensor 'model.layers.0.self_attn.q_proj.bias'");
    /* no weights at all */
    const char *e = tpath("hf_empty");
    write_config_json(e, &c, NULL);
    assert_int_equal(hf_read_dir(e, &m, NULL, err, sizeof err), -1);
    assert_contains(err, "neither model.safetensors nor model.safetensors.index.json");
    /* what the model cannot run */
    const char *bad_cfg[4][2] = {
        {"{\"hidden_size\":32,\"rope_scaling\":{\"type\":\"linear\"}}", "rope_scaling"},
        {"{\"model_type\":\"gpt2\"}", "model_type"},
        {"{\"hidden_size\":32,\"intermediate_size\":48,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":4,\"vocab_size\":10,\"max_position_embeddings\":8,\"head_dim\":16}",
         "head_dim"},
        {"{\"hidden_size\":\"32\"}", "\"hidden_size\" must be a whole number"}};
    for (int i = 0; i < 4; i++) {
        ModelConfig out;
        assert_int_equal(hf_config_parse(bad_cfg[i][0], strlen(bad_cfg[i][0]), "cfg.json", &out,
                                         NULL, err, sizeof err), -1);
        assert_contains(err, "cfg.json");
        assert_contains(err, bad_cfg[i][1]);
    }
    hf_free(&h);
}

/* The permutation is its own inverse pair and is export.py's
 * permute_reverse: ours[h, i, j] = hf[h, j, i]. */
static void test_permutation(void **st) {
    (void)st;
    enum { NH = 2, HD = 6, IN = 3 };
    float src[NH * HD * IN], hf[NH * HD * IN], back[NH * HD * IN];
    for (int i = 0; i < NH * HD * IN; i++) src[i] = (float)i;
    hf_permute_rows(hf, src, NH, HD, IN, 1);
    hf_permute_rows(back, hf, NH, HD, IN, 0);
    assert_memory_equal(src, back, sizeof src);
    /* w.view(NH, 2, HD/2, IN).transpose(1, 2) of the HF rows gives ours */
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < HD / 2; i++)
            for (int j = 0; j < 2; j++)
                for (int c = 0; c < IN; c++)
                    assert_true(src[((h * HD) + 2 * i + j) * IN + c] ==
                                hf[((h * HD) + j * (HD / 2) + i) * IN + c]);
}

/* Independent reader: numpy.frombuffer on the documented layouts (the
 * safetensors header, llama2.c legacy as run.c reads it) and export.py's
 * permute_reverse, in Python. Skips when python3-numpy is missing
 * (deploy/install-deps.sh installs it). */
static void test_numpy_cross_check(void **st) {
    (void)st;
    /* Debian's python3-numpy belongs to /usr/bin/python3, which a pyenv or
     * venv python3 earlier on PATH does not see */
    const char *py = NULL, *cands[2] = {"python3", "/usr/bin/python3"};
    for (int i = 0; i < 2 && !py; i++)
        if (run("%s -c 'import numpy' > /dev/null 2>&1", cands[i]) == 0) py = cands[i];
    if (!py) {
        printf("python3-numpy not installed: skipped\n");
        skip();
    }
    const char *tdir = getenv("GRPO_TESTS_DIR") ? getenv("GRPO_TESTS_DIR") : "tests";
    ModelConfig c = small_cfg(0);
    Model m;
    random_model(&m, &c, 61);
    char err[800];
    assert_int_equal(hf_write_dir(&m, tpath("np_hf"), 1, 2, err, sizeof err), 0);
    assert_int_equal(llama2c_write(&m, LLAMA2C_LEGACY, tpath("np.bin"), err, sizeof err), 0);
    assert_int_equal(llama2c_write(&m, LLAMA2C_V1, tpath("np1.bin"), err, sizeof err), 0);
    /* this project's flat buffer as raw float32, the truth to compare to */
    spit(tpath("np.params"), m.params, 4 * m.n_params);
    int rc = run("%s %s/check_model_files.py %s %s %s %s", py, tdir, tpath("np_hf"),
                 tpath("np.bin"), tpath("np1.bin"), tpath("np.params"));
    assert_int_equal(rc, 0);
    model_free(&m);
}

/* grpo import / export end to end, and the imported checkpoint runs. */
static void test_commands(void **st) {
    (void)st;
    const char *bin = getenv("GRPO_BIN");
    if (!bin) {
        printf("GRPO_BIN not set: skipped\n");
        skip();
    }
    ModelConfig c = small_cfg(0);
    c.max_seq_len = 64;
    Model m;
    random_model(&m, &c, 71);
    Tokenizer *tok = malloc(sizeof *tok);
    tokenizer_init_char(tok);
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, &m, tok);
    char err[800];
    assert_int_equal(ckpt_write(&ck, tpath("orig.ckpt"), err, sizeof err), 0);
    ckpt_free(&ck);
    const char *q = "> /dev/null";
    assert_int_equal(run("%s export --format hf --checkpoint %s --out %s %s", bin, tpath("orig.ckpt"), tpath("cmd_hf"), q), 0);
    assert_int_equal(run("%s import --from hf %s --out %s %s", bin, tpath("cmd_hf"), tpath("hf.ckpt"), q), 0);
    assert_int_equal(run("%s export --format llama2c --checkpoint %s --out %s %s", bin, tpath("hf.ckpt"), tpath("cmd.bin"), q), 0);
    assert_int_equal(run("%s import --from llama2c %s --out %s %s", bin, tpath("cmd.bin"), tpath("l2c.ckpt"), q), 0);
    assert_int_equal(run("%s export --format llama2c-v1 --checkpoint %s --out %s %s", bin, tpath("l2c.ckpt"), tpath("cmd1.bin"), q), 0);
    assert_int_equal(run("%s import --from llama2c %s --out %s %s", bin, tpath("cmd1.bin"), tpath("l2c1.ckpt"), q), 0);
    Model back;
    Tokenizer *bt = malloc(sizeof *bt);
    const char *outs[3] = {"hf.ckpt", "l2c.ckpt", "l2c1.ckpt"};
    for (int i = 0; i < 3; i++) {
        if (ckpt_read_model(tpath(outs[i]), &back, bt, err, sizeof err) != 0) fail_msg("%s", err);
        assert_same_model(&m, &back);
        assert_true(tokenizer_same(tok, bt));
        double d = logits_diff(&m, &back);
        printf("grpo export/import chain -> %s: bit-identical, max |logits difference| %g\n", outs[i], d);
        assert_true(d == 0.0);
        model_free(&back);
    }
    /* the imported checkpoint runs like one sft wrote */
    assert_int_equal(run("%s sample --checkpoint %s --prompt 'ab' -n 2 sampler.max_new_tokens=4 %s", bin,
                         tpath("l2c1.ckpt"), q), 0);
    assert_int_equal(run("%s sft --out %s sft.init=%s sft.steps=1 run.dir=%s %s 2>&1", bin,
                         tpath("sft_from_import.ckpt"), tpath("hf.ckpt"), tpath("sftrun"), q), 0);
    /* another vocabulary: refused until tokenizer import lands */
    ModelConfig c2 = small_cfg(1);
    c2.vocab_size = 100;
    Model m2;
    random_model(&m2, &c2, 72);
    assert_int_equal(llama2c_write(&m2, LLAMA2C_V1, tpath("v100.bin"), err, sizeof err), 0);
    assert_int_equal(run("%s import --from llama2c %s --out %s > %s 2>&1", bin, tpath("v100.bin"),
                         tpath("v100.ckpt"), tpath("v100.log")), 1);
    size_t n;
    char *log = (char *)slurp(tpath("v100.log"), &n);
    log[n] = 0;
    assert_contains(log, "100 tokens");
    assert_contains(log, "tokenizer.bin");
    printf("vocab 100: %s", log);
    free(log);
    assert_int_not_equal(access(tpath("v100.ckpt"), F_OK), 0);
    assert_int_equal(run("%s import --from onnx x --out y > /dev/null 2>&1", bin), 1);
    assert_int_equal(run("%s export --format llama2c --from hf x %s 2>/dev/null", bin, q), 2);
    model_free(&m2);
    model_free(&m);
    free(tok);
    free(bt);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s/test_formats_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return run("rm -rf '%s'", dir) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permutation),
        cmocka_unit_test(test_llama2c_legacy_roundtrip),
        cmocka_unit_test(test_llama2c_v1_roundtrip),
        cmocka_unit_test(test_llama2c_byte_layout),
        cmocka_unit_test(test_llama2c_v2_dequantized),
        cmocka_unit_test(test_llama2c_bad_files),
        cmocka_unit_test(test_hf_import_reference),
        cmocka_unit_test(test_hf_sharded),
        cmocka_unit_test(test_hf_roundtrip_export),
        cmocka_unit_test(test_hf_import_with_tokenizer_json),
        cmocka_unit_test(test_f16_bf16),
        cmocka_unit_test(test_safetensors_bad_headers),
        cmocka_unit_test(test_hf_bad_dirs),
        cmocka_unit_test(test_numpy_cross_check),
        cmocka_unit_test(test_commands),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
