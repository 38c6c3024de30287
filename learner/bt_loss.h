/* bt_loss.h: the Bradley-Terry loss of a reward model on comparison pairs
 * (../shared/PPO.md, "Reward model from comparisons"):
 *
 *   L = -log sigmoid(Rc - Rr)
 *   dL/dRc = -(1 - sigmoid(Rc - Rr)) = -sigmoid(Rr - Rc) = -dL/dRr
 *
 * Rc, Rr: the reward model's scalar at the last token of chosen and
 * rejected. Computed in double as softplus(Rr - Rc), so a margin of any
 * size neither overflows nor loses the loss to rounding (a margin of -100
 * gives L = 100, not inf; +100 gives 3.7e-44, not 0). */
#ifndef LEARNER_BT_LOSS_H
#define LEARNER_BT_LOSS_H

/* L of one pair; if d_chosen != NULL, writes dL/dRc there (dL/dRr is its
 * negative). */
double bt_loss(double r_chosen, double r_rejected, double *d_chosen);

/* A batch of n pairs: the mean loss, and (d_chosen, d_rejected, if not
 * NULL) the gradient of that mean with respect to each reward, i.e. the
 * per-pair gradient / n. Writes to *correct (if not NULL) the pairs
 * ranked right: r_chosen > r_rejected counts 1, a tie 1/2 (an untrained
 * scalar head, w = b = 0, scores every pair a tie: accuracy 0.5, chance). */
double bt_loss_batch(const float *r_chosen, const float *r_rejected, int n, float *d_chosen,
                     float *d_rejected, double *correct);

/* 1, 1/2 or 0: the pair ranked right, tied, ranked wrong. */
static inline double bt_pair_correct(double r_chosen, double r_rejected) {
    return r_chosen > r_rejected ? 1.0 : r_chosen == r_rejected ? 0.5 : 0.0;
}

#endif
