/* learner_run.h: the learner rank's state, shared by the files of its
 * loop: learner.c (setup, steps, checkpoints), learner_publish.c (weights
 * and evaluations out to the actors, their reports back) and
 * learner_report.c (the final table and summary.json). Private to them. */
#ifndef LEARNER_LEARNER_RUN_H
#define LEARNER_LEARNER_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "checksum_ring.h"
#include "comm.h"
#include "config.h"
#include "dashboard.h"
#include "eval_report.h"
#include "eval_samples.h"
#include "grpo_settings.h"
#include "grpo_step.h"
#include "intake.h"
#include "learner.h"
#include "metrics.h"
#include "overopt_alarm.h"
#include "plan.h"
#include "reward_mix.h"
#include "run_lock.h"
#include "run_settings.h"
#include "run_state.h"
#include "weights_async.h"

/* Everything the learner loop works with. */
typedef struct Run {
    Config *cfg;
    const RunSettings *run;    /* [run] */
    const TrainPlan *plan;     /* the [grpo] keys every rank agrees on */
    const GrpoSettings *gs;    /* the learner's own [grpo] keys */
    const Comm *comm;
    Roles roles;               /* rank 0's: learners and actors (plan.h) */
    CommGroup *lg;             /* the learners' group; NULL when it learns alone */
    const LocalActor *local;   /* colocated: rank 0's actor half, else NULL */
    WireCodec *relay_codec;    /* the batch relay to the other learners */
    Group *local_groups;       /* (its quota) colocated: its own groups of a step */
    Model policy, ref;
    Model value;               /* algo = ppo: the value model (ppo_step.h); else empty */
    Tokenizer *tok, *ref_tok;
    Task *task;
    ScorerSet scorers;         /* [reward] scorers, parsed only: their component names */
    OveroptAlarm alarm;        /* learned reward vs true score (restarts its window on resume) */
    Learner L;
    RunState rs;
    Intake in;
    MetricsLog ml;
    Dashboard dash;            /* dashboard.png, redrawn at every evaluation */
    uint64_t version;          /* policy version = learner steps completed */
    double t_start;            /* training clock origin (continues across resumes) */
    double phase[PHASE_COUNT];
    RunLock lock;              /* run.dir is ours while we run */
    int n_empty;               /* consecutive steps without a valid group */
    int learner_ready, intake_ready, metrics_ready; /* what setup got to (for cleanup) */
    int actors_started;        /* the actors got their state and are in their loop */
    int stop_signal;           /* SIGUSR1/SIGTERM received: checkpoint and stop */
    StepLog *step_log;         /* the step trained whose metrics line is not yet written */
    double step_t0;            /* its start */
    float *grad_dump;          /* GRPO_TEST_GRAD_OUT: the first update's gradient */
    long last_saved_step;      /* of the last checkpoint written (-1: none) */
    int time_stop;             /* [grpo] time_limit_s reached: no new step */
    /* async mode */
    WeightChannel wch;
    ChecksumRing ring;         /* recent published checksums */
    long n_unchecked;          /* checksum reports too old for the ring */
    void *ck_buf;              /* receive buffer for actors' checksum reports */
    size_t ck_cap;
    /* held-out evaluation, by the actors */
    void *ev_buf;              /* receive buffer for their reports */
    size_t ev_cap;
    EvalSampleSet samples;     /* the last evaluation's held-out samples */
    EvalResult final_eval;     /* the last step's evaluation, with pass@k */
    int have_final;
    double eval_seconds;       /* wall time of every evaluation */
    int n_evals;
} Run;

/* learner_publish.c */
/* Publishes the current weights (and checks checksums when due). cmd
 * WIRE_CMD_EVAL or WIRE_CMD_EVAL_PASS_K then has every actor evaluate its
 * share of the held-out set with them (collect_eval gathers the result). */
void publish(Run *R, uint32_t cmd);
/* Sums the actors' evaluation reports for the weights just published with
 * cmd (colocated: rank 0 evaluates its own share first, the same way);
 * their held-out samples go to R->samples. */
void collect_eval(Run *R, uint32_t cmd, EvalResult *out);
void publish_and_evaluate(Run *R, uint32_t cmd, EvalResult *out);
/* Async, between polls: checks the checksums actors report. */
void async_check_reports(void *ctx);
/* Tells the actors to stop (async: drains what is still in flight). */
void stop_actors(Run *R);

/* learner_stop.c */
/* The stop signal received so far (SIGUSR1 / SIGTERM), or 0. */
int learner_stop_signal(void);
/* Sets R's comm deadline (a silent rank: run_give_up) and interrupt (a
 * stop signal during a wait that does not end within 0.2 s: the last
 * completed step saved, every rank stopped). */
void learner_watch_waits(Run *R, Comm *comm);
/* Writes the checkpoint of the step just completed; 0 or EXIT_RUN_DIR. */
int run_save_checkpoint(Run *R);
/* A wait ran past the deadline: names the silent ranks, saves what it can,
 * stops every rank with EXIT_SILENT. Does not return. */
void run_give_up(Run *R, const char *what) __attribute__((noreturn));
/* intake_wait_batch's idle step: the async reports, and 1 on a stop signal. */
int run_wait_idle(void *ctx);
/* A stop signal came while the actors rolled out step: saves the last
 * completed step (unless on disk); returns EXIT_REQUEUE (or EXIT_RUN_DIR). */
int run_stop_while_waiting(Run *R, long step);

/* learner_report.c */
/* Writes final.ckpt, prints the final evaluation, the phase table and the
 * accuracy table, writes summary.json and the plot. Returns 0, or
 * EXIT_RUN_DIR when final.ckpt or summary.json cannot be written. */
int report(Run *R, const double *all_phases);

#endif
