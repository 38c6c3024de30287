/* task_review.h: the review task's hidden preference (task_review.c has
 * the task, and why the preference is hidden), exposed for the tests and
 * for anyone measuring what a policy's completions are truly worth.
 *
 * A completion is well formed when it is one or more words of the
 * vocabulary separated by single spaces (no leading, trailing or double
 * space) and the model stopped by itself. For a well-formed completion of
 * n words, pos of them from the hidden positive list and neg from the
 * negative one:
 *
 *   raw   = pos - neg
 *           - REVIEW_REPEAT_COST x sum over words w of max(0, count(w) - REVIEW_MAX_REPEAT)
 *           - REVIEW_LENGTH_COST x max(0, n - REVIEW_FREE_WORDS)
 *   score = 1 / (1 + exp(-raw / REVIEW_SCALE))      in (0, 1)
 *
 * and a malformed completion scores 0, below every well-formed one. The
 * map is strictly increasing in raw, so two completions tie exactly when
 * their raw values are equal. */
#ifndef COMMON_TASK_REVIEW_H
#define COMMON_TASK_REVIEW_H

enum {
    REVIEW_MAX_REPEAT = 2,  /* uses of one word that cost nothing */
    REVIEW_REPEAT_COST = 3, /* per use beyond that */
    REVIEW_FREE_WORDS = 8,  /* words that cost nothing */
    REVIEW_LENGTH_COST = 2, /* per word beyond that */
    REVIEW_SCALE = 3,       /* raw units per logistic unit */
    REVIEW_MAX_DEMO_WORDS = 8 /* the demonstrator's cap: never past the free length */
};

typedef struct {
    int well_formed;     /* see above (finished is the caller's part) */
    int words;           /* n */
    int positive, negative;
    int repeats_over;    /* sum of max(0, count(w) - REVIEW_MAX_REPEAT) */
    int words_over;      /* max(0, n - REVIEW_FREE_WORDS) */
    int raw;             /* the formula above; 0 when not well formed */
    float score;         /* in (0, 1); 0 when not well formed */
} ReviewScore;

/* Scores completion (without EOS; finished: the model stopped by itself)
 * by the hidden preference into *out; returns out->well_formed. */
int review_score(const char *completion, int finished, ReviewScore *out);

/* The score of a raw value: 1 / (1 + exp(-raw / REVIEW_SCALE)). */
float review_score_of_raw(int raw);

#endif
