#include "optim.h"

#include <math.h>
#include <string.h>

#include "util.h"

/* Allocates zeroed moments owned by opt (freed by adamw_free). */
void adamw_init(AdamW *opt, size_t n) {
    opt->n = n;
    opt->m = xcalloc(n, sizeof(float));
    opt->v = xcalloc(n, sizeof(float));
    opt->t = 0;
}

/* Releases the moments; opt may be re-initialised afterwards. */
void adamw_free(AdamW *opt) {
    xfree(opt->m);
    xfree(opt->v);
    memset(opt, 0, sizeof *opt);
}

/* The update over one contiguous range. restrict and loop-invariant scalars
 * hoisted by the caller let the compiler vectorise this loop (sqrtf becomes
 * one vector instruction under -fno-math-errno). wd is 0 for groups that do
 * not decay, so there is no branch inside the loop. */
static void adamw_range(float *restrict p, const float *restrict g, float *restrict m,
                        float *restrict v, size_t n, float b1, float b2, float eps, float lr,
                        float wd, float bc1, float bc2) {
    const float a1 = 1.0f - b1, a2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + a1 * gi;
        float vi = b2 * v[i] + a2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float mhat = mi * bc1, vhat = vi * bc2;
        p[i] -= lr * (mhat / (sqrtf(vhat) + eps) + wd * p[i]);
    }
}

/* Updates params in place over each group; grads are only read. */
void adamw_step(AdamW *opt, const AdamWConfig *cfg, float *params, const float *grads,
                const ParamGroup *groups, int n_groups, float lr) {
    opt->t += 1;
    /* Bias corrections as reciprocals, computed in double: b2^t is close to 1
     * for small t, where float pow would lose most of 1 - b2^t. */
    double t = (double)opt->t;
    float bc1 = (float)(1.0 / (1.0 - pow((double)cfg->beta1, t)));
    float bc2 = (float)(1.0 / (1.0 - pow((double)cfg->beta2, t)));
    for (int k = 0; k < n_groups; k++) {
        const ParamGroup *gr = &groups[k];
        CHECK(gr->offset <= opt->n && gr->count <= opt->n - gr->offset);
        size_t o = gr->offset;
        adamw_range(params + o, grads + o, opt->m + o, opt->v + o, gr->count, cfg->beta1,
                    cfg->beta2, cfg->eps, lr, gr->decay ? cfg->weight_decay : 0.0f, bc1, bc2);
    }
}

/* Pure function of g. Double accumulation keeps millions of small squares
 * from being rounded away. */
double grad_global_norm(const float *g, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * (double)g[i];
    return sqrt(s);
}

/* Scales g in place; returns the norm it had before. */
double grad_clip(float *g, size_t n, double max_norm) {
    double norm = grad_global_norm(g, n);
    if (max_norm <= 0.0 || !(norm > max_norm)) return norm;
    /* The scale stays double so each element is rounded once. */
    double scale = max_norm / norm;
    for (size_t i = 0; i < n; i++) g[i] = (float)((double)g[i] * scale);
    return norm;
}

/* Pure function of its arguments. */
float lr_at_step(long step, long warmup, long total, float lr_max, float lr_min) {
    if (step < warmup) return (float)((double)lr_max * (double)(step + 1) / (double)warmup);
    if (step >= total) return lr_min;
    double progress = (double)(step - warmup) / (double)(total - warmup);
    double c = 0.5 * (1.0 + cos(M_PI * progress));
    return (float)((double)lr_min + ((double)lr_max - (double)lr_min) * c);
}
