/* optim.h: AdamW with bias correction and decoupled weight decay, global
 * gradient-norm clipping, and a warm-up + cosine learning-rate schedule.
 * Moments share the parameter buffer's layout (one flat array each). */
#ifndef COMMON_OPTIM_H
#define COMMON_OPTIM_H

#include <stddef.h>

#include "config.h"

typedef struct {
    float beta1, beta2, eps, weight_decay;
} AdamWConfig;

/* An optimizer's settings as a config section holds them (SFT and GRPO
 * each have their own). */
typedef struct {
    float lr, lr_min;       /* peak and final learning rate (cosine) */
    int warmup;             /* warm-up steps */
    float weight_decay;     /* decoupled, matrices only */
    float beta1, beta2, eps;
    float grad_clip;        /* global-norm clip, 0 = off */
} OptimSettings;

/* The key-table entries of an OptimSettings member o of settings struct T
 * (config.h), with the defaults that differ between uses. */
#define CFG_OPTIM_KEYS(T, o, d_lr, d_lrmin, d_wu, d_wd, d_clip)                                   \
    CFG_F(T, "lr", o.lr, d_lr, 0, 10, 1, "peak learning rate"),                                  \
    CFG_F(T, "lr_min", o.lr_min, d_lrmin, 0, 10, 1, "final learning rate of the cosine"),        \
    CFG_I(T, "warmup", o.warmup, d_wu, 0, 1e9, 1, "linear warm-up steps"),                       \
    CFG_F(T, "weight_decay", o.weight_decay, d_wd, 0, 10, 1, "AdamW decoupled decay (matrices)"),\
    CFG_F(T, "beta1", o.beta1, "0.9", 0, 0.99999, 1, "AdamW beta1"),                           \
    CFG_F(T, "beta2", o.beta2, "0.99", 0, 0.999999, 1, "AdamW beta2"),                         \
    CFG_F(T, "adam_eps", o.eps, "1e-8", 1e-12, 1, 1, "AdamW epsilon (> 0)"),                           \
    CFG_F(T, "grad_clip", o.grad_clip, d_clip, 0, 1e9, 1, "global gradient-norm clip, 0 = off")

/* A contiguous range of the flat parameter buffer and whether it decays. */
typedef struct {
    size_t offset, count;
    int decay;
} ParamGroup;

typedef struct {
    size_t n;
    float *m, *v; /* (n) first and second moments */
    long t;       /* steps taken (for bias correction) */
} AdamW;

void adamw_init(AdamW *opt, size_t n); /* zeroed moments, t = 0 */
void adamw_free(AdamW *opt);

/* One step: t += 1, then for each element of each group
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr * ( (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps) + wd * p * decay ) */
void adamw_step(AdamW *opt, const AdamWConfig *cfg, float *params, const float *grads,
                const ParamGroup *groups, int n_groups, float lr);

/* L2 norm of g (accumulated in double). */
double grad_global_norm(const float *g, size_t n);
/* Scales g so its norm is at most max_norm (no-op if max_norm <= 0);
 * returns the norm before clipping. */
double grad_clip(float *g, size_t n, double max_norm);

/* Linear warm-up from 0 over `warmup` steps to lr_max, then cosine decay to
 * lr_min at step `total`, constant lr_min after. step counts from 0. */
float lr_at_step(long step, long warmup, long total, float lr_max, float lr_min);

#endif
