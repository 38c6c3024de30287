#include "run_state.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config_meta.h"
#include "ppo_step.h"
#include "run_files.h"
#include "util.h"
#include "wire.h"

void run_state_free(RunState *s) { memset(s, 0, sizeof *s); }

/* The value model's sections are a model checkpoint's own under V-tags. */
static const char *const VALUE_TAGS[][2] = {{"CONF", "VCNF"}, {"HEAD", "VHED"}, {"PARM", "VPRM"}};
enum { N_VALUE_TAGS = sizeof VALUE_TAGS / sizeof VALUE_TAGS[0] };

static void put_ppo(Checkpoint *ck, const struct PpoState *p, const Tokenizer *tok) {
    Checkpoint v;
    ckpt_init(&v);
    ckpt_put_model(&v, p->value, tok);
    ckpt_put_adamw(&v, &p->opt, p->value->n_params);
    for (int i = 0; i < N_VALUE_TAGS; i++) {
        const CkptSection *sec = ckpt_get(&v, VALUE_TAGS[i][0]);
        if (sec) ckpt_put(ck, VALUE_TAGS[i][1], sec->data, sec->len);
    }
    const CkptSection *adam = ckpt_get(&v, "ADAM");
    ckpt_put(ck, "VADM", adam->data, adam->len);
    ckpt_free(&v);
    double st[PPO_STATE_DOUBLES];
    ppo_state_pack(p, st);
    ckpt_put(ck, "PPOS", st, sizeof st);
}

/* Verifies the PPO sections of ck against p's value model (shape, AdamW,
 * state); with apply, restores them into p. 0 or -1 with err. */
static int get_ppo(const Checkpoint *ck, const char *path, struct PpoState *p, int apply,
                   char *err, size_t errlen) {
    Checkpoint v;
    ckpt_init(&v);
    for (int i = 0; i < N_VALUE_TAGS; i++) {
        const CkptSection *sec = ckpt_get(ck, VALUE_TAGS[i][1]);
        if (sec) ckpt_put(&v, VALUE_TAGS[i][0], sec->data, sec->len);
    }
    const CkptSection *tokn = ckpt_get(ck, "TOKN"), *vadm = ckpt_get(ck, "VADM"),
                      *ppos = ckpt_get(ck, "PPOS");
    int rc = -1;
    Model tmp;
    Tokenizer *tok = xcalloc(1, sizeof *tok);
    if (!ckpt_get(ck, "VPRM") || !vadm || !ppos || !tokn) {
        set_err(err, errlen, "%s: [grpo] algo = ppo, but it holds no value model (needs VCNF, "
                "VPRM, VADM, PPOS): not a PPO training checkpoint", path);
        goto out;
    }
    ckpt_put(&v, "TOKN", tokn->data, tokn->len);
    ckpt_put(&v, "ADAM", vadm->data, vadm->len);
    char why[600];
    if (ckpt_get_model(&v, path, &tmp, tok, why, sizeof why) != 0) {
        set_err(err, errlen, "value model (VCNF/VPRM): %s", why);
        goto out;
    }
    const size_t n = p->value->n_params;
    if (tmp.n_params != n || memcmp(&tmp.cfg, &p->value->cfg, sizeof tmp.cfg) != 0) {
        set_err(err, errlen, "%s: its value model's shape differs from [ppo] value_init's", path);
        goto out_model;
    }
    if (!ckpt_has_adamw(&v, n) || ppos->len != sizeof(double) * PPO_STATE_DOUBLES) {
        set_err(err, errlen, "%s: VADM or PPOS has the wrong size (%zu, %zu bytes)", path,
                vadm->len, ppos->len);
        goto out_model;
    }
    double st[PPO_STATE_DOUBLES];
    memcpy(st, ppos->data, sizeof st);
    struct PpoState check = *p; /* unpack validates; only apply changes p */
    if (ppo_state_unpack(apply ? p : &check, st, why, sizeof why) != 0) {
        set_err(err, errlen, "%s: PPOS: %s", path, why);
        goto out_model;
    }
    if (apply) {
        memcpy(p->value->params, tmp.params, sizeof(float) * n);
        ckpt_get_adamw(&v, &p->opt, n);
        p->opt_steps = p->opt.t;
    }
    rc = 0;
out_model:
    model_free(&tmp);
out:
    tokenizer_free(tok);
    xfree(tok);
    ckpt_free(&v);
    return rc;
}

/* Step of a name "ckpt-<digits>.ckpt" (nothing before or after: temp files
 * and *.ckpt.corrupt do not count), or -1. */
static long checkpoint_step(const char *name) {
    if (strncmp(name, "ckpt-", 5) != 0) return -1;
    const char *p = name + 5, *q = p;
    while (isdigit((unsigned char)*q)) q++;
    if (q == p || q - p > 18 || strcmp(q, ".ckpt") != 0) return -1;
    return strtol(p, NULL, 10);
}

/* Step numbers of the training checkpoints in dir, newest first, as a
 * malloc'd array (*steps; the caller frees); returns their count. */
static int list_checkpoints(const char *dir, long **steps) {
    *steps = NULL;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long st = checkpoint_step(e->d_name);
        if (st < 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            long *grown = xmalloc(sizeof(long) * (size_t)cap);
            if (n) memcpy(grown, *steps, sizeof(long) * (size_t)n);
            xfree(*steps);
            *steps = grown;
        }
        (*steps)[n++] = st;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort, descending */
        for (int j = i; j > 0 && (*steps)[j] > (*steps)[j - 1]; j--) {
            long t = (*steps)[j];
            (*steps)[j] = (*steps)[j - 1];
            (*steps)[j - 1] = t;
        }
    return n;
}

void run_checkpoint_path(const char *dir, long step, char *out, size_t cap) {
    snprintf(out, cap, "%s/ckpt-%08ld.ckpt", dir, step);
}

int run_checkpoint_write(const char *path, const Model *m, const Tokenizer *tok, const AdamW *opt,
                         const RunState *s, const Config *cfg, char *err, size_t errlen) {
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, m, tok);
    ckpt_put_adamw(&ck, opt, m->n_params);
    uint8_t step[24];
    wire_put_u64(step, (uint64_t)s->step);
    wire_put_u64(step + 8, s->version);
    wire_put_u32(step + 16, (uint32_t)s->n_ranks);
    wire_put_u32(step + 20, s->flags | RUN_STATE_KEYED);
    ckpt_put(&ck, "STEP", step, sizeof step);
    ckpt_put(&ck, "ACTR", "", 0);
    double rsum[3] = {s->demo_acc, s->start_acc, s->train_seconds};
    ckpt_put(&ck, "RSUM", rsum, sizeof rsum);
    ckpt_put_config(&ck, cfg);
    if (s->ppo) put_ppo(&ck, s->ppo, tok);
    int rc = ckpt_write(&ck, path, err, errlen);
    ckpt_free(&ck);
    return rc;
}

int run_checkpoint_save(const char *dir, int keep, const Model *m, const Tokenizer *tok,
                        const AdamW *opt, const RunState *s, const Config *cfg, char *err,
                        size_t errlen) {
    char path[CFG_STR_MAX + 64];
    run_checkpoint_path(dir, s->step, path, sizeof path);
    if (run_checkpoint_write(path, m, tok, opt, s, cfg, err, errlen) != 0) return -1;
    long *steps;
    int k = list_checkpoints(dir, &steps), kept = 1; /* the one just written */
    for (int i = 0; i < k; i++) {
        if (steps[i] >= s->step) continue; /* it, or not this run's */
        if (kept < keep) {
            kept++;
            continue;
        }
        run_checkpoint_path(dir, steps[i], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT)
            fprintf(stderr, "warning: cannot delete the old checkpoint %s: %s\n", path,
                    strerror(errno));
    }
    xfree(steps);
    return 0;
}

/* Loads one checkpoint file; returns 0 or -1 with err. With apply = 0 it
 * is only verified: m, opt, s and saved are left as they were. */
static int load_one(const char *path, Model *m, AdamW *opt, RunState *s, Config *saved, int apply,
                    char *err, size_t errlen) {
    Checkpoint ck;
    if (ckpt_read(&ck, path, err, errlen) != 0) return -1;
    int rc = -1;
    Model tmp;
    Tokenizer *tok = xcalloc(1, sizeof *tok);
    Config *conf = config_new_like(saved);
    const CkptSection *step = ckpt_get(&ck, "STEP"),
                      *actr = ckpt_get(&ck, "ACTR"), *rsum = ckpt_get(&ck, "RSUM"),
                      *meta = ckpt_get(&ck, "META");
    if (ckpt_get_model(&ck, path, &tmp, tok, err, errlen) != 0) goto out_tok;
    if (tmp.n_params != m->n_params || memcmp(&tmp.cfg, &m->cfg, sizeof tmp.cfg) != 0) {
        set_err(err, errlen, "%s: model shape differs from the starting checkpoint", path);
        goto out_model;
    }
    size_t n = m->n_params;
    if (!ckpt_has_adamw(&ck, n) || !step || step->len != 24 || !actr || !rsum ||
        rsum->len != 3 * sizeof(double) || !meta) {
        set_err(err, errlen, "%s: not a training checkpoint (needs ADAM, STEP, ACTR, RSUM, META)",
                path);
        goto out_model;
    }
    int n_ranks = (int)wire_get_u32(step->data + 16);
    const uint32_t flags = wire_get_u32(step->data + 20);
    const size_t actr_want =
        flags & RUN_STATE_KEYED ? 0 : (size_t)(n_ranks > 1 ? n_ranks - 1 : 0) * ACTOR_STATE_BYTES;
    if (n_ranks < 1 || actr->len != actr_want) {
        set_err(err, errlen, "%s: ACTR holds %zu bytes for %d ranks (expected %zu)", path,
                actr->len, n_ranks, actr_want);
        goto out_model;
    }
    char *text = xmalloc(meta->len + 1);
    memcpy(text, meta->data, meta->len);
    text[meta->len] = 0;
    config_reset(conf);
    int bad = config_load_string(conf, text, path, err, errlen);
    xfree(text);
    if (bad) goto out_model;
    if (s->ppo && get_ppo(&ck, path, s->ppo, apply, err, errlen) != 0) goto out_model;
    rc = 0;
    if (!apply) goto out_model;
    config_copy(saved, conf);
    s->step = (long)wire_get_u64(step->data);
    s->version = wire_get_u64(step->data + 8);
    s->n_ranks = n_ranks;
    s->flags = flags;
    memcpy(m->params, tmp.params, 4 * n);
    ckpt_get_adamw(&ck, opt, n);
    double r[3];
    memcpy(r, rsum->data, sizeof r);
    s->demo_acc = r[0];
    s->start_acc = r[1];
    s->train_seconds = r[2];
out_model:
    model_free(&tmp);
out_tok:
    config_free(conf);
    tokenizer_free(tok);
    xfree(tok);
    ckpt_free(&ck);
    return rc;
}

ResumeResult run_checkpoint_resume(const char *dir, int restart, Model *m, AdamW *opt,
                                   RunState *s, Config *saved, char *path, size_t cap, char *err,
                                   size_t errlen) {
    long *steps;
    int k = list_checkpoints(dir, &steps), loaded = -1, n_bad = 0;
    char why[800], first_why[800] = "", p[CFG_STR_MAX + 64];
    int *bad = xcalloc((size_t)(k > 0 ? k : 1), sizeof(int));
    for (int i = 0; i < k; i++) {
        run_checkpoint_path(dir, steps[i], p, sizeof p);
        if (load_one(p, m, opt, s, saved, loaded < 0, why, sizeof why) == 0) {
            if (loaded < 0) {
                loaded = i;
                snprintf(path, cap, "%s", p);
            }
            continue;
        }
        bad[i] = 1;
        if (!n_bad++) snprintf(first_why, sizeof first_why, "%s", why);
        fprintf(stderr, "resume: %s %s\n", loaded < 0 ? "skipping" : "older checkpoint does not load:",
                why);
    }
    ResumeResult res = loaded >= 0 ? RESUME_LOADED : n_bad ? RESUME_RESTART : RESUME_NONE;
    if (res == RESUME_RESTART && !restart) {
        set_err(err, errlen,
                "run.dir %s holds %d training checkpoint%s and none loads (newest: %s); refusing "
                "to start this run over from step 0: set [grpo] restart = 1 (grpo.restart=1) to "
                "do so anyway, the unloadable files are then kept as *.ckpt.corrupt",
                dir, n_bad, n_bad == 1 ? "" : "s", first_why);
        res = RESUME_REFUSED;
    }
    for (int i = 0; i < k && res != RESUME_REFUSED; i++) {
        if (!bad[i]) continue;
        char aside[CFG_STR_MAX + 96];
        run_checkpoint_path(dir, steps[i], p, sizeof p);
        if (run_file_set_aside(p, ".corrupt", aside, sizeof aside, err, errlen) != 0) {
            res = RESUME_ERROR;
            break;
        }
        fprintf(stderr, "resume: moved %s aside to %s (it does not load)\n", p, aside);
    }
    xfree(bad);
    xfree(steps);
    return res;
}

const char *run_state_inexact_reason(const RunState *s) {
    if (!(s->flags & RUN_STATE_KEYED))
        return "it was written by an older build whose actors sampled from per-rank streams; "
               "this build keys every completion's stream by (seed, step, prompt, completion), "
               "so the resumed run samples other completions than the old one would have";
    if (s->flags & RUN_STATE_ASYNC)
        return "it was written in asynchronous mode: the groups in flight are resampled with "
               "the checkpoint's weights instead of the older ones they were sampled with";
    return NULL;
}
