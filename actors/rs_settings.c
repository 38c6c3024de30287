/* rs_settings.c: the [rs] section (rejection_sample.h). How completions are
 * sampled (temperature, top-k/top-p, length) is [sampler]'s, as for
 * rollouts: rejection sampling reads what the policy would write. */
#include "rejection_sample.h"

static const CfgKey keys[] = {
    CFG_I(RsSettings, "prompts", prompts, "256", 1, 1 << 24, 0,
          "training prompts to sample (rejection-sample)"),
    CFG_I(RsSettings, "k", k, "8", 1, 4096, 0, "completions per prompt (rejection-sample)"),
    CFG_I(RsSettings, "shortest", shortest, "0", 0, 1, 0,
          "1 = keep only the shortest accepted completion per prompt"),
};
const CfgSection rs_section = CFG_SECTION("rs", RsSettings, keys, NULL, NULL);
