/* rm_resume.c: rm-train's resume checkpoint (rm_resume.h). */
#include "rm_resume.h"

#include <string.h>

#include "resume_ckpt.h"
#include "wire.h"

enum { RMTP_BYTES = 56 };

int rm_resume_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                    const RmProgress *p, const Config *cfg, char *err, size_t errlen) {
    uint8_t prog[RMTP_BYTES];
    wire_put_u64(prog, (uint64_t)p->nonfinite.in_a_row);
    wire_put_u64(prog + 8, (uint64_t)p->nonfinite.total);
    memcpy(prog + 16, &p->first_loss, 8);
    memcpy(prog + 24, &p->tail_loss, 8);
    memcpy(prog + 32, &p->tail_acc, 8);
    wire_put_u64(prog + 40, (uint64_t)p->tail_n);
    memcpy(prog + 48, &p->train_seconds, 8);
    const ResumeSection own = {"RMTP", sizeof prog, prog};
    return resume_ckpt_write(path, m, tok, opt, p->step, &own, 1, cfg, err, errlen);
}

int rm_resume_load(const char *path, Model *m, const Tokenizer *tok, AdamW *opt, RmProgress *p,
                   const Config *cfg, char *harmless, size_t harmless_len, char *err,
                   size_t errlen) {
    ResumeSection own = {"RMTP", RMTP_BYTES, NULL};
    Checkpoint ck;
    long step;
    int rc = resume_ckpt_load(path, m, tok, opt, &step, &own, 1, &ck, cfg, "an rm-train",
                              "to start over", harmless, harmless_len, err, errlen);
    if (rc != 1) return rc;
    p->step = step;
    const uint8_t *q = own.data;
    p->nonfinite.in_a_row = (long)wire_get_u64(q);
    p->nonfinite.total = (long)wire_get_u64(q + 8);
    memcpy(&p->first_loss, q + 16, 8);
    memcpy(&p->tail_loss, q + 24, 8);
    memcpy(&p->tail_acc, q + 32, 8);
    p->tail_n = (long)wire_get_u64(q + 40);
    memcpy(&p->train_seconds, q + 48, 8);
    ckpt_free(&ck);
    return 1;
}
