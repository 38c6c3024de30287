/* resume_ckpt.h: the resume checkpoint of a one-process trainer (sft,
 * rm-train): its model, AdamW, STEP (the steps completed), the trainer's
 * own fixed-size sections and META (config_meta.h), which
 * resume_config_check compares with the resuming run's config. */
#ifndef LEARNER_RESUME_CKPT_H
#define LEARNER_RESUME_CKPT_H

#include <stddef.h>

#include "checkpoint.h"
#include "config.h"
#include "model.h"
#include "optim.h"
#include "tokenizer.h"

/* One of the trainer's own sections: its tag, its size and (write) its
 * bytes or (load) where they are, inside the loaded Checkpoint. */
typedef struct {
    const char *tag;
    size_t len;
    const uint8_t *data;
} ResumeSection;

/* Writes m, tok, opt, STEP = step, the n sections in order, then META
 * from cfg to path, atomically: 0, or -1 with err. */
int resume_ckpt_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                      long step, const ResumeSection *own, int n, const Config *cfg, char *err,
                      size_t errlen);

/* Resumes from path: 0 if there is no file there; 1 with m's weights, opt
 * and *step restored and own[i].data pointing into *ck (each section
 * own[i].len bytes; the caller reads them, then ckpt_free(ck)); -1 with
 * err (nothing changed, *ck freed). `what` names the trainer in errors
 * ("an sft"), `again` how to start over ("to start this SFT over");
 * harmless lists config differences that do not change the training. */
int resume_ckpt_load(const char *path, Model *m, const Tokenizer *tok, AdamW *opt, long *step,
                     ResumeSection *own, int n, Checkpoint *ck, const Config *cfg,
                     const char *what, const char *again, char *harmless, size_t harmless_len,
                     char *err, size_t errlen);

#endif
