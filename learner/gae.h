/* gae.h: generalised advantage estimation (Schulman et al. 2016) per
 * sequence over a flattened batch, and advantage whitening.
 *
 * Pure functions of plain arrays; no model, no MPI. Flattened per-token
 * arrays follow the batch as in grpo_loss.h: sequence i owns seq_len[i]
 * consecutive entries (completion tokens only), sequences in order.
 * Math and worked numbers: learner/gae.c and ../shared/PPO.md. */
#ifndef LEARNER_GAE_H
#define LEARNER_GAE_H

/* Writes the advantages A_t (adv) and value targets return_t = A_t + V_t
 * (returns; may be NULL) of n_seqs sequences from per-token rewards and the
 * values at rollout time, each sequence on its own (V after its last token
 * is 0: the episode ends there). Caller-owned, one float per token. adv may
 * not alias rewards or values. 0 <= gamma, lambda <= 1. */
void gae_compute(float *adv, float *returns, const float *rewards, const float *values,
                 const int *seq_len, int n_seqs, double gamma, double lambda);

/* Mean and population std the whitening used (for metrics). */
typedef struct {
    double mean;
    double std;
    long n;
} WhitenStats;

/* x <- (x - mean) / (std + eps) over the n entries, with the population
 * std; returns the mean and std used. eps guards a tiny std; a batch whose
 * entries are all equal (std exactly 0, including n == 1) becomes exactly 0
 * whatever eps is: no signal, and no 0/0. n == 0 is a no-op. */
WhitenStats adv_whiten(float *x, long n, double eps);

/* The same in pieces, for a batch split across calls or ranks: sum x over
 * every piece -> mean; sum (x - mean)^2 over every piece -> std =
 * sqrt(total / n_total); then whiten_apply on each piece. Two passes rather
 * than sum and sum of squares: no cancellation when |mean| >> std. */
double whiten_sum(const float *x, long n);
double whiten_sum_sq_dev(const float *x, long n, double mean);
void whiten_apply(float *x, long n, double mean, double std, double eps);

#endif
