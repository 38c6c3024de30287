/* pipeline_plot.c: <root>/pipeline.png (pipeline_report.h). The script is
 * written next to the image (<root>/pipeline.gp), so the plot can be
 * redrawn by hand with `gnuplot <root>/pipeline.gp`. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "atomic_file.h"
#include "metrics.h"
#include "pipeline_report.h"
#include "util.h"

extern char **environ;

/* The step of the last row of a metrics.tsv, or 0 if it has none. */
static long last_step(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    long step = 0;
    while (fgets(line, sizeof line, f))
        if (line[0] != '#') step = strtol(line, NULL, 10);
    fclose(f);
    return step;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

/* Panel 2: held-out accuracy (points: it has values at evaluations only)
 * and the training completions' mean length, over GRPO steps; the final
 * RL continues the x axis where the first GRPO stage ended. */
static void rl_panel(FILE *f, const char *root) {
    char grpo[1300], final[1300];
    pipeline_stage_path(root, ST_GRPO, "metrics.tsv", grpo, sizeof grpo);
    pipeline_stage_path(root, ST_FINAL, "metrics.tsv", final, sizeof final);
    const int acc = metrics_tsv_column("eval_greedy_acc"), len = metrics_tsv_column("len_mean");
    CHECK(acc > 0 && len > 0);
    fprintf(f, "set title 'GRPO stages: held-out greedy accuracy and completion length'\n"
               "set xlabel 'GRPO step (final RL continues after stage 3)'\nset xtics auto norotate font ''\n"
               "set ylabel 'held-out greedy accuracy'\nset y2label 'mean completion length "
               "(tokens, training samples)'\n");
    int n = 0;
    const char *sep = "plot";
    long off = last_step(grpo);
    const struct { const char *path, *name; long off; } src[] = {
        {grpo, pipeline_stages[ST_GRPO].dir, 0}, {final, pipeline_stages[ST_FINAL].dir, off}};
    for (int i = 0; i < 2; i++) {
        if (!exists(src[i].path)) continue;
        fprintf(f, "%s '%s' using ($1+%ld):%d with linespoints pt 7 lw 2 title '%s accuracy', \\\n"
                   "     '' using ($1+%ld):%d axes x1y2 with lines lw 1 title '%s length'",
                sep, src[i].path, src[i].off, acc, src[i].name, src[i].off, len, src[i].name);
        sep = ", \\\n    ";
        n++;
    }
    if (!n) fprintf(f, "plot NaN title 'no GRPO stage has run'");
    fprintf(f, "\n");
}

/* The script; -1 if root cannot be quoted in it. */
static int script(FILE *f, const char *root) {
    /* gnuplot's single-quoted strings have no escape for ' */
    if (strpbrk(root, "'\n")) return -1;
    fprintf(f,
            "set terminal pngcairo size 1500,620 noenhanced\n"
            "set output '%s/pipeline.png.tmp'\n"
            "set datafile missing 'NaN'\nset datafile separator tab\n"
            "set grid\nset key below font ',9'\nset yrange [0:1.05]\nset y2range [0:*]\n"
            "set ytics nomirror\nset y2tics\n"
            "set multiplot layout 1,2 title 'grpo pipeline %s'\n"
            "set title 'held-out greedy accuracy and mean completion length per stage'\n"
            "set xlabel ''\nset xtics rotate by -30 font ',8'\nset xrange [-0.5:%d.5]\n"
            "set ylabel 'accuracy / format rate'\nset y2label 'mean completion length (tokens)'\n"
            "plot '%s/pipeline.tsv' using 1:3:xtic(2) with linespoints pt 7 lw 2 title "
            "'reasoning task', \\\n"
            "     '' using 1:4 with linespoints pt 5 lw 2 title 'second task', \\\n"
            "     '' using 1:5 with points pt 9 title 'format rate', \\\n"
            "     '' using 1:6 axes x1y2 with impulses lw 6 title 'mean length'\n"
            "set xrange [*:*]\n",
            root, root, PIPELINE_N_STAGES - 1, root);
    rl_panel(f, root);
    fprintf(f, "unset multiplot\nunset output\n");
    return 0;
}

int pipeline_plot(const char *root) {
    char gp[1300], tmp[1300], png[1300], log[1300], err[1500];
    snprintf(gp, sizeof gp, "%s/pipeline.gp", root);
    snprintf(tmp, sizeof tmp, "%s/pipeline.png.tmp", root);
    snprintf(png, sizeof png, "%s/pipeline.png", root);
    snprintf(log, sizeof log, "%s/plot.log", root);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) die("open_memstream failed: out of memory");
    int rc = script(f, root);
    if (fclose(f) != 0) die("building %s failed: out of memory", gp);
    if (rc != 0) {
        fprintf(stderr, "warning: pipeline: run.dir %s contains a ' or a newline, which a gnuplot "
                        "script cannot quote; no plot\n", root);
        free(buf);
        return -1;
    }
    rc = atomic_file_write(gp, buf, len, err, sizeof err);
    free(buf);
    if (rc != 0) {
        fprintf(stderr, "warning: pipeline: %s; no plot\n", err);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = {"gnuplot", gp, NULL};
    pid_t pid;
    int e = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        fprintf(stderr, "warning: pipeline: cannot run gnuplot (%s): no %s; install gnuplot-nox\n",
                strerror(e), png);
        return -1;
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "warning: pipeline: lost track of gnuplot: %s\n", strerror(errno));
            return -1;
        }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "warning: pipeline: gnuplot failed (status %d); its messages are in %s\n",
                WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), log);
        return -1;
    }
    if (rename(tmp, png) != 0) {
        fprintf(stderr, "warning: pipeline: cannot rename %s to %s: %s\n", tmp, png, strerror(errno));
        return -1;
    }
    printf("pipeline: plot %s\n", png);
    return 0;
}
