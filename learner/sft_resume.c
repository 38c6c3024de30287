/* sft_resume.c: sft's resume checkpoint (sft_resume.h). */
#include "sft_resume.h"

#include <stdio.h>
#include <string.h>

#include "resume_ckpt.h"
#include "wire.h"

enum { SFTP_BYTES = 48 };

void sft_resume_path(const char *out_path, char *buf, size_t cap) {
    size_t n = strlen(out_path);
    int strip = n > 5 && strcmp(out_path + n - 5, ".ckpt") == 0;
    snprintf(buf, cap, "%.*s.resume.ckpt", (int)(strip ? n - 5 : n), out_path);
}


int sft_resume_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                     const SftProgress *p, const Config *cfg, char *err, size_t errlen) {
    uint8_t rng[32], prog[SFTP_BYTES];
    for (int i = 0; i < 4; i++) wire_put_u64(rng + 8 * i, p->demo_rng.s[i]);
    wire_put_u64(prog, (uint64_t)p->nonfinite.in_a_row);
    wire_put_u64(prog + 8, (uint64_t)p->nonfinite.total);
    memcpy(prog + 16, &p->first_loss, 8);
    memcpy(prog + 24, &p->tail_loss, 8);
    wire_put_u64(prog + 32, (uint64_t)p->tail_n);
    memcpy(prog + 40, &p->train_seconds, 8);
    const ResumeSection own[2] = {{"RNG_", sizeof rng, rng}, {"SFTP", sizeof prog, prog}};
    return resume_ckpt_write(path, m, tok, opt, p->step, own, 2, cfg, err, errlen);
}

int sft_resume_load(const char *path, Model *m, const Tokenizer *tok, AdamW *opt, SftProgress *p,
                    const Config *cfg, char *harmless, size_t harmless_len, char *err,
                    size_t errlen) {
    ResumeSection own[2] = {{"RNG_", 32, NULL}, {"SFTP", SFTP_BYTES, NULL}};
    Checkpoint ck;
    long step;
    int rc = resume_ckpt_load(path, m, tok, opt, &step, own, 2, &ck, cfg, "an sft",
                              "to start this SFT over", harmless, harmless_len, err, errlen);
    if (rc != 1) return rc;
    p->step = step;
    for (int i = 0; i < 4; i++) p->demo_rng.s[i] = wire_get_u64(own[0].data + 8 * i);
    const uint8_t *q = own[1].data;
    p->nonfinite.in_a_row = (long)wire_get_u64(q);
    p->nonfinite.total = (long)wire_get_u64(q + 8);
    memcpy(&p->first_loss, q + 16, 8);
    memcpy(&p->tail_loss, q + 24, 8);
    p->tail_n = (long)wire_get_u64(q + 32);
    memcpy(&p->train_seconds, q + 40, 8);
    ckpt_free(&ck);
    return 1;
}
