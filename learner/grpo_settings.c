#include "grpo_settings.h"

#include <stdio.h>

#include "grpo_loss.h"
#include "plan.h"
#include "util.h"

#define T GrpoSettings
static const CfgKey keys[] = {
    CFG_E(T, "algo", algo, "grpo", pg_algo_names, 1, "policy-gradient estimator"),
    CFG_E(T, "adv_std", adv_std, "population", adv_std_names, 1, "advantage normaliser"),
    CFG_F(T, "adv_eps", adv_eps, "1e-4", 0, 1, 1, "advantage epsilon"),
    CFG_F(T, "eps_low", eps_low, "0.2", 0, 1, 1, "clip below 1 - eps_low"),
    CFG_F(T, "eps_high", eps_high, "0.2", 0, 100, 1, "clip above 1 + eps_high"),
    CFG_F(T, "beta", beta, "0.01", 0, 100, 1, "k3 KL weight to the reference"),
    CFG_E(T, "loss_norm", loss_norm, "sequence", loss_norm_names, 1, "loss normalisation"),
    CFG_I(T, "inner_epochs", inner_epochs, "1", 1, 64, 1, "mu: passes over each rollout batch"),
    CFG_I(T, "minibatches", minibatches, "1", 1, 4096, 1, "optimizer steps per inner epoch"),
    CFG_I(T, "micro_batches", micro_batches, "4", 1, 1 << 20, 0,
          "length-sorted chunks of a minibatch's rows, each padded to its own longest; same "
          "gradient, less padding (1 = one batch)"),
    CFG_I(T, "grad_shards", grad_shards, "1", 1, 4096, 0,
          "S: each minibatch's gradient is summed from S shards of its groups in a fixed order "
          "(S = 2: 1 or 2 learners give bit-identical weights; 1 = one sum)"),
    CFG_F(T, "tis_cap", tis_cap, "0", 0, 1e6, 1, "truncated importance weight cap (0 = off)"),
    CFG_OPTIM_KEYS(T, opt, "2e-4", "2e-5", "0", "0.0", "1.0"),
    CFG_S(T, "ref", ref, "", 1, "reference model (\"\" = starting checkpoint)"),
    CFG_I(T, "checkpoint_every", checkpoint_every, "50", 0, 1e9, 0, "checkpoint every S steps"),
    CFG_I(T, "keep_checkpoints", keep_checkpoints, "3", 1, 1000, 0, "newest training checkpoints kept"),
    CFG_I(T, "restart", restart, "0", 0, 1, 0,
          "1: start from step 0 even if run.dir holds training checkpoints that do not load"),
    CFG_I(T, "max_empty_steps", max_empty_steps, "3", 0, 1e9, 0,
          "stop (status 5) after N consecutive steps without a valid group, 0 = never"),
    CFG_F(T, "time_limit_s", time_limit_s, "0", 0, 1e9, 0,
          "start no new step after this many seconds of training (counted across resumes), "
          "then finish as after the last step; 0 = off"),
    CFG_I(T, "max_nonfinite_steps", max_nonfinite_steps, "3", 1, 1e9, 0,
          "stop (status 6) after N steps in a row with a NaN/inf gradient"),
};
#undef T

static int validate(const Config *cfg, const void *settings, char *err, size_t errlen) {
    const GrpoSettings *g = settings;
    const TrainPlan *plan = train_plan(cfg);
    if (g->minibatches > plan->prompts_per_step) {
        set_err(err, errlen, "[grpo] minibatches = %d exceeds prompts_per_step = %d",
                g->minibatches, plan->prompts_per_step);
        return -1;
    }
    if (g->opt.lr_min > g->opt.lr) {
        set_err(err, errlen, "[grpo] lr_min = %g must not exceed lr = %g", g->opt.lr_min, g->opt.lr);
        return -1;
    }
    if (g->algo == ALGO_GRPO && g->adv_std == ADV_STD_SAMPLE && plan->group_size < 2) {
        set_err(err, errlen, "[grpo] adv_std = sample needs group_size >= 2");
        return -1;
    }
    return 0;
}

const CfgSection grpo_section = CFG_SECTION("grpo", GrpoSettings, keys, NULL, validate);

void grpo_ref_path(const GrpoSettings *g, const char *init_path, char *out, size_t cap) {
    if (g->ref[0]) snprintf(out, cap, "%s", g->ref);
    else snprintf(out, cap, "%s", init_path);
}
