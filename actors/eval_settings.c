/* eval_settings.c: the [eval] section (eval.h). */
#include "eval.h"

static const CfgKey keys[] = {
    CFG_I(EvalSettings, "prompts", prompts, "500", 1, 1 << 24, 0, "held-out prompts"),
    CFG_I(EvalSettings, "pass_k", pass_k, "8", 1, 4096, 0, "samples per prompt for pass@k"),
};
const CfgSection eval_section = CFG_SECTION("eval", EvalSettings, keys, NULL, NULL);
