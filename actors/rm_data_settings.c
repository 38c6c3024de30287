/* rm_data_settings.c: the [rm_data] section (rm_data.h). How a policy's
 * completions are sampled is [sampler]'s, as for rollouts: the reward
 * model is trained on what the policy writes. */
#include "rm_data.h"

const char *const rm_source_names[] = {"policy", "demos", NULL};

static const CfgKey keys[] = {
    CFG_I(RmDataSettings, "pairs", pairs, "2000", 1, 1 << 24, 0,
          "rm-data: training comparison pairs to write (ties skipped, not counted)"),
    CFG_I(RmDataSettings, "eval_pairs", eval_pairs, "200", 0, 1 << 24, 0,
          "rm-data: held-out pairs from eval-split prompts, labelled without noise (0 = none)"),
    CFG_F(RmDataSettings, "label_noise", label_noise, "0", 0, 0.5, 0,
          "rm-data: chance that the synthetic labeler flips a training label"),
    CFG_E(RmDataSettings, "source", source, "policy", rm_source_names, 0,
          "rm-data: policy = sample --checkpoint; demos = the task's demonstrator (no model)"),
    CFG_S(RmDataSettings, "eval_out", eval_out, "", 0,
          "rm-data: held-out file (\"\" = --out with .jsonl replaced by .eval.jsonl)"),
};
const CfgSection rm_data_section = CFG_SECTION("rm_data", RmDataSettings, keys, NULL, NULL);
