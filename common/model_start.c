/* model_start.c: the model a training command starts from (model_start.h). */
#include "model_start.h"

#include "checkpoint.h"
#include "run_settings.h"
#include "util.h"

int model_start(Config *cfg, const char *init, const char *key, const Tokenizer *tok, Model *m,
                char *err, size_t errlen) {
    if (init[0]) {
        char why[1500];
        if (ckpt_read_model_with(init, tok, m, why, sizeof why) != 0) {
            set_err(err, errlen, "%s: %s", key, why);
            return -1;
        }
        if (model_config_adopt(cfg, &m->cfg, init, err, errlen) != 0) {
            model_free(m);
            return -1;
        }
        return 0;
    }
    ModelConfig mc = *model_settings(cfg);
    mc.vocab_size = tok->vocab_size;
    const char *bad = model_config_check(&mc);
    if (bad) die("[model] %s", bad);
    model_init(m, &mc);
    model_init_weights(m, run_settings(cfg)->seed);
    return 0;
}
