/* ppo_rewards.h: PPO's per-token rewards with the KL to the reference in
 * the reward (InstructGPT), and the name of where the KL goes.
 *
 * Pure functions of plain arrays; no model. Flattened per-token arrays
 * follow the batch as in grpo_loss.h: sequence i owns seq_len[i]
 * consecutive entries (completion tokens only), sequences in order.
 * Math and worked numbers: learner/ppo_rewards.c and ../shared/PPO.md. */
#ifndef LEARNER_PPO_REWARDS_H
#define LEARNER_PPO_REWARDS_H

/* Where PPO puts the KL to the reference policy. Both are in use, so the
 * config names the choice. */
typedef enum {
    PPO_KL_REWARD, /* "reward": r_t = -beta k1_t per token (InstructGPT); this file */
    PPO_KL_LOSS,   /* "loss": k3 in the loss, as GRPO does (grpo_kl_k3 in grpo_loss.h) */
    PPO_KL_COUNT
} PpoKlMode;

/* Allowed config names, indexed by the enum value, NULL-terminated. */
extern const char *const ppo_kl_mode_names[]; /* reward, loss */
/* Enum value for a config name, or -1 if s is not one of the names. */
int ppo_kl_mode_parse(const char *s);
/* Config name of an enum value (static string; "?" if out of range). */
const char *ppo_kl_mode_name(int v);

/* What one ppo_token_rewards call saw (for metrics and the KL controller). */
typedef struct {
    double kl_seq_mean;   /* mean over sequences of sum_t k1_t: the per-sequence
                           * KL that the adaptive controller (kl_controller.h)
                           * compares with its target; empty sequences count as 0 */
    double kl_token_mean; /* mean k1 per completion token */
    double score_mean;    /* mean R over the sequences that received it */
    long n_tokens;
    int n_seqs;
    int n_empty;          /* zero-length sequences: their R has no token to
                           * land on and is dropped (counted so it shows) */
} PpoRewardStats;

/* Writes the per-token rewards of n_seqs sequences to rewards (caller-owned,
 * one float per token):
 *     r_t = -beta * (logp_t - logp_ref_t)    + score[i] at the last token of i.
 * logp_ref may be NULL only with beta == 0 (plain sparse reward; k1 counted
 * as 0 in stats). score holds one R(q, o) per sequence. stats may be NULL. */
void ppo_token_rewards(float *rewards, PpoRewardStats *stats, const float *logp,
                       const float *logp_ref, const float *score, double beta, const int *seq_len,
                       int n_seqs);

#endif
