/* metrics.h: what the learner reports each step: one dense progress line
 * on the terminal, one JSON object per line in <dir>/metrics.jsonl, and a
 * TSV beside it for the dashboard (dashboard.h draws it with gnuplot). */
#ifndef LEARNER_METRICS_H
#define LEARNER_METRICS_H

#include <stdio.h>

#include "eval_report.h"
#include "grpo_step.h"
#include "reward_mix.h"
#include "run_files.h"

typedef struct {
    long step, total_steps;
    unsigned long long version;
    StepMetrics m;
    double elapsed, step_seconds;
    double time_limit_s;  /* [grpo] time_limit_s (0 = none): the ETA never exceeds what is left */
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
    /* the over-optimisation alarm (overopt_alarm.h), when live */
    int alarm_live, alarm_on;
    double proxy_trend, truth_trend;
} StepLog;

/* Every write is checked and whole lines only (run_files.h): a full disk
 * makes a call return -1 with a message naming the file and the reason,
 * and leaves both files ending in a complete line. */
typedef struct {
    LineFile jsonl, tsv;
    LineFile samples; /* samples.jsonl (samples_log.h) */
    char dir[512];
    const char *comp_names[REWARD_MAX_COMPONENTS]; /* the task's, then the scorers' */
    int n_eval_components; /* held-out evaluation reports the task's alone */
} MetricsLog;

/* Opens <dir>/metrics.jsonl, <dir>/metrics.tsv and <dir>/samples.jsonl,
 * truncating them or, on resume, appending. The reward components are
 * task's and then those of scorers (NULL: none), as the rollouts report
 * them (reward_mix.h). Returns 0, or -1 with err naming the path. */
int metrics_open(MetricsLog *ml, const char *dir, const Task *task, const ScorerSet *scorers,
                 int append, char *err, size_t errlen);
/* fsyncs and closes the three files; 0 or -1 with err. */
int metrics_close(MetricsLog *ml, char *err, size_t errlen);
/* fsyncs the three files (at a checkpoint); 0 or -1 with err. */
int metrics_sync(MetricsLog *ml, char *err, size_t errlen);
/* Records the held-out accuracy of the starting model as step 0; 0 or -1
 * with err. */
int metrics_start(MetricsLog *ml, const EvalResult *start, char *err, size_t errlen);
/* Appends s to both files and prints the progress line to stdout; 0 or -1
 * with err (then the progress line is not printed). */
int metrics_step(MetricsLog *ml, const StepLog *s, char *err, size_t errlen);
/* The columns of metrics.tsv, in order (column 1 is the step); each is
 * named as the metrics.jsonl key it copies. The dashboard's panels find
 * their columns here. NaN marks a value a row lacks. */
enum { METRICS_TSV_COLUMNS = 11 };
extern const char *const metrics_tsv_columns[METRICS_TSV_COLUMNS];
/* 1-based gnuplot column of name in metrics.tsv, or 0 if it has none. */
int metrics_tsv_column(const char *name);

#endif
