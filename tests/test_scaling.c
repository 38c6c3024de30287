/* End-to-end test of the scaling study (deploy/scaling.sh) at a tiny size:
 * a quick SFT of a tiny model, then 1 and 2 actors in sync and async mode,
 * 4 GRPO steps each. Checks the CSV (header, one row per run with the
 * expected actors and mode, numeric fields where a number is due) and that
 * the figure and the knee model were written. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[256];
static const char *bin, *tests_dir;

static const char *TINY =
    "model.dim=32 model.n_layers=2 model.n_heads=4 model.n_kv_heads=2 model.hidden_dim=64 "
    "task.max_digits=2 sft.batch_size=16 grpo.prompts_per_step=4 grpo.group_size=4 "
    "grpo.eval_every=2 eval.prompts=16 eval.pass_k=2 grpo.deadline_s=60 run.seed=7";

static const char *COLUMNS =
    "actors,mode,completions_per_s,gen_tok_per_s,learner_tok_per_s,learner_busy_frac,"
    "actor_idle_frac,staleness_mean,time_to_target_s,wire_bytes,wire_bytes_per_gen_tok,final_acc,"
    "steps,groups_per_step,group_size,train_s,gen_groups_per_actor_s,t_learn_step_s,"
    "t_bcast_step_s";


static int setup(void **state) {
    (void)state;
    bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    tests_dir = getenv("GRPO_TESTS_DIR");
    if (!tests_dir) tests_dir = "tests";
    snprintf(tmp, sizeof tmp, "/tmp/grpo_test_scaling_%d", (int)getpid());
    return run("mkdir -p %s", tmp);
}

static int teardown(void **state) {
    (void)state;
    if (!getenv("KEEP_TEST_DIRS")) run("rm -rf %s", tmp);
    return 0;
}

/* 1 if s is a number (strtod consumes all of it), 0 otherwise. */
static int is_number(const char *s) {
    if (!*s) return 0;
    char *end;
    strtod(s, &end);
    return *end == '\0';
}

/* Splits line (modified) at commas into f[0..n); returns n. */
static int split_csv(char *line, char **f, int max) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < max;) {
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

static void test_scaling_script_end_to_end(void **state) {
    (void)state;
    char path[512], line[4096];
    int rc = run("GRPO_BIN=%s bash %s/../deploy/scaling.sh -a '1 2' -m 'sync async' -s 4 -n 60 "
                 "-t 0.5 -o %s/out -x '%s' > %s/scaling.log 2>&1",
                 bin, tests_dir, tmp, TINY, tmp);
    if (rc != 0) {
        run("tail -n 30 %s/scaling.log", tmp);
        fail_msg("deploy/scaling.sh exited %d (log %s/scaling.log)", rc, tmp);
    }
    snprintf(path, sizeof path, "%s/out/scaling.csv", tmp);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    line[strcspn(line, "\r\n")] = '\0';
    assert_string_equal(line, COLUMNS);

    const int want_actors[4] = {1, 1, 2, 2};
    const char *want_mode[4] = {"sync", "async", "sync", "async"};
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        char *fld[32];
        int n = split_csv(line, fld, 32);
        assert_true(rows < 4);
        assert_int_equal(n, 19);
        assert_int_equal(atoi(fld[0]), want_actors[rows]);
        assert_string_equal(fld[1], want_mode[rows]);
        for (int i = 2; i < n; i++) {
            if (i == 8 && fld[i][0] == '\0') continue; /* target never reached: empty */
            if (!is_number(fld[i])) fail_msg("row %d column %d is not a number: '%s'", rows + 1, i + 1, fld[i]);
        }
        assert_true(strtod(fld[2], NULL) > 0);                  /* completions/s */
        assert_true(strtod(fld[3], NULL) > 0);                  /* generated tokens/s */
        assert_true(strtod(fld[9], NULL) > 0);                  /* bytes on the wire */
        double busy = strtod(fld[5], NULL), idle = strtod(fld[6], NULL);
        assert_true(busy > 0 && busy <= 1);
        assert_true(idle >= 0 && idle <= 1);
        assert_int_equal(atoi(fld[12]), 4);                     /* steps */
        double stale = strtod(fld[7], NULL);
        if (!strcmp(want_mode[rows], "sync")) assert_true(stale == 0);
        else assert_true(stale >= 0 && stale <= 1);             /* max_staleness = 1 */
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 4);

    assert_int_equal(run("test -s %s/out/scaling.png", tmp), 0);
    assert_int_equal(run("head -c 8 %s/out/scaling.png | grep -q PNG", tmp), 0);
    assert_int_equal(run("grep -q '^knee n\\* = ' %s/out/model.txt", tmp), 0);
    assert_int_equal(run("test -s %s/out/model.dat", tmp), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scaling_script_end_to_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
