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

#include "actor.h"
#include "checkpoint.h"
#include "eval.h"
#include "grpo_step.h"
#include "metrics.h"
#include "intake.h"
#include "memory.h"
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
    const Config *cfg;
    const Comm *comm;
    Model policy, ref;
    Tokenizer *tok, *ref_tok;
    Task *task;
    SamplerConfig sc;
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
} Run;

/* Writes ckpt-<step>.ckpt from the run's state (R->rs.actor_state set by
 * the caller). */
static void save_run(Run *R) {
    R->rs.n_ranks = R->comm->size;
    R->rs.step = R->L.step;
    R->rs.version = R->version;
    R->rs.train_seconds = now_seconds() - R->t_start;
    run_checkpoint_save(R->cfg->dir, R->cfg->keep_checkpoints, &R->policy, R->tok, &R->L.opt, &R->rs,
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
            R->cfg->dir, R->L.step, R->L.step);
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

/* Async: publishes the current weights and drives them to delivery,
 * keeping their checksum when actors will report theirs for this version. */
static void async_publish(Run *R) {
    wchan_post(&R->wch, R->policy.params, R->version, WIRE_CMD_WEIGHTS);
    async_wait(R, "the weight publication (async)");
    if (R->version % (uint64_t)R->cfg->checksum_every == 0) {
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

/* Publishes the current weights (and checks checksums when due). */
static void publish(Run *R) {
    if (R->cfg->async) {
        async_publish(R);
        return;
    }
    char err[600];
    weights_send(R->policy.params, R->policy.n_params, R->version);
    if (R->version % (uint64_t)R->cfg->checksum_every == 0 &&
        weights_check_all(R->policy.params, R->policy.n_params, R->version, 0, R->comm->size, err,
                          sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        comm_abort(3);
    }
}

/* Tells the actors to stop. Async: waits for the channel, posts STOP and
 * drains the groups still in flight until every actor has signed off. */
static void stop_actors(Run *R) {
    if (!R->cfg->async) {
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
    const Config *cfg = R->cfg;
    char init[CFG_STR_MAX + 16], refp[CFG_STR_MAX + 16], err[600], path[CFG_STR_MAX + 32];
    config_init_path(cfg, init, sizeof init);
    config_ref_path(cfg, refp, sizeof refp);
    R->tok = xmalloc(sizeof *R->tok);
    R->ref_tok = xmalloc(sizeof *R->ref_tok);
    ckpt_load_model_or_die(init, &R->policy, R->tok);
    ckpt_load_model_or_die(refp, &R->ref, R->ref_tok);
    if (R->ref.n_params != R->policy.n_params ||
        memcmp(&R->ref.cfg, &R->policy.cfg, sizeof R->ref.cfg) != 0)
        die("reference model %s has a different shape from the starting model %s", refp, init);
    memory_check_or_die(&R->policy.cfg, ROLE_LEARNER, cfg->prompts_per_step * cfg->group_size,
                        R->policy.cfg.max_seq_len, 64, memory_local_ranks());
    model_alloc_grads(&R->policy);
    R->task = task_create(cfg->task_name, &cfg->task, cfg->seed, err, sizeof err);
    if (!R->task) die("%s", err);

    snprintf(path, sizeof path, "%s/config.ini", cfg->dir);
    FILE *cf = xfopen(path, "w");
    config_write(cfg, cf);
    fclose(cf);
    printf("grpo train: learner rank 0 + %d actors (%s), %zu parameters, start %s, reference %s\n"
           "effective config (also in %s):\n",
           R->comm->size - 1, cfg->async ? "asynchronous" : "synchronous", R->policy.n_params, init,
           refp, path);
    config_write(cfg, stdout);

    R->sc = sampler_config_from(cfg);
    learner_init(&R->L, &R->policy, &R->ref, cfg);
    char bias[400];
    if (sample_dist_bias_warning(&R->L.dist, R->tok->vocab_size, bias, sizeof bias))
        fprintf(stderr, "warning: %s\n", bias);
    Config saved;
    int resumed =
        run_checkpoint_resume(cfg->dir, &R->policy, &R->L.opt, &R->rs, &saved, path, sizeof path);
    if (resumed) {
        char defining[2048], harmless[2048];
        if (R->rs.n_ranks != R->comm->size)
            die("cannot resume %s: it was written by a run with %d ranks, this one has %d "
                "(the actors' data streams depend on the rank count)",
                path, R->rs.n_ranks, R->comm->size);
        if (config_diff(&saved, cfg, defining, sizeof defining, harmless, sizeof harmless) > 0)
            die("refusing to resume %s with a changed config that would alter the run: %s "
                "(use a new run.dir to start a different run)",
                path, defining);
        if (harmless[0]) printf("resume: harmless config changes recorded: %s\n", harmless);
        R->L.step = R->rs.step;
        R->L.opt_steps = R->L.opt.t;
        R->version = R->rs.version;
        printf("resume: continuing from %s (step %ld, policy version %llu)\n", path, R->rs.step,
               (unsigned long long)R->rs.version);
        metrics_open(&R->ml, cfg->dir, R->task, 1);
    } else {
        R->rs.demo_acc = task_demo_accuracy(R->task, cfg->eval_prompts, cfg->seed);
        double t_e = now_seconds();
        EvalResult ev;
        evaluate(&R->policy, R->tok, R->task, &R->sc, cfg->eval_prompts, 0, cfg->seed, &ev);
        R->rs.start_acc = ev.greedy_acc;
        printf("start: held-out greedy accuracy %.3f on %d prompts (%.1f s); demonstrator %.3f\n",
               ev.greedy_acc, cfg->eval_prompts, now_seconds() - t_e, R->rs.demo_acc);
        metrics_open(&R->ml, cfg->dir, R->task, 0);
        metrics_start(&R->ml, &ev);
    }
    intake_init(&R->in, cfg, R->comm, R->tok->vocab_size, R->policy.cfg.max_seq_len,
                R->task->n_components, cfg->async ? cfg->max_staleness : 0);

    /* actors' saved state (resume) or nothing (fresh run) */
    uint64_t state_len = resumed ? (uint64_t)(R->comm->size - 1) * ACTOR_STATE_BYTES : 0;
    comm_bcast_bytes(&state_len, sizeof state_len);
    if (state_len) comm_bcast_bytes(R->rs.actor_state, state_len);
    R->t_start = now_seconds() - R->rs.train_seconds;
    if (cfg->async) {
        wchan_init(&R->wch, R->policy.n_params, 0);
        async_publish(R);
    } else if (R->L.step < cfg->grpo_steps) {
        publish(R);
    }
}

/* One training step: collect, train, publish, evaluate, log, checkpoint.
 * Returns 0 to continue, else the exit status: EXIT_REQUEUE when stopped
 * by a signal (checkpoint written), EXIT_NONFINITE when too many steps in
 * a row had a non-finite gradient. */
static int run_step(Run *R, long step, Group *groups) {
    const Config *cfg = R->cfg;
    StepLog s;
    memset(&s, 0, sizeof s);
    s.step = step;
    s.total_steps = cfg->grpo_steps;
    double t0 = now_seconds();
    memset(R->in.gen_s, 0, sizeof(double) * (size_t)R->comm->size);
    memset(R->in.verify_s, 0, sizeof(double) * (size_t)R->comm->size);
    int silent = intake_wait_batch(&R->in, cfg->async ? async_check_reports : NULL, R);
    if (silent) {
        char msg[300];
        intake_describe(&R->in, silent, msg, sizeof msg);
        give_up(R, msg);
    }
    s.wire_bytes = R->in.wire_bytes;
    s.raw_bytes = R->in.raw_bytes;
    int max_stale = cfg->async ? cfg->max_staleness : 0;
    int n_good = intake_take(&R->in, groups, R->version, max_stale);
    double t1 = now_seconds();
    s.t_collect = t1 - t0;
    for (int r = 1; r < R->comm->size; r++) {
        if (R->in.gen_s[r] > s.t_gen) s.t_gen = R->in.gen_s[r];
        if (R->in.verify_s[r] > s.t_verify) s.t_verify = R->in.verify_s[r];
    }
    s.t_comm = fmax(0, s.t_collect - s.t_gen - s.t_verify);
    int nonfinite = 0;
    if (n_good > 0) nonfinite = learner_step(&R->L, groups, n_good, R->version, &s.m);
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
    if (s.m.nonfinite_skipped)
        fprintf(stderr, "warning: learner step %ld: %d optimizer update(s) skipped, gradient norm %g "
                "is not finite; weights and AdamW state left unchanged\n",
                step, s.m.nonfinite_skipped, s.m.grad_norm);
    double t3 = now_seconds();
    if (cfg->async) publish(R); /* before evaluating: the actors go on */
    if ((cfg->eval_every > 0 && step % cfg->eval_every == 0) || step == cfg->grpo_steps) {
        double te = now_seconds();
        evaluate(&R->policy, R->tok, R->task, &R->sc, cfg->eval_prompts, 0, cfg->seed, &s.eval);
        s.has_eval = 1;
        s.t_eval = now_seconds() - te;
    }
    int stopping = stop_signal != 0 && step < cfg->grpo_steps;
    if ((cfg->checkpoint_every > 0 && step % cfg->checkpoint_every == 0) || stopping ||
        step == cfg->grpo_steps) {
        if (cfg->async) checkpoint_from_intake(R);
        else checkpoint_sync(R);
    }
    if (!stopping && !nonfinite && step < cfg->grpo_steps && !cfg->async) publish(R);
    s.t_bcast = now_seconds() - t3 - s.t_eval;
    s.elapsed = now_seconds() - R->t_start;
    s.step_seconds = now_seconds() - t0;
    R->phase[PHASE_WAIT] += s.t_collect;
    R->phase[PHASE_LEARN] += s.t_learn;
    R->phase[PHASE_BCAST] += s.t_bcast;
    R->phase[PHASE_EVAL] += s.t_eval;
    metrics_step(&R->ml, &s);
    if (nonfinite) {
        fprintf(stderr, "error: learner: %ld steps in a row had a non-finite gradient (last: step %ld, "
                "gradient norm %g); stopping with status %d. The weights are as after the last "
                "finite update. Look for NaN/inf in the reference model ([grpo] ref) or the "
                "rewards, or lower [grpo] lr\n",
                s.m.nonfinite_in_a_row, step, s.m.grad_norm, EXIT_NONFINITE);
        return EXIT_NONFINITE;
    }
    if (stopping) {
        printf("signal %d: checkpointed step %ld to %s/ckpt-%08ld.ckpt; exiting with status %d "
               "so a batch script requeues the job (train resumes automatically)\n",
               (int)stop_signal, step, cfg->dir, step, EXIT_REQUEUE);
        return EXIT_REQUEUE;
    }
    return 0;
}

/* Final evaluation, plot, and the table of held-out accuracy. */
static void report(Run *R, const double *all_phases) {
    const Config *cfg = R->cfg;
    char path[CFG_STR_MAX + 32];
    double wall = now_seconds() - R->t_start;
    snprintf(path, sizeof path, "%s/final.ckpt", cfg->dir);
    R->rs.step = R->L.step;
    R->rs.version = R->version;
    R->rs.train_seconds = wall;
    run_checkpoint_write(path, &R->policy, R->tok, &R->L.opt, &R->rs, cfg);
    printf("wrote %s (policy version %llu)\n", path, (unsigned long long)R->version);
    EvalResult final;
    evaluate(&R->policy, R->tok, R->task, &R->sc, cfg->eval_prompts, cfg->pass_k, cfg->seed, &final);
    eval_print("grpo", &final, R->task);
    print_phase_table(all_phases, R->comm->size);
    char png[600] = "";
    int plotted = metrics_plot(&R->ml, png, sizeof png) == 0;
    printf("\nheld-out greedy accuracy, %d %s prompts never trained on:\n", cfg->eval_prompts,
           R->task->name);
    printf("  %-28s %.3f\n", "demonstrator", R->rs.demo_acc);
    printf("  %-28s %.3f\n", "SFT model (start of GRPO)", R->rs.start_acc);
    printf("  %-28s %.3f   (%ld steps, %.0f s training, %ld bad messages, %ld stale)\n",
           "GRPO model", final.greedy_acc, (long)cfg->grpo_steps, wall, R->in.n_bad, R->in.n_stale);
    if (plotted) printf("plot: %s\n", png);
    snprintf(path, sizeof path, "%s/summary.json", cfg->dir);
    FILE *sf = xfopen(path, "w");
    fprintf(sf,
            "{\"demonstrator_acc\":%.6g,\"sft_greedy_acc\":%.6g,\"grpo_greedy_acc\":%.6g,"
            "\"grpo_sampled_acc\":%.6g,\"grpo_pass_at_k\":%.6g,\"k\":%d,\"steps\":%d,"
            "\"async\":%d,\"max_staleness\":%d,\"train_seconds\":%.2f,\"bad_messages\":%ld,"
            "\"stale_dropped\":%ld,\"ranks\":%d,\"plot\":\"%s\",\"phases\":{",
            R->rs.demo_acc, R->rs.start_acc, final.greedy_acc, final.sampled_acc, final.pass_at_k,
            final.k, cfg->grpo_steps, cfg->async, cfg->max_staleness, wall, R->in.n_bad,
            R->in.n_stale, R->comm->size, plotted ? png : "");
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

int learner_run(const Config *cfg, const Comm *comm) {
    Run *R = xcalloc(1, sizeof *R);
    R->cfg = cfg;
    R->comm = comm;
    comm_set_deadline(cfg->deadline_s, on_comm_timeout, R);
    setup(R);
    Group *groups = xcalloc((size_t)cfg->prompts_per_step, sizeof(Group));
    int exit_code = 0;
    for (long step = R->L.step + 1; step <= cfg->grpo_steps && exit_code == 0; step++)
        exit_code = run_step(R, step, groups);
    stop_actors(R);
    double *all = xcalloc((size_t)comm->size * PHASE_COUNT, sizeof(double));
    comm_gather_doubles(R->phase, PHASE_COUNT, all);
    if (exit_code == 0) report(R, all);
    metrics_close(&R->ml);
    xfree(all);
    xfree(groups);
    if (cfg->async) wchan_free(&R->wch);
    intake_free(&R->in);
    run_state_free(&R->rs);
    learner_free(&R->L);
    R->task->destroy(R->task);
    model_free(&R->policy);
    model_free(&R->ref);
    xfree(R->tok);
    xfree(R->ref_tok);
    xfree(R->ck_buf);
    xfree(R);
    return exit_code;
}
