#include "run_state.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "util.h"
#include "wire.h"

void run_state_free(RunState *s) {
    xfree(s->actor_state);
    s->actor_state = NULL;
}

/* Step numbers of the ckpt-<step>.ckpt files in dir, newest first. */
static int list_checkpoints(const char *dir, long *steps, int cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        long st;
        char tail[8];
        if (sscanf(e->d_name, "ckpt-%ld.%7s", &st, tail) == 2 && strcmp(tail, "ckpt") == 0)
            steps[n++] = st;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort, descending */
        for (int j = i; j > 0 && steps[j] > steps[j - 1]; j--) {
            long t = steps[j];
            steps[j] = steps[j - 1];
            steps[j - 1] = t;
        }
    return n;
}

static void ckpt_path(const char *dir, long step, char *out, size_t cap) {
    snprintf(out, cap, "%s/ckpt-%08ld.ckpt", dir, step);
}

void run_checkpoint_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                          const RunState *s, const Config *cfg) {
    Checkpoint ck;
    char err[700];
    ckpt_init(&ck);
    ckpt_put_model(&ck, m, tok);
    size_t n = m->n_params;
    uint8_t *adam = xmalloc(8 + 8 * n);
    wire_put_u64(adam, (uint64_t)opt->t);
    memcpy(adam + 8, opt->m, 4 * n); /* little-endian hosts (checked in ckpt) */
    memcpy(adam + 8 + 4 * n, opt->v, 4 * n);
    ckpt_put(&ck, "ADAM", adam, 8 + 8 * n);
    xfree(adam);
    uint8_t step[24];
    wire_put_u64(step, (uint64_t)s->step);
    wire_put_u64(step + 8, s->version);
    wire_put_u32(step + 16, (uint32_t)s->n_ranks);
    wire_put_u32(step + 20, 0);
    ckpt_put(&ck, "STEP", step, sizeof step);
    ckpt_put(&ck, "ACTR", s->actor_state, (size_t)(s->n_ranks - 1) * ACTOR_STATE_BYTES);
    double rsum[3] = {s->demo_acc, s->start_acc, s->train_seconds};
    ckpt_put(&ck, "RSUM", rsum, sizeof rsum);
    char *text = config_to_string(cfg);
    ckpt_put(&ck, "META", text, strlen(text));
    xfree(text);
    if (ckpt_write(&ck, path, err, sizeof err) != 0) die("%s", err);
    ckpt_free(&ck);
}

void run_checkpoint_save(const char *dir, int keep, const Model *m, const Tokenizer *tok,
                         const AdamW *opt, const RunState *s, const Config *cfg) {
    char path[CFG_STR_MAX + 64];
    ckpt_path(dir, s->step, path, sizeof path);
    run_checkpoint_write(path, m, tok, opt, s, cfg);
    long steps[4096];
    int k = list_checkpoints(dir, steps, 4096);
    for (int i = keep > 0 ? keep : 1; i < k; i++) {
        ckpt_path(dir, steps[i], path, sizeof path);
        unlink(path);
    }
}

/* Loads one checkpoint file; returns 0 or -1 with err. */
static int load_one(const char *path, Model *m, AdamW *opt, RunState *s, Config *saved, char *err,
                    size_t errlen) {
    Checkpoint ck;
    if (ckpt_read(&ck, path, err, errlen) != 0) return -1;
    int rc = -1;
    Model tmp;
    Tokenizer *tok = xmalloc(sizeof *tok);
    const CkptSection *adam = ckpt_get(&ck, "ADAM"), *step = ckpt_get(&ck, "STEP"),
                      *actr = ckpt_get(&ck, "ACTR"), *rsum = ckpt_get(&ck, "RSUM"),
                      *meta = ckpt_get(&ck, "META");
    if (ckpt_get_model(&ck, path, &tmp, tok, err, errlen) != 0) goto out_tok;
    if (tmp.n_params != m->n_params || memcmp(&tmp.cfg, &m->cfg, sizeof tmp.cfg) != 0) {
        set_err(err, errlen, "%s: model shape differs from the starting checkpoint", path);
        goto out_model;
    }
    size_t n = m->n_params;
    if (!adam || adam->len != 8 + 8 * n || !step || step->len != 24 || !actr || !rsum ||
        rsum->len != 3 * sizeof(double) || !meta) {
        set_err(err, errlen, "%s: not a training checkpoint (needs ADAM, STEP, ACTR, RSUM, META)",
                path);
        goto out_model;
    }
    s->step = (long)wire_get_u64(step->data);
    s->version = wire_get_u64(step->data + 8);
    s->n_ranks = (int)wire_get_u32(step->data + 16);
    if (s->n_ranks < 2 || actr->len != (size_t)(s->n_ranks - 1) * ACTOR_STATE_BYTES) {
        set_err(err, errlen, "%s: ACTR holds %zu bytes for %d ranks", path, actr->len, s->n_ranks);
        goto out_model;
    }
    char *text = xmalloc(meta->len + 1);
    memcpy(text, meta->data, meta->len);
    text[meta->len] = 0;
    config_reset(saved);
    int bad = config_load_string(saved, text, path, err, errlen);
    xfree(text);
    if (bad) goto out_model;
    memcpy(m->params, tmp.params, 4 * n);
    opt->t = (long)wire_get_u64(adam->data);
    memcpy(opt->m, adam->data + 8, 4 * n);
    memcpy(opt->v, adam->data + 8 + 4 * n, 4 * n);
    s->actor_state = xmalloc(actr->len);
    memcpy(s->actor_state, actr->data, actr->len);
    double r[3];
    memcpy(r, rsum->data, sizeof r);
    s->demo_acc = r[0];
    s->start_acc = r[1];
    s->train_seconds = r[2];
    rc = 0;
out_model:
    model_free(&tmp);
out_tok:
    xfree(tok);
    ckpt_free(&ck);
    return rc;
}

int run_checkpoint_resume(const char *dir, Model *m, AdamW *opt, RunState *s, Config *saved,
                          char *path, size_t cap) {
    long steps[4096];
    int k = list_checkpoints(dir, steps, 4096);
    char err[800];
    for (int i = 0; i < k; i++) {
        ckpt_path(dir, steps[i], path, cap);
        if (load_one(path, m, opt, s, saved, err, sizeof err) == 0) return 1;
        fprintf(stderr, "resume: skipping %s\n", err);
    }
    return 0;
}
