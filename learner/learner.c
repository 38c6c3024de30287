/* learner.c: rank 0 of `grpo train`. Each step: take every actor's quota
 * of groups from the intake (intake.c: polled, validated, in sequence
 * order), train on them (grpo_step.c), bump the policy version and publish
 * the new weights, and every checksum_every versions check that the actors
 * hold bit-identical weights.
 *
 * Synchronous mode (default): a blocking broadcast of the weights after
 * each step; actors wait for it, so every group is on-policy and runs are
 * bit-reproducible. Asynchronous mode (grpo.async=1): weights go out on a
 * nonblocking channel (weights_async.h) while actors keep generating with
 * weights at most max_staleness versions old (the actors enforce it before
 * generating; the learner checks again and drops what is older). With
 * max_staleness = 0 the asynchronous machinery computes exactly what the
 * synchronous loop does. */
#include "learner.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "eval_report.h"
#include "grpo_settings.h"
#include "grpo_step.h"
#include "metrics.h"
#include "intake.h"
#include "memory.h"
#include "plan.h"
#include "run_settings.h"
#include "run_state.h"
#include "weights_async.h"
#include "util.h"
#include "weights_sync.h"
#include "wire.h"

/* Set by SIGUSR1/SIGTERM; the learner checkpoints and stops at the end of
 * the step in progress. Actors ignore it: the learner tells them to stop. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) { stop_signal = sig; }

void learner_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Prints the CoMD-style phase table: min (rank) / max (rank) / avg. */
static void print_phase_table(const double *all, int size) {
    printf("phase timers over %d ranks (seconds): min (rank) / max (rank) / avg\n", size);
    for (int p = 0; p < PHASE_COUNT; p++) {
        double mn = INFINITY, mx = -INFINITY, sum = 0;
        int rmn = 0, rmx = 0;
        for (int r = 0; r < size; r++) {
            double v = all[r * PHASE_COUNT + p];
            if (v < mn) mn = v, rmn = r;
            if (v > mx) mx = v, rmx = r;
            sum += v;
        }
        printf("  %-9s %9.3f (%d) %9.3f (%d) %9.3f\n", phase_names[p], mn, rmn, mx, rmx, sum / size);
    }
}


/* Everything the learner loop works with. */
typedef struct {
    Config *cfg;
    const RunSettings *run;
    const TrainPlan *plan;
    const GrpoSettings *gs;
    const Comm *comm;
    Model policy, ref;
    Tokenizer *tok, *ref_tok;
    Task *task;
    Learner L;
    RunState rs;
    Intake in;
    MetricsLog ml;
    uint64_t version;          /* policy version = learner steps completed */
    double t_start;            /* training clock origin (continues across resumes) */
    double phase[PHASE_COUNT];
    /* async mode */
    WeightChannel wch;
    uint64_t hash_version[64], hash_value[64]; /* recent published checksums */
    void *ck_buf;              /* receive buffer for actors' checksum reports */
    size_t ck_cap;
    void *ev_buf;              /* receive buffer for actors' evaluation reports */
    size_t ev_cap;
    EvalResult final_eval;     /* the last step's evaluation with pass@k */
    int have_final;
    double eval_seconds;       /* wall time of every evaluation, this process */
    int n_evals;
} Run;

/* Writes ckpt-<step>.ckpt from the run's state (R->rs.actor_state set by
 * the caller). */
static void save_run(Run *R) {
    R->rs.n_ranks = R->comm->size;
    R->rs.step = R->L.step;
    R->rs.version = R->version;
    R->rs.train_seconds = now_seconds() - R->t_start;
    run_checkpoint_save(R->run->dir, R->gs->keep_checkpoints, &R->policy, R->tok, &R->L.opt, &R->rs,
                        R->cfg);
}

/* Writes a training checkpoint whose actor state comes from what the
 * learner consumed (cursor = seq_no = groups taken; RNG zero = reseed). Used
 * where the actors cannot take part: asynchronous mode and a stalled actor.
 * Synchronous checkpoints gather the exact state instead. */
static void checkpoint_from_intake(Run *R) {
    int n_act = R->comm->size - 1;
    xfree(R->rs.actor_state);
    R->rs.actor_state = xcalloc((size_t)n_act, ACTOR_STATE_BYTES);
    for (int r = 1; r <= n_act; r++) {
        uint64_t consumed = (uint64_t)R->L.step * (uint64_t)R->in.quota[r];
        uint8_t *st = R->rs.actor_state + (size_t)(r - 1) * ACTOR_STATE_BYTES;
        wire_put_u64(st + 32, consumed);
        wire_put_u64(st + 40, consumed);
    }
    save_run(R);
}

/* Synchronous checkpoint: every actor sends its exact RNG and cursors. */
static void checkpoint_sync(Run *R) {
    const Comm *comm = R->comm;
    control_send(WIRE_CMD_SNAPSHOT);
    uint8_t mine[ACTOR_STATE_BYTES] = {0};
    uint8_t *all = xmalloc((size_t)comm->size * ACTOR_STATE_BYTES);
    comm_gather_bytes(mine, ACTOR_STATE_BYTES, all);
    xfree(R->rs.actor_state);
    R->rs.actor_state = xmalloc((size_t)(comm->size - 1) * ACTOR_STATE_BYTES);
    memcpy(R->rs.actor_state, all + ACTOR_STATE_BYTES, (size_t)(comm->size - 1) * ACTOR_STATE_BYTES);
    xfree(all);
    save_run(R);
}

/* A wait ran past the deadline: say what, name the actors that no longer
 * answer, save what we can, stop every rank. */
static void give_up(Run *R, const char *what) {
    fprintf(stderr, "error: learner: %s\n", what);
    int *silent = xcalloc((size_t)R->comm->size, sizeof(int));
    int n = comm_find_silent(silent, R->comm->size, 3.0);
    for (int i = 0; i < n; i++) {
        char msg[300];
        intake_describe(&R->in, silent[i], msg, sizeof msg);
        fprintf(stderr, "error: learner: actor rank %d does not answer: %s\n", silent[i], msg);
    }
    checkpoint_from_intake(R);
    fprintf(stderr, "error: learner: wrote %s/ckpt-%08ld.ckpt (step %ld); stopping all ranks\n",
            R->run->dir, R->L.step, R->L.step);
    comm_abort(4);
}

static void on_comm_timeout(const char *what, void *ctx) { give_up(ctx, what); }

/* Async: waits, under the deadline, until the last publication has reached
 * every actor. MPI moves a nonblocking broadcast only inside MPI calls, and
 * the learner makes none while it trains: a publication left in flight
 * would sit idle for a whole step and the actors would run out of
 * staleness allowance (measured: one step in three waited for generation).
 * Delivery takes milliseconds: the actors drive their side between decode
 * steps. */
static void async_wait(Run *R, const char *what) {
    double deadline = now_seconds() + comm_deadline_seconds();
    while (wchan_busy(&R->wch)) {
        if (now_seconds() > deadline) give_up(R, what);
        comm_idle();
    }
}

/* Async: publishes the current weights with cmd (WIRE_CMD_WEIGHTS, or
 * EVAL* to have the actors evaluate them) and drives them to delivery,
 * keeping their checksum when actors will report theirs for this version. */
static void async_publish(Run *R, uint32_t cmd) {
    wchan_post(&R->wch, R->policy.params, R->version, cmd);
    async_wait(R, "the weight publication (async)");
    if (R->version % (uint64_t)R->plan->checksum_every == 0) {
        int i = (int)(R->version % 64);
        R->hash_version[i] = R->version;
        R->hash_value[i] = hash64(R->policy.params, R->policy.n_params * sizeof(float));
    }
}

/* Async, between polls: checks the checksums actors report for the
 * versions they install against the learner's. */
static void async_check_reports(void *ctx) {
    Run *R = ctx;
    int src;
    size_t len;
    while (comm_try_recv(&R->ck_buf, &R->ck_cap, TAG_CHECKSUM, &src, &len)) {
        uint64_t v, h;
        if (wire_checksum_decode(R->ck_buf, len, &v, &h) != 0) continue;
        int i = (int)(v % 64);
        if (R->hash_version[i] != v) continue; /* too old to check */
        if (R->hash_value[i] != h) {
            fprintf(stderr, "error: actor rank %d holds weights of version %llu that differ from "
                            "the learner's (checksum %016llx vs %016llx)\n",
                    src, (unsigned long long)v, (unsigned long long)h,
                    (unsigned long long)R->hash_value[i]);
            comm_abort(3);
        }
    }
}

/* Publishes the current weights (and checks checksums when due). cmd
 * WIRE_CMD_EVAL or WIRE_CMD_EVAL_PASS_K then has every actor evaluate its
 * share of the held-out set with them (collect_eval gathers the result). */
static void publish(Run *R, uint32_t cmd) {
    if (R->plan->async) {
        async_publish(R, cmd);
        return;
    }
    char err[600];
    weights_send(R->policy.params, R->policy.n_params, R->version);
    if (R->version % (uint64_t)R->plan->checksum_every == 0 &&
        weights_check_all(R->policy.params, R->policy.n_params, R->version, 0, R->comm->size, err,
                          sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        comm_abort(3);
    }
    if (cmd != WIRE_CMD_WEIGHTS) control_send(cmd);
}

/* Sums the actors' evaluation reports for the weights just published. A
 * report that does not decode is counted as a bad message and left out (the
 * prompt count says how many were evaluated). */
static void collect_eval(Run *R, EvalResult *out) {
    double t0 = now_seconds();
    EvalTally sum;
    memset(&sum, 0, sizeof sum);
    char err[300];
    double deadline = now_seconds() + comm_deadline_seconds();
    for (int got = 1; got < R->comm->size; got++) {
        int src;
        size_t len;
        while (!comm_try_recv(&R->ev_buf, &R->ev_cap, TAG_EVAL, &src, &len)) {
            if (now_seconds() > deadline) give_up(R, "the actors' evaluation reports");
            if (R->plan->async) async_check_reports(R);
            comm_idle();
        }
        EvalTally t;
        if (eval_report_decode(R->ev_buf, len, &t, err, sizeof err) != 0) {
            fprintf(stderr, "learner: dropped the evaluation report of actor rank %d: %s\n", src,
                    err);
            R->in.n_bad++;
            continue;
        }
        eval_tally_add(&sum, &t);
    }
    eval_result_from_tally(&sum, R->task->n_components, out);
    R->eval_seconds += now_seconds() - t0;
    R->n_evals++;
}

/* Tells the actors to stop. Async: waits for the channel, posts STOP and
 * drains the groups still in flight until every actor has signed off. */
static void stop_actors(Run *R) {
    if (!R->plan->async) {
        control_send(WIRE_CMD_STOP);
        return;
    }
    /* post, then drain: actors finish their sends before they sign off */
    wchan_post(&R->wch, R->policy.params, R->version, WIRE_CMD_STOP);
    int silent = intake_drain(&R->in);
    if (silent) {
        char msg[300];
        intake_describe(&R->in, silent, msg, sizeof msg);
        give_up(R, msg);
    }
    async_wait(R, "the stop publication");
}

/* Loads models, task, and either resumes or evaluates the starting model. */
static void setup(Run *R) {
    Config *cfg = R->cfg;
    const RunSettings *run = R->run;
    const TrainPlan *plan = R->plan;
    char init[CFG_STR_MAX + 16], refp[CFG_STR_MAX + 16], err[600], path[CFG_STR_MAX + 32];
    plan_init_path(plan, run->dir, init, sizeof init);
    grpo_ref_path(R->gs, init, refp, sizeof refp);
    R->tok = xmalloc(sizeof *R->tok);
    R->ref_tok = xmalloc(sizeof *R->ref_tok);
    ckpt_load_model_or_die(init, &R->policy, R->tok);
    ckpt_load_model_or_die(refp, &R->ref, R->ref_tok);
    if (R->ref.n_params != R->policy.n_params ||
        memcmp(&R->ref.cfg, &R->policy.cfg, sizeof R->ref.cfg) != 0)
        die("reference model %s has a different shape from the starting model %s", refp, init);
    /* the model is the starting checkpoint's: record its shape, refuse a
     * [model] override that says otherwise */
    if (model_config_adopt(cfg, &R->policy.cfg, init, err, sizeof err) != 0) die("%s", err);
    memory_check_or_die(&R->policy.cfg, ROLE_LEARNER, plan->prompts_per_step * plan->group_size,
                        R->policy.cfg.max_seq_len, 64, memory_local_ranks());
    model_alloc_grads(&R->policy);
    const TaskSettings *ts = task_settings(cfg);
    R->task = task_create(ts->name, &ts->p, run->seed, err, sizeof err);
    if (!R->task) die("%s", err);

    snprintf(path, sizeof path, "%s/config.ini", run->dir);
    FILE *cf = xfopen(path, "w");
    config_write(cfg, cf);
    fclose(cf);
    printf("grpo train: learner rank 0 + %d actors (%s), %zu parameters, start %s, reference %s\n"
           "effective config (also in %s):\n",
           R->comm->size - 1, plan->async ? "asynchronous" : "synchronous", R->policy.n_params, init,
           refp, path);
    config_write(cfg, stdout);

    learner_init(&R->L, &R->policy, &R->ref, cfg);
    Config *saved = config_new_like(cfg);
    int resumed =
        run_checkpoint_resume(run->dir, &R->policy, &R->L.opt, &R->rs, saved, path, sizeof path);
    if (resumed) {
        char defining[2048], harmless[2048];
        if (R->rs.n_ranks != R->comm->size)
            die("cannot resume %s: it was written by a run with %d ranks, this one has %d "
                "(the actors' data streams depend on the rank count)",
                path, R->rs.n_ranks, R->comm->size);
        if (config_diff(saved, cfg, defining, sizeof defining, harmless, sizeof harmless) > 0)
            die("refusing to resume %s with a changed config that would alter the run: %s "
                "(use a new run.dir to start a different run)",
                path, defining);
        if (harmless[0]) printf("resume: harmless config changes recorded: %s\n", harmless);
        R->L.step = R->rs.step;
        R->L.opt_steps = R->L.opt.t;
        R->version = R->rs.version;
        printf("resume: continuing from %s (step %ld, policy version %llu)\n", path, R->rs.step,
               (unsigned long long)R->rs.version);
        metrics_open(&R->ml, run->dir, R->task, 1);
    }
    config_free(saved);
    intake_init(&R->in, plan, sampling_settings(cfg)->max_new_tokens, R->comm,
                R->tok->vocab_size, R->policy.cfg.max_seq_len, R->task->n_components,
                plan->async ? plan->max_staleness : 0);

    /* actors' saved state (resume) or nothing (fresh run) */
    uint64_t state_len = resumed ? (uint64_t)(R->comm->size - 1) * ACTOR_STATE_BYTES : 0;
    comm_bcast_bytes(&state_len, sizeof state_len);
    if (state_len) comm_bcast_bytes(R->rs.actor_state, state_len);
    if (plan->async) wchan_init(&R->wch, R->policy.n_params, 0);
    if (!resumed) {
        /* the starting model, evaluated by the actors */
        double t_e = now_seconds();
        EvalResult ev;
        publish(R, WIRE_CMD_EVAL);
        collect_eval(R, &ev);
        R->phase[PHASE_EVAL] += now_seconds() - t_e;
        R->rs.demo_acc = ev.demo_acc;
        R->rs.start_acc = ev.greedy_acc;
        printf("start: held-out greedy accuracy %.3f on %d distinct prompts (%.1f s on %d actors); "
               "demonstrator %.3f\n",
               ev.greedy_acc, ev.n_prompts, now_seconds() - t_e, R->comm->size - 1, R->rs.demo_acc);
        metrics_open(&R->ml, run->dir, R->task, 0);
        metrics_start(&R->ml, &ev);
    } else if (plan->async || R->L.step < plan->steps) {
        publish(R, WIRE_CMD_WEIGHTS);
    }
    R->t_start = now_seconds() - R->rs.train_seconds;
}

/* One training step: collect, train, publish, evaluate, log, checkpoint.
 * Returns 1 to continue, 0 when stopped by a signal (checkpoint written). */
static int run_step(Run *R, long step, Group *groups) {
    const TrainPlan *plan = R->plan;
    StepLog s;
    memset(&s, 0, sizeof s);
    s.step = step;
    s.total_steps = plan->steps;
    double t0 = now_seconds();
    memset(R->in.gen_s, 0, sizeof(double) * (size_t)R->comm->size);
    memset(R->in.verify_s, 0, sizeof(double) * (size_t)R->comm->size);
    if (!plan->async) control_send(WIRE_CMD_GENERATE);
    int silent = intake_wait_batch(&R->in, plan->async ? async_check_reports : NULL, R);
    if (silent) {
        char msg[300];
        intake_describe(&R->in, silent, msg, sizeof msg);
        give_up(R, msg);
    }
    s.wire_bytes = R->in.wire_bytes;
    s.raw_bytes = R->in.raw_bytes;
    int max_stale = plan->async ? plan->max_staleness : 0;
    int n_good = intake_take(&R->in, groups, R->version, max_stale);
    double t1 = now_seconds();
    s.t_collect = t1 - t0;
    for (int r = 1; r < R->comm->size; r++) {
        if (R->in.gen_s[r] > s.t_gen) s.t_gen = R->in.gen_s[r];
        if (R->in.verify_s[r] > s.t_verify) s.t_verify = R->in.verify_s[r];
    }
    s.t_comm = fmax(0, s.t_collect - s.t_gen - s.t_verify);
    if (n_good > 0) learner_step(&R->L, groups, n_good, R->version, &s.m);
    else R->L.step++; /* nothing to learn from: same weights, still a step */
    /* one version per step, even an empty one: the actors' schedule (group
     * j belongs to step j/quota + 1, taken at version j/quota) relies on it */
    R->version++;
    double t2 = now_seconds();
    s.t_learn = t2 - t1;
    double gen_sum = 0;
    for (int r = 1; r < R->comm->size; r++) gen_sum += R->in.gen_s[r];
    s.actor_tok_s = gen_sum > 0 ? s.m.tokens / gen_sum : 0;
    s.learner_tok_s = s.t_learn > 0 ? s.m.learner_tokens / s.t_learn : 0;
    for (int i = 0; i < n_good; i++) group_free(&groups[i]);
    s.bad_messages = R->in.n_bad;
    s.stale_dropped = R->in.n_stale;
    s.version = (unsigned long long)R->version;
    double t3 = now_seconds();
    int last = step == plan->steps;
    int stopping = stop_signal != 0 && !last;
    /* a signal: checkpoint and go, no evaluation (the batch system is
     * counting down to SIGKILL) */
    int eval_due = plan_eval_due(plan, step) && !stopping;
    uint32_t cmd = !eval_due ? WIRE_CMD_WEIGHTS : last ? WIRE_CMD_EVAL_PASS_K : WIRE_CMD_EVAL;
    if (plan->async) publish(R, cmd); /* first: the actors go on */
    if ((R->gs->checkpoint_every > 0 && step % R->gs->checkpoint_every == 0) || stopping || last) {
        if (plan->async) checkpoint_from_intake(R);
        else checkpoint_sync(R);
    }
    if (!plan->async && !stopping && (!last || eval_due)) publish(R, cmd);
    double t4 = now_seconds();
    if (eval_due) {
        collect_eval(R, &s.eval);
        s.has_eval = 1;
        s.t_eval = now_seconds() - t4;
        if (last) {
            R->final_eval = s.eval;
            R->have_final = 1;
        }
    }
    s.t_bcast = t4 - t3;
    s.elapsed = now_seconds() - R->t_start;
    s.step_seconds = now_seconds() - t0;
    R->phase[PHASE_WAIT] += s.t_collect;
    R->phase[PHASE_LEARN] += s.t_learn;
    R->phase[PHASE_BCAST] += s.t_bcast;
    R->phase[PHASE_EVAL] += s.t_eval;
    metrics_step(&R->ml, &s);
    if (stopping) {
        printf("signal %d: checkpointed step %ld to %s/ckpt-%08ld.ckpt; exiting with status %d "
               "so a batch script requeues the job (train resumes automatically)\n",
               (int)stop_signal, step, R->run->dir, step, EXIT_REQUEUE);
        return 0;
    }
    return 1;
}

/* Final evaluation, plot, and the table of held-out accuracy. */
static void report(Run *R, const double *all_phases) {
    const TrainPlan *plan = R->plan;
    char path[CFG_STR_MAX + 32];
    double wall = now_seconds() - R->t_start;
    snprintf(path, sizeof path, "%s/final.ckpt", R->run->dir);
    R->rs.step = R->L.step;
    R->rs.version = R->version;
    R->rs.train_seconds = wall;
    run_checkpoint_write(path, &R->policy, R->tok, &R->L.opt, &R->rs, R->cfg);
    printf("wrote %s (policy version %llu)\n", path, (unsigned long long)R->version);
    const EvalResult *fin = &R->final_eval;
    eval_print("grpo", fin, R->task);
    print_phase_table(all_phases, R->comm->size);
    char png[600] = "";
    int plotted = metrics_plot(&R->ml, png, sizeof png) == 0;
    printf("\nheld-out greedy accuracy, %d distinct %s prompts never trained on:\n", fin->n_prompts,
           R->task->name);
    printf("  %-28s %.3f\n", "demonstrator", R->rs.demo_acc);
    printf("  %-28s %.3f\n", "SFT model (start of GRPO)", R->rs.start_acc);
    printf("  %-28s %.3f   (%ld steps, %.0f s training, %ld bad messages, %ld stale)\n",
           "GRPO model", fin->greedy_acc, (long)plan->steps, wall, R->in.n_bad, R->in.n_stale);
    printf("held-out evaluation: %.1f s in all, %d evaluations on %d actors (%.2f s each)\n",
           R->eval_seconds, R->n_evals, R->comm->size - 1,
           R->n_evals ? R->eval_seconds / R->n_evals : 0.0);
    if (plotted) printf("plot: %s\n", png);
    snprintf(path, sizeof path, "%s/summary.json", R->run->dir);
    FILE *sf = xfopen(path, "w");
    fprintf(sf,
            "{\"demonstrator_acc\":%.6g,\"sft_greedy_acc\":%.6g,\"grpo_greedy_acc\":%.6g,"
            "\"grpo_sampled_acc\":%.6g,\"grpo_pass_at_k\":%.6g,\"k\":%d,\"eval_prompts\":%d,"
            "\"steps\":%d,\"async\":%d,\"max_staleness\":%d,\"train_seconds\":%.2f,"
            "\"bad_messages\":%ld,\"stale_dropped\":%ld,\"ranks\":%d,\"eval_seconds\":%.2f,"
            "\"evals\":%d,\"plot\":\"%s\",\"phases\":{",
            R->rs.demo_acc, R->rs.start_acc, fin->greedy_acc, fin->sampled_acc, fin->pass_at_k,
            fin->k, fin->n_prompts, plan->steps, plan->async, plan->max_staleness, wall,
            R->in.n_bad, R->in.n_stale, R->comm->size, R->eval_seconds, R->n_evals,
            plotted ? png : "");
    /* per-rank phase seconds: what the scaling study divides into busy and
     * idle fractions */
    for (int p = 0; p < PHASE_COUNT; p++) {
        fprintf(sf, "%s\"%s\":[", p ? "," : "", phase_names[p]);
        for (int r = 0; r < R->comm->size; r++)
            fprintf(sf, "%s%.4f", r ? "," : "", all_phases[r * PHASE_COUNT + p]);
        fprintf(sf, "]");
    }
    fprintf(sf, "}}\n");
    fclose(sf);
}

int learner_run(Config *cfg, const Comm *comm) {
    Run *R = xcalloc(1, sizeof *R);
    R->cfg = cfg;
    R->run = run_settings(cfg);
    R->plan = train_plan(cfg);
    R->gs = grpo_settings(cfg);
    R->comm = comm;
    make_dirs_or_die(R->run->dir);
    comm_set_deadline(R->plan->deadline_s, on_comm_timeout, R);
    setup(R);
    Group *groups = xcalloc((size_t)R->plan->prompts_per_step, sizeof(Group));
    int exit_code = 0;
    for (long step = R->L.step + 1; step <= R->plan->steps; step++)
        if (!run_step(R, step, groups)) {
            exit_code = EXIT_REQUEUE;
            break;
        }
    /* resumed after the last step (or zero steps): the final evaluation */
    if (exit_code == 0 && !R->have_final) {
        publish(R, WIRE_CMD_EVAL_PASS_K);
        collect_eval(R, &R->final_eval);
        R->have_final = 1;
    }
    stop_actors(R);
    double *all = xcalloc((size_t)comm->size * PHASE_COUNT, sizeof(double));
    comm_gather_doubles(R->phase, PHASE_COUNT, all);
    if (exit_code == 0) report(R, all);
    metrics_close(&R->ml);
    xfree(all);
    xfree(groups);
    if (R->plan->async) wchan_free(&R->wch);
    intake_free(&R->in);
    run_state_free(&R->rs);
    learner_free(&R->L);
    R->task->destroy(R->task);
    model_free(&R->policy);
    model_free(&R->ref);
    xfree(R->tok);
    xfree(R->ref_tok);
    xfree(R->ck_buf);
    xfree(R->ev_buf);
    xfree(R);
    return exit_code;
}
