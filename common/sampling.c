#include "sampling.h"

#include "sample_dist.h"

#define T SamplingSettings
static const CfgKey keys[] = {
    CFG_F(T, "temperature", temperature, "1.0", 0, 100, 1, "0 = greedy"),
    CFG_I(T, "top_k", top_k, "0", 0, 1 << 20, 1, "0 = off"),
    CFG_F(T, "top_p", top_p, "1.0", 0.001, 1, 1, "1 = off"),
    CFG_I(T, "max_new_tokens", max_new_tokens, "8", 1, 1 << 20, 1, "completion length limit"),
    CFG_S(T, "stop", stop, "", 1, "stop string (\"\" = EOS only)"),
    CFG_E(T, "logprob", logprob, "full", logprob_kind_names, 1,
          "log-probs under the full softmax or the top-k/top-p truncated one sampled from"),
};
#undef T

const CfgSection sampling_section = CFG_SECTION("sampler", SamplingSettings, keys, NULL, NULL);
