/* dashboard.c: the run's dashboard PNG (dashboard.h). */
#include "dashboard.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "run_files.h"
#include "util.h"

extern char **environ;

/* One panel: a title and up to three metrics.tsv columns (by name). */
typedef struct {
    const char *title, *ylabel, *yrange; /* yrange: gnuplot's, fixed where the scale is known */
    const char *cols[3];
} Panel;

static const Panel panels[] = {
    {"reward and accuracy (train), held-out greedy accuracy", "reward / accuracy", "[0:1.05]",
     {"reward_mean", "accuracy", "eval_greedy_acc"}},
    {"KL to the reference (k3, per token)", "kl", "[0:*]", {"kl"}},
    {"entropy (per completion token)", "nats", "[0:*]", {"entropy"}},
    {"completion length", "tokens", "[0:*]", {"len_mean", "len_max"}},
    {"clipped token fractions", "fraction", "[0:*]", {"clip_low", "clip_high"}},
    {"groups with zero reward variance", "fraction", "[0:1.05]", {"zero_var_frac"}},
};
enum { N_PANELS = sizeof panels / sizeof panels[0] };

void dashboard_init(Dashboard *d, const char *dir) {
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
}

int dashboard_script(FILE *f, const char *dir, const char *png, char *err, size_t errlen) {
    /* gnuplot's single-quoted strings have no escape for ' */
    if (strpbrk(dir, "'\n") || strpbrk(png, "'\n")) {
        set_err(err, errlen, "dashboard: run.dir %s contains a ' or a newline, which a gnuplot "
                             "script cannot quote; no dashboard is drawn",
                dir);
        return -1;
    }
    fprintf(f,
            "set terminal pngcairo size 1500,860 noenhanced\n"
            "set output '%s'\n"
            "set datafile missing 'NaN'\n"
            "set grid\nset key top left font ',9'\nset xlabel 'step'\n"
            "set multiplot layout 2,3 title 'GRPO run %s'\n",
            png, dir);
    for (int p = 0; p < N_PANELS; p++) {
        const Panel *P = &panels[p];
        fprintf(f, "set title '%s'\nset ylabel '%s'\nset yrange %s\nplot", P->title, P->ylabel,
                P->yrange);
        for (int c = 0; c < 3 && P->cols[c]; c++) {
            int col = metrics_tsv_column(P->cols[c]);
            CHECK(col > 0); /* a panel names a column metrics.c writes */
            /* held-out accuracy has a value at evaluations only: points */
            const char *style = strncmp(P->cols[c], "eval_", 5) == 0 ? "linespoints lw 2 pt 7"
                                                                      : "lines lw 1";
            /* the file once, then '' (gnuplot's "the same file") */
            fprintf(f, "%s'%s%s' using 1:%d with %s title '%s'", c ? ", \\\n     " : " ",
                    c ? "" : dir, c ? "" : "/metrics.tsv", col, style, P->cols[c]);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\nunset output\n");
    return 0;
}

/* Renames the finished PNG over the published one. */
static void publish_png(Dashboard *d) {
    char tmp[600], png[600];
    snprintf(tmp, sizeof tmp, "%s/dashboard.png.tmp", d->dir);
    snprintf(png, sizeof png, "%s/dashboard.png", d->dir);
    if (rename(tmp, png) != 0) {
        fprintf(stderr, "warning: dashboard: cannot rename %s to %s: %s\n", tmp, png,
                strerror(errno));
        d->failed++;
        return;
    }
    d->drawn++;
}

/* Reaps the running gnuplot: blocking (wait = 1) or only if it is done. */
static void reap(Dashboard *d, int wait) {
    if (d->pid <= 0) return;
    int st = 0;
    pid_t r = waitpid(d->pid, &st, wait ? 0 : WNOHANG);
    if (r == 0) return; /* still drawing */
    d->pid = 0;
    d->child_seconds += now_seconds() - d->child_start;
    if (r < 0) {
        fprintf(stderr, "warning: dashboard: lost track of gnuplot: %s\n", strerror(errno));
        d->failed++;
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        publish_png(d);
    } else {
        d->failed++;
        fprintf(stderr, "warning: dashboard: gnuplot failed (%s %d); its messages are in "
                        "%s/plot.log\n",
                WIFEXITED(st) ? "exit status" : "signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), d->dir);
    }
}

void dashboard_poll(Dashboard *d) { reap(d, 0); }

/* Writes plot.gp (atomically: run_files.h) and starts gnuplot on it. 0 or -1. */
static int start(Dashboard *d) {
    char gp[600], tmp[600], log[600], err[900];
    snprintf(gp, sizeof gp, "%s/plot.gp", d->dir);
    snprintf(tmp, sizeof tmp, "%s/dashboard.png.tmp", d->dir);
    snprintf(log, sizeof log, "%s/plot.log", d->dir);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) die("open_memstream failed: out of memory");
    int rc = dashboard_script(f, d->dir, tmp, err, sizeof err);
    if (fclose(f) != 0) die("building %s failed: out of memory", gp);
    if (rc == 0) rc = run_file_write(gp, buf, len, err, sizeof err);
    free(buf);
    if (rc != 0) {
        fprintf(stderr, "warning: %s\n", err);
        d->failed++;
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addclose(&fa, 0);
    char *argv[] = {"gnuplot", gp, NULL};
    int e = posix_spawnp(&d->pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        d->pid = 0;
        d->disabled = 1;
        fprintf(stderr, "warning: dashboard: cannot run gnuplot (%s): no dashboard for this run; "
                        "install gnuplot-nox\n",
                strerror(e));
        return -1;
    }
    d->child_start = now_seconds();
    return 0;
}

void dashboard_redraw(Dashboard *d) {
    if (d->disabled) return;
    double t0 = now_seconds();
    reap(d, 0);
    if (d->pid > 0) d->skipped++;
    else start(d);
    d->spawn_seconds += now_seconds() - t0;
}

int dashboard_finish(Dashboard *d, char *png, size_t cap) {
    reap(d, 1);
    if (d->disabled) return -1;
    long drawn = d->drawn;
    double t0 = now_seconds();
    if (start(d) != 0) return -1;
    d->spawn_seconds += now_seconds() - t0;
    reap(d, 1);
    if (d->drawn == drawn) return -1;
    snprintf(png, cap, "%s/dashboard.png", d->dir);
    return 0;
}
