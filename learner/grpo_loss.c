/* grpo_loss.c: THE GRPO LOSS. Math and test vectors: ../shared/GRPO.md.
 *
 * For a prompt with G completions o_1..o_G sampled from pi_old and rewards
 * r_1..r_G (group_advantages):
 *
 *     A_i = (r_i - mean(r)) / (std(r) + eps)     std: population | sample | none
 *     REINFORCE: A_i = r_i;  REINFORCE_BASELINE: A_i = r_i - mean(r)
 *     PPO: a per-token A_t from GAE (ppo_step.c, GrpoLossConfig.adv_tok)
 *
 * Per completion token t (grpo_token_surrogate, grpo_kl_k3):
 *
 *     rho_t = exp(logp_t - logp_old_t)
 *     obj_t = min(rho_t A, clip(rho_t, 1 - eps_low, 1 + eps_high) A)
 *     kl_t  = exp(logp_ref_t - logp_t) - (logp_ref_t - logp_t) - 1   ("k3")
 *
 *     d obj_t / d logp_t = rho_t A, or 0 where the clip is active
 *                          (A > 0 and rho > 1 + eps_high, A < 0 and rho < 1 - eps_low)
 *     d kl_t  / d logp_t = 1 - exp(logp_ref_t - logp_t)
 *
 * Objective to maximise (grpo_loss_compute):
 *
 *     J = sum_i c_i sum_t [obj_t - beta kl_t]
 *     c_i = 1 / (n_seqs |o_i|)           NORM_SEQUENCE (DeepSeekMath)
 *         = 1 / total_tokens             NORM_TOKEN
 *         = 1 / (n_seqs max_new_tokens)  NORM_CONSTANT
 *
 * and the per-token weights handed to the model's backward are
 *
 *     w_t = dJ/dlogp_t = c_i (d obj_t/d logp_t - beta d kl_t/d logp_t),
 *
 * because backward differentiates L = -sum_t w_t logp_t with w_t held
 * constant, whose parameter gradient is then exactly grad(-J).
 *
 * Everything is computed and summed in double; only the weights are stored
 * as float (what backward consumes). On-policy (first inner step) rho = 1
 * and w_t = c_i (A_i - beta dkl_t): the plain REINFORCE-with-baseline
 * gradient; the clip only matters on later inner steps or for stale
 * rollouts. */
#include "grpo_loss.h"

#include <math.h>
#include <string.h>

#include "util.h"

const char *const pg_algo_names[] = {"grpo", "reinforce", "reinforce_baseline", "ppo", NULL};
const char *const adv_std_names[] = {"population", "sample", "none", NULL};
const char *const loss_norm_names[] = {"sequence", "token", "constant", NULL};

/* Names are indexed by enum value: a new enum member needs its name here. */
_Static_assert(sizeof pg_algo_names / sizeof *pg_algo_names == ALGO_COUNT + 1, "pg_algo_names");
_Static_assert(sizeof adv_std_names / sizeof *adv_std_names == ADV_STD_COUNT + 1, "adv_std_names");
_Static_assert(sizeof loss_norm_names / sizeof *loss_norm_names == NORM_COUNT + 1,
               "loss_norm_names");

/* Index of s in a NULL-terminated name list, or -1. */
static int names_find(const char *const *names, const char *s) {
    if (!s) return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

int pg_algo_parse(const char *s) { return names_find(pg_algo_names, s); }
int adv_std_parse(const char *s) { return names_find(adv_std_names, s); }
int loss_norm_parse(const char *s) { return names_find(loss_norm_names, s); }

const char *pg_algo_name(int v) { return v >= 0 && v < ALGO_COUNT ? pg_algo_names[v] : "?"; }
const char *adv_std_name(int v) { return v >= 0 && v < ADV_STD_COUNT ? adv_std_names[v] : "?"; }
const char *loss_norm_name(int v) {
    return v >= 0 && v < NORM_COUNT ? loss_norm_names[v] : "?";
}

int group_advantages(const float *rewards, int G, PgAlgo algo, AdvStd std, float eps, float *adv) {
    CHECK(G >= 1);
    CHECK(algo >= 0 && algo < ALGO_COUNT && std >= 0 && std < ADV_STD_COUNT);
    CHECK(algo != ALGO_PPO); /* per-token advantages: ppo_step.c */
    int all_equal = 1;
    for (int i = 1; i < G; i++)
        if (rewards[i] != rewards[0]) all_equal = 0;

    if (algo == ALGO_REINFORCE) {
        /* No baseline: the raw reward is the advantage, even for a uniform
         * group (that is what distinguishes it from the baseline variant). */
        for (int i = 0; i < G; i++) adv[i] = rewards[i];
        return all_equal;
    }
    if (all_equal) {
        /* Exact zeros rather than 0/(0+eps) or 0/0 with eps = 0 or G = 1:
         * a uniform group must not move the policy nor produce NaN. */
        for (int i = 0; i < G; i++) adv[i] = 0.0f;
        return 1;
    }

    double sum = 0;
    for (int i = 0; i < G; i++) sum += rewards[i];
    const double mean = sum / G;
    double scale = 1.0;
    if (algo == ALGO_GRPO && std != ADV_STD_NONE) {
        double ss = 0;
        for (int i = 0; i < G; i++) ss += (rewards[i] - mean) * (rewards[i] - mean);
        /* G >= 2 here: G = 1 is always all_equal. */
        const double sd = sqrt(ss / (std == ADV_STD_SAMPLE ? G - 1 : G));
        scale = 1.0 / (sd + eps);
    }
    for (int i = 0; i < G; i++) adv[i] = (float)((rewards[i] - mean) * scale);
    return 0;
}

double grpo_clip_ratio(double rho, double eps_low, double eps_high) {
    const double lo = 1.0 - eps_low, hi = 1.0 + eps_high;
    return rho < lo ? lo : rho > hi ? hi : rho;
}

PgToken grpo_token_surrogate(double logp, double logp_old, double adv, double eps_low,
                             double eps_high, int clip) {
    PgToken t = {0};
    t.rho = exp(logp - logp_old);
    /* The clipped term wins the min exactly when it is strictly smaller:
     * for A > 0 when rho > 1 + eps_high, for A < 0 when rho < 1 - eps_low.
     * (A > 0 with rho below 1 - eps_low keeps rho A: the min is pessimistic,
     * it only stops the ratio moving further in the advantage's direction.) */
    if (adv == 0) {
        /* No signal; also keeps an overflowed rho (inf) from giving 0 * inf. */
        t.obj = t.dobj = 0;
    } else if (clip && adv > 0 && t.rho > 1.0 + eps_high) {
        t.clip_high = 1;
        t.obj = (1.0 + eps_high) * adv;
        t.dobj = 0;
    } else if (clip && adv < 0 && t.rho < 1.0 - eps_low) {
        t.clip_low = 1;
        t.obj = (1.0 - eps_low) * adv;
        t.dobj = 0;
    } else {
        t.obj = t.rho * adv;
        t.dobj = t.rho * adv; /* d(rho)/d(logp) = rho */
    }
    return t;
}

double grpo_kl_k3(double logp, double logp_ref, double *dkl) {
    const double d = logp_ref - logp;
    /* expm1 keeps exp(d) - 1 accurate for small d, where the estimator is
     * a difference of nearly equal numbers; it is exactly 0 at d = 0. */
    const double em1 = expm1(d);
    if (dkl) *dkl = -em1;
    return em1 - d;
}

GrpoLossConfig grpo_loss_config_defaults(void) {
    GrpoLossConfig c;
    memset(&c, 0, sizeof c); /* future options: zero = off */
    c.algo = ALGO_GRPO;
    c.eps_low = 0.2f;
    c.eps_high = 0.2f;
    c.beta = 0.04f;
    c.norm = NORM_SEQUENCE;
    c.max_new_tokens = 1;
    return c;
}

void grpo_loss_compute(float *w, GrpoLossStats *stats, const GrpoLossConfig *cfg,
                       const float *logp, const float *logp_old, const float *logp_ref,
                       const float *adv, const int *seq_len, int n_seqs) {
    CHECK(cfg && n_seqs >= 0);
    CHECK(cfg->algo >= 0 && cfg->algo < ALGO_COUNT);
    CHECK(cfg->norm >= 0 && cfg->norm < NORM_COUNT);
    CHECK(cfg->norm != NORM_CONSTANT || cfg->max_new_tokens > 0);
    CHECK(cfg->eps_low >= 0 && cfg->eps_high >= 0);
    CHECK(cfg->beta == 0 || logp_ref != NULL);
    CHECK(cfg->norm_seqs >= 0 && cfg->norm_tokens >= 0);

    long total = 0;
    for (int i = 0; i < n_seqs; i++) {
        CHECK(seq_len[i] >= 0);
        total += seq_len[i];
    }
    const double ns = cfg->norm_seqs > 0 ? cfg->norm_seqs : n_seqs;
    const double nt = cfg->norm_tokens > 0 ? (double)cfg->norm_tokens : (double)total;
    const int clip = cfg->algo == ALGO_GRPO || cfg->algo == ALGO_PPO;
    const double beta = cfg->beta;

    double J = 0, kl_sum = 0, rho_sum = 0, dev_max = 0;
    long n_low = 0, n_high = 0, t = 0;
    for (int i = 0; i < n_seqs; i++) {
        const int len = seq_len[i];
        if (len == 0) continue; /* no tokens: nothing to add, but still counted in ns */
        double c;
        switch (cfg->norm) {
        case NORM_SEQUENCE: c = 1.0 / (ns * len); break;
        case NORM_TOKEN: c = 1.0 / nt; break;
        default: c = 1.0 / (ns * cfg->max_new_tokens); break;
        }
        double seq_sum = 0;
        for (int k = 0; k < len; k++, t++) {
            const double a = cfg->adv_tok ? cfg->adv_tok[t] : adv[i];
            const PgToken pt = grpo_token_surrogate(logp[t], logp_old[t], a, cfg->eps_low,
                                                    cfg->eps_high, clip);
            const double isw = cfg->is_weight ? cfg->is_weight[t] : 1.0;
            double term = isw * pt.obj, dterm = isw * pt.dobj;
            if (logp_ref) {
                double dkl;
                const double kl = grpo_kl_k3(logp[t], logp_ref[t], &dkl);
                kl_sum += kl;
                /* Skipped at beta = 0 so a huge or inf kl (measured for stats
                 * only) cannot turn J or w into NaN through 0 * inf. */
                if (beta != 0) {
                    term -= beta * kl;
                    dterm -= beta * dkl;
                }
            }
            seq_sum += term;
            w[t] = (float)(c * dterm);
            n_low += pt.clip_low;
            n_high += pt.clip_high;
            rho_sum += pt.rho;
            const double dev = fabs(pt.rho - 1.0);
            if (dev > dev_max) dev_max = dev;
        }
        J += c * seq_sum;
    }
    CHECK(t == total);

    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->objective = J;
        stats->n_tokens = total;
        stats->ratio_max_dev = dev_max;
        if (total > 0) {
            stats->kl_mean = kl_sum / total;
            stats->clip_frac_low = (double)n_low / total;
            stats->clip_frac_high = (double)n_high / total;
            stats->ratio_mean = rho_sum / total;
        }
    }
}

void grpo_stats_merge(GrpoLossStats *acc, const GrpoLossStats *s) {
    const long n = acc->n_tokens + s->n_tokens;
    acc->objective += s->objective;
    if (s->ratio_max_dev > acc->ratio_max_dev) acc->ratio_max_dev = s->ratio_max_dev;
    if (n > 0) {
        /* Means re-weighted by token counts, so merging pieces reproduces
         * the stats of the whole batch. */
        const double a = (double)acc->n_tokens / n, b = (double)s->n_tokens / n;
        acc->kl_mean = a * acc->kl_mean + b * s->kl_mean;
        acc->clip_frac_low = a * acc->clip_frac_low + b * s->clip_frac_low;
        acc->clip_frac_high = a * acc->clip_frac_high + b * s->clip_frac_high;
        acc->ratio_mean = a * acc->ratio_mean + b * s->ratio_mean;
    }
    acc->n_tokens = n;
}
