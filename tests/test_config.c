/* Config: defaults, INI parsing with errors that name file:line and the
 * key, overrides, validation, and the effective-config dump round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

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
    Config c;
    char err[512];
    config_defaults(&c);
    assert_int_equal(config_validate(&c, err, sizeof err), 0);
    assert_int_equal(c.group_size, 8);
    assert_int_equal(c.model.dim, 128);
    assert_string_equal(c.task_name, "arith");
    assert_true(c.task.demo_error > 0.5f); /* the habit must be the model's mode */
    /* the config table and task_params_default() must agree */
    TaskParams tp;
    task_params_default(&tp);
    assert_int_equal(c.task.max_digits, tp.max_digits);
    assert_int_equal(c.task.mul_max, tp.mul_max);
    assert_int_equal(c.task.eval_permille, tp.eval_permille);
    assert_int_equal(c.task.cd_n_min, tp.cd_n_min);
    assert_int_equal(c.task.cd_n_max, tp.cd_n_max);
    assert_int_equal(c.task.cd_max_number, tp.cd_max_number);
    assert_float_equal(c.task.demo_error, tp.demo_error, 1e-7);
    assert_float_equal(c.task.p_add, tp.p_add, 1e-7);
    assert_float_equal(c.task.p_sub, tp.p_sub, 1e-7);
    assert_float_equal(c.task.p_mul, tp.p_mul, 1e-7);
    for (int i = 0; i < REWARD_MAX_COMPONENTS; i++)
        assert_float_equal(c.task.weights[i], tp.weights[i], 1e-7);
}

static void test_file_and_errors(void **state) {
    (void)state;
    Config c;
    char err[1600];
    config_defaults(&c);
    const char *p = write_tmp("[grpo]\ngroup_size = 16\nalgo = reinforce_baseline\n[model]\ndim = 64\n");
    assert_int_equal(config_load_file(&c, p, err, sizeof err), 0);
    assert_int_equal(c.group_size, 16);
    assert_int_equal(c.model.dim, 64);
    assert_int_equal(c.algo, 2);

    p = write_tmp("[grpo]\ngroup_size = 16\n\nbogus_key = 3\n");
    assert_int_equal(config_load_file(&c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, ":4:"));
    assert_non_null(strstr(err, "bogus_key"));
    assert_non_null(strstr(err, "group_size")); /* lists the known keys */

    p = write_tmp("[grpo]\nadv_std = median\n");
    assert_int_equal(config_load_file(&c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "population | sample | none"));

    p = write_tmp("[nosuch]\nx = 1\n");
    assert_int_equal(config_load_file(&c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown section [nosuch]"));

    p = write_tmp("[grpo]\ngroup_size = 2.5\n");
    assert_int_equal(config_load_file(&c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "group_size"));
    assert_non_null(strstr(err, "integer"));

    assert_int_equal(config_load_file(&c, "/nonexistent/x.ini", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.ini"));
    unlink(p);
}

static void test_overrides_and_validate(void **state) {
    (void)state;
    Config c;
    char err[1600];
    config_defaults(&c);
    assert_int_equal(config_set(&c, "grpo.beta=0.04", err, sizeof err), 0);
    assert_float_equal(c.beta, 0.04f, 1e-9);
    assert_int_equal(config_set(&c, "grpo.init=\"\"", err, sizeof err), 0);
    assert_string_equal(c.init, "");
    assert_int_equal(config_set(&c, "grpo.eps_low=-1", err, sizeof err), -1);
    assert_non_null(strstr(err, "eps_low"));
    assert_int_equal(config_set(&c, "steps=3", err, sizeof err), -1);
    assert_non_null(strstr(err, "section.key=value"));
    assert_int_equal(config_set(&c, "model.n_kv_heads=3", err, sizeof err), 0);
    assert_int_equal(config_validate(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "n_kv_heads"));
}

static void test_dump_round_trip_and_diff(void **state) {
    (void)state;
    Config a, b;
    char err[1600], names[1024], changed[1024];
    config_defaults(&a);
    config_set(&a, "grpo.group_size=12", err, sizeof err);
    config_set(&a, "run.dir=/tmp/x y", err, sizeof err);
    char *text = config_to_string(&a);
    const char *p = write_tmp(text);
    free(text);
    config_defaults(&b);
    assert_int_equal(config_load_file(&b, p, err, sizeof err), 0);
    assert_int_equal(config_diff(&a, &b, names, sizeof names, changed, sizeof changed), 0);
    assert_string_equal(changed, "");
    /* a run-defining change is named; a harmless one is only recorded */
    config_set(&b, "grpo.group_size=4", err, sizeof err);
    config_set(&b, "grpo.eval_every=3", err, sizeof err);
    assert_int_equal(config_diff(&a, &b, names, sizeof names, changed, sizeof changed), 1);
    assert_non_null(strstr(names, "group_size"));
    assert_non_null(strstr(changed, "eval_every"));
    unlink(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_valid),
        cmocka_unit_test(test_file_and_errors),
        cmocka_unit_test(test_overrides_and_validate),
        cmocka_unit_test(test_dump_round_trip_and_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
