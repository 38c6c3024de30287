/* ppo_rewards.c: per-token rewards with the KL in the reward (InstructGPT,
 * Ouyang et al. 2022; Ziegler et al. 2019). Worked numbers: ../shared/PPO.md.
 *
 * With k1_t = logp(o_t) - logp_ref(o_t) (log-probs of the sampled tokens
 * under the policy at rollout time and under the frozen reference):
 *
 *     r_t = -beta * k1_t              for t < T-1
 *     r_t = -beta * k1_t + R(q, o)    for the last token t = T-1
 *
 * k1 rather than k3: summed over a sequence sampled from the policy, k1 is
 * the unbiased single-sample estimate of KL(pi || pi_ref) of the whole
 * sequence, and GAE then credits each token with the penalty of the tokens
 * after it. It can be negative for one token; only its expectation is >= 0.
 * The score goes on the last token because the reward model (or verifier)
 * scores the whole completion, which exists only once it is finished.
 *
 * Example, beta 0.1, R 1: logp [-1, -0.5, -2, -0.1], logp_ref
 * [-1.2, -0.5, -1.5, -0.3] -> k1 [0.2, 0, -0.5, 0.2], r [-0.02, 0, 0.05, 0.98]. */
#include "ppo_rewards.h"

#include <string.h>

#include "util.h"

const char *const ppo_kl_mode_names[] = {"reward", "loss", NULL};
_Static_assert(sizeof ppo_kl_mode_names / sizeof *ppo_kl_mode_names == PPO_KL_COUNT + 1,
               "ppo_kl_mode_names");

int ppo_kl_mode_parse(const char *s) {
    if (!s) return -1;
    for (int i = 0; ppo_kl_mode_names[i]; i++)
        if (strcmp(ppo_kl_mode_names[i], s) == 0) return i;
    return -1;
}

const char *ppo_kl_mode_name(int v) {
    return v >= 0 && v < PPO_KL_COUNT ? ppo_kl_mode_names[v] : "?";
}

void ppo_token_rewards(float *rewards, PpoRewardStats *stats, const float *logp,
                       const float *logp_ref, const float *score, double beta, const int *seq_len,
                       int n_seqs) {
    CHECK(n_seqs >= 0);
    CHECK(beta == 0 || logp_ref != NULL);
    double kl_sum = 0, score_sum = 0;
    long t = 0;
    int n_empty = 0;
    for (int i = 0; i < n_seqs; i++) {
        const int len = seq_len[i];
        CHECK(len >= 0);
        if (len == 0) {
            n_empty++;
            continue;
        }
        for (int k = 0; k < len; k++, t++) {
            /* Differences in double: logp values near each other lose digits in float. */
            const double k1 = logp_ref ? (double)logp[t] - (double)logp_ref[t] : 0.0;
            kl_sum += k1;
            /* Skipped at beta = 0 so an inf k1 (measured for stats only)
             * cannot make the reward NaN through 0 * inf. */
            double r = beta != 0 ? -beta * k1 : 0.0;
            if (k == len - 1) r += score[i];
            rewards[t] = (float)r;
        }
        score_sum += score[i];
    }
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->n_tokens = t;
        stats->n_seqs = n_seqs;
        stats->n_empty = n_empty;
        if (n_seqs > 0) stats->kl_seq_mean = kl_sum / n_seqs;
        if (t > 0) stats->kl_token_mean = kl_sum / t;
        if (n_seqs > n_empty) stats->score_mean = score_sum / (n_seqs - n_empty);
    }
}
