/* eval_settings.c: the [eval] section (eval.h). */
#include "eval.h"

static const CfgKey keys[] = {
    CFG_I(EvalSettings, "prompts", prompts, "500", 1, 1 << 24, 0, "held-out prompts"),
    CFG_I(EvalSettings, "pass_k", pass_k, "8", 1, 4096, 0, "samples per prompt for pass@k"),
    /* the cap is the wire's (eval_samples.h): the learner refuses more */
    CFG_I(EvalSettings, "samples", samples, "4", 0, EVAL_SAMPLES_MAX, 0,
          "held-out prompts whose greedy completions go to samples.jsonl at every evaluation"),
};
const CfgSection eval_section = CFG_SECTION("eval", EvalSettings, keys, NULL, NULL);
