/* bt_loss.c: the Bradley-Terry loss and its gradient (bt_loss.h). */
#include "bt_loss.h"

#include <math.h>

/* log(1 + e^x) without overflow for large x or lost digits for very
 * negative x. */
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* 1 / (1 + e^-x), stable for both signs. */
static double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

double bt_loss(double r_chosen, double r_rejected, double *d_chosen) {
    double margin = r_chosen - r_rejected;
    /* -log sigmoid(m) = log(1 + e^-m) */
    if (d_chosen) *d_chosen = -sigmoid(-margin);
    return softplus(-margin);
}

double bt_loss_batch(const float *r_chosen, const float *r_rejected, int n, float *d_chosen,
                     float *d_rejected, double *correct) {
    double sum = 0, right = 0;
    for (int i = 0; i < n; i++) {
        double g;
        sum += bt_loss(r_chosen[i], r_rejected[i], &g);
        right += bt_pair_correct(r_chosen[i], r_rejected[i]);
        if (d_chosen) d_chosen[i] = (float)(g / n);
        if (d_rejected) d_rejected[i] = (float)(-g / n);
    }
    if (correct) *correct = right;
    return n > 0 ? sum / n : 0.0;
}
