/* grpo_settings.h: the learner's own [grpo] keys: the objective (grpo_loss.h),
 * the passes over each batch, the optimizer, the reference model, and the
 * checkpoint rotation, when to stop early. The keys every rank agrees on (steps, group size,
 * mode, ...) are in proto/plan.h. */
#ifndef LEARNER_GRPO_SETTINGS_H
#define LEARNER_GRPO_SETTINGS_H

#include <stddef.h>

#include "config.h"
#include "optim.h"

typedef struct {
    int algo;               /* PgAlgo */
    int adv_std;            /* AdvStd */
    float adv_eps;
    float eps_low, eps_high;/* clip range */
    float beta;             /* k3 KL weight */
    int loss_norm;          /* LossNorm */
    int inner_epochs;       /* mu */
    int minibatches;        /* per inner epoch */
    int micro_batches;      /* length-sorted forward/backward chunks per minibatch */
    int grad_shards;        /* S: a minibatch's gradient is a fixed tree sum of S shards */
    float tis_cap;          /* truncated importance weight cap, 0 = off */
    OptimSettings opt;
    char ref[CFG_STR_MAX];  /* frozen reference ("" = the starting checkpoint) */
    int checkpoint_every;   /* write a checkpoint every S steps (0 = end only) */
    int keep_checkpoints;   /* newest K training checkpoints kept */
    int restart;            /* 1: start over although run.dir's checkpoints do not load */
    int max_empty_steps;    /* stop after N steps in a row without a valid group (0 = never) */
    int max_nonfinite_steps;/* stop after N steps in a row with a non-finite gradient */
    float time_limit_s;     /* training seconds after which no step starts (0 = off) */
} GrpoSettings;

extern const CfgSection grpo_section;
static inline const GrpoSettings *grpo_settings(const Config *c) {
    return config_get(c, &grpo_section);
}

/* Path of the reference model: ref, or the starting checkpoint init_path. */
void grpo_ref_path(const GrpoSettings *g, const char *init_path, char *out, size_t cap);

#endif
