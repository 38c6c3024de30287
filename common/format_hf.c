/* format_hf.c: Hugging Face Llama directories (model_formats.h):
 * config.json through jansson, the weights through format_safetensors.h,
 * one file or shards named by model.safetensors.index.json. */
#include "model_formats.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "format_safetensors.h"
#include "util.h"

void hf_permute_rows(float *dst, const float *src, int n_heads, int hd, int in, int to_hf) {
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < half; i++)
            for (int j = 0; j < 2; j++) {
                size_t ours = (size_t)h * hd + 2 * i + j, theirs = (size_t)h * hd + j * half + i;
                size_t d = to_hf ? theirs : ours, s = to_hf ? ours : theirs;
                memcpy(dst + d * in, src + s * in, sizeof(float) * (size_t)in);
            }
}

/* ---- config.json ---------------------------------------------------------- */

/* A positive int field; absent: *out = dflt, or an error when dflt < 0. */
static int get_int(json_t *root, const char *name, const char *key, int dflt, int *out,
                   char *err, size_t errlen) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (dflt >= 0) {
            *out = dflt;
            return 0;
        }
        set_err(err, errlen, "%s: missing required field \"%s\"", name, key);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INT_MAX) {
        set_err(err, errlen, "%s: field \"%s\" must be a whole number in 1..%d", name, key,
                INT_MAX);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_pos_float(json_t *root, const char *name, const char *key, double dflt,
                         float *out, char *err, size_t errlen) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = (float)dflt;
        return 0;
    }
    double x = json_is_number(v) ? json_number_value(v) : -1;
    if (!(x > 0) || !((float)x > 0) || (float)x > 3.0e38f) {
        set_err(err, errlen, "%s: field \"%s\" must be a positive number", name, key);
        return -1;
    }
    *out = (float)x;
    return 0;
}

/* A token id field: a whole number >= 0 (or the first of a list, as Llama 3
 * lists several eos ids); -1 when absent or null. */
static int get_token_id(json_t *root, const char *name, const char *key, int *out, char *err,
                        size_t errlen) {
    json_t *v = json_object_get(root, key);
    if (json_is_array(v)) v = json_array_get(v, 0);
    *out = -1;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT_MAX) {
        set_err(err, errlen, "%s: field \"%s\" must be a token id (a whole number >= 0)", name,
                key);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

int hf_config_parse(const char *text, size_t len, const char *name, ModelConfig *cfg,
                    HfExtra *extra, char *err, size_t errlen) {
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        set_err(err, errlen, "%s: not valid JSON: %s (line %d)", name, je.text, je.line);
        return -1;
    }
    int rc = -1;
    ModelConfig c;
    memset(&c, 0, sizeof c);
    HfExtra x = {-1, -1};
    if (!json_is_object(root)) {
        set_err(err, errlen, "%s: not a JSON object", name);
        goto out;
    }
    json_t *mt = json_object_get(root, "model_type");
    if (mt && !(json_is_string(mt) && !strcmp(json_string_value(mt), "llama"))) {
        set_err(err, errlen, "%s: field \"model_type\" must be \"llama\" (this project runs "
                "Llama-style models only)", name);
        goto out;
    }
    json_t *act = json_object_get(root, "hidden_act");
    if (act && !(json_is_string(act) && !strcmp(json_string_value(act), "silu"))) {
        set_err(err, errlen, "%s: field \"hidden_act\" must be \"silu\" (SwiGLU)", name);
        goto out;
    }
    json_t *rs = json_object_get(root, "rope_scaling");
    if (rs && !json_is_null(rs)) {
        set_err(err, errlen, "%s: field \"rope_scaling\" is set; only plain RoPE is supported",
                name);
        goto out;
    }
    static const char *const biases[2] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++) {
        json_t *b = json_object_get(root, biases[i]);
        if (b && !json_is_false(b) && !json_is_null(b)) {
            set_err(err, errlen, "%s: field \"%s\" must be false (no biases in this model)",
                    name, biases[i]);
            goto out;
        }
    }
    if (get_int(root, name, "hidden_size", -1, &c.dim, err, errlen) ||
        get_int(root, name, "intermediate_size", -1, &c.hidden_dim, err, errlen) ||
        get_int(root, name, "num_hidden_layers", -1, &c.n_layers, err, errlen) ||
        get_int(root, name, "num_attention_heads", -1, &c.n_heads, err, errlen) ||
        get_int(root, name, "vocab_size", -1, &c.vocab_size, err, errlen) ||
        get_int(root, name, "max_position_embeddings", -1, &c.max_seq_len, err, errlen) ||
        get_int(root, name, "num_key_value_heads", c.n_heads, &c.n_kv_heads, err, errlen) ||
        get_pos_float(root, name, "rms_norm_eps", 1e-6, &c.norm_eps, err, errlen) ||
        get_pos_float(root, name, "rope_theta", 10000.0, &c.rope_theta, err, errlen) ||
        get_token_id(root, name, "bos_token_id", &x.bos_token_id, err, errlen) ||
        get_token_id(root, name, "eos_token_id", &x.eos_token_id, err, errlen))
        goto out;
    json_t *tie = json_object_get(root, "tie_word_embeddings");
    if (tie && !json_is_boolean(tie) && !json_is_null(tie)) {
        set_err(err, errlen, "%s: field \"tie_word_embeddings\" must be true or false", name);
        goto out;
    }
    c.tied_embeddings = json_is_true(tie) ? 1 : 0;
    if (c.n_heads > 0 && c.dim % c.n_heads == 0) {
        int hd = 0;
        if (get_int(root, name, "head_dim", c.dim / c.n_heads, &hd, err, errlen)) goto out;
        if (hd != c.dim / c.n_heads) {
            set_err(err, errlen, "%s: field \"head_dim\" = %d, but this model needs "
                    "hidden_size / num_attention_heads = %d", name, hd, c.dim / c.n_heads);
            goto out;
        }
    }
    const char *why = model_config_check(&c);
    if (why) {
        set_err(err, errlen, "%s: describes a model this project cannot run: %s", name, why);
        goto out;
    }
    *cfg = c;
    if (extra) *extra = x;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ---- tensor names --------------------------------------------------------- */

/* One Hugging Face tensor and where it lives in the Model. */
typedef struct {
    char name[96];
    float *p;         /* this project's rows */
    int rows, cols;   /* cols 0: a vector of rows */
    int permute_heads; /* > 0: q/k, rows permuted between RoPE conventions */
} HfSlot;

/* Every tensor of m in Hugging Face order; returns the count (at most
 * 2 + 9 L + 1). */
static int hf_slots(const Model *m, HfSlot *s) {
    const ModelConfig *c = &m->cfg;
    int D = c->dim, HF = c->hidden_dim, hd = D / c->n_heads, KVD = c->n_kv_heads * hd, n = 0;
    const ParamTensors *w = &m->w;
#define SLOT(ptr, r, cl, ph, ...)                                                                   \
    do {                                                                                           \
        snprintf(s[n].name, sizeof s[n].name, __VA_ARGS__);                                        \
        s[n].p = (ptr);                                                                            \
        s[n].rows = (r);                                                                           \
        s[n].cols = (cl);                                                                          \
        s[n].permute_heads = (ph);                                                                 \
        n++;                                                                                       \
    } while (0)
    SLOT(w->wte, c->vocab_size, D, 0, "model.embed_tokens.weight");
    for (int l = 0; l < c->n_layers; l++) {
        size_t L = (size_t)l;
        SLOT(w->rms_att + L * D, D, 0, 0, "model.layers.%d.input_layernorm.weight", l);
        SLOT(w->wq + L * D * D, D, D, c->n_heads, "model.layers.%d.self_attn.q_proj.weight", l);
        SLOT(w->wk + L * KVD * D, KVD, D, c->n_kv_heads, "model.layers.%d.self_attn.k_proj.weight", l);
        SLOT(w->wv + L * KVD * D, KVD, D, 0, "model.layers.%d.self_attn.v_proj.weight", l);
        SLOT(w->wo + L * D * D, D, D, 0, "model.layers.%d.self_attn.o_proj.weight", l);
        SLOT(w->rms_ffn + L * D, D, 0, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        SLOT(w->w1 + L * HF * D, HF, D, 0, "model.layers.%d.mlp.gate_proj.weight", l);
        SLOT(w->w3 + L * HF * D, HF, D, 0, "model.layers.%d.mlp.up_proj.weight", l);
        SLOT(w->w2 + L * D * HF, D, HF, 0, "model.layers.%d.mlp.down_proj.weight", l);
    }
    SLOT(w->rms_final, D, 0, 0, "model.norm.weight");
    if (!c->tied_embeddings) SLOT(w->wcls, c->vocab_size, D, 0, "lm_head.weight");
#undef SLOT
    return n;
}

/* ---- reading -------------------------------------------------------------- */

/* Reads path into a NUL-terminated malloc'd buffer; NULL with err. */
static char *slurp(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 30)) {
        set_err(err, errlen, "%s: not a regular file of at most 1 GiB", path);
        fclose(f);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = xmalloc(n + 1);
    int bad = fread(buf, 1, n, f) != n;
    fclose(f);
    if (bad) {
        set_err(err, errlen, "%s: read error (or the file shrank while read)", path);
        xfree(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

enum { HF_MAX_SHARDS = 256 };

typedef struct {
    int n;
    StFile f[HF_MAX_SHARDS];
    char *file[HF_MAX_SHARDS]; /* shard file names (index) */
    json_t *weight_map;        /* name -> file, or NULL for one file */
} Shards;

static void shards_close(Shards *sh) {
    for (int i = 0; i < sh->n; i++) {
        st_close(&sh->f[i]);
        xfree(sh->file[i]);
    }
    json_decref(sh->weight_map);
    memset(sh, 0, sizeof *sh);
}

/* Opens the shards the index at path names. 0, or -1 with err. */
static int open_index(const char *dir, const char *path, Shards *sh, char *err, size_t errlen) {
    size_t len;
    char *text = slurp(path, &len, err, errlen);
    if (!text) return -1;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    xfree(text);
    if (!root) {
        set_err(err, errlen, "%s: not valid JSON: %s (line %d)", path, je.text, je.line);
        return -1;
    }
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) {
        set_err(err, errlen, "%s: missing required field \"weight_map\" (an object)", path);
        json_decref(root);
        return -1;
    }
    sh->weight_map = json_incref(wm);
    json_decref(root);
    const char *key;
    json_t *v;
    json_object_foreach(sh->weight_map, key, v) {
        const char *file = json_is_string(v) ? json_string_value(v) : NULL;
        /* a shard is a plain file name in dir: no path can point elsewhere */
        if (!file || !file[0] || strchr(file, '/') || !strcmp(file, ".") || !strcmp(file, "..")) {
            set_err(err, errlen, "%s: weight_map entry '%s' must name a file in the same "
                    "directory", path, key);
            return -1;
        }
        int k = 0;
        while (k < sh->n && strcmp(sh->file[k], file)) k++;
        if (k < sh->n) continue;
        if (sh->n == HF_MAX_SHARDS) {
            set_err(err, errlen, "%s: more than %d shards", path, HF_MAX_SHARDS);
            return -1;
        }
        char sp[4200];
        snprintf(sp, sizeof sp, "%s/%s", dir, file);
        if (st_open(sp, &sh->f[sh->n], err, errlen) != 0) return -1;
        sh->file[sh->n] = xmalloc(strlen(file) + 1);
        memcpy(sh->file[sh->n], file, strlen(file) + 1);
        sh->n++;
    }
    /* every entry must be where the index says */
    json_object_foreach(sh->weight_map, key, v) {
        int k = 0;
        while (strcmp(sh->file[k], json_string_value(v))) k++;
        if (!st_find(&sh->f[k], key)) {
            set_err(err, errlen, "%s: weight_map puts tensor '%s' in %s, which does not have it",
                    path, key, sh->f[k].name);
            return -1;
        }
    }
    return 0;
}

/* The shard holding tensor name, with *t set; NULL if none. */
static const StFile *shards_find(const Shards *sh, const char *name, const StTensor **t) {
    for (int k = 0; k < sh->n; k++) {
        if (sh->weight_map) {
            json_t *v = json_object_get(sh->weight_map, name);
            if (!v || strcmp(json_string_value(v), sh->file[k])) continue;
        }
        if ((*t = st_find(&sh->f[k], name))) return &sh->f[k];
    }
    return NULL;
}

/* Tensors no Llama model needs are refused rather than dropped silently,
 * except the RoPE tables old exports saved (recomputed here). */
static int check_no_strangers(const Shards *sh, HfSlot *slots, int n_slots, int tied, char *err,
                              size_t errlen) {
    for (int k = 0; k < sh->n; k++)
        for (int i = 0; i < sh->f[k].n; i++) {
            const char *nm = sh->f[k].t[i].name;
            size_t ln = strlen(nm);
            if (ln >= 19 && !strcmp(nm + ln - 19, "rotary_emb.inv_freq")) continue;
            if (tied && !strcmp(nm, "lm_head.weight")) continue; /* transformers ties it */
            int known = 0;
            for (int j = 0; j < n_slots && !known; j++) known = !strcmp(slots[j].name, nm);
            if (!known) {
                set_err(err, errlen, "%s: unexpected tensor '%s' (not part of a Llama model of "
                        "this config)", sh->f[k].name, nm);
                return -1;
            }
        }
    return 0;
}

int hf_read_dir(const char *dir, Model *m, HfExtra *extra, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len;
    char *text = slurp(path, &len, err, errlen);
    if (!text) return -1;
    ModelConfig cfg;
    int rc = hf_config_parse(text, len, path, &cfg, extra, err, errlen);
    xfree(text);
    if (rc != 0) return -1;

    Shards *sh = xcalloc(1, sizeof *sh);
    struct stat st;
    /* transformers' order: one model.safetensors wins over an index */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (stat(path, &st) == 0) {
        rc = st_open(path, &sh->f[0], err, errlen);
        if (rc == 0) sh->n = 1;
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        if (stat(path, &st) == 0)
            rc = open_index(dir, path, sh, err, errlen);
        else
            set_err(err, errlen, "%s: neither model.safetensors nor model.safetensors.index.json "
                    "(only safetensors weights are read, not pytorch_model.bin)", dir), rc = -1;
    }
    if (rc != 0) {
        shards_close(sh);
        xfree(sh);
        return -1;
    }
    model_init(m, &cfg);
    HfSlot *slots = xmalloc(sizeof *slots * (size_t)(3 + 9 * cfg.n_layers));
    int n = hf_slots(m, slots);
    rc = check_no_strangers(sh, slots, n, cfg.tied_embeddings, err, errlen);
    float *tmp = NULL;
    for (int i = 0; i < n && rc == 0; i++) {
        const HfSlot *s = &slots[i];
        const StTensor *t = NULL;
        const StFile *f = shards_find(sh, s->name, &t);
        rc = -1;
        if (!f) {
            set_err(err, errlen, "%s: no tensor '%s'%s", sh->weight_map ? path : sh->f[0].name,
                    s->name, !strcmp(s->name, "lm_head.weight")
                                 ? " (config.json says tie_word_embeddings is false)" : "");
            break;
        }
        int want_nd = s->cols ? 2 : 1;
        if (t->ndim != want_nd || t->shape[0] != s->rows || (s->cols && t->shape[1] != s->cols)) {
            char got[160] = "";
            for (int d = 0; d < t->ndim; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                         (long long)t->shape[d]);
            if (s->cols)
                set_err(err, errlen, "%s: tensor '%s' has shape [%s], config.json implies "
                        "[%d, %d]", f->name, s->name, got, s->rows, s->cols);
            else
                set_err(err, errlen, "%s: tensor '%s' has shape [%s], config.json implies [%d]",
                        f->name, s->name, got, s->rows);
            break;
        }
        size_t cnt = (size_t)s->rows * (size_t)(s->cols ? s->cols : 1);
        if (!s->permute_heads) {
            if (st_read_f32(f, t, s->p, cnt, err, errlen) != 0) break;
        } else {
            xfree(tmp);
            tmp = xmalloc(sizeof(float) * cnt);
            if (st_read_f32(f, t, tmp, cnt, err, errlen) != 0) break;
            hf_permute_rows(s->p, tmp, s->permute_heads, cfg.dim / cfg.n_heads, s->cols, 0);
        }
        rc = 0;
    }
    xfree(tmp);
    xfree(slots);
    shards_close(sh);
    xfree(sh);
    if (rc != 0) model_free(m);
    return rc;
}

/* ---- writing -------------------------------------------------------------- */

/* The double whose shortest decimal is x's shortest float decimal, so
 * config.json says 1e-05, not 9.99999974737875e-06, and reads back as x. */
static double tidy(float x) {
    char buf[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    return strtod(buf, NULL);
}

int hf_write_dir(const Model *m, const char *dir, int bos_token_id, int eos_token_id, char *err,
                 size_t errlen) {
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1) {
        set_err(err, errlen, "%s: writing safetensors needs a little-endian host", dir);
        return -1;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        set_err(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
        return -1;
    }
    const ModelConfig *c = &m->cfg;
    json_t *conf = json_pack(
        "{s[s] ss si si si si si sf sf si sb si ss ss sb sb}", "architectures",
        "LlamaForCausalLM", "model_type", "llama", "hidden_size", c->dim, "intermediate_size",
        c->hidden_dim, "num_hidden_layers", c->n_layers, "num_attention_heads", c->n_heads,
        "num_key_value_heads", c->n_kv_heads, "rms_norm_eps", tidy(c->norm_eps), "rope_theta",
        tidy(c->rope_theta), "vocab_size", c->vocab_size, "tie_word_embeddings",
        c->tied_embeddings, "max_position_embeddings", c->max_seq_len, "hidden_act", "silu",
        "torch_dtype", "float32", "attention_bias", 0, "mlp_bias", 0);
    CHECK(conf != NULL);
    if (bos_token_id >= 0) json_object_set_new(conf, "bos_token_id", json_integer(bos_token_id));
    if (eos_token_id >= 0) json_object_set_new(conf, "eos_token_id", json_integer(eos_token_id));
    char *text = json_dumps(conf, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(conf);
    CHECK(text != NULL);
    size_t tl = strlen(text);
    char *line = xmalloc(tl + 1);
    memcpy(line, text, tl);
    line[tl] = '\n';
    free(text);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = atomic_file_write(path, line, tl + 1, err, errlen);
    xfree(line);
    if (rc != 0) return -1;

    HfSlot *slots = xmalloc(sizeof *slots * (size_t)(3 + 9 * c->n_layers));
    int n = hf_slots(m, slots);
    StWriteTensor *wt = xcalloc((size_t)n, sizeof *wt);
    float **perm = xcalloc((size_t)n, sizeof *perm);
    for (int i = 0; i < n; i++) {
        const HfSlot *s = &slots[i];
        wt[i].name = s->name;
        wt[i].dtype = ST_F32;
        wt[i].ndim = s->cols ? 2 : 1;
        wt[i].shape[0] = s->rows;
        wt[i].shape[1] = s->cols;
        wt[i].data = s->p;
        if (s->permute_heads) {
            perm[i] = xmalloc(sizeof(float) * (size_t)s->rows * (size_t)s->cols);
            hf_permute_rows(perm[i], s->p, s->permute_heads, c->dim / c->n_heads, s->cols, 1);
            wt[i].data = perm[i];
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rc = st_write(path, wt, n, "pt", err, errlen);
    for (int i = 0; i < n; i++) xfree(perm[i]);
    xfree(perm);
    xfree(wt);
    xfree(slots);
    return rc;
}
