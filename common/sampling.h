/* sampling.h: the [sampler] section: the next-token distribution the
 * actors sample completions from, and their length limit. The learner
 * reads it too: it recomputes log-probs under the same distribution and
 * sizes its buffers by the same limit, so it lives on the ground floor. */
#ifndef COMMON_SAMPLING_H
#define COMMON_SAMPLING_H

#include "config.h"

typedef struct {
    float temperature;   /* 0 = greedy */
    int top_k;           /* 0 = off */
    float top_p;         /* 1 = off */
    int max_new_tokens;  /* completion length limit (EOS included) */
    char stop[16];       /* stop string; "" = EOS only */
    int logprob;         /* LogprobKind (sample_dist.h): full | truncated */
} SamplingSettings;

extern const CfgSection sampling_section;
static inline const SamplingSettings *sampling_settings(const Config *c) {
    return config_get(c, &sampling_section);
}

#endif
