/* rm_settings.c: the [rm] section (rm_train.h). */
#include "rm_train.h"
#include "util.h"

#define T RmSettings
static const CfgKey keys[] = {
    CFG_S(T, "data", data, "", 1,
          "comparison pairs, JSON lines {prompt, chosen, rejected} (--data sets it)"),
    CFG_S(T, "eval", eval, "", 1,
          "held-out comparison pairs (--eval sets it); \"\" = the holdout share of data"),
    CFG_F(T, "holdout", holdout, "0.1", 0.001, 0.999, 1,
          "share of data's prompts held out (by hash of the prompt) when eval is \"\""),
    CFG_S(T, "init", init, "",
          1, "checkpoint the reward model starts from: a policy (its head becomes a scalar one, "
          "w = b = 0) or a reward model; \"\" = fresh [model] weights"),
    CFG_I(T, "steps", steps, "1000", 0, 1e9, 1, "optimizer steps"),
    CFG_I(T, "batch_size", batch, "32", 1, 1 << 20, 1, "comparison pairs per step"),
    CFG_OPTIM_KEYS(T, opt, "1e-3", "1e-4", "50", "0.0", "1.0"),
    CFG_I(T, "eval_every", eval_every, "100", 0, 1e9, 0,
          "held-out pairwise accuracy every N steps (0 = at the end only)"),
    CFG_I(T, "eval_pairs", eval_pairs, "2000", 0, 1 << 28, 0,
          "held-out pairs those evaluations use (the first N; 0 = all)"),
    CFG_I(T, "log_every", log_every, "50", 1, 1e9, 0, "progress line every N steps"),
    CFG_I(T, "checkpoint_every", checkpoint_every, "200", 0, 1e9, 0,
          "resume checkpoint <out>.resume.ckpt every N steps (0 = only on SIGTERM/SIGINT/SIGUSR1)"),
    CFG_I(T, "max_nonfinite_steps", max_nonfinite_steps, "3", 1, 1e9, 0,
          "stop (status 6) after N steps in a row with a NaN/inf gradient"),
};
#undef T

static int validate(const Config *cfg, const void *settings, char *err, size_t errlen) {
    (void)cfg;
    const RmSettings *s = settings;
    if (s->opt.lr_min > s->opt.lr) {
        set_err(err, errlen, "[rm] lr_min = %g must not exceed lr = %g", s->opt.lr_min, s->opt.lr);
        return -1;
    }
    return 0;
}

const CfgSection rm_section = CFG_SECTION("rm", RmSettings, keys, NULL, validate);
