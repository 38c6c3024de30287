/* sample_dist.h: the distribution a token is sampled from and scored under:
 * softmax(logits / temperature), optionally cut to the top-k / top-p kept
 * set. The kept-set rule lives here, once, because two sides must agree on
 * it bit for bit: the actors' sampler (actors/sampler.c), which samples
 * from the kept set and ships log-probs, and the learner's training
 * forward (common/model.c), which recomputes those log-probs and
 * differentiates them.
 *
 * [sampler] logprob says which distribution the log-probs are under:
 *   full       softmax(logits / T) over the whole vocabulary (the default,
 *              and the only choice before this setting existed). With
 *              top-k / top-p on, tokens come from the truncated
 *              distribution but the gradient is that of the full one: the
 *              ratio is consistent (both sides compute the same quantity),
 *              the policy gradient is biased.
 *   truncated  log of the renormalised kept-set distribution at T: the
 *              policy that actually sampled the token, so the gradient is
 *              the policy gradient of the sampling policy. */
#ifndef COMMON_SAMPLE_DIST_H
#define COMMON_SAMPLE_DIST_H

#include <stddef.h>

typedef enum { LOGPROB_FULL, LOGPROB_TRUNCATED, LOGPROB_COUNT } LogprobKind;

/* Config names indexed by LogprobKind, NULL-terminated: full, truncated. */
extern const char *const logprob_kind_names[];

typedef struct {
    float temperature; /* > 0 */
    int top_k;         /* keep the k most likely tokens; 0 (or >= V) = off */
    float top_p;       /* then the smallest most-likely prefix of those with
                        * share >= p of their mass; 1 = off */
    int logprob;       /* LogprobKind */
} SampleDist;

/* The distribution the sampler reports log-probs under for these [sampler]
 * settings: greedy decoding (temperature <= 0) reports the full softmax at
 * temperature 1, whatever logprob says (there is no distribution to
 * truncate); otherwise the settings as given. */
SampleDist sample_dist_scoring(float temperature, int top_k, float top_p, int logprob);

/* 1 if d's top_k / top_p can drop tokens of a vocabulary of V. */
int sample_dist_cuts(const SampleDist *d, int V);

/* 1 if log-probs under d are of the truncated distribution: logprob is
 * truncated and the rule can drop tokens. */
int sample_dist_truncates(const SampleDist *d, int V);

/* Floats of scratch sample_dist_keep needs for a vocabulary of V. */
#define SAMPLE_DIST_SCRATCH_FLOATS(V) (2 * (size_t)(V))

/* THE kept-set rule. Sorts the V candidates into scratch as (logit, id)
 * float pairs, higher logit first and ties by lower id (a total order, so
 * the result does not depend on qsort); keeps the first top_k, then the
 * shortest prefix of those whose mass reaches top_p times theirs. Returns
 * n_keep >= 1: the kept ids are scratch[2r + 1] for r < n_keep, and the
 * last kept pair is the threshold (see sample_dist_kept). *mass gets
 * sum over the kept r, in that order, of exp(logit_r / T - zmax), where
 * zmax is max(logits) / T as log_sum_exp_row (model_kernels.h) returns it.
 * Logits must be finite (callers check the log-sum-exp first). V must be
 * below 2^24 (ids are stored exactly as floats). */
int sample_dist_keep(const float *logits, int V, const SampleDist *d, double zmax, float *scratch,
                     double *mass);

/* 1 if token id with logit z is in the kept set whose last (threshold)
 * pair is (keep_z, keep_id): it sorts no later than the threshold. */
static inline int sample_dist_kept(float z, int id, float keep_z, int keep_id) {
    return z > keep_z || (z == keep_z && id <= keep_id);
}

/* When top-k / top-p is on and logprob = full, writes a one-line warning
 * (no newline) to out and returns 1; else returns 0. */
int sample_dist_bias_warning(const SampleDist *d, int V, char *out, size_t cap);

#endif
