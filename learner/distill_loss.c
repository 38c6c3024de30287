/* distill_loss.c: the forward KL of distill_loss.h and its gradient with
 * respect to the student's logits. */
#include "distill_loss.h"

#include <math.h>
#include <string.h>

#include "util.h"

/* log-sum-exp of x / tau in double, max subtracted so no exp overflows. */
static double log_sum_exp_scaled(const float *x, int V, double inv_tau, double *mx_out) {
    double mx = x[0] * inv_tau;
    for (int v = 1; v < V; v++)
        if (x[v] * inv_tau > mx) mx = x[v] * inv_tau;
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp(x[v] * inv_tau - mx);
    *mx_out = mx;
    return mx + log(sum);
}

double distill_kl_row(const float *t, const float *s, int V, float tau, float *d, float scale) {
    CHECK(V >= 1 && tau > 0.0f);
    double inv_tau = 1.0 / tau, mt, ms;
    double lse_t = log_sum_exp_scaled(t, V, inv_tau, &mt);
    double lse_s = log_sum_exp_scaled(s, V, 1.0, &ms);
    double kl = 0;
    for (int v = 0; v < V; v++) {
        double logp = t[v] * inv_tau - lse_t, logq = s[v] - lse_s;
        double p = exp(logp);
        /* p = 0 contributes 0 (the limit of p log p), never 0 * -inf */
        if (p > 0) kl += p * (logp - logq);
        if (d) d[v] = (float)(scale * (exp(logq) - p));
    }
    /* KL >= 0; rounding can leave a tiny negative when p == q */
    return kl > 0 ? kl : 0;
}

double distill_kl_loss(const float *teacher_logits, const float *student_logits,
                       const uint8_t *mask, int N, int V, float tau, float *d, int *n_masked) {
    CHECK(N >= 0 && V >= 1);
    int n = 0;
    for (int i = 0; i < N; i++) n += mask[i] != 0;
    if (n_masked) *n_masked = n;
    if (d) memset(d, 0, sizeof(float) * (size_t)N * V);
    if (n == 0) return 0;
    float scale = 1.0f / (float)n;
    double sum = 0;
    for (int i = 0; i < N; i++) {
        if (!mask[i]) continue;
        size_t off = (size_t)i * V;
        sum += distill_kl_row(teacher_logits + off, student_logits + off, V, tau,
                              d ? d + off : NULL, scale);
    }
    return sum / n;
}
