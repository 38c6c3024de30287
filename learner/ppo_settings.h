/* ppo_settings.h: the [ppo] section, read when [grpo] algo = ppo
 * (ppo_step.h): the value model (where it starts, its optimizer, its
 * clipped loss), GAE, advantage whitening, where the KL goes and the
 * adaptive KL controller. The policy side keeps its [grpo] keys: beta is
 * [grpo] beta (the starting beta when adaptive), mu epochs and
 * minibatches are [grpo] inner_epochs and minibatches, for the policy and
 * the value model alike. */
#ifndef LEARNER_PPO_SETTINGS_H
#define LEARNER_PPO_SETTINGS_H

#include <stddef.h>

#include "config.h"
#include "optim.h"

typedef struct {
    /* Checkpoint the value model starts from: a reward model (its scalar
     * head kept, as InstructGPT) or a policy (its trunk, a fresh zero
     * scalar head). "" = the policy's starting checkpoint. The value
     * model has that checkpoint's size: a smaller checkpoint (with the
     * policy's tokenizer) is a smaller critic. */
    char value_init[CFG_STR_MAX];
    float gamma, lam;       /* GAE discount and lambda */
    float value_clip;       /* eps_v of the clipped value loss */
    float value_coef;       /* scale of the value loss (a token mean) */
    OptimSettings opt;      /* the value model's AdamW and schedule */
    int kl_mode;            /* PpoKlMode: reward (-beta k1 per token) or loss (k3) */
    int whiten;             /* 1: advantages whitened over the batch's tokens */
    float kl_target;        /* adaptive controller's KL per sequence; 0 = fixed beta */
    float kl_horizon;       /* its horizon in samples */
} PpoSettings;

extern const CfgSection ppo_section;
static inline const PpoSettings *ppo_settings(const Config *c) {
    return config_get(c, &ppo_section);
}

/* Path of the value model's starting checkpoint: value_init, or the
 * policy's starting checkpoint init_path. */
void ppo_value_init_path(const PpoSettings *p, const char *init_path, char *out, size_t cap);

#endif
