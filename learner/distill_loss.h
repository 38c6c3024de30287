/* distill_loss.h: token-level distillation, the forward KL from the
 * teacher's next-token distribution to the student's, over the whole
 * vocabulary at every completion position (PPO.md "Distillation"):
 *
 *   p = softmax(teacher_logits / tau)     (tau: [distill] temperature)
 *   q = softmax(student_logits)           (the student at temperature 1)
 *   KL(p || q) = sum_v p_v (log p_v - log q_v)
 *   d KL / d student_logit_v = q_v - p_v  (p is a constant: the teacher is
 *                                          frozen)
 *
 * Forward KL is mass-covering: the student is pushed to put probability
 * wherever the teacher does, which is what imitating a teacher's whole
 * distribution (not only its samples) means. Rows are (N, V) logits,
 * row-major. */
#ifndef LEARNER_DISTILL_LOSS_H
#define LEARNER_DISTILL_LOSS_H

#include <stdint.h>

/* KL(softmax(t / tau) || softmax(s)) of one row of V logits, in double with
 * max subtraction. If d is not NULL, writes d[v] = scale * (q_v - p_v). */
double distill_kl_row(const float *t, const float *s, int V, float tau, float *d, float scale);

/* The distillation loss of a batch: the mean over the rows with mask[i] != 0
 * (completion positions: every token counts the same, whatever its
 * sequence's length) of KL(p || q), returned. d (N, V) gets the gradient of
 * that mean: (q - p) / n_masked on masked rows, 0 on the others (padding
 * and prompt positions). *n_masked (if not NULL) gets the count; with none
 * masked the loss and d are 0. */
double distill_kl_loss(const float *teacher_logits, const float *student_logits,
                       const uint8_t *mask, int N, int V, float tau, float *d, int *n_masked);

#endif
