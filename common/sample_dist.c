/* sample_dist.c: the kept-set rule of top-k / top-p (see sample_dist.h). */
#include "sample_dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

const char *const logprob_kind_names[] = {"full", "truncated", NULL};
_Static_assert(sizeof logprob_kind_names / sizeof *logprob_kind_names == LOGPROB_COUNT + 1,
               "logprob_kind_names");

/* Candidate ids are stored as floats in the scratch buffer (an int stored
 * through an int pointer into a float array would break strict aliasing);
 * floats hold every integer below 2^24 exactly. */
enum { SAMPLE_DIST_MAX_V = 1 << 24 };

SampleDist sample_dist_scoring(float temperature, int top_k, float top_p, int logprob) {
    SampleDist d = {temperature, top_k, top_p, logprob};
    if (!(temperature > 0)) d = (SampleDist){1.0f, 0, 1.0f, LOGPROB_FULL};
    return d;
}

int sample_dist_cuts(const SampleDist *d, int V) {
    return (d->top_k > 0 && d->top_k < V) || d->top_p < 1.0f;
}

int sample_dist_truncates(const SampleDist *d, int V) {
    return d->logprob == LOGPROB_TRUNCATED && sample_dist_cuts(d, V);
}

/* Higher logit first, then lower id. Ordering by raw logit equals
 * ordering by probability since T > 0. */
static int cmp_candidate(const void *pa, const void *pb) {
    const float *a = pa, *b = pb;
    if (a[0] != b[0]) return a[0] > b[0] ? -1 : 1;
    return (a[1] > b[1]) - (a[1] < b[1]);
}

/* Exact truncation: sorts all candidates (V log V; fine at the
 * vocabularies we run, and simpler to trust than a partial selection). */
int sample_dist_keep(const float *logits, int V, const SampleDist *d, double zmax, float *scratch,
                     double *mass) {
    CHECK(V > 0 && V < SAMPLE_DIST_MAX_V && d->temperature > 0);
    const double inv_t = 1.0 / (double)d->temperature;
    for (int i = 0; i < V; i++) {
        scratch[2 * i] = logits[i];
        scratch[2 * i + 1] = (float)i;
    }
    qsort(scratch, (size_t)V, 2 * sizeof(float), cmp_candidate);
    const int k = d->top_k > 0 && d->top_k < V ? d->top_k : V;
    double mass_k = 0.0;
    for (int r = 0; r < k; r++) mass_k += exp((double)scratch[2 * r] * inv_t - zmax);
    int n_keep = k;
    *mass = mass_k;
    if (d->top_p < 1.0f) {
        /* Smallest prefix whose share of the top-k mass reaches p; the same
         * sum in the same order as mass_k, so it always ends by r = k - 1. */
        const double want = (double)d->top_p * mass_k;
        double cum = 0.0;
        for (int r = 0; r < k; r++) {
            cum += exp((double)scratch[2 * r] * inv_t - zmax);
            if (cum >= want) {
                n_keep = r + 1;
                *mass = cum;
                break;
            }
        }
    }
    return n_keep;
}

int sample_dist_bias_warning(const SampleDist *d, int V, char *out, size_t cap) {
    if (d->logprob != LOGPROB_FULL || !sample_dist_cuts(d, V)) return 0;
    snprintf(out, cap,
             "the policy gradient is biased: sampler.top_k = %d / top_p = %g sample from the "
             "truncated distribution, but sampler.logprob = full scores tokens under the full "
             "softmax, so the update is not the gradient of the policy that samples; set "
             "sampler.logprob=truncated",
             d->top_k, (double)d->top_p);
    return 1;
}
