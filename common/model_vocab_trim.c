/* model_vocab_trim.c: a model with padded vocabulary rows cut to its
 * tokenizer's size (model_formats.h). Hugging Face models often round the
 * embedding up (to a multiple of 64 or 128, for the GPU's matmul tiles):
 * rows past the tokenizer's last id are never an input and decode to no
 * text, so the sampler must never draw them. Dropping them is exact for
 * every real token's logit; each next-token distribution is then the
 * original one renormalised over the real tokens, changed only by the
 * probability mass the padding rows had (untrained rows: near zero). */
#include <string.h>

#include "model_formats.h"
#include "util.h"

int model_trim_vocab(Model *m, int vocab_size, char *err, size_t errlen) {
    const ModelConfig *c = &m->cfg;
    if (c->head != MODEL_HEAD_LM) {
        set_err(err, errlen, "model_trim_vocab: a scalar-head model has no vocabulary rows");
        return -1;
    }
    if (vocab_size < 1 || vocab_size > c->vocab_size) {
        set_err(err, errlen, "model_trim_vocab: %d rows asked of a model with %d", vocab_size,
                c->vocab_size);
        return -1;
    }
    if (vocab_size == c->vocab_size) return 0;
    ModelConfig nc = *c;
    nc.vocab_size = vocab_size;
    Model n;
    model_init(&n, &nc);
    size_t old_s[MODEL_NUM_TENSORS], new_s[MODEL_NUM_TENSORS];
    model_tensor_sizes(c, old_s);
    model_tensor_sizes(&nc, new_s);
    /* wte and wcls are (V, D) row-major: the kept rows are each tensor's
     * first new_s floats; every other tensor is copied whole */
    const float *src = m->params;
    float *dst = n.params;
    for (int i = 0; i < MODEL_NUM_TENSORS; i++) {
        memcpy(dst, src, sizeof(float) * new_s[i]);
        src += old_s[i];
        dst += new_s[i];
    }
    model_free(m);
    *m = n;
    return 0;
}
