/* dashboard.h: <run.dir>/dashboard.png, one PNG of the run's panels
 * (reward and accuracy with held-out accuracy, KL, entropy, mean and max
 * completion length, clip fractions, zero-variance share) drawn by gnuplot
 * from metrics.tsv, redrawn at every held-out evaluation.
 *
 * Redrawing must not hold up training: gnuplot runs as a child process
 * (posix_spawn) that the learner does not wait for; it is reaped on a later
 * call, and a redraw due while the previous one still runs is skipped (the
 * next one has newer data anyway). gnuplot writes dashboard.png.tmp, which
 * is renamed over dashboard.png only when gnuplot succeeded, so a viewer
 * never sees a half-written file. gnuplot's own messages go to plot.log. */
#ifndef LEARNER_DASHBOARD_H
#define LEARNER_DASHBOARD_H

#include <stdio.h>
#include <sys/types.h>

typedef struct {
    char dir[512];
    pid_t pid;            /* the gnuplot drawing now, or 0 */
    int disabled;         /* gnuplot missing or run.dir unusable: said once, not retried */
    long drawn, skipped, failed;
    double spawn_seconds; /* learner time spent writing the script and starting gnuplot */
    double child_start;   /* when the running gnuplot started */
    double child_seconds; /* wall time of the gnuplot runs reaped so far */
} Dashboard;

/* Sets d up for run directory dir (nothing is written yet). */
void dashboard_init(Dashboard *d, const char *dir);
/* Writes the gnuplot script that draws every panel from dir/metrics.tsv
 * into png. Returns 0, or -1 with err when a path cannot be quoted for
 * gnuplot (it contains a ' or a newline). */
int dashboard_script(FILE *f, const char *dir, const char *png, char *err, size_t errlen);
/* Starts a redraw without waiting for it (skipped while the last one still
 * runs). Never fatal: a problem is a warning on stderr. */
void dashboard_redraw(Dashboard *d);
/* Reaps a finished gnuplot, if any, and publishes its PNG. */
void dashboard_poll(Dashboard *d);
/* End of run: waits for a running gnuplot, then draws once more and waits
 * for it. Returns 0 with the PNG's path in png, or -1 (said why). */
int dashboard_finish(Dashboard *d, char *png, size_t cap);

#endif
