/* kl_controller.c: adaptive KL coefficient (Ziegler et al. 2019).
 *
 * With KL the batch's measured KL per sequence and n_steps its size in
 * samples, the adaptive update is a proportional controller in log space:
 *
 *     e    = clip(KL / target - 1, -0.2, 0.2)
 *     beta <- beta * (1 + e * n_steps / horizon)
 *
 * KL above target raises beta (the penalty pulls the policy back toward
 * the reference), below target lowers it. The clip bounds each move, so
 * beta changes by at most 20% per horizon samples; the multiplicative form
 * keeps beta positive as long as e * n_steps / horizon > -1. Fixed mode is
 * the plain constant beta (InstructGPT used a fixed 0.02). */
#include "kl_controller.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

const char *const kl_ctl_mode_names[] = {"fixed", "adaptive", NULL};
_Static_assert(sizeof kl_ctl_mode_names / sizeof *kl_ctl_mode_names == KL_CTL_COUNT + 1,
               "kl_ctl_mode_names");

int kl_ctl_mode_parse(const char *s) {
    if (!s) return -1;
    for (int i = 0; kl_ctl_mode_names[i]; i++)
        if (strcmp(kl_ctl_mode_names[i], s) == 0) return i;
    return -1;
}

const char *kl_ctl_mode_name(int v) {
    return v >= 0 && v < KL_CTL_COUNT ? kl_ctl_mode_names[v] : "?";
}

/* 0 if s is a usable state, else -1 with err naming the field. */
static int state_check(const KlController *s, char *err, size_t err_len) {
    if (!(s->mode == KL_CTL_FIXED || s->mode == KL_CTL_ADAPTIVE)) {
        snprintf(err, err_len, "kl_controller: mode %g is not 0 (fixed) or 1 (adaptive)",
                 s->mode);
        return -1;
    }
    if (!(isfinite(s->beta) && s->beta > 0)) {
        snprintf(err, err_len, "kl_controller: beta %g must be finite and > 0", s->beta);
        return -1;
    }
    if (s->mode == KL_CTL_ADAPTIVE) {
        if (!(isfinite(s->target) && s->target > 0)) {
            snprintf(err, err_len, "kl_controller: target %g must be finite and > 0 (adaptive)",
                     s->target);
            return -1;
        }
        if (!(isfinite(s->horizon) && s->horizon > 0)) {
            snprintf(err, err_len, "kl_controller: horizon %g must be finite and > 0 (adaptive)",
                     s->horizon);
            return -1;
        }
    }
    return 0;
}

int kl_controller_init(KlController *c, KlCtlMode mode, double beta, double target,
                       double horizon, char *err, size_t err_len) {
    const KlController s = {(double)mode, beta, target, horizon};
    if (state_check(&s, err, err_len) != 0) return -1;
    *c = s;
    return 0;
}

double kl_controller_update(KlController *c, double kl, long n_steps) {
    CHECK(n_steps >= 0);
    if (c->mode != KL_CTL_ADAPTIVE || !isfinite(kl)) return c->beta;
    double e = kl / c->target - 1.0;
    if (e < -KL_CTL_ERROR_CLIP) e = -KL_CTL_ERROR_CLIP;
    if (e > KL_CTL_ERROR_CLIP) e = KL_CTL_ERROR_CLIP;
    const double factor = 1.0 + e * (double)n_steps / c->horizon;
    CHECK(factor > 0); /* n_steps >= horizon / 0.2 would zero or flip beta */
    c->beta *= factor;
    return c->beta;
}

void kl_controller_pack(const KlController *c, double *out) {
    out[0] = c->mode;
    out[1] = c->beta;
    out[2] = c->target;
    out[3] = c->horizon;
}

int kl_controller_unpack(KlController *c, const double *in, char *err, size_t err_len) {
    const KlController s = {in[0], in[1], in[2], in[3]};
    if (state_check(&s, err, err_len) != 0) return -1;
    *c = s;
    return 0;
}
