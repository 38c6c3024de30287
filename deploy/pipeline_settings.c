/* pipeline_settings.c: the [pipeline] section (pipeline.h). Every override
 * string is checked against a copy of the config when the config is read,
 * so a typo in a late stage stops the pipeline before the first stage. */
#include <ctype.h>
#include <string.h>

#include "pipeline.h"
#include "pipeline_argv.h"
#include "pipeline_stages.h"
#include "util.h"

#define T PipelineSettings
static const CfgKey keys[] = {
    CFG_S(T, "base", base, "sft.steps=2000", 0,
          "overrides of stage 1 (sft on the second task alone: its reference accuracy)"),
    CFG_S(T, "cold_start", cold_start, "sft.steps=1000", 0,
          "overrides of stage 2 (sft on the demonstrations and the second task)"),
    CFG_S(T, "grpo", grpo, "grpo.steps=100", 0, "overrides of stage 3 (train)"),
    CFG_S(T, "rejection_sample", rejection_sample, "rs.prompts=4096 rs.k=4", 0,
          "overrides of stage 4 (rejection-sample)"),
    CFG_S(T, "sft_mix", sft_mix, "sft.steps=1500 sft.lr=1e-3 sft.lr_min=1e-4 sft.warmup=20", 0,
          "overrides of stage 5 (sft on the sampled data and the second task)"),
    CFG_S(T, "final_rl", final_rl, "grpo.steps=50 grpo.lr=3e-5 grpo.lr_min=3e-6 reward.scorers=length:0.1", 0,
          "overrides of stage 6 (train; the hybrid reward: the verifier plus [reward] scorers)"),
    CFG_S(T, "teacher_samples", teacher_samples, "rs.prompts=4096 rs.k=4", 0,
          "overrides of stage 7 (rejection-sample from the final teacher: the distillation data)"),
    CFG_S(T, "distill", distill, "sft.steps=1000", 0,
          "overrides of stage 8 (sequence-level distillation: a fresh student's sft on stage 7's "
          "samples)"),
    CFG_S(T, "student", student, "model.dim=32 model.n_layers=2 model.hidden_dim=88", 0,
          "the student's model shape, for stages 8, 9 and 10"),
    CFG_S(T, "student_cold_start", student_cold_start, "sft.steps=300", 0,
          "overrides of stage 9 (the student's own cold start from fresh weights, on the cold "
          "start's mixture; stage 10 gets the rest of stages 7 and 8's time)"),
    CFG_S(T, "student_rl", student_rl, "grpo.steps=1000", 0,
          "overrides of stage 10 (train; its wall time is capped so that 9 and 10 take what "
          "7 and 8 took)"),
    CFG_S(T, "second_task", second_task, "task.name=arith task.max_digits=2 task.demo_error=0 sampler.max_new_tokens=8",
          0, "overrides that turn the config into the second task (its data and evaluation)"),
    CFG_I(T, "demos", demos, "20000", 1, 1 << 24, 0, "reasoning demonstrations of the cold start"),
    CFG_I(T, "second_demos", second_demos, "8000", 1, 1 << 24, 0,
          "demonstrations of the second task"),
    CFG_F(T, "second_weight", second_weight, "0.3", 0.001, 1000, 0,
          "mixture weight of the second task's file in stages 2 and 8 (the other file: 1)"),
    CFG_F(T, "mix_second_weight", mix_second_weight, "7", 0.001, 1000, 0,
          "mixture weight of the second task's file in stage 5, which restores it (rs.jsonl: 1; "
          "7: 56 of 64 rows are short task-2 rows, about a quarter of the loss, at about a "
          "quarter of the cost of a step of traces)"),
    CFG_S(T, "stages", stages, "all", 0, "comma list of stages to run (e.g. cold-start,grpo), or all"),
    CFG_I(T, "ranks", ranks, "3", 2, 1 << 20, 0, "MPI ranks of the train and rejection-sample stages"),
    CFG_S(T, "launcher", launcher, "mpirun --oversubscribe -np {ranks}", 0,
          "how MPI stages start; {ranks} is replaced (under SLURM: srun -n {ranks})"),
    CFG_I(T, "rerun_changed", rerun_changed, "0", 0, 1, 0,
          "1: a finished stage whose command changed is re-run with the stages that need it (their "
          "directories are moved aside); 0: refuse"),
};
#undef T

/* The keys of the override strings, in table order. */
static const struct {
    const char *key;
    size_t offset;
} override_keys[] = {
    {"base", offsetof(PipelineSettings, base)},
    {"cold_start", offsetof(PipelineSettings, cold_start)},
    {"grpo", offsetof(PipelineSettings, grpo)},
    {"rejection_sample", offsetof(PipelineSettings, rejection_sample)},
    {"sft_mix", offsetof(PipelineSettings, sft_mix)},
    {"final_rl", offsetof(PipelineSettings, final_rl)},
    {"teacher_samples", offsetof(PipelineSettings, teacher_samples)},
    {"distill", offsetof(PipelineSettings, distill)},
    {"student", offsetof(PipelineSettings, student)},
    {"student_cold_start", offsetof(PipelineSettings, student_cold_start)},
    {"student_rl", offsetof(PipelineSettings, student_rl)},
    {"second_task", offsetof(PipelineSettings, second_task)},
};

/* Keys the pipeline sets itself to wire one stage to the next: an
 * override of them would cut the wire silently. */
static const char *const wired[] = {"run.dir", "grpo.init", "sft.init", "sft.data",
                                    "distill.teacher", "distill.init"};

int pipeline_apply_overrides(Config *c, const char *key, const char *items, char *err,
                             size_t errlen) {
    Argv w;
    argv_init(&w);
    argv_push_words(&w, items);
    int rc = 0;
    for (int i = 0; i < w.argc && rc == 0; i++) {
        const char *item = w.argv[i];
        const char *eq = strchr(item, '='), *dot = strchr(item, '.');
        char msg[1800];
        if (!eq || !dot || dot > eq) {
            set_err(err, errlen, "[pipeline] %s: item '%s' is not section.key=value", key, item);
            rc = -1;
            break;
        }
        for (size_t k = 0; k < sizeof wired / sizeof wired[0]; k++)
            if (strlen(wired[k]) == (size_t)(eq - item) && !strncmp(item, wired[k], strlen(wired[k]))) {
                set_err(err, errlen,
                        "[pipeline] %s: item '%s': %s is set by the pipeline itself (it wires "
                        "the stages together)",
                        key, item, wired[k]);
                rc = -1;
            }
        /* the student's RL gets distillation's wall time; that is the point */
        if (!strcmp(key, "student_rl") && !strncmp(item, "grpo.time_limit_s=", 18)) {
            set_err(err, errlen,
                    "[pipeline] student_rl: item '%s': the pipeline sets grpo.time_limit_s of "
                    "the student's RL to distillation's wall time (stages 7 and 8) minus its cold start's",
                    item);
            rc = -1;
        }
        if (rc) break;
        if (!strncmp(item, "pipeline.", 9)) {
            set_err(err, errlen, "[pipeline] %s: item '%s': a stage has no [pipeline] keys", key,
                    item);
            rc = -1;
            break;
        }
        char section[64], name[64];
        size_t ls = (size_t)(dot - item), lk = (size_t)(eq - dot - 1);
        if (ls >= sizeof section || lk >= sizeof name) {
            set_err(err, errlen, "[pipeline] %s: item '%s': name too long", key, item);
            rc = -1;
            break;
        }
        memcpy(section, item, ls);
        section[ls] = 0;
        memcpy(name, dot + 1, lk);
        name[lk] = 0;
        if (config_set_value(c, section, name, eq + 1, msg, sizeof msg) != 0) {
            set_err(err, errlen, "[pipeline] %s: item '%s': %s", key, item, msg);
            rc = -1;
        }
    }
    argv_free(&w);
    return rc;
}

void pipeline_settings_neutral(Config *c) {
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (config_set_value(c, "pipeline", keys[k].key, keys[k].def, NULL, 0) != 0)
            die("[pipeline] %s: bad built-in default", keys[k].key);
}

static int validate(const Config *cfg, const void *settings, char *err, size_t errlen) {
    const PipelineSettings *s = settings;
    int rc = 0;
    for (size_t k = 0; k < sizeof override_keys / sizeof override_keys[0] && rc == 0; k++) {
        Config *copy = config_new_like(cfg);
        config_copy(copy, cfg);
        rc = pipeline_apply_overrides(copy, override_keys[k].key,
                                      (const char *)s + override_keys[k].offset, err, errlen);
        config_free(copy);
    }
    if (rc) return rc;
    int selected[PIPELINE_N_STAGES];
    if (pipeline_parse_stages(s->stages, selected, err, errlen) != 0) return -1;
    const char *p = s->launcher;
    while (*p && isspace((unsigned char)*p)) p++;
    if (!*p) {
        set_err(err, errlen, "[pipeline] launcher is empty (the default is mpirun "
                             "--oversubscribe -np {ranks})");
        return -1;
    }
    return 0;
}

const CfgSection pipeline_section = CFG_SECTION("pipeline", PipelineSettings, keys, NULL, validate);
