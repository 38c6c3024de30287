/* pipeline_report.h: what the pipeline shows at the end: one table (the
 * console, <root>/pipeline.tsv, <root>/summary.json) with, per stage, the
 * reasoning task's greedy accuracy, the second task's, the format rate, the
 * mean completion length and the wall time, then distillation against the
 * baseline student; and the plot <root>/pipeline.png (pipeline_plot.c). */
#ifndef DEPLOY_PIPELINE_REPORT_H
#define DEPLOY_PIPELINE_REPORT_H

#include <stddef.h>

#include "pipeline_record.h"
#include "pipeline_stages.h"

/* done[s]: stage s has a record rec[s]. Prints the table and writes
 * pipeline.tsv and summary.json under root. 0, or -1 with err naming the
 * file that could not be written. */
int pipeline_report(const char *root, const int done[PIPELINE_N_STAGES],
                    const StageRecord rec[PIPELINE_N_STAGES], char *err, size_t errlen);

/* Draws <root>/pipeline.png with gnuplot from pipeline.tsv and the GRPO
 * stages' metrics.tsv (its messages go to <root>/plot.log). 0, or -1 after
 * a warning saying why there is no plot. */
int pipeline_plot(const char *root);

#endif
