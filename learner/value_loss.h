/* value_loss.h: PPO's clipped value loss, its gradient with respect to the
 * value model's outputs, and the explained-variance metric.
 *
 * Pure functions of plain arrays; no model. The gradient goes to the value
 * model's backward (model_backward_values in model.h takes dL/dV per
 * position). Math and worked numbers: learner/value_loss.c and
 * ../shared/PPO.md. */
#ifndef LEARNER_VALUE_LOSS_H
#define LEARNER_VALUE_LOSS_H

/* V_old + clip(V - V_old, -eps_v, eps_v). */
double value_clip(double v, double v_old, double eps_v);

/* One token's loss and its derivative. */
typedef struct {
    double v_clip;  /* value_clip(v, v_old, eps_v) */
    double loss;    /* 0.5 max((v - R)^2, (v_clip - R)^2) */
    double dloss;   /* d loss / d v of the term that wins the max */
    int clipped;    /* the clipped term is strictly larger (then dloss = 0) */
} ValueToken;

/* Loss of one token with value v, rollout-time value v_old and target ret.
 * At a tie (equal terms, e.g. v inside the clip range where v_clip = v) the
 * unclipped term and its gradient v - R are taken, as grpo_token_surrogate
 * does at a ratio on its bound. eps_v >= 0. */
ValueToken value_token_loss(double v, double v_old, double ret, double eps_v);

/* Diagnostics of one call (means over its tokens). */
typedef struct {
    double loss;      /* L of this call, scale included (sums across pieces) */
    double clip_frac; /* fraction of tokens with the clipped term strictly larger */
    double err_mean;  /* mean (V - R): the value model's bias */
    long n_tokens;
} ValueLossStats;

/* L = scale / N * sum_t loss_t over n_tokens completion tokens, with
 * N = norm_tokens, or n_tokens when norm_tokens is 0 (set it to the whole
 * minibatch's token count when the minibatch is passed in pieces: the
 * pieces' L and gradients then add up to the whole). scale carries the
 * value-loss coefficient and any factor the learner uses to match its
 * loss_norm (see value_loss.c). Writes dL/dV_t to d_values (caller-owned,
 * one float per token) and returns L. stats may be NULL. */
double value_loss_compute(float *d_values, ValueLossStats *stats, const float *values,
                          const float *values_old, const float *returns, long n_tokens,
                          long norm_tokens, double eps_v, double scale);

/* Folds s into acc (token-weighted means, summed loss). Start acc zeroed. */
void value_stats_merge(ValueLossStats *acc, const ValueLossStats *s);

/* 1 - Var(R - V) / Var(R) over n tokens (population variances): 1 when V
 * predicts R exactly, 0 when V is no better than the constant mean(R),
 * negative when worse. NaN when Var(R) == 0 or n == 0 (undefined; the
 * metrics writer leaves non-finite numbers out). */
double explained_variance(const float *values, const float *returns, long n);

#endif
