/* test_ppo_math.c: PPO's math against the worked numbers of
 * ../shared/PPO.md (KL rewards, the GAE table and its returns, GAE on the
 * KL rewards, whitening, the two value-loss examples), the value loss's
 * gradient against central finite differences, flattened batches against
 * their sequences alone, and the adaptive KL controller's direction,
 * clipping and checkpoint state. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "gae.h"
#include "kl_controller.h"
#include "ppo_rewards.h"
#include "value_loss.h"

/* Asserts |a - b| <= tol, printing both values on failure. */
#define assert_near(a, b, tol)                                                              \
    do {                                                                                    \
        double a_ = (a), b_ = (b);                                                          \
        if (!(fabs(a_ - b_) <= (tol)))                                                      \
            fail_msg("%s = %.9g, expected %.9g (tol %g)", #a, a_, b_, (double)(tol));       \
    } while (0)

/* Asserts n floats match expected to tol, naming the index on failure. */
static void assert_vec_near(const float *got, const double *want, int n, double tol,
                            const char *what) {
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol))
            fail_msg("%s[%d] = %.9g, expected %.9g (tol %g)", what, i, got[i], want[i], tol);
}

/* Deterministic uniform in [lo, hi) (test-local LCG: explicit state). */
static double uniform(uint64_t *s, double lo, double hi) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(*s >> 11) / 9007199254740992.0;
}

/* PPO.md's four-token example. */
static const float V4[4] = {0.5f, 0.6f, 0.4f, 0.8f};
static const float R_SPARSE[4] = {0, 0, 0, 1};
static const float LOGP[4] = {-1.0f, -0.5f, -2.0f, -0.1f};
static const float LOGP_REF[4] = {-1.2f, -0.5f, -1.5f, -0.3f};

/* ---- KL in the reward ----------------------------------------------------- */

static void test_kl_mode_names(void **state) {
    (void)state;
    assert_int_equal(ppo_kl_mode_parse("reward"), PPO_KL_REWARD);
    assert_int_equal(ppo_kl_mode_parse("loss"), PPO_KL_LOSS);
    assert_int_equal(ppo_kl_mode_parse("Reward"), -1); /* names are exact */
    assert_int_equal(ppo_kl_mode_parse(NULL), -1);
    for (int v = 0; v < PPO_KL_COUNT; v++)
        assert_int_equal(ppo_kl_mode_parse(ppo_kl_mode_name(v)), v);
    assert_null(ppo_kl_mode_names[PPO_KL_COUNT]);
    assert_string_equal(ppo_kl_mode_name(7), "?");
    assert_int_equal(kl_ctl_mode_parse("fixed"), KL_CTL_FIXED);
    assert_int_equal(kl_ctl_mode_parse("adaptive"), KL_CTL_ADAPTIVE);
    assert_int_equal(kl_ctl_mode_parse(""), -1);
    for (int v = 0; v < KL_CTL_COUNT; v++)
        assert_int_equal(kl_ctl_mode_parse(kl_ctl_mode_name(v)), v);
    assert_null(kl_ctl_mode_names[KL_CTL_COUNT]);
    assert_string_equal(kl_ctl_mode_name(-1), "?");
}

static void test_kl_rewards_ppo_md(void **state) {
    (void)state;
    /* beta 0.1, R 1: k1 [0.2, 0, -0.5, 0.2] -> r [-0.02, 0, 0.05, 0.98] */
    float r[4];
    const float score = 1.0f;
    const int len = 4;
    PpoRewardStats st;
    ppo_token_rewards(r, &st, LOGP, LOGP_REF, &score, 0.1, &len, 1);
    const double want[4] = {-0.02, 0, 0.05, 0.98};
    assert_vec_near(r, want, 4, 1e-6, "r");
    assert_near(st.kl_seq_mean, -0.1, 1e-6); /* 0.2 + 0 - 0.5 + 0.2 */
    assert_near(st.kl_token_mean, -0.025, 1e-6);
    assert_near(st.score_mean, 1.0, 0);
    assert_int_equal(st.n_tokens, 4);
    assert_int_equal(st.n_empty, 0);
}

static void test_kl_rewards_batch(void **state) {
    (void)state;
    /* Three sequences (4, empty, 1): the score lands on each last token; the
     * empty one's score is dropped and counted; beta 0 needs no reference. */
    const float logp[5] = {-1.0f, -0.5f, -2.0f, -0.1f, -0.7f};
    const float ref[5] = {-1.2f, -0.5f, -1.5f, -0.3f, -0.2f};
    const float score[3] = {1.0f, 5.0f, -1.0f};
    const int len[3] = {4, 0, 1};
    float r[5];
    PpoRewardStats st;
    ppo_token_rewards(r, &st, logp, ref, score, 0.1, len, 3);
    const double want[5] = {-0.02, 0, 0.05, 0.98, -1.0 + 0.05};
    assert_vec_near(r, want, 5, 1e-6, "r");
    assert_int_equal(st.n_empty, 1);
    assert_int_equal(st.n_seqs, 3);
    assert_near(st.kl_seq_mean, (-0.1 - 0.5) / 3, 1e-6);
    assert_near(st.score_mean, 0.0, 1e-12); /* (1 - 1) / 2: the dropped 5 is not in it */

    ppo_token_rewards(r, NULL, logp, NULL, score, 0.0, len, 3);
    const double sparse[5] = {0, 0, 0, 1, -1};
    assert_vec_near(r, sparse, 5, 0, "r sparse");
}

/* ---- GAE ------------------------------------------------------------------ */

static void test_gae_table(void **state) {
    (void)state;
    const struct {
        double gamma, lambda, adv[4];
    } rows[4] = {
        {1.0, 0.95, {0.4425, 0.3605, 0.5900, 0.2000}},
        {1.0, 1.0, {0.5, 0.4, 0.6, 0.2}},  /* Monte Carlo: R - V */
        {1.0, 0.0, {0.1, -0.2, 0.4, 0.2}}, /* one-step TD */
        {0.9, 0.95, {0.1937, 0.1798, 0.4910, 0.2000}},
    };
    const int len = 4;
    for (int k = 0; k < 4; k++) {
        float adv[4], ret[4];
        gae_compute(adv, ret, R_SPARSE, V4, &len, 1, rows[k].gamma, rows[k].lambda);
        /* PPO.md prints 4 decimals */
        assert_vec_near(adv, rows[k].adv, 4, 5e-5, "A");
        double want_ret[4];
        for (int t = 0; t < 4; t++) want_ret[t] = rows[k].adv[t] + V4[t];
        assert_vec_near(ret, want_ret, 4, 1e-4, "returns");
    }
    /* The returns PPO.md prints for gamma 1, lambda 0.95; Monte Carlo
     * returns are all R = 1. */
    float adv[4], ret[4];
    gae_compute(adv, ret, R_SPARSE, V4, &len, 1, 1.0, 0.95);
    const double want_ret[4] = {0.9425, 0.9605, 0.99, 1.0};
    assert_vec_near(ret, want_ret, 4, 5e-5, "returns(0.95)");
    gae_compute(adv, ret, R_SPARSE, V4, &len, 1, 1.0, 1.0);
    const double ones[4] = {1, 1, 1, 1};
    assert_vec_near(ret, ones, 4, 1e-6, "returns(MC)");
    gae_compute(adv, NULL, R_SPARSE, V4, &len, 1, 1.0, 1.0); /* returns optional */
}

static void test_gae_kl_rewards(void **state) {
    (void)state;
    /* The chain the learner runs: KL rewards -> GAE (gamma 1, lambda 0.95). */
    float r[4], adv[4];
    const float score = 1.0f;
    const int len = 4;
    ppo_token_rewards(r, NULL, LOGP, LOGP_REF, &score, 0.1, &len, 1);
    gae_compute(adv, NULL, r, V4, &len, 1, 1.0, 0.95);
    const double want[4] = {0.4505, 0.3900, 0.6210, 0.1800};
    assert_vec_near(adv, want, 4, 5e-5, "A");
}

static void test_gae_flattening(void **state) {
    (void)state;
    /* Sequences of lengths 4, 0, 3, 1 in one batch give bit for bit what
     * each gives alone: the recursion restarts at every boundary. */
    const int len[4] = {4, 0, 3, 1};
    const float rew[8] = {0, 0, 0, 1, -0.1f, 0.2f, 0.7f, 0.3f};
    const float val[8] = {0.5f, 0.6f, 0.4f, 0.8f, 0.9f, -0.3f, 0.1f, 0.25f};
    float adv[8], ret[8];
    gae_compute(adv, ret, rew, val, len, 4, 0.9, 0.95);
    int start = 0;
    for (int i = 0; i < 4; i++) {
        float a1[4], r1[4];
        gae_compute(a1, r1, rew + start, val + start, &len[i], 1, 0.9, 0.95);
        for (int t = 0; t < len[i]; t++) {
            assert_true(a1[t] == adv[start + t]);
            assert_true(r1[t] == ret[start + t]);
        }
        start += len[i];
    }
    /* The first sequence is PPO.md's gamma 0.9 row. */
    const double row[4] = {0.1937, 0.1798, 0.4910, 0.2000};
    assert_vec_near(adv, row, 4, 5e-5, "A");
    /* A one-token sequence: A = r - V (nothing after it). */
    assert_near(adv[7], 0.3 - 0.25, 1e-7);
}

/* ---- whitening ------------------------------------------------------------ */

static void test_whiten_ppo_md(void **state) {
    (void)state;
    float a[4] = {0.3f, -0.2f, 0.5f, 0.1f};
    const WhitenStats s = adv_whiten(a, 4, 1e-8);
    const double want[4] = {0.4834, -1.4501, 1.2568, -0.2900};
    assert_vec_near(a, want, 4, 5e-5, "A");
    assert_near(s.mean, 0.175, 1e-7);
    assert_near(s.std, sqrt(0.066875), 1e-7); /* population: sum dev^2 / 4 */
    assert_int_equal(s.n, 4);
    /* The result has mean 0 and population std 1. */
    double m = 0, v = 0;
    for (int i = 0; i < 4; i++) m += a[i] / 4.0;
    for (int i = 0; i < 4; i++) v += (a[i] - m) * (a[i] - m) / 4.0;
    assert_near(m, 0, 1e-6);
    assert_near(sqrt(v), 1, 1e-6);
}

static void test_whiten_zero_std(void **state) {
    (void)state;
    /* All equal: exact zeros even with eps 0 (no 0/0). */
    float a[3] = {0.3f, 0.3f, 0.3f};
    WhitenStats s = adv_whiten(a, 3, 0.0);
    assert_true(s.std == 0);
    assert_near(s.mean, 0.3f, 0);
    for (int i = 0; i < 3; i++) assert_true(a[i] == 0.0f);
    float one[1] = {2.5f};
    s = adv_whiten(one, 1, 1e-8);
    assert_true(one[0] == 0.0f);
    s = adv_whiten(NULL, 0, 1e-8); /* empty batch: no-op */
    assert_int_equal(s.n, 0);
    /* A tiny std is divided by std + eps: bounded, not blown up. */
    float b[2] = {1.0f, 1.0f + 1.1920929e-7f};
    adv_whiten(b, 2, 1e-3);
    assert_true(fabsf(b[0]) < 1e-3f && fabsf(b[1]) < 1e-3f);
}

static void test_whiten_pieces(void **state) {
    (void)state;
    /* Two pieces (as two ranks would hold) whitened with the pooled sums
     * equal the whole batch whitened at once. */
    uint64_t rng = 7;
    float whole[10], parts[10];
    for (int i = 0; i < 10; i++) whole[i] = parts[i] = (float)uniform(&rng, -2, 3);
    const WhitenStats s = adv_whiten(whole, 10, 1e-8);
    const double mean = (whiten_sum(parts, 6) + whiten_sum(parts + 6, 4)) / 10;
    const double sd =
        sqrt((whiten_sum_sq_dev(parts, 6, mean) + whiten_sum_sq_dev(parts + 6, 4, mean)) / 10);
    assert_near(mean, s.mean, 1e-12);
    assert_near(sd, s.std, 1e-12);
    whiten_apply(parts, 6, mean, sd, 1e-8);
    whiten_apply(parts + 6, 4, mean, sd, 1e-8);
    for (int i = 0; i < 10; i++) assert_near(parts[i], whole[i], 1e-6);
}

/* ---- value loss ----------------------------------------------------------- */

static void test_value_loss_ppo_md(void **state) {
    (void)state;
    /* eps_v 0.2, R 1, V_old 0.5 */
    ValueToken t = value_token_loss(0.9, 0.5, 1.0, 0.2);
    assert_near(t.v_clip, 0.7, 1e-12);
    assert_near(t.loss, 0.045, 1e-12); /* 0.5 max(0.01, 0.09) */
    assert_int_equal(t.clipped, 1);
    assert_near(t.dloss, 0, 0); /* V_clip is constant beyond the range */
    t = value_token_loss(0.2, 0.5, 1.0, 0.2);
    assert_near(t.v_clip, 0.3, 1e-12);
    assert_near(t.loss, 0.32, 1e-12); /* 0.5 max(0.64, 0.49) */
    assert_int_equal(t.clipped, 0);
    assert_near(t.dloss, -0.8, 1e-12);

    /* The same two tokens as a batch: token mean, clip fraction 1/2. */
    const float v[2] = {0.9f, 0.2f}, vold[2] = {0.5f, 0.5f}, ret[2] = {1.0f, 1.0f};
    float d[2];
    ValueLossStats st;
    const double L = value_loss_compute(d, &st, v, vold, ret, 2, 0, 0.2, 1.0);
    assert_near(L, (0.045 + 0.32) / 2, 1e-6);
    assert_near(st.loss, L, 0);
    assert_near(st.clip_frac, 0.5, 0);
    assert_near(st.err_mean, (-0.1 - 0.8) / 2, 1e-6);
    assert_near(d[0], 0, 0);
    assert_near(d[1], -0.8 / 2, 1e-6);
    /* scale multiplies loss and gradient (vf_coef 0.5). */
    const double L2 = value_loss_compute(d, NULL, v, vold, ret, 2, 0, 0.2, 0.5);
    assert_near(L2, 0.5 * L, 1e-12);
    assert_near(d[1], -0.8 / 4, 1e-6);
}

static void test_value_loss_ties(void **state) {
    (void)state;
    /* Inside the range V_clip = V: a tie, the unclipped branch, not counted. */
    ValueToken t = value_token_loss(0.6, 0.5, 1.0, 0.2);
    assert_int_equal(t.clipped, 0);
    assert_near(t.dloss, -0.4, 1e-12);
    /* On the bound: still a tie. */
    t = value_token_loss(0.75, 0.5, 1.0, 0.25);
    assert_near(t.v_clip, 0.75, 0);
    assert_int_equal(t.clipped, 0);
    assert_near(t.dloss, -0.25, 1e-12);
    /* Outside the range with equal terms (V and V_clip mirrored about R):
     * a tie too, unclipped branch. */
    t = value_token_loss(1.5, 0.0, 1.0, 0.5);
    assert_near(t.v_clip, 0.5, 0);
    assert_int_equal(t.clipped, 0);
    assert_near(t.loss, 0.125, 1e-12);
    assert_near(t.dloss, 0.5, 1e-12);
    /* eps_v 0 pins V_clip to V_old. */
    t = value_token_loss(0.9, 0.5, 1.0, 0.0);
    assert_near(t.v_clip, 0.5, 0);
    assert_int_equal(t.clipped, 1);
}

/* L of value_loss_compute with token k's value replaced by v (double). */
static double loss_at(float *vals, int k, float v, const float *vold, const float *ret, long n,
                      long norm, double eps_v, double scale, float *scratch) {
    const float keep = vals[k];
    vals[k] = v;
    const double L = value_loss_compute(scratch, NULL, vals, vold, ret, n, norm, eps_v, scale);
    vals[k] = keep;
    return L;
}

static void test_value_loss_grad_fd(void **state) {
    (void)state;
    /* dL/dV_t against central differences, in both branches, with a token
     * mean, a norm_tokens override and a scale. Points within 1e-2 of a
     * kink (the range bound or the mirrored tie) are redrawn: there the
     * derivative is one-sided by design. */
    enum { N = 40 };
    const double eps_v = 0.2, h = 1e-3;
    uint64_t rng = 12345;
    float v[N], vold[N], ret[N], d[N], scratch[N];
    int n_clipped = 0;
    for (int t = 0; t < N; t++) {
        for (;;) {
            vold[t] = (float)uniform(&rng, -1, 1);
            ret[t] = (float)uniform(&rng, -1, 1);
            v[t] = (float)(vold[t] + uniform(&rng, -0.6, 0.6));
            const double dv = fabs((double)v[t] - vold[t]);
            const double vc = value_clip(v[t], vold[t], eps_v);
            const double gap = fabs(fabs((double)v[t] - ret[t]) - fabs(vc - ret[t]));
            if (fabs(dv - eps_v) > 1e-2 && (dv < eps_v || gap > 1e-2)) break;
        }
    }
    const struct {
        long norm;
        double scale;
    } cases[3] = {{0, 1.0}, {100, 1.0}, {0, 0.37}};
    for (int c = 0; c < 3; c++) {
        ValueLossStats st;
        value_loss_compute(d, &st, v, vold, ret, N, cases[c].norm, eps_v, cases[c].scale);
        for (int t = 0; t < N; t++) {
            /* the float perturbations actually applied */
            const float vp = (float)(v[t] + h), vm = (float)(v[t] - h);
            const long nt = cases[c].norm;
            const double sc = cases[c].scale;
            const double Lp = loss_at(v, t, vp, vold, ret, N, nt, eps_v, sc, scratch);
            const double Lm = loss_at(v, t, vm, vold, ret, N, nt, eps_v, sc, scratch);
            const double fd = (Lp - Lm) / ((double)vp - vm);
            if (!(fabs(fd - d[t]) <= 1e-5 + 1e-4 * fabs(fd)))
                fail_msg("case %d token %d: dL/dV %.9g, finite difference %.9g", c, t, d[t], fd);
        }
        n_clipped = (int)lround(st.clip_frac * N);
    }
    /* Both branches were exercised. */
    assert_true(n_clipped > 0 && n_clipped < N);
}

static void test_value_loss_pieces(void **state) {
    (void)state;
    /* A minibatch in two pieces with norm_tokens = its token count: losses
     * add up, gradients match, merged stats equal the whole's. */
    enum { N = 7 };
    uint64_t rng = 99;
    float v[N], vold[N], ret[N], dw[N], dp[N];
    for (int t = 0; t < N; t++) {
        vold[t] = (float)uniform(&rng, -1, 1);
        ret[t] = (float)uniform(&rng, -1, 1);
        v[t] = (float)(vold[t] + uniform(&rng, -0.5, 0.5));
    }
    ValueLossStats whole, a, b, acc;
    memset(&acc, 0, sizeof acc);
    const double L = value_loss_compute(dw, &whole, v, vold, ret, N, 0, 0.2, 0.5);
    const double La = value_loss_compute(dp, &a, v, vold, ret, 3, N, 0.2, 0.5);
    const double Lb = value_loss_compute(dp + 3, &b, v + 3, vold + 3, ret + 3, N - 3, N, 0.2, 0.5);
    assert_near(La + Lb, L, 1e-12);
    for (int t = 0; t < N; t++) assert_true(dp[t] == dw[t]);
    value_stats_merge(&acc, &a);
    value_stats_merge(&acc, &b);
    assert_near(acc.loss, whole.loss, 1e-12);
    assert_near(acc.clip_frac, whole.clip_frac, 1e-12);
    assert_near(acc.err_mean, whole.err_mean, 1e-12);
    assert_int_equal(acc.n_tokens, N);
    /* An empty call is harmless. */
    assert_near(value_loss_compute(dp, &a, v, vold, ret, 0, 0, 0.2, 1.0), 0, 0);
}

static void test_explained_variance(void **state) {
    (void)state;
    const float R[4] = {0.9425f, 0.9605f, 0.99f, 1.0f};
    assert_near(explained_variance(R, R, 4), 1.0, 1e-12); /* perfect */
    double m = 0;
    for (int i = 0; i < 4; i++) m += R[i] / 4.0;
    const float mean[4] = {(float)m, (float)m, (float)m, (float)m};
    assert_near(explained_variance(mean, R, 4), 0.0, 1e-5); /* the constant mean */
    /* R = [1, 2, 3, 4], V = [1, 1, 3, 5]: R - V = [0, 1, 0, -1], Var 0.5;
     * Var(R) 1.25 -> 1 - 0.4 = 0.6. */
    const float r2[4] = {1, 2, 3, 4}, v2[4] = {1, 1, 3, 5};
    assert_near(explained_variance(v2, r2, 4), 0.6, 1e-12);
    /* A constant offset in V costs nothing (variance, not MSE). */
    const float v3[4] = {1.5f, 2.5f, 3.5f, 4.5f};
    assert_near(explained_variance(v3, r2, 4), 1.0, 1e-12);
    /* PPO.md's rollout values against their GAE(0.95) returns. */
    const double dr[4] = {0.9425 - 0.5, 0.9605 - 0.6, 0.99 - 0.4, 1.0 - 0.8};
    double md = 0, vd = 0, vr = 0;
    for (int i = 0; i < 4; i++) md += dr[i] / 4;
    for (int i = 0; i < 4; i++) vd += (dr[i] - md) * (dr[i] - md);
    for (int i = 0; i < 4; i++) vr += (R[i] - m) * (R[i] - m);
    assert_near(explained_variance(V4, R, 4), 1 - vd / vr, 1e-5);
    /* Undefined cases are NaN. */
    const float c[2] = {1, 1};
    assert_true(isnan(explained_variance(c, c, 2)));
    assert_true(isnan(explained_variance(NULL, NULL, 0)));
}

/* ---- KL controller -------------------------------------------------------- */

static void test_kl_controller_direction(void **state) {
    (void)state;
    char err[200];
    KlController c;
    /* Ziegler et al.'s scale: target 6 nats, horizon 10000 samples; a step
     * of 256 samples. */
    assert_int_equal(kl_controller_init(&c, KL_CTL_ADAPTIVE, 0.1, 6.0, 10000, err, sizeof err), 0);
    /* KL 6.6: e = 0.1 -> beta 0.1 (1 + 0.1 * 0.0256) */
    assert_near(kl_controller_update(&c, 6.6, 256), 0.1 * (1 + 0.1 * 0.0256), 1e-15);
    assert_near(c.beta, 0.1 * (1 + 0.1 * 0.0256), 1e-15);
    /* KL at target: unchanged. */
    double b = c.beta;
    assert_near(kl_controller_update(&c, 6.0, 256), b, 1e-15);
    /* KL below target lowers beta: e = 3/6 - 1 = -0.5 clipped to -0.2. */
    b = c.beta;
    assert_near(kl_controller_update(&c, 3.0, 256), b * (1 - 0.2 * 0.0256), 1e-15);
    /* Far above target: e clipped to +0.2. */
    b = c.beta;
    assert_near(kl_controller_update(&c, 1000.0, 256), b * (1 + 0.2 * 0.0256), 1e-15);
    /* A negative batch KL (k1 can be) is just "below target". */
    b = c.beta;
    assert_true(kl_controller_update(&c, -1.0, 256) < b);
    /* n_steps 0 and a non-finite KL leave beta alone. */
    b = c.beta;
    assert_near(kl_controller_update(&c, 100.0, 0), b, 0);
    assert_near(kl_controller_update(&c, NAN, 256), b, 0);
    assert_near(kl_controller_update(&c, INFINITY, 256), b, 0);
    /* Repeated high KL raises beta monotonically, by at most 20% per horizon. */
    KlController d;
    assert_int_equal(kl_controller_init(&d, KL_CTL_ADAPTIVE, 0.1, 6.0, 1000, err, sizeof err), 0);
    double prev = d.beta;
    for (int i = 0; i < 10; i++) {
        const double nb = kl_controller_update(&d, 50.0, 100);
        assert_true(nb > prev);
        prev = nb;
    }
    assert_near(d.beta, 0.1 * pow(1.02, 10), 1e-12);
    /* Fixed mode never moves. */
    KlController f;
    assert_int_equal(kl_controller_init(&f, KL_CTL_FIXED, 0.02, 0, 0, err, sizeof err), 0);
    assert_near(kl_controller_update(&f, 100.0, 256), 0.02, 0);
    assert_near(kl_controller_update(&f, 0.0, 256), 0.02, 0);
}

static void test_kl_controller_state(void **state) {
    (void)state;
    char err[200];
    KlController c, r;
    assert_int_equal(kl_controller_init(&c, KL_CTL_ADAPTIVE, 0.05, 6.0, 10000, err, sizeof err), 0);
    kl_controller_update(&c, 8.0, 512);
    double buf[KL_CTL_STATE_DOUBLES];
    kl_controller_pack(&c, buf);
    assert_int_equal(kl_controller_unpack(&r, buf, err, sizeof err), 0);
    assert_memory_equal(&r, &c, sizeof c);
    /* Restored state continues the same trajectory. */
    assert_true(kl_controller_update(&r, 7.0, 512) == kl_controller_update(&c, 7.0, 512));

    /* Bad states are refused naming the field; r is left unchanged. */
    const KlController keep = r;
    double bad[KL_CTL_STATE_DOUBLES];
    memcpy(bad, buf, sizeof bad);
    bad[0] = 2;
    assert_int_equal(kl_controller_unpack(&r, bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "mode"));
    memcpy(bad, buf, sizeof bad);
    bad[1] = -0.1;
    assert_int_equal(kl_controller_unpack(&r, bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "beta"));
    memcpy(bad, buf, sizeof bad);
    bad[2] = NAN;
    assert_int_equal(kl_controller_unpack(&r, bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "target"));
    memcpy(bad, buf, sizeof bad);
    bad[3] = 0;
    assert_int_equal(kl_controller_unpack(&r, bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "horizon"));
    assert_memory_equal(&r, &keep, sizeof r);
    /* init checks the same; fixed mode needs no target or horizon. */
    assert_int_equal(kl_controller_init(&r, KL_CTL_ADAPTIVE, 0.1, 0, 10000, err, sizeof err), -1);
    assert_non_null(strstr(err, "target"));
    assert_int_equal(kl_controller_init(&r, KL_CTL_FIXED, 0, 0, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "beta"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kl_mode_names),
        cmocka_unit_test(test_kl_rewards_ppo_md),
        cmocka_unit_test(test_kl_rewards_batch),
        cmocka_unit_test(test_gae_table),
        cmocka_unit_test(test_gae_kl_rewards),
        cmocka_unit_test(test_gae_flattening),
        cmocka_unit_test(test_whiten_ppo_md),
        cmocka_unit_test(test_whiten_zero_std),
        cmocka_unit_test(test_whiten_pieces),
        cmocka_unit_test(test_value_loss_ppo_md),
        cmocka_unit_test(test_value_loss_ties),
        cmocka_unit_test(test_value_loss_grad_fd),
        cmocka_unit_test(test_value_loss_pieces),
        cmocka_unit_test(test_explained_variance),
        cmocka_unit_test(test_kl_controller_direction),
        cmocka_unit_test(test_kl_controller_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
