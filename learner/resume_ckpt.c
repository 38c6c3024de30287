/* resume_ckpt.c: a one-process trainer's resume checkpoint (resume_ckpt.h). */
#include "resume_ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config_meta.h"
#include "resume_config.h"
#include "util.h"
#include "wire.h"

int resume_ckpt_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                      long step, const ResumeSection *own, int n, const Config *cfg, char *err,
                      size_t errlen) {
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, m, tok);
    ckpt_put_adamw(&ck, opt, m->n_params);
    uint8_t steps[8];
    wire_put_u64(steps, (uint64_t)step);
    ckpt_put(&ck, "STEP", steps, sizeof steps);
    for (int i = 0; i < n; i++) ckpt_put(&ck, own[i].tag, own[i].data, own[i].len);
    ckpt_put_config(&ck, cfg);
    int rc = ckpt_write(&ck, path, err, errlen);
    ckpt_free(&ck);
    return rc;
}

/* 1 if every one of the n sections is in ck with its size (own[i].data
 * then set), else 0. */
static int find_own(const Checkpoint *ck, ResumeSection *own, int n) {
    for (int i = 0; i < n; i++) {
        const CkptSection *s = ckpt_get(ck, own[i].tag);
        if (!s || s->len != own[i].len) return 0;
        own[i].data = s->data;
    }
    return 1;
}

int resume_ckpt_load(const char *path, Model *m, const Tokenizer *tok, AdamW *opt, long *step,
                     ResumeSection *own, int n, Checkpoint *ck, const Config *cfg,
                     const char *what, const char *again, char *harmless, size_t harmless_len,
                     char *err, size_t errlen) {
    if (harmless_len) harmless[0] = 0;
    if (access(path, F_OK) != 0 && errno == ENOENT) return 0;
    char why[1000];
    if (ckpt_read(ck, path, why, sizeof why) != 0) {
        set_err(err, errlen, "cannot resume: %s (delete it %s)", why, again);
        return -1;
    }
    int rc = -1;
    Model saved;
    Tokenizer *stok = xcalloc(1, sizeof *stok);
    const CkptSection *steps = ckpt_get(ck, "STEP"), *meta = ckpt_get(ck, "META");
    if (ckpt_get_model(ck, path, &saved, stok, why, sizeof why) != 0) {
        set_err(err, errlen, "cannot resume: %s (delete it %s)", why, again);
        goto out_tok;
    }
    size_t np = m->n_params;
    if (!ckpt_has_adamw(ck, np) || !steps || steps->len != 8 || !find_own(ck, own, n) || !meta) {
        char needs[200] = "ADAM, STEP";
        for (int i = 0; i < n; i++)
            snprintf(needs + strlen(needs), sizeof needs - strlen(needs), ", %s", own[i].tag);
        set_err(err, errlen, "%s: not %s resume checkpoint of this model (needs %s, META); "
                "delete it %s", path, what, needs, again);
        goto out_model;
    }
    if (resume_config_check(path, meta, cfg, again, harmless, harmless_len, err, errlen) != 0)
        goto out_model;
    /* the config compared equal, so only a file edited by hand gets here */
    if (saved.n_params != np || memcmp(&saved.cfg, &m->cfg, sizeof saved.cfg) != 0 ||
        !tokenizer_same(stok, tok)) {
        set_err(err, errlen, "%s: its model shape, head or tokenizer differs from this run's; "
                "delete it %s", path, again);
        goto out_model;
    }
    memcpy(m->params, saved.params, 4 * np);
    ckpt_get_adamw(ck, opt, np);
    *step = (long)wire_get_u64(steps->data);
    rc = 1;
out_model:
    model_free(&saved);
out_tok:
    tokenizer_free(stok);
    xfree(stok);
    if (rc != 1) ckpt_free(ck);
    return rc;
}
