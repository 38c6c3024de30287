/* config_meta.c: the META section (config_meta.h). */
#include "config_meta.h"

#include <string.h>

#include "util.h"

void ckpt_put_config(Checkpoint *ck, const Config *cfg) {
    char *text = config_to_string(cfg);
    ckpt_put(ck, "META", text, strlen(text));
    xfree(text);
}

int write_model_with_config(const char *path, const Model *m, const Tokenizer *tok,
                            const Config *cfg, char *err, size_t errlen) {
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, m, tok);
    ckpt_put_config(&ck, cfg);
    int rc = ckpt_write(&ck, path, err, errlen);
    ckpt_free(&ck);
    return rc;
}
