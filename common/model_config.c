/* model_config.c: the [model] section (model.h's ModelConfig). vocab_size
 * is not a key: it comes from the tokenizer. */
#include <string.h>

#include "model.h"
#include "util.h"

static const CfgKey keys[] = {
    CFG_I(ModelConfig, "dim", dim, "128", 8, 65536, 1, "model width D"),
    CFG_I(ModelConfig, "n_layers", n_layers, "4", 1, 1024, 1, "transformer blocks"),
    CFG_I(ModelConfig, "n_heads", n_heads, "4", 1, 1024, 1, "query heads"),
    CFG_I(ModelConfig, "n_kv_heads", n_kv_heads, "4", 1, 1024, 1, "key/value heads (divides n_heads)"),
    CFG_I(ModelConfig, "hidden_dim", hidden_dim, "352", 1, 1 << 20, 1, "SwiGLU inner width"),
    CFG_I(ModelConfig, "max_seq_len", max_seq_len, "32", 4, 1 << 20, 1, "longest prompt+completion"),
    CFG_I(ModelConfig, "tied_embeddings", tied_embeddings, "1", 0, 1, 1, "output head = embedding"),
    CFG_F(ModelConfig, "rope_theta", rope_theta, "10000", 1, 1e9, 1, "RoPE base"),
};

static void defaults(void *settings) { ((ModelConfig *)settings)->norm_eps = 1e-5f; }

static int validate(const Config *cfg, const void *settings, char *err, size_t errlen) {
    (void)cfg;
    const ModelConfig *m = settings;
    if (m->dim % m->n_heads) {
        set_err(err, errlen, "[model] n_heads = %d must divide dim = %d", m->n_heads, m->dim);
        return -1;
    }
    if ((m->dim / m->n_heads) % 2) {
        set_err(err, errlen, "[model] dim / n_heads = %d must be even (RoPE rotates pairs)",
                m->dim / m->n_heads);
        return -1;
    }
    if (m->n_heads % m->n_kv_heads) {
        set_err(err, errlen, "[model] n_kv_heads = %d must divide n_heads = %d", m->n_kv_heads,
                m->n_heads);
        return -1;
    }
    return 0;
}

const CfgSection model_section = CFG_SECTION("model", ModelConfig, keys, defaults, validate);

int model_config_adopt(Config *cfg, const ModelConfig *actual, const char *source, char *err,
                       size_t errlen) {
    ModelConfig *m = config_get_mut(cfg, &model_section);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const CfgKey *k = &keys[i];
        const char *want = (const char *)m + k->offset, *have = (const char *)actual + k->offset;
        if (memcmp(want, have, k->size) == 0) continue;
        char val[64];
        if (k->type == CFG_FLOAT) snprintf(val, sizeof val, "%.9g", (double)*(const float *)have);
        else snprintf(val, sizeof val, "%d", *(const int *)have);
        if (config_was_set(cfg, "model", k->key)) {
            char asked[64];
            if (k->type == CFG_FLOAT)
                snprintf(asked, sizeof asked, "%.9g", (double)*(const float *)want);
            else snprintf(asked, sizeof asked, "%d", *(const int *)want);
            set_err(err, errlen,
                    "model.%s = %s was given, but the model comes from %s, whose %s is %s: the "
                    "override cannot apply (drop it, or train a new model with sft)",
                    k->key, asked, source, k->key, val);
            return -1;
        }
        if (config_set_value(cfg, "model", k->key, val, err, errlen) != 0) return -1;
    }
    m->vocab_size = actual->vocab_size;
    m->norm_eps = actual->norm_eps;
    return 0;
}
