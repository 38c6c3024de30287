/* value_loss.c: PPO's clipped value loss. Worked numbers: ../shared/PPO.md.
 *
 * With V the value model now, V_old its value at rollout time and R_t the
 * GAE return (gae.h):
 *
 *     V_clip = V_old + clip(V - V_old, -eps_v, eps_v)
 *     L_t    = 0.5 max((V - R_t)^2, (V_clip - R_t)^2)
 *
 * Like the policy's clip, the max is pessimistic: it keeps a value update
 * from moving V far from V_old in one step while still penalising any move
 * that makes V worse. Its derivative is the winning term's:
 *
 *     unclipped wins (or tie): dL/dV = V - R
 *     clipped wins strictly:   dL/dV = (V_clip - R) dV_clip/dV = 0,
 *
 * because the clipped term can only be strictly larger when V is outside
 * [V_old - eps_v, V_old + eps_v] (inside, V_clip = V and the terms tie),
 * where V_clip is constant. Ties (V inside the range, or on its bound) take
 * the unclipped branch: its gradient V - R is the one-sided derivative that
 * points back toward R, the same rule as grpo_token_surrogate at the bound.
 *
 * Examples, eps_v 0.2, R 1, V_old 0.5: V 0.9 -> V_clip 0.7, L = 0.5 max(0.01,
 * 0.09) = 0.045 (clipped, gradient 0); V 0.2 -> V_clip 0.3, L = 0.5
 * max(0.64, 0.49) = 0.32 (unclipped, gradient -0.8).
 *
 * Normalisation: a per-token mean over the batch's completion tokens (what
 * TRL and OpenRLHF do: the value targets are per token), times scale. The
 * learner sets scale = vf_coef for a token mean; to put the value loss on
 * the policy loss's footing under NORM_CONSTANT it multiplies by
 * N / (n_seqs max_new_tokens). NORM_SEQUENCE's per-sequence weights are not
 * a scalar and are not reproduced: the token mean is the usual choice. */
#include "value_loss.h"

#include <math.h>
#include <string.h>

#include "util.h"

double value_clip(double v, double v_old, double eps_v) {
    const double d = v - v_old;
    return v_old + (d < -eps_v ? -eps_v : d > eps_v ? eps_v : d);
}

ValueToken value_token_loss(double v, double v_old, double ret, double eps_v) {
    ValueToken t = {0};
    t.v_clip = value_clip(v, v_old, eps_v);
    const double e = v - ret, ec = t.v_clip - ret;
    if (ec * ec > e * e) {
        t.clipped = 1;
        t.loss = 0.5 * ec * ec;
        t.dloss = 0; /* V_clip is constant outside the range */
    } else {
        t.loss = 0.5 * e * e;
        t.dloss = e;
    }
    return t;
}

double value_loss_compute(float *d_values, ValueLossStats *stats, const float *values,
                          const float *values_old, const float *returns, long n_tokens,
                          long norm_tokens, double eps_v, double scale) {
    CHECK(n_tokens >= 0 && norm_tokens >= 0 && eps_v >= 0);
    const long N = norm_tokens > 0 ? norm_tokens : n_tokens;
    const double c = N > 0 ? scale / N : 0.0;
    double sum = 0, err_sum = 0;
    long n_clip = 0;
    for (long t = 0; t < n_tokens; t++) {
        const ValueToken vt = value_token_loss(values[t], values_old[t], returns[t], eps_v);
        sum += vt.loss;
        err_sum += (double)values[t] - returns[t];
        n_clip += vt.clipped;
        d_values[t] = (float)(c * vt.dloss);
    }
    const double L = c * sum;
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->loss = L;
        stats->n_tokens = n_tokens;
        if (n_tokens > 0) {
            stats->clip_frac = (double)n_clip / n_tokens;
            stats->err_mean = err_sum / n_tokens;
        }
    }
    return L;
}

void value_stats_merge(ValueLossStats *acc, const ValueLossStats *s) {
    const long n = acc->n_tokens + s->n_tokens;
    acc->loss += s->loss;
    if (n > 0) {
        /* Re-weighted by token counts: merging pieces gives the whole's stats. */
        const double a = (double)acc->n_tokens / n, b = (double)s->n_tokens / n;
        acc->clip_frac = a * acc->clip_frac + b * s->clip_frac;
        acc->err_mean = a * acc->err_mean + b * s->err_mean;
    }
    acc->n_tokens = n;
}

double explained_variance(const float *values, const float *returns, long n) {
    if (n <= 0) return NAN;
    /* Two passes (means, then squared deviations) to avoid cancellation. */
    double mr = 0, md = 0;
    for (long t = 0; t < n; t++) {
        mr += returns[t];
        md += (double)returns[t] - values[t];
    }
    mr /= n;
    md /= n;
    double var_r = 0, var_d = 0;
    for (long t = 0; t < n; t++) {
        const double dr = returns[t] - mr, dd = ((double)returns[t] - values[t]) - md;
        var_r += dr * dr;
        var_d += dd * dd;
    }
    if (var_r == 0) return NAN;
    return 1.0 - var_d / var_r; /* the 1/n of both variances cancels */
}
