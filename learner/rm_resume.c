/* rm_resume.c: rm-train's resume checkpoint (rm_resume.h). */
#include "rm_resume.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "resume_config.h"
#include "util.h"
#include "wire.h"

enum { RMTP_BYTES = 56 };

int rm_resume_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                    const RmProgress *p, const Config *cfg, char *err, size_t errlen) {
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, m, tok);
    ckpt_put_adamw(&ck, opt, m->n_params);
    uint8_t step[8], prog[RMTP_BYTES];
    wire_put_u64(step, (uint64_t)p->step);
    ckpt_put(&ck, "STEP", step, sizeof step);
    wire_put_u64(prog, (uint64_t)p->nonfinite.in_a_row);
    wire_put_u64(prog + 8, (uint64_t)p->nonfinite.total);
    memcpy(prog + 16, &p->first_loss, 8);
    memcpy(prog + 24, &p->tail_loss, 8);
    memcpy(prog + 32, &p->tail_acc, 8);
    wire_put_u64(prog + 40, (uint64_t)p->tail_n);
    memcpy(prog + 48, &p->train_seconds, 8);
    ckpt_put(&ck, "RMTP", prog, sizeof prog);
    char *text = config_to_string(cfg);
    ckpt_put(&ck, "META", text, strlen(text));
    xfree(text);
    int rc = ckpt_write(&ck, path, err, errlen);
    ckpt_free(&ck);
    return rc;
}

int rm_resume_load(const char *path, Model *m, const Tokenizer *tok, AdamW *opt, RmProgress *p,
                   const Config *cfg, char *harmless, size_t harmless_len, char *err,
                   size_t errlen) {
    if (harmless_len) harmless[0] = 0;
    if (access(path, F_OK) != 0 && errno == ENOENT) return 0;
    Checkpoint ck;
    char why[1000];
    if (ckpt_read(&ck, path, why, sizeof why) != 0) {
        set_err(err, errlen, "cannot resume: %s (delete it to start over)", why);
        return -1;
    }
    int rc = -1;
    Model saved;
    Tokenizer *stok = xcalloc(1, sizeof *stok);
    const CkptSection *step = ckpt_get(&ck, "STEP"), *prog = ckpt_get(&ck, "RMTP"),
                      *meta = ckpt_get(&ck, "META");
    if (ckpt_get_model(&ck, path, &saved, stok, why, sizeof why) != 0) {
        set_err(err, errlen, "cannot resume: %s (delete it to start over)", why);
        goto out_tok;
    }
    size_t n = m->n_params;
    if (!ckpt_has_adamw(&ck, n) || !step || step->len != 8 || !prog ||
        prog->len != RMTP_BYTES || !meta) {
        set_err(err, errlen, "%s: not an rm-train resume checkpoint of this model (needs ADAM, "
                "STEP, RMTP, META); delete it to start over", path);
        goto out_model;
    }
    if (resume_config_check(path, meta, cfg, "to start over", harmless, harmless_len, err,
                            errlen) != 0) goto out_model;
    /* the config compared equal, so only a file edited by hand gets here */
    if (saved.n_params != n || memcmp(&saved.cfg, &m->cfg, sizeof saved.cfg) != 0 ||
        !tokenizer_same(stok, tok)) {
        set_err(err, errlen, "%s: its model shape, head or tokenizer differs from this run's; "
                "delete it to start over", path);
        goto out_model;
    }
    memcpy(m->params, saved.params, 4 * n);
    ckpt_get_adamw(&ck, opt, n);
    p->step = (long)wire_get_u64(step->data);
    const uint8_t *q = prog->data;
    p->nonfinite.in_a_row = (long)wire_get_u64(q);
    p->nonfinite.total = (long)wire_get_u64(q + 8);
    memcpy(&p->first_loss, q + 16, 8);
    memcpy(&p->tail_loss, q + 24, 8);
    memcpy(&p->tail_acc, q + 32, 8);
    p->tail_n = (long)wire_get_u64(q + 40);
    memcpy(&p->train_seconds, q + 48, 8);
    rc = 1;
out_model:
    model_free(&saved);
out_tok:
    tokenizer_free(stok);
    xfree(stok);
    ckpt_free(&ck);
    return rc;
}
