/* pipeline_eval.h: the evaluation of a stage's checkpoint, in the pipeline
 * process itself: greedy held-out accuracy, format rate and mean
 * completion length on the reasoning task (the user's config), and greedy
 * accuracy on the second task (the config with [pipeline] second_task),
 * [eval] prompts prompts each. */
#ifndef DEPLOY_PIPELINE_EVAL_H
#define DEPLOY_PIPELINE_EVAL_H

#include "config.h"

typedef struct {
    int have;                 /* 0: the stage has no checkpoint (a data stage) */
    double acc, format, mean_len;
    int prompts;
    double second_acc;
    int second_prompts;
    long records;             /* data stages: lines written; -1 otherwise */
    double seconds;           /* of the evaluation */
} StageEval;

/* Evaluates the checkpoint at path under base (the reasoning task) and
 * second (the second task). Dies naming the checkpoint on a file that does
 * not load, or a task the model cannot fit. */
void pipeline_evaluate(const Config *base, const Config *second, const char *path, StageEval *out);

/* The non-blank lines of a JSON-lines file, or -1 if it cannot be read. */
long pipeline_count_lines(const char *path);

#endif
