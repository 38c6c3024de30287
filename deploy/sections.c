#include "sections.h"

#include "distill.h"
#include "eval.h"
#include "grpo_settings.h"
#include "model.h"
#include "pipeline.h"
#include "plan.h"
#include "ppo_settings.h"
#include "rejection_sample.h"
#include "reward_mix.h"
#include "run_settings.h"
#include "sandbox.h"
#include "sampling.h"
#include "sft.h"
#include "task.h"

Config *grpo_config_new(void) {
    /* in the order the effective config is written */
    static const CfgSection *const sections[] = {
        &run_section,      /* common/run_settings.c */
        &model_section,    /* common/model_config.c */
        &task_section,     /* common/task_config.c */
        &sampling_section, /* common/sampling.c */
        &reward_section,   /* common/reward_mix.c: extra scorers beside the verifier */
        &sandbox_section,  /* common/sandbox_settings.c: limits of sandboxed programs */
        &sft_section,      /* learner/sft.c */
        &distill_section,  /* learner/distill_settings.c */
        &plan_section,     /* proto/plan.c: [grpo] keys every rank agrees on */
        &grpo_section,     /* learner/grpo_settings.c: the learner's [grpo] keys */
        &ppo_section,      /* learner/ppo_settings.c: [grpo] algo = ppo's value model, GAE */
        &eval_section,     /* actors/eval.c */
        &rs_section,       /* actors/rs_settings.c: rejection-sample */
        &pipeline_section, /* deploy/pipeline_settings.c: grpo pipeline */
    };
    return config_new(sections, (int)(sizeof sections / sizeof sections[0]));
}
