/* test_grpo_loss.c: the GRPO objective against the worked numbers of
 * ../shared/GRPO.md (advantage table, clip map, min cases, gradient rule,
 * k3 KL, REINFORCE baseline) and its per-token weights against central
 * finite differences of J, for every normalisation, in clipped and
 * unclipped regions, with a KL penalty. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "grpo_loss.h"
#include "model_kernels.h"

/* Asserts |a - b| <= tol, printing both values on failure. */
#define assert_near(a, b, tol)                                                              \
    do {                                                                                    \
        double a_ = (a), b_ = (b);                                                          \
        if (!(fabs(a_ - b_) <= (tol)))                                                      \
            fail_msg("%s = %.9g, expected %.9g (tol %g)", #a, a_, b_, (double)(tol));       \
    } while (0)

/* ---- names ---------------------------------------------------------------- */

static void test_names_parse(void **state) {
    (void)state;
    assert_int_equal(pg_algo_parse("grpo"), ALGO_GRPO);
    assert_int_equal(pg_algo_parse("reinforce"), ALGO_REINFORCE);
    assert_int_equal(pg_algo_parse("reinforce_baseline"), ALGO_REINFORCE_BASELINE);
    assert_int_equal(adv_std_parse("population"), ADV_STD_POPULATION);
    assert_int_equal(adv_std_parse("sample"), ADV_STD_SAMPLE);
    assert_int_equal(adv_std_parse("none"), ADV_STD_NONE);
    assert_int_equal(loss_norm_parse("sequence"), NORM_SEQUENCE);
    assert_int_equal(loss_norm_parse("token"), NORM_TOKEN);
    assert_int_equal(loss_norm_parse("constant"), NORM_CONSTANT);
    assert_int_equal(pg_algo_parse("ppo"), ALGO_PPO);
    assert_int_equal(pg_algo_parse("GRPO"), -1); /* names are exact */
    assert_int_equal(adv_std_parse(""), -1);
    assert_int_equal(loss_norm_parse(NULL), -1);
    /* Round trips and the NULL-terminated lists agree with the enums. */
    for (int v = 0; v < ALGO_COUNT; v++) assert_int_equal(pg_algo_parse(pg_algo_name(v)), v);
    for (int v = 0; v < ADV_STD_COUNT; v++) assert_int_equal(adv_std_parse(adv_std_name(v)), v);
    for (int v = 0; v < NORM_COUNT; v++) assert_int_equal(loss_norm_parse(loss_norm_name(v)), v);
    assert_null(pg_algo_names[ALGO_COUNT]);
    assert_null(adv_std_names[ADV_STD_COUNT]);
    assert_null(loss_norm_names[NORM_COUNT]);
    assert_string_equal(pg_algo_name(99), "?");
    assert_string_equal(loss_norm_name(-1), "?");
}

/* ---- advantages (GRPO.md table) ------------------------------------------ */

static void test_adv_population_table(void **state) {
    (void)state;
    const float eps = 1e-6f;
    /* [1,1,0,1,0]: mean 0.6, population std 0.490 -> [+0.82,+0.82,-1.22,+0.82,-1.22] */
    const float r[5] = {1, 1, 0, 1, 0};
    const float want[5] = {0.82f, 0.82f, -1.22f, 0.82f, -1.22f};
    float a[5];
    assert_int_equal(group_advantages(r, 5, ALGO_GRPO, ADV_STD_POPULATION, eps, a), 0);
    const double sd = sqrt(((0.4 * 0.4) * 3 + (0.6 * 0.6) * 2) / 5);
    assert_near(sd, 0.490, 0.001);
    for (int i = 0; i < 5; i++) {
        assert_near(a[i], want[i], 0.01);
        assert_near(a[i], (r[i] - 0.6) / (sd + eps), 1e-6);
    }
    double mean_a = 0;
    for (int i = 0; i < 5; i++) mean_a += a[i];
    assert_near(mean_a / 5, 0.0, 1e-6); /* advantages are centred */

    /* [1,0,1,0]: mean 0.5, std 0.5 -> [+1,-1,+1,-1] */
    const float r2[4] = {1, 0, 1, 0};
    float a2[4];
    assert_int_equal(group_advantages(r2, 4, ALGO_GRPO, ADV_STD_POPULATION, eps, a2), 0);
    for (int i = 0; i < 4; i++) {
        assert_near(a2[i], i % 2 ? -1.0 : 1.0, 0.01);
        assert_near(a2[i], (i % 2 ? -0.5 : 0.5) / (0.5 + eps), 1e-6);
    }
}

static void test_adv_sample_table(void **state) {
    (void)state;
    /* [1,0,1,0], sample std (1/(G-1)): std 0.577 -> [+0.87,-0.87,+0.87,-0.87] */
    const float eps = 1e-6f;
    const float r[4] = {1, 0, 1, 0};
    float a[4];
    assert_int_equal(group_advantages(r, 4, ALGO_GRPO, ADV_STD_SAMPLE, eps, a), 0);
    const double sd = sqrt(4 * 0.25 / 3);
    assert_near(sd, 0.577, 0.001);
    for (int i = 0; i < 4; i++) {
        assert_near(a[i], i % 2 ? -0.87 : 0.87, 0.01);
        assert_near(a[i], (i % 2 ? -0.5 : 0.5) / (sd + eps), 1e-6);
    }
}

static void test_adv_all_equal_no_nan(void **state) {
    (void)state;
    const float ones[4] = {1, 1, 1, 1}, zeros[4] = {0, 0, 0, 0}, halves[3] = {0.1f, 0.1f, 0.1f};
    const float *groups[3] = {ones, zeros, halves};
    const int sizes[3] = {4, 4, 3};
    const float epss[2] = {1e-6f, 0.0f}; /* eps = 0 would give 0/0 without the special case */
    for (int g = 0; g < 3; g++)
        for (int s = 0; s < ADV_STD_COUNT; s++)
            for (int e = 0; e < 2; e++) {
                const PgAlgo algos[2] = {ALGO_GRPO, ALGO_REINFORCE_BASELINE};
                for (int k = 0; k < 2; k++) {
                    float a[4] = {7, 7, 7, 7};
                    assert_int_equal(group_advantages(groups[g], sizes[g], algos[k], s, epss[e], a),
                                     1);
                    for (int i = 0; i < sizes[g]; i++) {
                        assert_false(isnan(a[i]));
                        assert_true(a[i] == 0.0f); /* exactly 0: no update */
                    }
                }
            }
    /* REINFORCE has no baseline: a uniform group keeps its raw rewards, but
     * is still reported as zero-variance. */
    float a[4];
    assert_int_equal(group_advantages(ones, 4, ALGO_REINFORCE, ADV_STD_POPULATION, 1e-6f, a), 1);
    for (int i = 0; i < 4; i++) assert_true(a[i] == 1.0f);
}

static void test_adv_single_completion(void **state) {
    (void)state;
    /* G = 1 with sample std would divide by G - 1 = 0: defined as adv 0. */
    const float r[1] = {1.0f};
    for (int s = 0; s < ADV_STD_COUNT; s++) {
        float a[1] = {7};
        assert_int_equal(group_advantages(r, 1, ALGO_GRPO, s, 0.0f, a), 1);
        assert_false(isnan(a[0]));
        assert_true(a[0] == 0.0f);
    }
}

static void test_adv_eps(void **state) {
    (void)state;
    /* eps is added to the std, not to the variance: 0.5 / (0.5 + eps). */
    const float r[4] = {1, 0, 1, 0};
    float a[4];
    group_advantages(r, 4, ALGO_GRPO, ADV_STD_POPULATION, 0.5f, a);
    for (int i = 0; i < 4; i++) assert_near(a[i], i % 2 ? -0.5 : 0.5, 1e-7);
    group_advantages(r, 4, ALGO_GRPO, ADV_STD_POPULATION, 0.0f, a);
    for (int i = 0; i < 4; i++) assert_true(a[i] == (i % 2 ? -1.0f : 1.0f));
    /* A tiny std with the usual eps stays finite and close to +-1. */
    const float t[2] = {1e-3f, 0.0f};
    group_advantages(t, 2, ALGO_GRPO, ADV_STD_POPULATION, 1e-4f, a);
    assert_near(a[0], 0.5e-3 / (0.5e-3 + 1e-4), 1e-5);
    assert_near(a[1], -0.5e-3 / (0.5e-3 + 1e-4), 1e-5);
}

static void test_adv_dr_grpo(void **state) {
    (void)state;
    /* Dr. GRPO: A = r - mean, no division, eps unused. */
    const float r[5] = {1, 1, 0, 1, 0};
    float a[5];
    assert_int_equal(group_advantages(r, 5, ALGO_GRPO, ADV_STD_NONE, 0.5f, a), 0);
    const float want[5] = {0.4f, 0.4f, -0.6f, 0.4f, -0.6f};
    for (int i = 0; i < 5; i++) assert_near(a[i], want[i], 1e-6);
}

static void test_adv_reinforce_variants(void **state) {
    (void)state;
    const float r[4] = {2, 0, 1, 1};
    float a[4];
    /* REINFORCE: raw reward, the std option is irrelevant. */
    assert_int_equal(group_advantages(r, 4, ALGO_REINFORCE, ADV_STD_POPULATION, 1e-6f, a), 0);
    for (int i = 0; i < 4; i++) assert_true(a[i] == r[i]);
    /* REINFORCE with baseline: r - mean (mean 1), never divided by std. */
    assert_int_equal(group_advantages(r, 4, ALGO_REINFORCE_BASELINE, ADV_STD_SAMPLE, 1e-6f, a), 0);
    for (int i = 0; i < 4; i++) assert_near(a[i], r[i] - 1.0, 1e-7);
}

/* ---- REINFORCE baseline: the score has zero mean --------------------------- */

/* Score of action a, d log p_a / d z, from the model's own log-softmax
 * kernels: logp_backward with weight 1 writes the gradient of -log p_a. */
static void score_of(const float *z, int n, int a, double *score, double *logp_a) {
    float lp, d[8];
    double lse;
    const float w = 1.0f;
    logp_forward(&lp, NULL, &lse, z, &a, 1, n, 1.0f);
    logp_backward(d, z, &lse, &a, &w, NULL, NULL, 1, n, 1.0f);
    for (int j = 0; j < n; j++) score[j] = -(double)d[j];
    if (logp_a) *logp_a = lp;
}

/* Expected gradient (over a ~ p) of the objective whose per-token weights
 * grpo_loss_compute gives for one single-token completion per action a,
 * with the advantages group_advantages gives the rewards R under algo:
 * sum_a p_a w_a score_a, through logp_backward with weight w_a. */
static void expected_gradient(const float *z, const double *p, const float *R, int n, PgAlgo algo,
                              double *grad) {
    float adv[8], w[8], logp[8];
    double lse[8];
    int len[8];
    for (int a = 0; a < n; a++) {
        logp_forward(&logp[a], NULL, &lse[a], z, &a, 1, n, 1.0f);
        len[a] = 1;
    }
    group_advantages(R, n, algo, ADV_STD_NONE, 0.0f, adv);
    GrpoLossConfig gl = grpo_loss_config_defaults();
    gl.algo = algo;
    gl.beta = 0;
    grpo_loss_compute(w, NULL, &gl, logp, logp, NULL, adv, len, n); /* on-policy: rho = 1 */
    for (int j = 0; j < n; j++) grad[j] = 0;
    for (int a = 0; a < n; a++) {
        float d[8];
        logp_backward(d, z, &lse[a], &a, &w[a], NULL, NULL, 1, n, 1.0f); /* of -w_a log p_a */
        for (int j = 0; j < n; j++) grad[j] -= p[a] * d[j];
    }
}

static void test_reinforce_baseline_zero_mean_score(void **state) {
    (void)state;
    /* Softmax with probabilities [0.5, 0.3, 0.2] (GRPO.md); score_a =
     * d log p_a / d z. sum_a p_a score_a = 0, so a baseline b adds b * 0 to
     * the expected gradient: it cannot bias it. */
    enum { N = 3 };
    const double p[N] = {0.5, 0.3, 0.2};
    float z[N];
    for (int i = 0; i < N; i++) z[i] = (float)log(p[i]);
    double sum[N] = {0};
    for (int a = 0; a < N; a++) {
        double sc[N], lp;
        score_of(z, N, a, sc, &lp);
        assert_near(lp, log(p[a]), 1e-6);
        for (int j = 0; j < N; j++) {
            assert_near(sc[j], (a == j) - p[j], 1e-6); /* delta_aj - p_j */
            /* and against central differences of the kernel's own logp */
            float zp[N], zm[N], lpp, lpm;
            double lse;
            memcpy(zp, z, sizeof z);
            memcpy(zm, z, sizeof z);
            zp[j] += 1e-2f;
            zm[j] -= 1e-2f;
            logp_forward(&lpp, NULL, &lse, zp, &a, 1, N, 1.0f);
            logp_forward(&lpm, NULL, &lse, zm, &a, 1, N, 1.0f);
            assert_near((lpp - lpm) / ((double)zp[j] - zm[j]), sc[j], 1e-4);
            sum[j] += p[a] * sc[j];
        }
    }
    for (int j = 0; j < N; j++) assert_near(sum[j], 0.0, 1e-7);
    /* The expected gradient of REINFORCE (A = R) and of REINFORCE with the
     * group-mean baseline (A = R - mean R) is the same. */
    const float R[N] = {1.0f, 0.0f, 2.0f};
    double g0[N], gb[N];
    expected_gradient(z, p, R, N, ALGO_REINFORCE, g0);
    expected_gradient(z, p, R, N, ALGO_REINFORCE_BASELINE, gb);
    double norm = 0;
    for (int j = 0; j < N; j++) {
        assert_near(g0[j], gb[j], 1e-7);
        norm += g0[j] * g0[j];
    }
    assert_true(norm > 1e-4); /* a non-trivial gradient */
}

/* ---- clip, surrogate, gradient rule -------------------------------------- */

static void test_clip_map(void **state) {
    (void)state;
    /* eps = 0.2: 0.5, 0.8, 1.0, 1.2, 1.5, 2.0 -> 0.8, 0.8, 1.0, 1.2, 1.2, 1.2 */
    const double rho[6] = {0.5, 0.8, 1.0, 1.2, 1.5, 2.0};
    const double want[6] = {0.8, 0.8, 1.0, 1.2, 1.2, 1.2};
    for (int i = 0; i < 6; i++) assert_near(grpo_clip_ratio(rho[i], 0.2, 0.2), want[i], 1e-12);
    /* Asymmetric bounds (clip-higher): each side uses its own eps. */
    assert_near(grpo_clip_ratio(2.0, 0.2, 0.28), 1.28, 1e-12);
    assert_near(grpo_clip_ratio(0.5, 0.2, 0.28), 0.8, 1e-12);
}

static void test_worked_min_cases(void **state) {
    (void)state;
    /* rho = 0.6/0.4 = 1.5, A = +1: min(1.5, 1.2) = 1.2, clipped high. */
    PgToken t = grpo_token_surrogate(log(0.6), log(0.4), 1.0, 0.2, 0.2, 1);
    assert_near(t.rho, 1.5, 1e-12);
    assert_near(t.obj, 1.2, 1e-12);
    assert_true(t.dobj == 0.0);
    assert_int_equal(t.clip_high, 1);
    assert_int_equal(t.clip_low, 0);
    /* rho = 0.15/0.3 = 0.5, A = -1: min(-0.5, -0.8) = -0.8, clipped low. */
    t = grpo_token_surrogate(log(0.15), log(0.3), -1.0, 0.2, 0.2, 1);
    assert_near(t.rho, 0.5, 1e-12);
    assert_near(t.obj, -0.8, 1e-12);
    assert_true(t.dobj == 0.0);
    assert_int_equal(t.clip_low, 1);
    assert_int_equal(t.clip_high, 0);
}

static void test_surrogate_is_the_min(void **state) {
    (void)state;
    /* obj equals min(rho A, clip(rho) A) on a grid of ratios and advantages. */
    const double rhos[] = {0.3, 0.5, 0.79, 0.81, 0.95, 1.0, 1.05, 1.19, 1.21, 1.5, 3.0};
    const double advs[] = {-2.0, -1.0, -0.3, 0.0, 0.3, 1.0, 2.0};
    for (size_t i = 0; i < sizeof rhos / sizeof *rhos; i++)
        for (size_t k = 0; k < sizeof advs / sizeof *advs; k++) {
            const double rho = rhos[i], A = advs[k];
            const PgToken t = grpo_token_surrogate(log(rho), 0.0, A, 0.2, 0.2, 1);
            const double u = rho * A, c = grpo_clip_ratio(rho, 0.2, 0.2) * A;
            assert_near(t.obj, u < c ? u : c, 1e-12);
            /* Clipped exactly when the clipped term is strictly smaller. */
            assert_int_equal(t.clip_low + t.clip_high, c < u - 1e-12);
            assert_false(t.clip_low && t.clip_high);
        }
}

static void test_gradient_rule(void **state) {
    (void)state;
    struct {
        double rho, A, dobj;
        int low, high;
    } cases[] = {
        {1.1, 1.0, 1.1, 0, 0},    /* inside the trust region */
        {0.5, 1.0, 0.5, 0, 0},    /* A > 0, ratio low: min keeps rho A, gradient flows */
        {2.0, 1.0, 0.0, 0, 1},    /* A > 0 above 1 + eps: clipped, no gradient */
        {1.5, -1.0, -1.5, 0, 0},  /* A < 0, ratio high: gradient flows */
        {0.5, -1.0, 0.0, 1, 0},   /* A < 0 below 1 - eps: clipped, no gradient */
        {0.9, -2.0, -1.8, 0, 0},
        {1.0, 0.7, 0.7, 0, 0},    /* on-policy: the gradient is A */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const PgToken t = grpo_token_surrogate(log(cases[i].rho), 0.0, cases[i].A, 0.2, 0.2, 1);
        assert_near(t.dobj, cases[i].dobj, 1e-12);
        assert_int_equal(t.clip_low, cases[i].low);
        assert_int_equal(t.clip_high, cases[i].high);
        /* The rule is the derivative: central difference away from the kink. */
        const double h = 1e-6, x = log(cases[i].rho);
        const double fd = (grpo_token_surrogate(x + h, 0.0, cases[i].A, 0.2, 0.2, 1).obj -
                           grpo_token_surrogate(x - h, 0.0, cases[i].A, 0.2, 0.2, 1).obj) /
                          (2 * h);
        assert_near(fd, t.dobj, 1e-8);
    }
    /* Exactly on a bound the two terms tie; convention: unclipped, gradient
     * rho A. (eps = rho - 1 is exact in double, so 1 + eps == rho.) */
    double x = log(1.25), rho = exp(x);
    PgToken t = grpo_token_surrogate(x, 0.0, 1.0, 0.2, rho - 1.0, 1);
    assert_int_equal(t.clip_high, 0);
    assert_true(t.dobj == rho);
    x = log(0.75);
    rho = exp(x);
    t = grpo_token_surrogate(x, 0.0, -1.0, 1.0 - rho, 0.2, 1);
    assert_int_equal(t.clip_low, 0);
    assert_true(t.dobj == -rho);
    /* Clip off (REINFORCE variants): plain rho A everywhere. */
    t = grpo_token_surrogate(log(1.5), 0.0, 1.0, 0.2, 0.2, 0);
    assert_near(t.obj, 1.5, 1e-12);
    assert_near(t.dobj, 1.5, 1e-12);
    assert_int_equal(t.clip_low + t.clip_high, 0);
    t = grpo_token_surrogate(log(0.5), 0.0, -1.0, 0.2, 0.2, 0);
    assert_near(t.obj, -0.5, 1e-12);
    assert_near(t.dobj, -0.5, 1e-12);
    /* A = 0 gives exactly nothing, even with an overflowed ratio. */
    t = grpo_token_surrogate(800.0, 0.0, 0.0, 0.2, 0.2, 0);
    assert_true(t.obj == 0.0 && t.dobj == 0.0);
}

static void test_kl_k3(void **state) {
    (void)state;
    double dkl = 7;
    /* Same log-probs: kl = 0 and no gradient, exactly. */
    assert_true(grpo_kl_k3(-1.3, -1.3, &dkl) == 0.0);
    assert_true(dkl == 0.0);
    /* d = logp_ref - logp = 0.5: e^0.5 - 0.5 - 1 = 0.148721, d/dlogp = 1 - e^0.5. */
    assert_near(grpo_kl_k3(-1.0, -0.5, &dkl), exp(0.5) - 1.5, 1e-15);
    assert_near(grpo_kl_k3(-1.0, -0.5, NULL), 0.1487212707, 1e-9);
    assert_near(dkl, 1.0 - exp(0.5), 1e-15);
    assert_near(dkl, -0.6487212707, 1e-9);
    /* Positive on both sides, derivative matches central differences. */
    const double ds[] = {-3.0, -0.5, -1e-4, 1e-4, 0.5, 2.0};
    for (size_t i = 0; i < sizeof ds / sizeof *ds; i++) {
        const double logp = -2.0, ref = logp + ds[i];
        const double kl = grpo_kl_k3(logp, ref, &dkl);
        assert_true(kl > 0.0);
        const double h = 1e-6;
        const double fd =
            (grpo_kl_k3(logp + h, ref, NULL) - grpo_kl_k3(logp - h, ref, NULL)) / (2 * h);
        assert_near(fd, dkl, 1e-8);
        assert_near(kl, exp(ds[i]) - ds[i] - 1.0, 1e-12);
    }
    /* Small differences keep full relative precision (k3 ~ d^2/2). */
    assert_near(grpo_kl_k3(0.0, 1e-6, NULL) / 0.5e-12, 1.0, 1e-5);
}

/* ---- batch objective ------------------------------------------------------ */

/* A batch whose tokens cover every region of the clipped surrogate:
 * seq 0 (A = +1):   ratios 1.5 (clip high), 0.6 (unclipped, A > 0 low
 *                   side), 1.05, 1.0
 * seq 1:            empty (counts in n_seqs, adds nothing)
 * seq 2 (A = -0.8): ratios 0.5 (clip low), 1.4 (unclipped), 0.95, 1.1,
 *                   0.7 (clip low)
 * seq 3 (A = +0.3): ratios 1.3 (clip high), 0.9, 1.15
 * Every ratio is at least 0.05 from a bound, far beyond the FD step. */
enum { FD_SEQS = 4, FD_TOK = 12 };
static const int fd_len[FD_SEQS] = {4, 0, 5, 3};
static const float fd_adv[FD_SEQS] = {1.0f, 0.5f, -0.8f, 0.3f};
static const double fd_ratio[FD_TOK] = {1.5, 0.6, 1.05, 1.0,  0.5, 1.4,
                                        0.95, 1.1, 0.7, 1.3, 0.9, 1.15};

static void fd_batch(float *logp, float *logp_old, float *logp_ref) {
    for (int t = 0; t < FD_TOK; t++) {
        logp_old[t] = (float)(-0.4 - 0.25 * t);
        logp[t] = (float)(logp_old[t] + log(fd_ratio[t]));
        logp_ref[t] = (float)(logp[t] + 0.35 * sin(1.7 * t + 0.3)); /* both signs of d */
    }
}

/* Compares w with central differences of J over every token. */
static void check_fd(const GrpoLossConfig *cfg, float *logp, const float *logp_old,
                     const float *logp_ref) {
    float w[FD_TOK], wtmp[FD_TOK];
    GrpoLossStats st;
    grpo_loss_compute(w, &st, cfg, logp, logp_old, logp_ref, fd_adv, fd_len, FD_SEQS);
    for (int t = 0; t < FD_TOK; t++) {
        const float x = logp[t];
        const float xp = x + 1e-3f, xm = x - 1e-3f;
        GrpoLossStats sp, sm;
        logp[t] = xp;
        grpo_loss_compute(wtmp, &sp, cfg, logp, logp_old, logp_ref, fd_adv, fd_len, FD_SEQS);
        logp[t] = xm;
        grpo_loss_compute(wtmp, &sm, cfg, logp, logp_old, logp_ref, fd_adv, fd_len, FD_SEQS);
        logp[t] = x;
        /* The float step actually taken, so rounding of x +- h is no error. */
        const double fd = (sp.objective - sm.objective) / ((double)xp - (double)xm);
        /* J is in double, so the error is the O(h^2) truncation (~1e-7
         * relative) plus w's float rounding. */
        if (!(fabs(fd - w[t]) <= 1e-6 + 1e-5 * fabs(fd)))
            fail_msg("algo %s norm %s token %d: w = %.9g, finite difference %.9g",
                     pg_algo_name(cfg->algo), loss_norm_name(cfg->norm), t, w[t], fd);
    }
}

static void test_fd_all_norms(void **state) {
    (void)state;
    float logp[FD_TOK], logp_old[FD_TOK], logp_ref[FD_TOK];
    fd_batch(logp, logp_old, logp_ref);
    for (int a = 0; a < ALGO_COUNT; a++)
        for (int n = 0; n < NORM_COUNT; n++) {
            GrpoLossConfig cfg = grpo_loss_config_defaults();
            cfg.algo = a;
            cfg.norm = n;
            cfg.beta = 0.1f; /* large enough that the KL term is clearly tested */
            cfg.max_new_tokens = 6;
            check_fd(&cfg, logp, logp_old, logp_ref);

            GrpoLossStats st;
            float w[FD_TOK];
            grpo_loss_compute(w, &st, &cfg, logp, logp_old, logp_ref, fd_adv, fd_len, FD_SEQS);
            assert_int_equal(st.n_tokens, FD_TOK);
            if (a == ALGO_GRPO || a == ALGO_PPO) { /* PPO clips as GRPO does */
                /* tokens 0, 9 clipped high; 4, 8 clipped low */
                assert_near(st.clip_frac_high, 2.0 / FD_TOK, 1e-12);
                assert_near(st.clip_frac_low, 2.0 / FD_TOK, 1e-12);
            } else {
                assert_true(st.clip_frac_high == 0.0 && st.clip_frac_low == 0.0);
            }
            /* Clipped tokens still carry the KL gradient (beta > 0): nonzero. */
            assert_true(w[0] != 0.0f && w[4] != 0.0f);
        }
}

static void test_fd_asymmetric_clip_no_kl(void **state) {
    (void)state;
    /* Clip-higher bounds (0.2 / 0.28), beta = 0 and no reference at all:
     * clipped tokens then have weight exactly 0. */
    float logp[FD_TOK], logp_old[FD_TOK], logp_ref[FD_TOK];
    fd_batch(logp, logp_old, logp_ref);
    GrpoLossConfig cfg = grpo_loss_config_defaults();
    cfg.beta = 0.0f;
    cfg.eps_high = 0.35f; /* token 9 (1.3) is now unclipped, token 0 (1.5) still clipped */
    for (int n = 0; n < NORM_COUNT; n++) {
        cfg.norm = n;
        cfg.max_new_tokens = 6;
        check_fd(&cfg, logp, logp_old, NULL);
        float w[FD_TOK];
        GrpoLossStats st;
        grpo_loss_compute(w, &st, &cfg, logp, logp_old, NULL, fd_adv, fd_len, FD_SEQS);
        assert_true(w[0] == 0.0f && w[4] == 0.0f && w[8] == 0.0f);
        assert_true(w[1] != 0.0f && w[5] != 0.0f && w[9] != 0.0f);
        assert_near(st.clip_frac_high, 1.0 / FD_TOK, 1e-12);
        assert_near(st.clip_frac_low, 2.0 / FD_TOK, 1e-12);
        assert_true(st.kl_mean == 0.0);
    }
}

static void test_norm_values(void **state) {
    (void)state;
    /* On-policy (rho = 1), beta = 0: obj_t = A. Lengths 2 and 3 with
     * A = +1 and -1, plus an empty third sequence. */
    const int len[3] = {2, 3, 0};
    const float adv[3] = {1.0f, -1.0f, 0.25f};
    const float lp[5] = {-1, -2, -0.5f, -3, -1};
    float w[5];
    GrpoLossStats st;
    GrpoLossConfig cfg = grpo_loss_config_defaults();
    cfg.beta = 0;
    /* sequence: (1/3) [ (1/2)(2 * 1) + (1/3)(3 * -1) + 0 ] = 0 */
    cfg.norm = NORM_SEQUENCE;
    grpo_loss_compute(w, &st, &cfg, lp, lp, NULL, adv, len, 3);
    assert_near(st.objective, 0.0, 1e-15);
    for (int t = 0; t < 2; t++) assert_near(w[t], 1.0 / (3 * 2), 1e-7);
    for (int t = 2; t < 5; t++) assert_near(w[t], -1.0 / (3 * 3), 1e-7);
    /* The empty sequence counts: 2 sequences instead gives 1/2, not 1/3. */
    grpo_loss_compute(w, &st, &cfg, lp, lp, NULL, adv, len, 2);
    assert_near(w[0], 1.0 / (2 * 2), 1e-7);
    /* token: (2 - 3) / 5 */
    cfg.norm = NORM_TOKEN;
    grpo_loss_compute(w, &st, &cfg, lp, lp, NULL, adv, len, 3);
    assert_near(st.objective, -0.2, 1e-12);
    for (int t = 0; t < 5; t++) assert_near(w[t], (t < 2 ? 1.0 : -1.0) / 5, 1e-7);
    /* constant, max_new_tokens 4: (2 - 3) / (3 * 4) */
    cfg.norm = NORM_CONSTANT;
    cfg.max_new_tokens = 4;
    grpo_loss_compute(w, &st, &cfg, lp, lp, NULL, adv, len, 3);
    assert_near(st.objective, -1.0 / 12, 1e-12);
    for (int t = 0; t < 5; t++) assert_near(w[t], (t < 2 ? 1.0 : -1.0) / 12, 1e-7);
    assert_near(st.ratio_mean, 1.0, 1e-15);
    assert_true(st.ratio_max_dev == 0.0);
    assert_true(st.clip_frac_low == 0.0 && st.clip_frac_high == 0.0);

    /* GRPO.md's worked min cases inside a batch: one token each, token
     * normalisation: J = (1.2 + -0.8) / 2 = 0.2; both clipped. */
    const int len2[2] = {1, 1};
    const float adv2[2] = {1.0f, -1.0f};
    const float lp2[2] = {logf(0.6f), logf(0.15f)}, old2[2] = {logf(0.4f), logf(0.3f)};
    cfg.norm = NORM_TOKEN;
    grpo_loss_compute(w, &st, &cfg, lp2, old2, NULL, adv2, len2, 2);
    assert_near(st.objective, 0.2, 1e-6);
    assert_true(w[0] == 0.0f && w[1] == 0.0f);
    assert_near(st.clip_frac_high, 0.5, 1e-15);
    assert_near(st.clip_frac_low, 0.5, 1e-15);
    assert_near(st.ratio_mean, 1.0, 1e-6);     /* (1.5 + 0.5) / 2 */
    assert_near(st.ratio_max_dev, 0.5, 1e-6);
}

static void test_all_equal_group_zero_weights(void **state) {
    (void)state;
    /* A group with identical rewards, on-policy and beta = 0: no update. */
    const float rewards[3] = {1, 1, 1};
    float adv[3];
    assert_int_equal(group_advantages(rewards, 3, ALGO_GRPO, ADV_STD_POPULATION, 1e-6f, adv), 1);
    const int len[3] = {3, 1, 2};
    const float lp[6] = {-0.1f, -2.0f, -0.7f, -4.0f, -0.01f, -1.5f};
    for (int n = 0; n < NORM_COUNT; n++) {
        GrpoLossConfig cfg = grpo_loss_config_defaults();
        cfg.beta = 0;
        cfg.norm = n;
        cfg.max_new_tokens = 3;
        float w[6];
        GrpoLossStats st;
        grpo_loss_compute(w, &st, &cfg, lp, lp, NULL, adv, len, 3);
        for (int t = 0; t < 6; t++) assert_true(w[t] == 0.0f);
        assert_true(st.objective == 0.0);
    }
}

static void test_pieces_add_up(void **state) {
    (void)state;
    /* One minibatch passed in two pieces with the whole minibatch's counts as
     * overrides gives the same weights, the summed J and merged stats. */
    float logp[FD_TOK], logp_old[FD_TOK], logp_ref[FD_TOK];
    fd_batch(logp, logp_old, logp_ref);
    for (int n = 0; n < NORM_COUNT; n++) {
        GrpoLossConfig cfg = grpo_loss_config_defaults();
        cfg.norm = n;
        cfg.max_new_tokens = 6;
        float w[FD_TOK], wp[FD_TOK];
        GrpoLossStats whole, a, b, acc;
        grpo_loss_compute(w, &whole, &cfg, logp, logp_old, logp_ref, fd_adv, fd_len, FD_SEQS);
        cfg.norm_seqs = FD_SEQS;
        cfg.norm_tokens = FD_TOK;
        /* sequences 0-1 (4 tokens), then 2-3 (8 tokens) */
        grpo_loss_compute(wp, &a, &cfg, logp, logp_old, logp_ref, fd_adv, fd_len, 2);
        grpo_loss_compute(wp + 4, &b, &cfg, logp + 4, logp_old + 4, logp_ref + 4, fd_adv + 2,
                          fd_len + 2, 2);
        for (int t = 0; t < FD_TOK; t++) assert_true(w[t] == wp[t]);
        memset(&acc, 0, sizeof acc);
        grpo_stats_merge(&acc, &a);
        grpo_stats_merge(&acc, &b);
        assert_near(acc.objective, whole.objective, 1e-12);
        assert_near(acc.kl_mean, whole.kl_mean, 1e-12);
        assert_near(acc.clip_frac_low, whole.clip_frac_low, 1e-12);
        assert_near(acc.clip_frac_high, whole.clip_frac_high, 1e-12);
        assert_near(acc.ratio_mean, whole.ratio_mean, 1e-12);
        assert_true(acc.ratio_max_dev == whole.ratio_max_dev);
        assert_int_equal(acc.n_tokens, whole.n_tokens);
    }
}

static void test_kl_in_objective(void **state) {
    (void)state;
    /* On-policy, A = 0 (uniform group): J = -beta * mean-normalised k3 and
     * w = -beta c dkl; the KL alone pulls toward the reference. */
    const int len[1] = {2};
    const float adv[1] = {0.0f};
    const float lp[2] = {-1.0f, -2.0f}, ref[2] = {-0.5f, -2.0f};
    GrpoLossConfig cfg = grpo_loss_config_defaults();
    cfg.beta = 0.04f;
    cfg.norm = NORM_SEQUENCE;
    float w[2];
    GrpoLossStats st;
    grpo_loss_compute(w, &st, &cfg, lp, lp, ref, adv, len, 1);
    const double kl0 = exp(0.5) - 1.5;
    assert_near(st.kl_mean, kl0 / 2, 1e-12);
    assert_near(st.objective, -(double)cfg.beta * kl0 / 2, 1e-12);
    /* d kl/d logp = 1 - e^0.5 < 0, so w > 0: raise logp toward logp_ref. */
    assert_near(w[0], -(double)cfg.beta * (1.0 - exp(0.5)) / 2, 1e-8);
    assert_true(w[0] > 0.0f);
    assert_true(w[1] == 0.0f);
    /* beta = 0 with a reference: KL is measured but changes nothing. */
    cfg.beta = 0;
    grpo_loss_compute(w, &st, &cfg, lp, lp, ref, adv, len, 1);
    assert_near(st.kl_mean, kl0 / 2, 1e-12);
    assert_true(st.objective == 0.0 && w[0] == 0.0f && w[1] == 0.0f);
}

static void test_empty_batch(void **state) {
    (void)state;
    GrpoLossConfig cfg = grpo_loss_config_defaults();
    cfg.beta = 0; /* no reference passed */
    GrpoLossStats st;
    const int len[2] = {0, 0};
    const float adv[2] = {1, -1};
    grpo_loss_compute(NULL, &st, &cfg, NULL, NULL, NULL, adv, len, 2);
    assert_true(st.objective == 0.0 && st.n_tokens == 0 && st.kl_mean == 0.0);
    grpo_loss_compute(NULL, NULL, &cfg, NULL, NULL, NULL, NULL, NULL, 0);
}

/* Truncated importance weights scale each token's surrogate term (value
 * and gradient) and leave the KL term alone. */
static void test_is_weight_scales_surrogate(void **state) {
    (void)state;
    const float logp[4] = {-0.5f, -1.2f, -0.3f, -2.0f}, old[4] = {-0.6f, -1.0f, -0.3f, -1.5f};
    const float ref[4] = {-0.4f, -1.1f, -0.5f, -1.9f}, adv[2] = {1.0f, -0.5f};
    const float isw[4] = {0.5f, 1.0f, 2.0f, 0.25f};
    const int len[2] = {2, 2};
    GrpoLossConfig a = grpo_loss_config_defaults();
    a.beta = 0.1f;
    GrpoLossConfig b = a;
    b.is_weight = isw;
    GrpoLossConfig k = a; /* KL only: zero advantages */
    float wa[4], wb[4], wk[4];
    const float zero[2] = {0, 0};
    GrpoLossStats sa, sb, sk;
    grpo_loss_compute(wa, &sa, &a, logp, old, ref, adv, len, 2);
    grpo_loss_compute(wb, &sb, &b, logp, old, ref, adv, len, 2);
    grpo_loss_compute(wk, &sk, &k, logp, old, ref, zero, len, 2);
    for (int t = 0; t < 4; t++) {
        /* w = c*(dobj - beta dkl): scaling dobj by isw gives isw*(wa - wk) + wk */
        double expect = isw[t] * ((double)wa[t] - wk[t]) + wk[t];
        assert_float_equal(wb[t], expect, 1e-6);
    }
    assert_true(fabs(sb.objective - sa.objective) > 1e-6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_weight_scales_surrogate),
        cmocka_unit_test(test_names_parse),
        cmocka_unit_test(test_adv_population_table),
        cmocka_unit_test(test_adv_sample_table),
        cmocka_unit_test(test_adv_all_equal_no_nan),
        cmocka_unit_test(test_adv_single_completion),
        cmocka_unit_test(test_adv_eps),
        cmocka_unit_test(test_adv_dr_grpo),
        cmocka_unit_test(test_adv_reinforce_variants),
        cmocka_unit_test(test_reinforce_baseline_zero_mean_score),
        cmocka_unit_test(test_clip_map),
        cmocka_unit_test(test_worked_min_cases),
        cmocka_unit_test(test_surrogate_is_the_min),
        cmocka_unit_test(test_gradient_rule),
        cmocka_unit_test(test_kl_k3),
        cmocka_unit_test(test_fd_all_norms),
        cmocka_unit_test(test_fd_asymmetric_clip_no_kl),
        cmocka_unit_test(test_norm_values),
        cmocka_unit_test(test_all_equal_group_zero_weights),
        cmocka_unit_test(test_pieces_add_up),
        cmocka_unit_test(test_kl_in_objective),
        cmocka_unit_test(test_empty_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
