/* pipeline.h: `grpo pipeline`, the DeepSeek-R1 recipe as one resumable
 * command: cold start, GRPO, rejection sampling, SFT on the sampled data
 * mixed with a second task, final RL, distillation into a small student,
 * and the student's own cold start + GRPO in the same wall time as the
 * baseline.
 *
 * The pipeline is a driver, not an MPI program: every stage is a `grpo`
 * subcommand run as a child of the same binary, so each stage is exactly
 * what a user could run alone (its command line is printed and written to
 * <stage>/command.txt). A stage that finished has <stage>/stage.json and is
 * skipped on a re-run; an unfinished one is re-run with the same command,
 * and train resumes from its own checkpoints. */
#ifndef DEPLOY_PIPELINE_H
#define DEPLOY_PIPELINE_H

#include "cli.h"
#include "config.h"

/* The [pipeline] section: each stage's overrides on top of the user's
 * config, and how the stages are launched. */
typedef struct {
    char base[CFG_STR_MAX], cold_start[CFG_STR_MAX], grpo[CFG_STR_MAX], rejection_sample[CFG_STR_MAX],
        sft_mix[CFG_STR_MAX], final_rl[CFG_STR_MAX], teacher_samples[CFG_STR_MAX],
        distill[CFG_STR_MAX], student[CFG_STR_MAX],
        student_cold_start[CFG_STR_MAX], student_rl[CFG_STR_MAX], second_task[CFG_STR_MAX];
    int demos, second_demos;
    float second_weight, mix_second_weight;
    char stages[CFG_STR_MAX];
    int ranks;
    char launcher[CFG_STR_MAX];
    int rerun_changed;
} PipelineSettings;

extern const CfgSection pipeline_section;
static inline const PipelineSettings *pipeline_settings(const Config *c) {
    return config_get(c, &pipeline_section);
}

/* Sets every [pipeline] key of c back to its default: the stages never
 * see the driver's own keys as part of what they computed. */
void pipeline_settings_neutral(Config *c);

/* Applies an override string ("section.key=value ..." separated by
 * blanks) to c. 0, or -1 with err naming [pipeline] <key> and the item. */
int pipeline_apply_overrides(Config *c, const char *key, const char *items, char *err,
                             size_t errlen);

/* `grpo pipeline [--config FILE] [section.key=value ...]`. Returns 0 when
 * every selected stage is finished; 75 when stopped by SIGTERM/SIGINT/
 * SIGUSR1 (re-run to continue); a stage's failing status otherwise; 2 for
 * a bad [pipeline] setting or a finished stage whose command changed. */
int pipeline_command(Config *cfg, const CliArgs *a);

#endif
