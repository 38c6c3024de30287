/* gae.c: GAE and advantage whitening. Worked numbers: ../shared/PPO.md.
 *
 * Per sequence of T tokens with rewards r_t and values V_t (the value model
 * at rollout time, read at the position that predicts token t):
 *
 *     delta_t  = r_t + gamma V_{t+1} - V_t        V_T = 0 (no return after the end)
 *     A_t      = delta_t + gamma lambda A_{t+1}   A_T = 0
 *     return_t = A_t + V_t                        the value model's target
 *
 * lambda = 1 gives the Monte Carlo advantage (discounted return - V),
 * lambda = 0 the one-step TD error; between them lambda trades the value
 * model's bias against the return's variance. With gamma = 1 and
 * lambda = 0.95, V [0.5, 0.6, 0.4, 0.8], r [0, 0, 0, 1]:
 * A [0.4425, 0.3605, 0.5900, 0.2000], returns [0.9425, 0.9605, 0.99, 1.0].
 *
 * The recursion runs backwards in double and is restarted at every
 * sequence boundary, so a batch gives exactly what each sequence alone
 * gives. Whitening then spans all completion tokens of the batch (not one
 * sequence: a single-token sequence would always whiten to 0). */
#include "gae.h"

#include <math.h>

#include "util.h"

void gae_compute(float *adv, float *returns, const float *rewards, const float *values,
                 const int *seq_len, int n_seqs, double gamma, double lambda) {
    CHECK(n_seqs >= 0);
    CHECK(gamma >= 0 && gamma <= 1 && lambda >= 0 && lambda <= 1);
    CHECK((const float *)adv != rewards && (const float *)adv != values);
    long start = 0;
    for (int i = 0; i < n_seqs; i++) {
        const int len = seq_len[i];
        CHECK(len >= 0);
        double a_next = 0, v_next = 0; /* A_T = V_T = 0 */
        for (long t = start + len - 1; t >= start; t--) {
            const double v = values[t];
            const double delta = rewards[t] + gamma * v_next - v;
            const double a = delta + gamma * lambda * a_next;
            adv[t] = (float)a;
            if (returns) returns[t] = (float)(a + v);
            a_next = a;
            v_next = v;
        }
        start += len;
    }
}

double whiten_sum(const float *x, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += x[i];
    return s;
}

double whiten_sum_sq_dev(const float *x, long n, double mean) {
    double s = 0;
    for (long i = 0; i < n; i++) s += (x[i] - mean) * (x[i] - mean);
    return s;
}

void whiten_apply(float *x, long n, double mean, double std, double eps) {
    CHECK(std >= 0 && eps >= 0);
    if (std == 0) {
        /* All entries equal the mean: exact zeros, not 0/eps or 0/0. */
        for (long i = 0; i < n; i++) x[i] = 0.0f;
        return;
    }
    const double scale = 1.0 / (std + eps);
    for (long i = 0; i < n; i++) x[i] = (float)((x[i] - mean) * scale);
}

WhitenStats adv_whiten(float *x, long n, double eps) {
    CHECK(n >= 0);
    WhitenStats s = {0, 0, n};
    if (n == 0) return s;
    s.mean = whiten_sum(x, n) / n;
    s.std = sqrt(whiten_sum_sq_dev(x, n, s.mean) / n);
    whiten_apply(x, n, s.mean, s.std, eps);
    return s;
}
