/* ppo_settings.c: the [ppo] section (ppo_settings.h). */
#include "ppo_settings.h"

#include <stdio.h>

#include "grpo_loss.h"
#include "grpo_settings.h"
#include "kl_controller.h"
#include "plan.h"
#include "ppo_rewards.h"
#include "util.h"

#define T PpoSettings
static const CfgKey keys[] = {
    CFG_S(T, "value_init", value_init, "", 1,
          "value model's starting checkpoint: a reward model (scalar head kept) or a policy "
          "(trunk + zero scalar head); its size is the critic's; \"\" = the policy's start"),
    CFG_F(T, "gamma", gamma, "1.0", 0, 1, 1, "GAE discount"),
    CFG_F(T, "lam", lam, "0.95", 0, 1, 1, "GAE lambda (1 = Monte Carlo returns, 0 = one-step TD)"),
    CFG_F(T, "value_clip", value_clip, "0.2", 0, 1e6, 1,
          "eps_v: the value loss is clipped around the rollout-time value"),
    CFG_F(T, "value_coef", value_coef, "1.0", 0, 1e6, 1, "scale of the value loss (token mean)"),
    CFG_F(T, "value_lr", opt.lr, "1e-3", 0, 10, 1, "value model: peak learning rate"),
    CFG_F(T, "value_lr_min", opt.lr_min, "1e-4", 0, 10, 1, "value model: final learning rate"),
    CFG_I(T, "value_warmup", opt.warmup, "0", 0, 1e9, 1, "value model: linear warm-up updates"),
    CFG_F(T, "value_weight_decay", opt.weight_decay, "0.0", 0, 10, 1,
          "value model: AdamW decoupled decay (matrices)"),
    CFG_F(T, "value_beta1", opt.beta1, "0.9", 0, 0.99999, 1, "value model: AdamW beta1"),
    CFG_F(T, "value_beta2", opt.beta2, "0.99", 0, 0.999999, 1, "value model: AdamW beta2"),
    CFG_F(T, "value_adam_eps", opt.eps, "1e-8", 1e-12, 1, 1, "value model: AdamW epsilon"),
    CFG_F(T, "value_grad_clip", opt.grad_clip, "1.0", 0, 1e9, 1,
          "value model: global gradient-norm clip, 0 = off"),
    CFG_E(T, "kl_mode", kl_mode, "reward", ppo_kl_mode_names, 1,
          "reward: -beta k1 per token in the reward (InstructGPT); loss: k3 in the loss (GRPO)"),
    CFG_I(T, "whiten", whiten, "1", 0, 1, 1, "whiten advantages over the batch's tokens"),
    CFG_F(T, "kl_target", kl_target, "0", 0, 1e6, 1,
          "adaptive KL controller's target KL per sequence (nats); 0 = a fixed grpo.beta"),
    CFG_F(T, "kl_horizon", kl_horizon, "10000", 1, 1e12, 1,
          "adaptive KL controller's horizon in samples"),
};
#undef T

static int validate(const Config *cfg, const void *settings, char *err, size_t errlen) {
    const PpoSettings *p = settings;
    const GrpoSettings *g = grpo_settings(cfg);
    if (g->algo != ALGO_PPO) return 0; /* [ppo] is read by algo = ppo alone */
    if (p->opt.lr_min > p->opt.lr) {
        set_err(err, errlen, "[ppo] value_lr_min = %g must not exceed value_lr = %g",
                p->opt.lr_min, p->opt.lr);
        return -1;
    }
    if (p->kl_target > 0 && !(g->beta > 0)) {
        set_err(err, errlen, "[ppo] kl_target = %g needs a starting [grpo] beta > 0 (the "
                "adaptive controller scales beta; it is 0)", p->kl_target);
        return -1;
    }
    const int per_step = train_plan(cfg)->prompts_per_step * train_plan(cfg)->group_size;
    if (p->kl_target > 0 && per_step >= p->kl_horizon / KL_CTL_ERROR_CLIP) {
        set_err(err, errlen, "[ppo] kl_horizon = %g is too short for %d completions per step: "
                "it must exceed %g x that, or beta could turn negative", p->kl_horizon, per_step,
                KL_CTL_ERROR_CLIP);
        return -1;
    }
    return 0;
}

const CfgSection ppo_section = CFG_SECTION("ppo", PpoSettings, keys, NULL, validate);

void ppo_value_init_path(const PpoSettings *p, const char *init_path, char *out, size_t cap) {
    if (p->value_init[0]) snprintf(out, cap, "%s", p->value_init);
    else snprintf(out, cap, "%s", init_path);
}
