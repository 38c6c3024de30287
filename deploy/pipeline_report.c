/* pipeline_report.c: the final table, pipeline.tsv and summary.json
 * (pipeline_report.h). */
#include "pipeline_report.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "util.h"

/* A stage's value for the table, NaN where it has none. */
static double val(const int done[], const StageRecord rec[], int s, int which) {
    if (!done[s]) return NAN;
    const StageEval *e = &rec[s].ev;
    switch (which) {
    case 0: return e->have ? e->acc : NAN;
    case 1: return e->have ? e->second_acc : NAN;
    case 2: return e->have ? e->format : NAN;
    case 3: return e->have ? e->mean_len : NAN;
    default: return rec[s].wall;
    }
}

static void cell(FILE *f, double v, const char *fmt, int width) {
    if (isnan(v)) fprintf(f, " %*s", width, "-");
    else fprintf(f, fmt, width, v);
}

/* The text of a file built in memory; dies only when out of memory. */
typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} Text;

static FILE *text_begin(Text *t) {
    t->buf = NULL;
    t->len = 0;
    t->f = open_memstream(&t->buf, &t->len);
    if (!t->f) die("open_memstream failed: out of memory");
    return t->f;
}

static int text_write(Text *t, const char *root, const char *name, char *err, size_t errlen) {
    if (fclose(t->f) != 0) die("building %s failed: out of memory", name);
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", root, name);
    int rc = atomic_file_write(path, t->buf, t->len, err, errlen);
    free(t->buf);
    return rc;
}

static json_t *num_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

int pipeline_report(const char *root, const int done[PIPELINE_N_STAGES],
                    const StageRecord rec[PIPELINE_N_STAGES], char *err, size_t errlen) {
    Text tsv;
    FILE *t = text_begin(&tsv);
    fprintf(t, "# index\tstage\treasoning_acc\tsecond_acc\tformat\tmean_len\twall_s\n");
    json_t *stages = json_array();
    double total = 0;
    printf("\npipeline %s:\n%-22s %-26s %9s %7s %7s %8s %9s\n", root, "stage", "", "reasoning",
           "task 2", "format", "length", "wall s");
    for (int s = 0; s < PIPELINE_N_STAGES; s++) {
        const StageDef *d = &pipeline_stages[s];
        double v[5];
        for (int k = 0; k < 5; k++) v[k] = val(done, rec, s, k);
        if (done[s]) total += rec[s].wall;
        printf("%-22s %-26s", d->dir, d->label);
        cell(stdout, v[0], " %*.3f", 9);
        cell(stdout, v[1], " %*.3f", 7);
        cell(stdout, v[2], " %*.3f", 7);
        cell(stdout, v[3], " %*.1f", 8);
        cell(stdout, v[4], " %*.1f", 9);
        if (done[s] && rec[s].ev.records >= 0) printf("  (%ld records)", rec[s].ev.records);
        if (!done[s]) printf("  not run");
        printf("\n");
        fprintf(t, "%d\t%s", s, d->dir);
        for (int k = 0; k < 5; k++) fprintf(t, isnan(v[k]) ? "\tNaN" : "\t%.6g", v[k]);
        fprintf(t, "\n");
        json_t *o = json_pack("{s:s,s:b,s:o,s:o,s:o,s:o,s:o}", "stage", d->dir, "done", done[s],
                              "reasoning_accuracy", num_or_null(v[0]), "second_task_accuracy",
                              num_or_null(v[1]), "format", num_or_null(v[2]), "mean_length",
                              num_or_null(v[3]), "wall_seconds", num_or_null(v[4]));
        if (done[s] && rec[s].ev.records >= 0)
            json_object_set_new(o, "records", json_integer(rec[s].ev.records));
        json_array_append_new(stages, o);
    }
    printf("total wall time of the stages: %.1f s\n", total);
    json_t *sum = json_pack("{s:s,s:o,s:f}", "root", root, "stages", stages, "total_wall_seconds",
                            total);
    if (done[ST_TSAMP] && done[ST_DISTILL] && done[ST_SCOLD] && done[ST_SRL]) {
        const StageEval *a = &rec[ST_DISTILL].ev, *b = &rec[ST_SRL].ev;
        double wa = rec[ST_TSAMP].wall + rec[ST_DISTILL].wall;
        double wb = rec[ST_SCOLD].wall + rec[ST_SRL].wall;
        printf("distillation: student distilled (%d+%d) reasoning %.3f, task 2 %.3f in %.1f s "
               "(%.1f + %.1f); student baseline (%d+%d) reasoning %.3f, task 2 %.3f in %.1f s "
               "(%.1f + %.1f)\n",
               ST_TSAMP, ST_DISTILL, a->acc, a->second_acc, wa, rec[ST_TSAMP].wall,
               rec[ST_DISTILL].wall, ST_SCOLD, ST_SRL, b->acc, b->second_acc, wb,
               rec[ST_SCOLD].wall, rec[ST_SRL].wall);
        json_object_set_new(
            sum, "distillation",
            json_pack("{s:{s:f,s:f,s:f,s:f,s:f},s:{s:f,s:f,s:f,s:f,s:f}}", "distilled",
                      "reasoning_accuracy", a->acc, "second_task_accuracy", a->second_acc,
                      "wall_seconds", wa, "teacher_samples_seconds", rec[ST_TSAMP].wall,
                      "sft_seconds", rec[ST_DISTILL].wall, "baseline", "reasoning_accuracy",
                      b->acc, "second_task_accuracy", b->second_acc, "wall_seconds", wb,
                      "cold_start_seconds", rec[ST_SCOLD].wall, "rl_seconds", rec[ST_SRL].wall));
    }
    char *js = json_dumps(sum, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(sum);
    if (!js) die("pipeline: out of memory writing summary.json");
    int rc = text_write(&tsv, root, "pipeline.tsv", err, errlen);
    if (rc == 0) {
        size_t n = strlen(js);
        js[n] = '\n';
        char path[1300];
        snprintf(path, sizeof path, "%s/summary.json", root);
        rc = atomic_file_write(path, js, n + 1, err, errlen);
    }
    free(js);
    return rc;
}
