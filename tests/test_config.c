/* Config: the core (INI parsing with errors that name file:line and the
 * key, overrides, validation, the effective-config dump round trip, diff)
 * over the sections the grpo binary registers, a section a module adds
 * without touching the core, bad files (a directory, a key given twice, a
 * malformed [section] line), overrides that cannot apply, CLI numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "grpo_loss.h"
#include "eval.h"
#include "grpo_settings.h"
#include "sampling.h"
#include "sft.h"
#include "model.h"
#include "plan.h"
#include "run_settings.h"
#include "sections.h"
#include "task.h"

static const char *write_tmp(const char *text) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/grpo_cfg_%d.ini", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults_valid(void **state) {
    (void)state;
    Config *c = grpo_config_new();
    char err[512];
    assert_int_equal(config_validate(c, err, sizeof err), 0);
    assert_int_equal(train_plan(c)->group_size, 8);
    assert_int_equal(model_settings(c)->dim, 128);
    assert_float_equal(model_settings(c)->norm_eps, 1e-5f, 1e-12);
    const TaskSettings *ts = task_settings(c);
    assert_string_equal(ts->name, "arith");
    assert_true(ts->p.demo_error > 0.5f); /* the habit must be the model's mode */
    /* the [task] section and task_params_default() must agree */
    TaskParams tp;
    task_params_default(&tp);
    assert_int_equal(ts->p.max_digits, tp.max_digits);
    assert_int_equal(ts->p.mul_max, tp.mul_max);
    assert_int_equal(ts->p.eval_permille, tp.eval_permille);
    assert_int_equal(ts->p.cd_n_min, tp.cd_n_min);
    assert_int_equal(ts->p.cd_n_max, tp.cd_n_max);
    assert_int_equal(ts->p.cd_max_number, tp.cd_max_number);
    assert_float_equal(ts->p.demo_error, tp.demo_error, 1e-7);
    assert_float_equal(ts->p.p_add, tp.p_add, 1e-7);
    assert_float_equal(ts->p.p_sub, tp.p_sub, 1e-7);
    assert_float_equal(ts->p.p_mul, tp.p_mul, 1e-7);
    assert_int_equal(ts->p.code_max_steps, tp.code_max_steps);
    assert_int_equal(ts->p.code_tests, tp.code_tests);
    assert_float_equal(ts->p.code_demo_error, tp.code_demo_error, 1e-7);
    assert_float_equal(ts->p.code_w_syntax, tp.code_w_syntax, 1e-7);
    assert_int_equal(ts->p.review_demo_words, tp.review_demo_words);
    assert_float_equal(ts->p.review_w_preference, tp.review_w_preference, 1e-7);
    for (int i = 0; i < TASK_MAX_COMPONENTS; i++)
        assert_float_equal(ts->p.weights[i], tp.weights[i], 1e-7);
    assert_string_equal(ts->p.verifier, tp.verifier);
    assert_float_equal(ts->p.verifier_timeout, tp.verifier_timeout, 1e-7);
    assert_float_equal(ts->p.verifier_start_timeout, tp.verifier_start_timeout, 1e-7);
    assert_int_equal(ts->p.verifier_procs, tp.verifier_procs);
    assert_int_equal(ts->p.verifier_pipeline, tp.verifier_pipeline);
    assert_int_equal(ts->p.verifier_max_failures, tp.verifier_max_failures);
    assert_string_equal(ts->p.verifier_components, tp.verifier_components);
    assert_int_equal(ts->p.verifier_sandbox, tp.verifier_sandbox);
    assert_string_equal(ts->p.verifier_sandbox_paths, tp.verifier_sandbox_paths);
    /* and the [sandbox] section with sandbox_limits_default() */
    SandboxLimits sl;
    sandbox_limits_default(&sl);
    assert_memory_equal(&sandbox_settings(c)->limits, &sl, sizeof sl);
    config_free(c);
}

static void test_file_and_errors(void **state) {
    (void)state;
    Config *c = grpo_config_new();
    char err[2000];
    const char *p = write_tmp("[grpo]\ngroup_size = 16\nalgo = reinforce_baseline\n[model]\ndim = 64\n");
    assert_int_equal(config_load_file(c, p, err, sizeof err), 0);
    assert_int_equal(train_plan(c)->group_size, 16);
    assert_int_equal(model_settings(c)->dim, 64);
    assert_int_equal(grpo_settings(c)->algo, ALGO_REINFORCE_BASELINE);
    assert_true(config_was_set(c, "model", "dim"));
    assert_false(config_was_set(c, "model", "n_layers"));

    p = write_tmp("[grpo]\ngroup_size = 16\n\nbogus_key = 3\n");
    assert_int_equal(config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, ":4:"));
    assert_non_null(strstr(err, "bogus_key"));
    /* lists the known keys of every part of [grpo]: the plan's and the learner's */
    assert_non_null(strstr(err, "group_size"));
    assert_non_null(strstr(err, "eps_low"));

    p = write_tmp("[grpo]\nadv_std = median\n");
    assert_int_equal(config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "population | sample | none"));

    p = write_tmp("[nosuch]\nx = 1\n");
    assert_int_equal(config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown section [nosuch]"));

    p = write_tmp("[grpo]\ngroup_size = 2.5\n");
    assert_int_equal(config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "group_size"));
    assert_non_null(strstr(err, "integer"));

    assert_int_equal(config_load_file(c, "/nonexistent/x.ini", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.ini"));
    unlink(p);
    config_free(c);
}

/* Issue 13 item 9: a directory, a key given twice, a '[' line with no ']'. */
static void test_bad_files(void **state) {
    (void)state;
    Config *c = grpo_config_new();
    char err[2000];
    assert_int_equal(config_load_file(c, "/tmp", err, sizeof err), -1);
    assert_non_null(strstr(err, "/tmp: not a regular file"));

    const char *p = write_tmp("[grpo]\nsteps = 5\n[sampler]\ntop_k = 3\n[grpo]\nsteps = 7\n");
    assert_int_equal(config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":6:"));
    assert_non_null(strstr(err, "[grpo] steps is set twice"));

    p = write_tmp("[run]\nseed = 3\n[model\ndim = 64\n");
    assert_int_equal(config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":3:"));
    assert_non_null(strstr(err, "no closing ']'"));
    assert_null(strstr(err, "unknown section []"));

    /* a key before any section */
    p = write_tmp("dim = 64\n");
    assert_int_equal(config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1:"));
    assert_non_null(strstr(err, "outside any [section]"));

    /* a line longer than inih's buffer is named at its own line */
    char text[600];
    snprintf(text, sizeof text, "[run]\nseed = 1\ndir = %0300d\n", 0);
    p = write_tmp(text);
    assert_int_equal(config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":3:"));
    assert_non_null(strstr(err, "line limit"));

    /* the same key in a file and then an override is fine: later wins */
    p = write_tmp("[grpo]\nsteps = 5\n");
    assert_int_equal(config_load_file(c, p, err, sizeof err), 0);
    assert_int_equal(config_set(c, "grpo.steps=9", err, sizeof err), 0);
    assert_int_equal(train_plan(c)->steps, 9);
    unlink(p);
    config_free(c);
}

static void test_overrides_and_validate(void **state) {
    (void)state;
    Config *c = grpo_config_new();
    char err[2000];
    assert_int_equal(config_set(c, "grpo.beta=0.04", err, sizeof err), 0);
    assert_float_equal(grpo_settings(c)->beta, 0.04f, 1e-9);
    assert_int_equal(config_set(c, "grpo.init=\"\"", err, sizeof err), 0);
    assert_string_equal(train_plan(c)->init, "");
    assert_int_equal(config_set(c, "grpo.eps_low=-1", err, sizeof err), -1);
    assert_non_null(strstr(err, "eps_low"));
    assert_int_equal(config_set(c, "steps=3", err, sizeof err), -1);
    assert_non_null(strstr(err, "section.key=value"));
    assert_int_equal(config_set(c, "model.n_kv_heads=3", err, sizeof err), 0);
    assert_int_equal(config_validate(c, err, sizeof err), -1);
    assert_non_null(strstr(err, "n_kv_heads"));
    config_set(c, "model.n_kv_heads=4", err, sizeof err);
    /* a check across sections: the learner's minibatches vs the plan's prompts */
    assert_int_equal(config_set(c, "grpo.minibatches=32", err, sizeof err), 0);
    assert_int_equal(config_validate(c, err, sizeof err), -1);
    assert_non_null(strstr(err, "minibatches = 32 exceeds prompts_per_step = 16"));
    config_free(c);
}

static void test_dump_round_trip_and_diff(void **state) {
    (void)state;
    Config *a = grpo_config_new();
    char err[2000], names[1024], changed[1024];
    config_set(a, "grpo.group_size=12", err, sizeof err);
    config_set(a, "run.dir=/tmp/x y", err, sizeof err);
    char *text = config_to_string(a);
    /* one [grpo] block although two modules own its keys */
    const char *first = strstr(text, "[grpo]");
    assert_non_null(first);
    assert_null(strstr(first + 1, "[grpo]"));
    const char *p = write_tmp(text);
    free(text);
    Config *b = config_new_like(a);
    assert_int_equal(config_load_file(b, p, err, sizeof err), 0);
    assert_int_equal(config_diff(a, b, names, sizeof names, changed, sizeof changed), 0);
    assert_string_equal(changed, "");
    /* a run-defining change is named; a harmless one is only recorded */
    config_set(b, "grpo.group_size=4", err, sizeof err);
    config_set(b, "grpo.eval_every=3", err, sizeof err);
    assert_int_equal(config_diff(a, b, names, sizeof names, changed, sizeof changed), 1);
    assert_non_null(strstr(names, "group_size"));
    assert_non_null(strstr(changed, "eval_every"));
    unlink(p);
    config_free(a);
    config_free(b);
}

/* Every key of every section, with its help, in the dump `grpo config`
 * prints: checked against the binary's own output. */
static void test_every_key_in_grpo_config(void **state) {
    (void)state;
    const char *bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    char cmd[600], path[80];
    snprintf(path, sizeof path, "/tmp/grpo_cfgdump_%d.txt", (int)getpid());
    snprintf(cmd, sizeof cmd, "%s config > %s", bin, path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char dump[65536];
    size_t n = fread(dump, 1, sizeof dump - 1, f);
    dump[n] = 0;
    fclose(f);
    unlink(path);
    const CfgSection *all[] = {&run_section,  &model_section, &task_section, &sampling_section,
                               &sft_section,  &plan_section,  &grpo_section, &eval_section};
    for (size_t s = 0; s < sizeof all / sizeof all[0]; s++)
        for (int k = 0; k < all[s]->n_keys; k++) {
            char line[200], head[80];
            snprintf(head, sizeof head, "[%s]\n", all[s]->name);
            const char *block = strstr(dump, head);
            assert_non_null(block);
            snprintf(line, sizeof line, "\n%-20s = ", all[s]->keys[k].key);
            const char *at = strstr(block, line), *next = strstr(block + 1, "\n[");
            if (at && next && at > next) at = NULL;
            if (!at) fail_msg("[%s] %s missing from grpo config", all[s]->name, all[s]->keys[k].key);
            const char *eol = strchr(at + 1, '\n');
            const char *help = strstr(at, all[s]->keys[k].help);
            assert_true(help && help < eol);
        }
}

/* A module declares its own section and the core handles it: what adding
 * the PPO keys will do (no change to config.c). */
typedef struct {
    float clip_value;
    int value_dim;
} ToySettings;
static const CfgKey toy_keys[] = {
    CFG_F(ToySettings, "clip_value", clip_value, "0.2", 0, 10, 1, "value clip"),
    CFG_I(ToySettings, "value_dim", value_dim, "64", 8, 4096, 1, "value model width"),
};
static const CfgSection toy_section = CFG_SECTION("ppo", ToySettings, toy_keys, NULL, NULL);

static void test_module_section(void **state) {
    (void)state;
    const CfgSection *secs[] = {&run_section, &toy_section};
    Config *c = config_new(secs, 2);
    char err[1000];
    const ToySettings *t = config_get(c, &toy_section);
    assert_float_equal(t->clip_value, 0.2f, 1e-9);
    assert_int_equal(config_set(c, "ppo.value_dim=128", err, sizeof err), 0);
    assert_int_equal(t->value_dim, 128);
    assert_int_equal(config_set(c, "ppo.value_dim=4", err, sizeof err), -1);
    assert_non_null(strstr(err, "[ppo] value_dim = '4': expected an integer in 8..4096"));
    char *text = config_to_string(c);
    assert_non_null(strstr(text, "[ppo]"));
    assert_non_null(strstr(text, "value model width"));
    free(text);
    config_free(c);
}

/* Issue 13 item 10: a [model] override that disagrees with the loaded
 * model is refused; what ran is recorded. */
static void test_model_override_conflict(void **state) {
    (void)state;
    Config *c = grpo_config_new();
    char err[1000];
    ModelConfig loaded = *model_settings(c);
    loaded.dim = 32;
    loaded.vocab_size = 98;
    /* not given: adopted, so the dump records dim = 32 */
    assert_int_equal(model_config_adopt(c, &loaded, "x.ckpt", err, sizeof err), 0);
    assert_int_equal(model_settings(c)->dim, 32);
    assert_false(config_was_set(c, "model", "dim"));
    char *text = config_to_string(c);
    assert_non_null(strstr(text, "dim                  = 32 "));
    free(text);
    /* given and different: refused, naming the key and both values */
    assert_int_equal(config_set(c, "model.dim=64", err, sizeof err), 0);
    assert_int_equal(model_config_adopt(c, &loaded, "x.ckpt", err, sizeof err), -1);
    assert_non_null(strstr(err, "model.dim = 64"));
    assert_non_null(strstr(err, "x.ckpt"));
    assert_non_null(strstr(err, "is 32"));
    /* given and equal: fine */
    assert_int_equal(config_set(c, "model.dim=32", err, sizeof err), 0);
    assert_int_equal(model_config_adopt(c, &loaded, "x.ckpt", err, sizeof err), 0);
    config_free(c);
}

/* Issue 13 item 11: CLI numbers. */
static void test_cli_numbers(void **state) {
    (void)state;
    char err[300];
    int v = -7;
    assert_int_equal(cli_parse_int("-n", "8", 1, CLI_MAX_SAMPLES, &v, err, sizeof err), 0);
    assert_int_equal(v, 8);
    const char *bad[] = {"0", "-3", "abc", "100000000", "8x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(cli_parse_int("-n", bad[i], 1, CLI_MAX_SAMPLES, &v, err, sizeof err), -1);
        assert_non_null(strstr(err, "option -n"));
        assert_non_null(strstr(err, "1..4096"));
    }
    const char *bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s sample --checkpoint x --prompt 1+1= -n 0 2>&1 | grep -q 'option -n'",
             bin);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s sample --checkpoint x --prompt 1+1= -n abc >/dev/null 2>&1", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s config --config /tmp 2>&1 | grep -q 'not a regular file'", bin);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_valid),
        cmocka_unit_test(test_file_and_errors),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_overrides_and_validate),
        cmocka_unit_test(test_dump_round_trip_and_diff),
        cmocka_unit_test(test_every_key_in_grpo_config),
        cmocka_unit_test(test_module_section),
        cmocka_unit_test(test_model_override_conflict),
        cmocka_unit_test(test_cli_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
