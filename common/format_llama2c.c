/* format_llama2c.c: karpathy/llama2.c model files (model_formats.h), the
 * layouts of its run.c (legacy), export.py version1_export (v1) and runq.c
 * (v2, Q8_0). The project's tensor order is llama2.c's legacy order, so
 * legacy files map tensor by tensor; v1 and v2 put the norms first. */
#include "model_formats.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "model_kernels.h"
#include "util.h"

/* Indices of ParamTensors (model.h) in the order each format stores them. */
static const int legacy_order[MODEL_NUM_TENSORS] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const int v1_order[MODEL_NUM_TENSORS] = {1, 6, 10, 0, 2, 3, 4, 5, 7, 8, 9, 11};
/* v2: the float32 norms, then the quantized matrices (wcls last if any) */
static const int v2_norms[3] = {1, 6, 10};
static const int v2_quant[9] = {0, 2, 3, 4, 5, 7, 8, 9, 11};

static int32_t get_i32(const unsigned char *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}
static void put_i32(unsigned char *p, int32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)((uint32_t)v >> (8 * i));
}
static float get_f32(const unsigned char *p) {
    uint32_t u = (uint32_t)get_i32(p);
    float x;
    memcpy(&x, &u, 4);
    return x;
}
static void put_f32(unsigned char *p, float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    put_i32(p, (int32_t)u);
}

/* The seven header ints into cfg; bounds keep every size below 2^62, so
 * the file-size arithmetic cannot wrap. 0, or -1 with err. */
static int header_config(const unsigned char *h, const char *name, int tied_from_sign,
                         ModelConfig *cfg, int *shared, char *err, size_t errlen) {
    static const char *fields[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads",
                                    "vocab_size", "seq_len"};
    static const int32_t limits[7] = {1 << 16, 1 << 20, 1 << 12, 1 << 12, 1 << 12, 1 << 24,
                                      1 << 24};
    int32_t v[7];
    for (int i = 0; i < 7; i++) v[i] = get_i32(h + 4 * i);
    if (tied_from_sign) {
        *shared = v[5] > 0;
        /* -INT32_MIN overflows; the range check below refuses it anyway */
        if (v[5] < 0 && v[5] > INT32_MIN) v[5] = -v[5];
    }
    for (int i = 0; i < 7; i++)
        if (v[i] < 1 || v[i] > limits[i]) {
            set_err(err, errlen, "%s: header field %s = %d is outside 1..%d (not a llama2.c "
                    "model file?)", name, fields[i], v[i], limits[i]);
            return -1;
        }
    memset(cfg, 0, sizeof *cfg);
    cfg->dim = v[0];
    cfg->hidden_dim = v[1];
    cfg->n_layers = v[2];
    cfg->n_heads = v[3];
    cfg->n_kv_heads = v[4];
    cfg->vocab_size = v[5];
    cfg->max_seq_len = v[6];
    cfg->tied_embeddings = *shared ? 1 : 0;
    cfg->rope_theta = 10000.0f; /* what run.c hard-codes */
    cfg->norm_eps = 1e-5f;
    const char *why = model_config_check(cfg);
    if (why) {
        set_err(err, errlen, "%s: header describes an impossible model: %s", name, why);
        return -1;
    }
    return 0;
}

static int size_mismatch(const char *name, size_t len, uint64_t want, const char *what,
                         char *err, size_t errlen) {
    if (len < want)
        set_err(err, errlen, "%s: truncated: %s needs %llu bytes, the file has %zu", name, what,
                (unsigned long long)want, len);
    else
        set_err(err, errlen, "%s: %llu bytes after the end of the %s (%llu bytes expected, "
                "the file has %zu)", name, (unsigned long long)(len - want), what,
                (unsigned long long)want, len);
    return -1;
}

static void read_floats(float *dst, const unsigned char *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = get_f32(src + 4 * i);
}

/* Tensors of one (out, in) layer-stacked matrix for v2: the per-layer
 * element count (runq.c quantizes each layer's matrix on its own). */
static size_t per_layer(const ModelConfig *c, int t, const size_t *sizes) {
    return (t == 0 || t == 11) ? sizes[t] : sizes[t] / (size_t)c->n_layers;
}

static void release(const unsigned char *p, size_t n, int mapped);

static int parse_v2(const unsigned char *buf, size_t len, const char *name, Model *m, int mapped,
                    char *err, size_t errlen) {
    ModelConfig cfg;
    int shared = buf[36] != 0;
    if (header_config(buf + 8, name, 0, &cfg, &shared, err, errlen) != 0) return -1;
    int32_t gs = get_i32(buf + 37);
    size_t s[MODEL_NUM_TENSORS];
    model_tensor_sizes(&cfg, s);
    if (gs < 1 || gs > (1 << 20)) {
        set_err(err, errlen, "%s: group_size %d is not a positive size", name, gs);
        return -1;
    }
    uint64_t want = LLAMA2C_HEADER_V1;
    for (int i = 0; i < 3; i++) want += 4 * (uint64_t)s[v2_norms[i]];
    for (int i = 0; i < 9; i++) {
        int t = v2_quant[i];
        if (s[t] == 0) continue;
        size_t each = per_layer(&cfg, t, s);
        if (each % (size_t)gs != 0) {
            set_err(err, errlen, "%s: tensor %s (%zu values per layer) is not a multiple of "
                    "group_size %d", name, model_tensor_name(t), each, gs);
            return -1;
        }
        want += (uint64_t)s[t] + 4 * ((uint64_t)s[t] / (uint64_t)gs);
    }
    if (want != len) return size_mismatch(name, len, want, "version 2 (Q8_0) model", err, errlen);
    model_init(m, &cfg);
    float *dst[MODEL_NUM_TENSORS];
    memcpy(dst, &m->w, sizeof dst);
    const unsigned char *p = buf + LLAMA2C_HEADER_V1;
    for (int i = 0; i < 3; i++) {
        read_floats(dst[v2_norms[i]], p, s[v2_norms[i]]);
        p += 4 * s[v2_norms[i]];
    }
    for (int i = 0; i < 9; i++) {
        int t = v2_quant[i];
        if (s[t] == 0) continue;
        size_t each = per_layer(&cfg, t, s);
        for (size_t off = 0; off < s[t]; off += each) {
            const unsigned char *q = p, *sc = p + each;
            for (size_t j = 0; j < each; j++)
                dst[t][off + j] = (float)(int8_t)q[j] * get_f32(sc + 4 * (j / (size_t)gs));
            release(p, each + 4 * (each / (size_t)gs), mapped);
            p += each + 4 * (each / (size_t)gs);
        }
    }
    return 0;
}

_Static_assert(sizeof(ParamTensors) == MODEL_NUM_TENSORS * sizeof(float *),
               "ParamTensors is an array of tensor pointers in order");

/* Drops the pages of [p, p + n) of a read-only file mapping from memory
 * once converted (they reload from the file if touched again), so reading
 * a model peaks at the model plus one tensor, not model plus file. Only
 * for mappings: on heap memory MADV_DONTNEED would zero it. */
static void release(const unsigned char *p, size_t n, int mapped) {
    if (!mapped) return;
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + pg - 1) / pg * pg, b = ((uintptr_t)p + n) / pg * pg;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

static int parse(const unsigned char *buf, size_t len, const char *name, Model *m, int *version,
                 int mapped, char *err, size_t errlen);

int llama2c_parse(const unsigned char *buf, size_t len, const char *name, Model *m, int *version,
                  char *err, size_t errlen) {
    return parse(buf, len, name, m, version, 0, err, errlen);
}

static int parse(const unsigned char *buf, size_t len, const char *name, Model *m, int *version,
                 int mapped, char *err, size_t errlen) {
    ModelConfig cfg;
    int shared = 0;
    const unsigned char *data;
    const int *order;
    int ver;
    if (len >= 8 && (uint32_t)get_i32(buf) == LLAMA2C_MAGIC) {
        ver = get_i32(buf + 4);
        if (ver != 1 && ver != 2) {
            set_err(err, errlen, "%s: llama2.c magic \"ak42\" with version %d (known: 1 float32, "
                    "2 Q8_0)", name, ver);
            return -1;
        }
        if (len < LLAMA2C_HEADER_V1) {
            set_err(err, errlen, "%s: truncated: %zu bytes, shorter than the %d-byte version %d "
                    "header", name, len, LLAMA2C_HEADER_V1, ver);
            return -1;
        }
        if (version) *version = ver;
        if (ver == 2) return parse_v2(buf, len, name, m, mapped, err, errlen);
        shared = buf[36] != 0;
        if (header_config(buf + 8, name, 0, &cfg, &shared, err, errlen) != 0) return -1;
        data = buf + LLAMA2C_HEADER_V1;
        order = v1_order;
    } else {
        if (len < 28) {
            set_err(err, errlen, "%s: truncated: %zu bytes, shorter than the 28-byte llama2.c "
                    "header (and no \"ak42\" magic)", name, len);
            return -1;
        }
        ver = LLAMA2C_LEGACY;
        if (header_config(buf, name, 1, &cfg, &shared, err, errlen) != 0) return -1;
        data = buf + 28;
        order = legacy_order;
    }
    size_t s[MODEL_NUM_TENSORS];
    uint64_t n = model_tensor_sizes(&cfg, s);
    uint64_t rope = ver == LLAMA2C_LEGACY
                        ? (uint64_t)cfg.max_seq_len * (uint64_t)(cfg.dim / cfg.n_heads) : 0;
    uint64_t want = (uint64_t)(data - buf) + 4 * (n + rope);
    if (want != len)
        return size_mismatch(name, len, want,
                             ver == LLAMA2C_LEGACY ? "legacy model" : "version 1 model", err,
                             errlen);
    if (version) *version = ver;
    model_init(m, &cfg);
    float *dst[MODEL_NUM_TENSORS];
    memcpy(dst, &m->w, sizeof dst);
    const unsigned char *p = data;
    for (int i = 0; i < MODEL_NUM_TENSORS; i++) {
        int t = order[i];
        if (t == 11) p += 4 * rope; /* freq_cis_real/imag: recomputed, not read */
        read_floats(dst[t], p, s[t]);
        release(p, 4 * s[t], mapped);
        p += 4 * s[t];
    }
    return 0;
}

int llama2c_read(const char *path, Model *m, int *version, char *err, size_t errlen) {
    void *map;
    size_t len;
    if (file_map(path, &map, &len, err, errlen) != 0) return -1;
    static const unsigned char none[1];
    int rc = parse(map ? map : none, len, path, m, version, map != NULL, err, errlen);
    file_unmap(map, len);
    return rc;
}

/* Appends n floats little-endian through a small buffer, so a model is
 * never copied whole. */
static int put_floats(AtomicStream *st, const float *x, size_t n, char *err, size_t errlen) {
    unsigned char buf[4 * 4096];
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++) put_f32(buf + 4 * j, x[i + j]);
        if (atomic_stream_write(st, buf, 4 * k, err, errlen) != 0) return -1;
        i += k;
    }
    return 0;
}

int llama2c_write(const Model *m, int version, const char *path, char *err, size_t errlen) {
    const ModelConfig *c = &m->cfg;
    CHECK(version == LLAMA2C_LEGACY || version == LLAMA2C_V1);
    /* llama2.c files have no field for these; run.c assumes them */
    if (c->rope_theta != 10000.0f || fabsf(c->norm_eps - 1e-5f) > 1e-12f) {
        set_err(err, errlen, "%s: llama2.c files assume rope_theta 10000 and norm_eps 1e-5; "
                "this model has rope_theta %g and norm_eps %g (use --format hf)", path,
                (double)c->rope_theta, (double)c->norm_eps);
        return -1;
    }
    size_t s[MODEL_NUM_TENSORS];
    model_tensor_sizes(c, s);
    int hd = c->dim / c->n_heads;
    unsigned char head[LLAMA2C_HEADER_V1] = {0}, *p = head;
    if (version == LLAMA2C_V1) {
        put_i32(p, (int32_t)LLAMA2C_MAGIC);
        put_i32(p + 4, 1);
        p += 8;
    }
    const int32_t ints[7] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                             version == LLAMA2C_LEGACY && !c->tied_embeddings ? -c->vocab_size
                                                                               : c->vocab_size,
                             c->max_seq_len};
    for (int i = 0; i < 7; i++) put_i32(p + 4 * i, ints[i]);
    if (version == LLAMA2C_V1) head[36] = (unsigned char)(c->tied_embeddings ? 1 : 0);
    AtomicStream st;
    if (atomic_stream_open(&st, path, err, errlen) != 0) return -1;
    if (atomic_stream_write(&st, head, version == LLAMA2C_LEGACY ? 28 : LLAMA2C_HEADER_V1, err,
                            errlen) != 0)
        return -1;
    float *src[MODEL_NUM_TENSORS];
    memcpy(src, &m->w, sizeof src);
    const int *order = version == LLAMA2C_LEGACY ? legacy_order : v1_order;
    for (int i = 0; i < MODEL_NUM_TENSORS; i++) {
        int t = order[i];
        if (t == 11 && version == LLAMA2C_LEGACY) {
            /* export.py writes freqs_cos[:seq_len] then freqs_sin; run.c
             * skips them, older readers used them */
            size_t half = (size_t)c->max_seq_len * (size_t)hd / 2;
            float *cosb = xmalloc(sizeof(float) * half), *sinb = xmalloc(sizeof(float) * half);
            rope_tables(cosb, sinb, c->max_seq_len, hd, c->rope_theta);
            int rc = put_floats(&st, cosb, half, err, errlen) || put_floats(&st, sinb, half, err, errlen);
            xfree(cosb);
            xfree(sinb);
            if (rc) return -1;
        }
        if (put_floats(&st, src[t], s[t], err, errlen) != 0) return -1;
    }
    return atomic_stream_commit(&st, err, errlen);
}
