/* metrics.h: what the learner reports each step: one dense progress line
 * on the terminal, one JSON object per line in <dir>/metrics.jsonl, a TSV
 * beside it for gnuplot, and the PNG plot at the end. */
#ifndef LEARNER_METRICS_H
#define LEARNER_METRICS_H

#include <stdio.h>

#include "eval_report.h"
#include "grpo_step.h"

typedef struct {
    long step, total_steps;
    unsigned long long version;
    StepMetrics m;
    double elapsed, step_seconds;
    /* time split of the step (seconds) */
    double t_collect;   /* learner waiting for all groups */
    double t_gen;       /* slowest actor's generation time for its groups */
    double t_verify;    /* slowest actor's verification time */
    double t_comm;      /* collect time not explained by generation + verify */
    double t_learn;     /* forward + backward + optimizer */
    double t_bcast;     /* weight broadcast (+ checksum gather) */
    double t_eval;
    /* wire */
    double wire_bytes, raw_bytes; /* this step's group messages */
    long bad_messages;            /* counted and dropped, cumulative */
    long stale_dropped;           /* groups older than max_staleness, cumulative */
    double actor_tok_s;           /* completion tokens per actor-second of generation */
    double learner_tok_s;         /* tokens through forward/backward per learner second */
    int has_eval;
    EvalResult eval;
} StepLog;

typedef struct {
    FILE *jsonl, *tsv;
    char dir[512];
    const char *comp_names[REWARD_MAX_COMPONENTS];
} MetricsLog;

/* Opens <dir>/metrics.jsonl and <dir>/metrics.tsv, truncating them or, on
 * resume, appending; dies naming the path on failure. */
void metrics_open(MetricsLog *ml, const char *dir, const Task *task, int append);
void metrics_close(MetricsLog *ml);
/* Records the held-out accuracy of the starting model as step 0. */
void metrics_start(MetricsLog *ml, const EvalResult *start);
/* Appends s to both files and prints the progress line to stdout. */
void metrics_step(MetricsLog *ml, const StepLog *s);
/* Writes <dir>/plot.gp and runs gnuplot to make <dir>/reward.png; returns 0
 * or -1 (gnuplot missing or failed; the message says so). */
int metrics_plot(const MetricsLog *ml, char *png, size_t cap);

#endif
