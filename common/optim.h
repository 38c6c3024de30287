/* optim.h: AdamW with bias correction and decoupled weight decay, global
 * gradient-norm clipping, and a warm-up + cosine learning-rate schedule.
 * Moments share the parameter buffer's layout (one flat array each). */
#ifndef COMMON_OPTIM_H
#define COMMON_OPTIM_H

#include <stddef.h>

typedef struct {
    float beta1, beta2, eps, weight_decay;
} AdamWConfig;

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
