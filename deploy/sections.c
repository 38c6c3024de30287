#include "sections.h"

#include "distill.h"
#include "eval.h"
#include "grpo_settings.h"
#include "overopt_alarm.h"
#include "model.h"
#include "pipeline.h"
#include "plan.h"
#include "ppo_settings.h"
#include "rejection_sample.h"
#include "reward_mix.h"
#include "rm_data.h"
#include "rm_train.h"
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
        &rm_section,       /* learner/rm_settings.c: grpo rm-train */
        &plan_section,     /* proto/plan.c: [grpo] keys every rank agrees on */
        &grpo_section,     /* learner/grpo_settings.c: the learner's [grpo] keys */
        &ppo_section,      /* learner/ppo_settings.c: [grpo] algo = ppo's value model, GAE */
        &alarm_section,    /* learner/overopt_alarm.c: learned reward vs true score */
        &eval_section,     /* actors/eval.c */
        &rs_section,       /* actors/rs_settings.c: rejection-sample */
        &rm_data_section,  /* actors/rm_data_settings.c: rm-data */
        &pipeline_section, /* deploy/pipeline_settings.c: grpo pipeline */
    };
    return config_new(sections, (int)(sizeof sections / sizeof sections[0]));
}
