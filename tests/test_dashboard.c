/* test_dashboard.c: the dashboard (learner/dashboard.h) over the metrics.tsv
 * that metrics.c writes: the gnuplot script has a plot for every column of
 * the TSV, under that column's name; gnuplot, when installed, turns it
 * into a non-empty dashboard.png published by rename (no temp file left);
 * a redraw due while gnuplot still runs is skipped, not queued; a missing
 * gnuplot or an unquotable run.dir is a warning, never fatal. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dashboard.h"
#include "metrics.h"
#include "run_settings.h"
#include "sections.h"
#include "util.h"

static char dir[] = "/tmp/grpo_test_dashboard_XXXXXX";

/* A metrics.tsv of the start and five steps, two of them with an evaluation. */
static int setup(void **state) {
    (void)state;
    if (!mkdtemp(dir)) return -1;
    Config *cfg = grpo_config_new();
    const TaskSettings *ts = task_settings(cfg);
    char err[1000];
    Task *task = task_create(ts->name, &ts->p, run_settings(cfg)->seed, err, sizeof err);
    if (!task) return -1;
    MetricsLog ml;
    EvalResult ev;
    memset(&ev, 0, sizeof ev);
    ev.greedy_acc = 0.25;
    if (metrics_open(&ml, dir, task, NULL, 0, err, sizeof err) != 0 ||
        metrics_start(&ml, &ev, err, sizeof err) != 0)
        return -1;
    for (long step = 1; step <= 5; step++) {
        StepLog s;
        memset(&s, 0, sizeof s);
        s.step = step;
        s.total_steps = 5;
        s.version = (unsigned long long)step;
        s.elapsed = (double)step;
        s.m.n_components = task->n_components;
        s.m.reward_mean = 0.1 * (double)step;
        s.m.accuracy = 0.05 * (double)step;
        s.m.kl = 0.001 * (double)step;
        s.m.entropy = 2.0 - 0.1 * (double)step;
        s.m.len_mean = 40 + (double)step;
        s.m.len_max = 60 + (int)step;
        s.m.clip_low = 0.01;
        s.m.clip_high = 0.02;
        s.m.zero_var_frac = 0.5;
        s.has_eval = step % 2 == 0;
        s.eval.greedy_acc = 0.3;
        if (metrics_step(&ml, &s, err, sizeof err) != 0) return -1;
    }
    if (metrics_close(&ml, err, sizeof err) != 0) return -1;
    task->destroy(task);
    config_free(cfg);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The script as a string (malloc'd), or NULL with err. */
static char *script_for(const char *d, char *err, size_t errlen) {
    char *buf = NULL, png[600];
    size_t len = 0;
    snprintf(png, sizeof png, "%s/dashboard.png.tmp", d);
    FILE *f = open_memstream(&buf, &len);
    int rc = dashboard_script(f, d, png, err, errlen);
    fclose(f);
    if (rc == 0) return buf;
    free(buf);
    return NULL;
}

static void test_script_plots_every_tsv_column(void **state) {
    (void)state;
    char path[300], header[1000], err[600];
    snprintf(path, sizeof path, "%s/metrics.tsv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(header, sizeof header, f));
    /* every row has as many fields as the header names */
    char row[1000];
    int rows = 0;
    while (fgets(row, sizeof row, f)) {
        int tabs = 0;
        for (char *p = row; *p; p++) tabs += *p == '\t';
        assert_int_equal(tabs + 1, METRICS_TSV_COLUMNS);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 6);
    char *gp = script_for(dir, err, sizeof err);
    if (!gp) fail_msg("%s", err);
    /* "# step\treward_mean\t..." */
    assert_true(header[0] == '#');
    int col = 0;
    for (char *tok = strtok(header + 1, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
        col++;
        assert_string_equal(tok, metrics_tsv_columns[col - 1]);
        if (col == 1) continue; /* the x axis */
        char use[64], title[96];
        snprintf(use, sizeof use, "using 1:%d ", col);
        snprintf(title, sizeof title, "title '%s'", tok);
        const char *at = strstr(gp, use);
        if (!at) fail_msg("no panel plots column %d (%s):\n%s", col, tok, gp);
        const char *eol = strchr(at, '\n');
        const char *t = strstr(at, title);
        if (!t || t > eol) fail_msg("column %d is not titled %s:\n%s", col, tok, gp);
    }
    assert_int_equal(col, METRICS_TSV_COLUMNS);
    /* and nothing past the last column */
    char over[32];
    snprintf(over, sizeof over, "using 1:%d ", METRICS_TSV_COLUMNS + 1);
    assert_null(strstr(gp, over));
    assert_non_null(strstr(gp, "set multiplot layout"));
    free(gp);
}

static void test_unquotable_dir_refused(void **state) {
    (void)state;
    char err[600] = "";
    assert_null(script_for("/tmp/it's", err, sizeof err));
    assert_non_null(strstr(err, "/tmp/it's"));
    assert_non_null(strstr(err, "cannot quote"));
}

static int have_gnuplot(void) { return system("command -v gnuplot > /dev/null 2>&1") == 0; }

static void test_gnuplot_draws_and_renames(void **state) {
    (void)state;
    if (!have_gnuplot()) skip();
    char png[600], tmp[620];
    Dashboard d;
    dashboard_init(&d, dir);
    dashboard_redraw(&d);
    assert_true(d.pid > 0);
    /* gnuplot needs far longer than this to finish: the second is skipped */
    dashboard_redraw(&d);
    assert_int_equal(d.skipped, 1);
    assert_int_equal(dashboard_finish(&d, png, sizeof png), 0);
    assert_int_equal(d.pid, 0);
    assert_int_equal(d.failed, 0);
    assert_int_equal(d.drawn, 2);
    struct stat st;
    assert_int_equal(stat(png, &st), 0);
    assert_true(st.st_size > 1000);
    snprintf(tmp, sizeof tmp, "%s.tmp", png);
    assert_int_not_equal(access(tmp, F_OK), 0);
    printf("dashboard: gnuplot wall time %.3f s per draw, %.2f ms to start it\n",
           d.child_seconds / 2, 1e3 * d.spawn_seconds / 3);
}

static void test_missing_gnuplot_is_not_fatal(void **state) {
    (void)state;
    const char *old = getenv("PATH");
    char *saved = old ? strdup(old) : NULL;
    setenv("PATH", "/nonexistent", 1);
    Dashboard d;
    char png[600];
    dashboard_init(&d, dir);
    dashboard_redraw(&d);
    assert_true(d.disabled);
    assert_int_equal(dashboard_finish(&d, png, sizeof png), -1);
    if (saved) setenv("PATH", saved, 1);
    free(saved);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_plots_every_tsv_column),
        cmocka_unit_test(test_unquotable_dir_refused),
        cmocka_unit_test(test_gnuplot_draws_and_renames),
        cmocka_unit_test(test_missing_gnuplot_is_not_fatal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
