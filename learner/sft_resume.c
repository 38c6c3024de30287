/* sft_resume.c: sft's resume checkpoint (sft_resume.h). */
#include "sft_resume.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "resume_config.h"
#include "util.h"
#include "wire.h"

enum { SFTP_BYTES = 48 };

void sft_resume_path(const char *out_path, char *buf, size_t cap) {
    size_t n = strlen(out_path);
    int strip = n > 5 && strcmp(out_path + n - 5, ".ckpt") == 0;
    snprintf(buf, cap, "%.*s.resume.ckpt", (int)(strip ? n - 5 : n), out_path);
}


int sft_resume_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                     const SftProgress *p, const Config *cfg, char *err, size_t errlen) {
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, m, tok);
    ckpt_put_adamw(&ck, opt, m->n_params);
    uint8_t step[8], rng[32], prog[SFTP_BYTES];
    wire_put_u64(step, (uint64_t)p->step);
    ckpt_put(&ck, "STEP", step, sizeof step);
    for (int i = 0; i < 4; i++) wire_put_u64(rng + 8 * i, p->demo_rng.s[i]);
    ckpt_put(&ck, "RNG_", rng, sizeof rng);
    wire_put_u64(prog, (uint64_t)p->nonfinite.in_a_row);
    wire_put_u64(prog + 8, (uint64_t)p->nonfinite.total);
    memcpy(prog + 16, &p->first_loss, 8);
    memcpy(prog + 24, &p->tail_loss, 8);
    wire_put_u64(prog + 32, (uint64_t)p->tail_n);
    memcpy(prog + 40, &p->train_seconds, 8);
    ckpt_put(&ck, "SFTP", prog, sizeof prog);
    char *text = config_to_string(cfg);
    ckpt_put(&ck, "META", text, strlen(text));
    xfree(text);
    int rc = ckpt_write(&ck, path, err, errlen);
    ckpt_free(&ck);
    return rc;
}

int sft_resume_load(const char *path, Model *m, const Tokenizer *tok, AdamW *opt, SftProgress *p,
                    const Config *cfg, char *harmless, size_t harmless_len, char *err,
                    size_t errlen) {
    if (harmless_len) harmless[0] = 0;
    if (access(path, F_OK) != 0 && errno == ENOENT) return 0;
    Checkpoint ck;
    char why[1000];
    if (ckpt_read(&ck, path, why, sizeof why) != 0) {
        set_err(err, errlen, "cannot resume: %s (delete it to start this SFT over)", why);
        return -1;
    }
    int rc = -1;
    Model saved;
    Tokenizer *stok = xcalloc(1, sizeof *stok);
    const CkptSection *step = ckpt_get(&ck, "STEP"),
                      *rng = ckpt_get(&ck, "RNG_"), *prog = ckpt_get(&ck, "SFTP"),
                      *meta = ckpt_get(&ck, "META");
    if (ckpt_get_model(&ck, path, &saved, stok, why, sizeof why) != 0) {
        set_err(err, errlen, "cannot resume: %s (delete it to start this SFT over)", why);
        goto out_tok;
    }
    size_t n = m->n_params;
    if (!ckpt_has_adamw(&ck, n) || !step || step->len != 8 || !rng || rng->len != 32 ||
        !prog || prog->len != SFTP_BYTES || !meta) {
        set_err(err, errlen, "%s: not an sft resume checkpoint of this model (needs ADAM, STEP, "
                "RNG_, SFTP, META); delete it to start this SFT over", path);
        goto out_model;
    }
    if (resume_config_check(path, meta, cfg, "to start this SFT over", harmless, harmless_len, err,
                            errlen) != 0) goto out_model;
    /* the config compared equal, so only a file edited by hand gets here */
    if (saved.n_params != n || memcmp(&saved.cfg, &m->cfg, sizeof saved.cfg) != 0 ||
        !tokenizer_same(stok, tok)) {
        set_err(err, errlen, "%s: its model shape or tokenizer differs from this run's; delete "
                "it to start this SFT over", path);
        goto out_model;
    }
    memcpy(m->params, saved.params, 4 * n);
    ckpt_get_adamw(&ck, opt, n);
    p->step = (long)wire_get_u64(step->data);
    for (int i = 0; i < 4; i++) p->demo_rng.s[i] = wire_get_u64(rng->data + 8 * i);
    const uint8_t *q = prog->data;
    p->nonfinite.in_a_row = (long)wire_get_u64(q);
    p->nonfinite.total = (long)wire_get_u64(q + 8);
    memcpy(&p->first_loss, q + 16, 8);
    memcpy(&p->tail_loss, q + 24, 8);
    p->tail_n = (long)wire_get_u64(q + 32);
    memcpy(&p->train_seconds, q + 40, 8);
    rc = 1;
out_model:
    model_free(&saved);
out_tok:
    tokenizer_free(stok);
    xfree(stok);
    ckpt_free(&ck);
    return rc;
}
