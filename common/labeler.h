/* labeler.h: the synthetic labeler. It compares two completions of one
 * prompt by a task's hidden preference (the verifier's component named
 * "preference": the review task's, or an external verifier that reports
 * one) and says which one is chosen, as a human labeler would, so that a
 * reward model can be trained on comparisons with no outside data.
 *
 * Noise: with probability label_noise (0..0.5) the label is flipped, the
 * way a careless labeler errs; 0.5 is a coin. The flip of pair k is drawn
 * from an Rng fixed by (seed, k) alone, so a pair's label does not depend
 * on the order pairs are labelled in or on how many came before.
 * Ties (equal true scores: identical completions, two malformed ones, or
 * equal raw preference) are not labelled: the caller skips the pair, and
 * the labeler counts them. */
#ifndef COMMON_LABELER_H
#define COMMON_LABELER_H

#include <stddef.h>
#include <stdint.h>

#include "task.h"

typedef struct {
    const Task *task;  /* not owned */
    int component;     /* index of "preference" among the task's components */
    float noise;
    uint64_t seed;
    /* counts since labeler_init */
    uint64_t compared; /* calls to labeler_compare */
    uint64_t ties;     /* of them, ties (no label) */
    uint64_t flips;    /* labels the noise flipped */
} Labeler;

typedef enum { LABEL_TIE = -1, LABEL_FIRST = 0, LABEL_SECOND = 1 } Label;

/* Sets l up for task t; 0, or -1 with err if t reports no "preference"
 * component or noise is outside 0..0.5 (naming the setting). */
int labeler_init(Labeler *l, const Task *t, float noise, uint64_t seed, char *err, size_t errlen);

/* The hidden preference of completion (finished: as verify()) of item. */
float labeler_true_score(const Labeler *l, const TaskItem *item, const char *completion,
                         int finished);

/* Compares completions a and b of item as pair number pair (the flip's
 * stream): LABEL_FIRST if a is chosen, LABEL_SECOND if b is, LABEL_TIE if
 * their true scores are equal. Sets *flipped (may be NULL) to 1 when the
 * noise flipped the label. Counts in l. */
Label labeler_compare(Labeler *l, const TaskItem *item, const char *a, int a_finished,
                      const char *b, int b_finished, uint64_t pair, int *flipped);

/* labeler_compare on true scores already computed (sa of the first
 * completion, sb of the second): one verification per completion when
 * the caller needs the scores too. */
Label labeler_compare_scores(Labeler *l, float sa, float sb, uint64_t pair, int *flipped);

#endif
