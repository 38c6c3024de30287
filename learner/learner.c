/* learner.c: rank 0 of `grpo train`, the lead learner. Each step: take
 * every actor's quota of groups from the intake (intake.c: polled,
 * validated, in sequence order; in the colocated layout its own share
 * first), relay the batch to the other data-parallel learners
 * (learner_peer.h), train on it (grpo_step.c; with [grpo] algo = ppo also
 * the value model, ppo_step.c), bump the policy version and
 * publish the new weights (colocated: only the version), and every
 * checksum_every versions check that every rank holds bit-identical
 * weights.
 *
 * Synchronous mode (default): a blocking broadcast of the weights after
 * each step; actors wait for it, so every group is on-policy and runs are
 * bit-reproducible. Asynchronous mode (grpo.async=1): weights go out on a
 * nonblocking channel (weights_async.h) while actors keep generating with
 * weights at most max_staleness versions old (the actors enforce it before
 * generating; the learner checks again and drops what is older). With
 * max_staleness = 0 the asynchronous machinery computes exactly what the
 * synchronous loop does.
 *
 * Held-out evaluation is the actors' work: a publication can carry
 * WIRE_CMD_EVAL, and every actor then evaluates its share of the held-out
 * set with those weights and reports a tally (eval_report.h) that the
 * learner sums (collect_eval).
 *
 * The run directory is this process's alone while it runs (run_lock.h),
 * and every write into it is checked (run_files.h, ckpt_write): a full
 * disk stops the run with EXIT_RUN_DIR, after a checkpoint if one can still
 * be written. A run whose actors deliver nothing usable for
 * grpo.max_empty_steps steps in a row stops with EXIT_EMPTY_STEPS (the
 * count restarts on resume).
 *
 * [grpo] time_limit_s ends a run early: once that much training time has
 * passed (the clock of summary.json's train_seconds, saved in every
 * checkpoint's RSUM, so it continues across a resume), the step that
 * notices becomes the last one: final evaluation, checkpoint, final.ckpt,
 * summary.json, the actors stopped, exit 0. Only the learner reads the
 * clock, so every rank ends at the step it chose.
 *
 * The loop's state (Run) is in learner_run.h; publishing and the actors'
 * reports are in learner_publish.c, checkpoints, signals and stops in
 * learner_stop.c, the final table in learner_report.c. */
#include "learner.h"
#include "learner_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas_setup.h"
#include "checkpoint.h"
#include "checksum_ring.h"
#include "eval_report.h"
#include "grpo_settings.h"
#include "grpo_step.h"
#include "metrics.h"
#include "intake.h"
#include "memory.h"
#include "learner_peer.h"
#include "plan.h"
#include "ppo_step.h"
#include "relay.h"
#include "run_files.h"
#include "run_lock.h"
#include "run_settings.h"
#include "run_state.h"
#include "samples_log.h"
#include "weights_async.h"
#include "util.h"
#include "weights_sync.h"
#include "wire.h"

/* Moves an earlier run's metrics file aside before a restart truncates it. */
static int set_aside_metrics(const char *dir, const char *name) {
    char path[CFG_STR_MAX + 32], aside[CFG_STR_MAX + 96], err[900];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (access(path, F_OK) != 0) return 0;
    if (run_file_set_aside(path, ".before-restart", aside, sizeof aside, err, sizeof err) != 0) {
        fprintf(stderr, "error: run directory not writable: %s\n", err);
        return EXIT_RUN_DIR;
    }
    fprintf(stderr, "restart: moved %s aside to %s\n", path, aside);
    return 0;
}

/* Resumes from run.dir's newest loadable checkpoint, or prepares a fresh
 * start (set_aside an earlier run's metrics on a restart; the starting
 * model is evaluated once the actors are ready: start_eval). Returns 0 or
 * an exit status (said why). */
/* Arms the over-optimisation alarm when the run has both of its
 * components (a reward-model scorer and a reported true score). */
static void start_alarm(Run *R) {
    const char *names[REWARD_MAX_COMPONENTS];
    int n = reward_mix_names(R->task, &R->scorers, names);
    const AlarmSettings *a = alarm_settings(R->cfg);
    if (overopt_alarm_init(&R->alarm, a, names, n))
        printf("over-optimisation alarm: watching \"%s\" (trained on) against \"%s\" (true score) "
               "over %d steps\n", a->proxy, a->truth, a->window);
}

/* Feeds one step's component means to the alarm; warns when it turns on
 * or clears. */
static void watch_alarm(Run *R, long step, StepLog *s) {
    if (R->alarm.proxy_i < 0) return;
    int ev = s->m.n_groups > 0 ? overopt_alarm_feed(&R->alarm, s->m.comp_mean) : 0;
    s->alarm_live = 1;
    s->alarm_on = R->alarm.on;
    s->truth_drop = R->alarm.truth_drop;
    s->proxy_change = R->alarm.proxy_change;
    const AlarmSettings *a = alarm_settings(R->cfg);
    if (ev > 0)
        fprintf(stderr, "warning: step %ld: over-optimisation: the true score \"%s\" is %.3f below "
                "its best (mean of %d steps) while the learned reward \"%s\" moved %+.3f since "
                "then; the policy is exploiting the reward model (raise [grpo] beta, or keep an "
                "earlier checkpoint)\n", step, a->truth, s->truth_drop, a->window, a->proxy,
                s->proxy_change);
    else if (ev < 0)
        fprintf(stderr, "over-optimisation alarm cleared at step %ld (\"%s\" %.3f below its best, "
                "\"%s\" %+.3f)\n", step, a->truth, s->truth_drop, a->proxy, s->proxy_change);
}

static int resume_or_start(Run *R, int *resumed) {
    const Config *cfg = R->cfg;
    const char *dir = R->run->dir;
    char path[CFG_STR_MAX + 64], err[1600];
    Config *saved = config_new_like(cfg);
    ResumeResult res = run_checkpoint_resume(dir, R->gs->restart, &R->policy, &R->L.opt, &R->rs,
                                             saved, path, sizeof path, err, sizeof err);
    char defining[2048], harmless[2048];
    int n_defining = res == RESUME_LOADED ? config_diff(saved, cfg, defining, sizeof defining,
                                                        harmless, sizeof harmless)
                                          : 0;
    config_free(saved);
    *resumed = res == RESUME_LOADED;
    if (res == RESUME_REFUSED || res == RESUME_ERROR) {
        fprintf(stderr, "error: %s%s\n", res == RESUME_ERROR ? "run directory not writable: " : "",
                err);
        return res == RESUME_ERROR ? EXIT_RUN_DIR : EXIT_USAGE;
    }
    if (res == RESUME_LOADED) {
        if (R->rs.n_ranks != R->comm->size)
            printf("resume: %s was written by a run with %d ranks, this one has %d: the same "
                   "run continues (rollouts are keyed by step and prompt, not by rank)\n",
                   path, R->rs.n_ranks, R->comm->size);
        if (n_defining > 0) {
            fprintf(stderr, "error: refusing to resume %s with a changed config that would alter "
                            "the run: %s (use a new run.dir to start a different run)\n",
                    path, defining);
            return EXIT_USAGE;
        }
        if (harmless[0]) printf("resume: harmless config changes recorded: %s\n", harmless);
        R->L.step = R->rs.step;
        R->L.opt_steps = R->L.opt.t;
        R->version = R->rs.version;
        printf("resume: continuing from %s (step %ld, policy version %llu)\n", path, R->rs.step,
               (unsigned long long)R->rs.version);
        const char *inexact = run_state_inexact_reason(&R->rs);
        if (inexact)
            fprintf(stderr, "resume: warning: this resume is not bit-exact: %s: %s\n", path,
                    inexact);
        if (metrics_open(&R->ml, dir, R->task, &R->scorers, 1, err, sizeof err) != 0)
            goto unwritable;
        R->metrics_ready = 1;
        start_alarm(R);
        return 0;
    }
    if (res == RESUME_RESTART) {
        fprintf(stderr, "restart: WARNING: no checkpoint in %s loads; starting the run over from "
                        "step 0 ([grpo] restart = 1)\n",
                dir);
        int st = set_aside_metrics(dir, "metrics.jsonl");
        if (!st) st = set_aside_metrics(dir, "metrics.tsv");
        if (!st) st = set_aside_metrics(dir, "samples.jsonl");
        if (st) return st;
    }
    if (metrics_open(&R->ml, dir, R->task, &R->scorers, 0, err, sizeof err) != 0)
        goto unwritable;
    R->metrics_ready = 1;
    start_alarm(R);
    return 0;
unwritable:
    fprintf(stderr, "error: run directory not writable: %s\n", err);
    return EXIT_RUN_DIR;
}

/* The memory pre-flight of the learner rank: the policy, its gradients,
 * AdamW and reference (memory.h: ROLE_LEARNER) and, with PPO, the value
 * model with its gradients, AdamW and activations (as a trainer of its
 * own: ROLE_SFT). Dies naming the sizes and the limit that binds. */
static void learner_memory_check(const Run *R, int rows) {
    const ModelConfig *c = &R->policy.cfg;
    const int T = c->max_seq_len;
    if (!R->value.params) {
        memory_check_or_die(c, ROLE_LEARNER, rows, T, 64, memory_local_ranks());
        return;
    }
    const double need = memory_needed(c, ROLE_LEARNER, rows, T, 64) +
                        memory_needed(&R->value.cfg, ROLE_SFT, rows, T, 0);
    char what[300];
    snprintf(what, sizeof what, "the learner rank of this PPO run (policy dim %d, %d layers; value "
             "model dim %d, %d layers: [ppo] value_init)", c->dim, c->n_layers,
             R->value.cfg.dim, R->value.cfg.n_layers);
    memory_check_need_or_die(need, what, memory_local_ranks());
}

/* Loads models and task, writes config.ini, resumes or starts, and sends
 * the actors their saved state. Returns 0, or an exit status after telling
 * the actors that the start is refused. */
static int setup(Run *R) {
    Config *cfg = R->cfg;
    const TrainPlan *plan = R->plan;
    char init[CFG_STR_MAX + 16], refp[CFG_STR_MAX + 16], err[900], path[CFG_STR_MAX + 32];
    char valuep[CFG_STR_MAX + 16] = "";
    /* run.dir is ours (the lock): a temp file in it is a write that died */
    if (ckpt_remove_stale_temps(R->run->dir, err, sizeof err) < 0) fprintf(stderr, "warning: %s\n", err);
    plan_init_path(plan, R->run->dir, init, sizeof init);
    grpo_ref_path(R->gs, init, refp, sizeof refp);
    R->tok = xcalloc(1, sizeof *R->tok);
    R->ref_tok = xcalloc(1, sizeof *R->ref_tok);
    ckpt_load_model_or_die(init, &R->policy, R->tok);
    ckpt_load_model_or_die(refp, &R->ref, R->ref_tok);
    if (R->ref.n_params != R->policy.n_params ||
        memcmp(&R->ref.cfg, &R->policy.cfg, sizeof R->ref.cfg) != 0)
        die("reference model %s has a different shape from the starting model %s", refp, init);
    /* the model is the starting checkpoint's: record its shape, refuse a
     * [model] override that says otherwise */
    if (model_config_adopt(cfg, &R->policy.cfg, init, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return EXIT_USAGE;
    }
    if (R->gs->algo == ALGO_PPO &&
        ppo_value_load(cfg, init, R->tok, &R->policy.cfg, &R->value, valuep, sizeof valuep, err,
                       sizeof err) != 0)
        die("%s", err);
    learner_memory_check(R, plan->prompts_per_step * plan->group_size);
    model_alloc_grads(&R->policy);
    if (R->local) {
        R->local->open(R->local->ctx, &R->policy);
        R->local_groups = xcalloc((size_t)R->local->quota(R->local->ctx), sizeof(Group));
    }
    R->task = task_from_config(cfg, R->run->seed, err, sizeof err);
    if (!R->task) die("%s", err);
    if (task_check_fits(R->task, R->policy.cfg.max_seq_len, sampling_settings(cfg)->max_new_tokens,
                        err, sizeof err) != 0)
        die("%s", err);
    if (scorer_set_parse(reward_settings(cfg)->scorers, &R->scorers, err, sizeof err) != 0)
        die("%s", err);
    if (R->scorers.n) {
        printf("reward: the %s verifier's", R->task->name);
        for (int i = 0; i < R->scorers.n; i++)
            printf(" + %g x %s", (double)R->scorers.s[i].weight, R->scorers.s[i].name);
        printf(" (the scorers only for correct completions)\n");
    }

    snprintf(path, sizeof path, "%s/config.ini", R->run->dir);
    if (plan->layout == LAYOUT_COLOCATED)
        printf("grpo train: %d rank%s, each acts and learns (colocated, synchronous)",
               R->comm->size, R->comm->size > 1 ? "s" : "");
    else if (R->roles.n_learners > 1)
        printf("grpo train: %d data-parallel learners (ranks 0-%d) + %d actors (synchronous)",
               R->roles.n_learners, R->roles.n_learners - 1, R->roles.n_actors);
    else
        printf("grpo train: learner rank 0 + %d actors (%s)", R->roles.n_actors,
               plan->async ? "asynchronous" : "synchronous");
    printf(", %zu parameters, start %s, reference %s", R->policy.n_params, init, refp);
    if (R->value.params)
        printf(", PPO value model from %s (%zu parameters)", valuep, R->value.n_params);
    char compute[256];
    blas_describe(compute, sizeof compute);
    printf("\ncompute on the learner: %s\neffective config (also in %s):\n", compute, path);
    config_write(cfg, stdout);

    learner_init(&R->L, &R->policy, &R->ref, cfg);
    if (R->value.params) {
        ppo_attach(&R->L, &R->value, cfg);
        R->rs.ppo = R->L.ppo; /* written with every checkpoint, restored on resume */
    }
    learner_join(&R->L, R->lg);
    R->learner_ready = 1;
    char bias[400];
    if (sample_dist_bias_warning(&R->L.dist, R->tok->vocab_size, bias, sizeof bias))
        fprintf(stderr, "warning: %s\n", bias);
    int resumed = 0, status = resume_or_start(R, &resumed);
    if (status) return status;
    /* only now: a refused start leaves run.dir as it was */
    char *text = config_to_string(cfg);
    int bad = run_file_write(path, text, strlen(text), err, sizeof err);
    xfree(text);
    if (bad) {
        fprintf(stderr, "error: run directory not writable: %s\n", err);
        return EXIT_RUN_DIR;
    }
    const char *names[REWARD_MAX_COMPONENTS];
    intake_init(&R->in, plan, sampling_settings(cfg)->max_new_tokens, R->comm,
                R->tok->vocab_size, R->tok->bos_id, R->policy.cfg.max_seq_len,
                reward_mix_names(R->task, &R->scorers, names),
                plan->async ? plan->max_staleness : 0);
    R->intake_ready = 1;

    /* the step the run starts after; then the other learners take the
     * lead's state */
    uint64_t start = resumed ? (uint64_t)R->L.step : 0;
    comm_bcast_bytes(R->comm, &start, sizeof start);
    R->actors_started = 1;
    learners_share_state(R->lg, &R->L, &R->version);
    if (R->lg) R->relay_codec = wire_codec_new(3);
    if (plan->async) {
        wchan_init(&R->wch, R->policy.n_params, 0);
        checksum_ring_init(&R->ring, plan->max_staleness, plan->checksum_every);
    }
    if (!resumed) {
        /* the starting model, evaluated by the actors */
        double t_e = now_seconds();
        EvalResult ev;
        publish_and_evaluate(R, WIRE_CMD_EVAL, &ev);
        R->phase[PHASE_EVAL] += now_seconds() - t_e;
        /* the demonstrator on the same distinct prompts: no model, cheap */
        R->rs.demo_acc = task_demo_accuracy(R->task, ev.asked, R->run->seed);
        R->rs.start_acc = ev.greedy_acc;
        printf("start: held-out greedy accuracy %.3f on %d distinct prompts (%.1f s on %d "
               "actors); demonstrator %.3f\n",
               ev.greedy_acc, ev.n_prompts, now_seconds() - t_e, R->roles.n_actors, R->rs.demo_acc);
        if (metrics_start(&R->ml, &ev, err, sizeof err) != 0 ||
            samples_log_write(&R->ml.samples, R->ml.comp_names, 0, &R->samples, stdout, err,
                              sizeof err) != 0) {
            fprintf(stderr, "error: run directory not writable: %s\n", err);
            return EXIT_RUN_DIR;
        }
    } else if (plan->async || R->L.step < plan->steps) {
        publish(R, WIRE_CMD_WEIGHTS);
    }
    R->t_start = now_seconds() - R->rs.train_seconds;
    R->last_saved_step = R->L.step; /* resumed from it, or step 0: nothing new */
    if (getenv("GRPO_TEST_GRAD_OUT")) {
        R->grad_dump = xmalloc(sizeof(float) * R->policy.n_params);
        R->L.grad_out = R->grad_dump;
    }
    return 0;
}

/* Whether [grpo] time_limit_s (0 = none) of training have passed; the
 * clock continues across resumes (R->t_start). */
static int time_limit_reached(const Run *R) {
    return R->gs->time_limit_s > 0 && now_seconds() - R->t_start >= R->gs->time_limit_s;
}

/* An evaluation step's samples.jsonl lines: the first group of the batch
 * the learner just trained on (n_good groups; none on an empty step) with
 * the advantages its loss used, then the held-out samples. 0 or -1 with err. */
static int write_samples(Run *R, long step, int n_good, char *err, size_t errlen) {
    if (n_good > 0) {
        const Group *g;
        const float *adv = learner_batch_group(&R->L, 0, &g);
        if (samples_log_write_group(&R->ml.samples, R->ml.comp_names, step, g, adv, R->tok,
                                    stdout, err, errlen) != 0)
            return -1;
    }
    return samples_log_write(&R->ml.samples, R->ml.comp_names, step, &R->samples, stdout, err,
                             errlen);
}

/* Test hook: GRPO_TEST_GRAD_OUT=FILE writes the gradient of the run's
 * first optimizer update (summed over the learners, before clipping) to
 * FILE as raw floats, so a test can compare the data-parallel sum with one
 * learner's gradient. */
static void dump_gradient(Run *R) {
    const char *path = getenv("GRPO_TEST_GRAD_OUT");
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(R->grad_dump, sizeof(float), R->policy.n_params, f) != R->policy.n_params ||
        fclose(f) != 0)
        die("cannot write the gradient to %s (GRPO_TEST_GRAD_OUT)", path);
    xfree(R->grad_dump);
    R->grad_dump = NULL;
}

/* One training step: collect, train, publish, evaluate, log, checkpoint.
 * Returns 0 to continue, or the exit status to stop with (a checkpoint is
 * written when it can be; the message says why): EXIT_REQUEUE on a signal,
 * EXIT_NONFINITE when too many steps in a row had a non-finite gradient. */
static int run_step(Run *R, long step, Group *groups) {
    const TrainPlan *plan = R->plan;
    const GrpoSettings *gs = R->gs;
    StepLog s;
    memset(&s, 0, sizeof s);
    s.step = step;
    s.total_steps = plan->steps;
    double t0 = now_seconds();
    memset(R->in.gen_s, 0, sizeof(double) * (size_t)R->comm->size);
    memset(R->in.verify_s, 0, sizeof(double) * (size_t)R->comm->size);
    if (!plan->async) control_send(R->comm, WIRE_CMD_GENERATE);
    double t_local = 0; /* colocated: rank 0's own slots, while the others roll out theirs */
    if (R->local) {
        const int q = R->local->quota(R->local->ctx);
        R->local->rollout(R->local->ctx, step, R->version, R->local_groups);
        for (int i = 0; i < q; i++) intake_push(&R->in, 0, &R->local_groups[i]);
        t_local = now_seconds() - t0;
    }
    int silent = intake_wait_batch(&R->in, run_wait_idle, R);
    if (silent < 0) return run_stop_while_waiting(R, step);
    if (silent) {
        char msg[300];
        intake_describe(&R->in, silent, msg, sizeof msg);
        run_give_up(R, msg);
    }
    /* every step, even when the batch was already there: the bound on the
     * age of a report (checksum_ring.h) relies on it */
    if (plan->async) async_check_reports(R);
    s.wire_bytes = R->in.wire_bytes;
    s.raw_bytes = R->in.raw_bytes;
    int max_stale = plan->async ? plan->max_staleness : 0;
    int n_good = intake_take(&R->in, groups, R->version, max_stale);
    double t1 = now_seconds();
    /* the other learners learn from exactly this batch */
    if (R->lg) relay_send(R->lg, R->relay_codec, groups, n_good);
    s.t_collect = t1 - t0;
    for (int r = R->in.first; r < R->comm->size; r++) {
        if (R->in.gen_s[r] > s.t_gen) s.t_gen = R->in.gen_s[r];
        if (R->in.verify_s[r] > s.t_verify) s.t_verify = R->in.verify_s[r];
    }
    s.t_comm = fmax(0, s.t_collect - s.t_gen - s.t_verify);
    int nonfinite = 0;
    if (n_good > 0) nonfinite = learner_step(&R->L, groups, n_good, R->version, &s.m);
    else R->L.step++; /* nothing to learn from: same weights, still a step */
    if (R->grad_dump && !R->L.grad_out) dump_gradient(R);
    R->n_empty = n_good > 0 ? 0 : R->n_empty + 1;
    /* one version per step, even an empty one: the actors sample step s
     * with the weights of version s - 1 */
    R->version++;
    double t2 = now_seconds();
    s.t_learn = t2 - t1;
    double gen_sum = 0;
    for (int r = R->in.first; r < R->comm->size; r++) gen_sum += R->in.gen_s[r];
    s.actor_tok_s = gen_sum > 0 ? s.m.tokens / gen_sum : 0;
    s.learner_tok_s = s.t_learn > 0 ? s.m.learner_tokens / s.t_learn : 0;
    s.bad_messages = R->in.n_bad;
    s.stale_dropped = R->in.n_stale;
    s.version = (unsigned long long)R->version;
    watch_alarm(R, step, &s);
    if (s.m.nonfinite_skipped)
        fprintf(stderr, "warning: learner step %ld: %d optimizer update(s) skipped, gradient norm %g "
                "is not finite; weights and AdamW state left unchanged\n",
                step, s.m.nonfinite_skipped, s.m.grad_norm);
    double t3 = now_seconds();
    /* decided here alone and carried out by commands, so every rank ends
     * at the same step */
    int time_up = step < plan->steps && time_limit_reached(R);
    int last = step == plan->steps || time_up;
    int empty_stop = gs->max_empty_steps > 0 && R->n_empty >= gs->max_empty_steps;
    if (!R->stop_signal) R->stop_signal = learner_stop_signal();
    int stopping = (R->stop_signal != 0 && !last) || empty_stop || nonfinite;
    /* stopping: checkpoint and go, no evaluation (on a signal the batch
     * system is counting down to SIGKILL) */
    int eval_due = (plan_eval_due(plan, step) || time_up) && !stopping;
    if (time_up && !stopping) {
        R->time_stop = 1;
        printf("time limit: %.1f s of training reached [grpo] time_limit_s = %g after step %ld of "
               "%d; starting no new step (final evaluation, checkpoint and summary follow)\n",
               now_seconds() - R->t_start, (double)gs->time_limit_s, step, plan->steps);
    }
    uint32_t cmd = !eval_due ? WIRE_CMD_WEIGHTS : last ? WIRE_CMD_EVAL_PASS_K : WIRE_CMD_EVAL;
    R->step_log = &s; /* an interrupted wait from here on writes its line (learner_stop.c) */
    R->step_t0 = t0;
    if (plan->async) publish(R, cmd); /* first: the actors go on */
    int checkpointed = (gs->checkpoint_every > 0 && step % gs->checkpoint_every == 0) ||
                       stopping || last;
    int status = 0;
    if (checkpointed && !nonfinite)
        status = run_save_checkpoint(R);
    /* sync: the actors generate only when told to (WIRE_CMD_GENERATE), so
     * weights sent before a stop leave nothing in flight */
    if (!status && !plan->async && !stopping && (!last || eval_due)) publish(R, cmd);
    double t4 = now_seconds();
    s.t_bcast = t4 - t3;
    if (!status && eval_due) {
        collect_eval(R, cmd, &s.eval);
        s.has_eval = 1;
        s.t_eval = now_seconds() - t4;
        if (last) {
            R->final_eval = s.eval;
            R->have_final = 1;
        }
    }
    s.elapsed = now_seconds() - R->t_start;
    s.time_limit_s = gs->time_limit_s;
    s.step_seconds = now_seconds() - t0;
    R->phase[PHASE_WAIT] += s.t_collect - t_local; /* its rollout is the actor half's */
    R->phase[PHASE_LEARN] += s.t_learn;
    R->phase[PHASE_BCAST] += s.t_bcast;
    R->phase[PHASE_EVAL] += s.t_eval;
    char err[900];
    R->step_log = NULL;
    int bad = metrics_step(&R->ml, &s, err, sizeof err) != 0 ||
              (s.has_eval && write_samples(R, step, n_good, err, sizeof err) != 0);
    for (int i = 0; i < n_good; i++) group_free(&groups[i]);
    if (bad) {
        fprintf(stderr, "error: run directory not writable: %s\n", err);
        if (!checkpointed) {
            char path[CFG_STR_MAX + 64];
            run_checkpoint_path(R->run->dir, R->L.step, path, sizeof path);
            if (run_save_checkpoint(R) == 0)
                fprintf(stderr, "error: learner: wrote %s (step %ld)\n", path, R->L.step);
        }
        fprintf(stderr, "error: learner: stopping with status %d (run directory not writable)\n",
                EXIT_RUN_DIR);
        return EXIT_RUN_DIR;
    }
    /* after the line is in metrics.tsv; gnuplot runs beside training */
    dashboard_poll(&R->dash);
    if (s.has_eval) dashboard_redraw(&R->dash);
    if (status) {
        fprintf(stderr, "error: learner: stopping with status %d (run directory not writable)\n",
                status);
        return status;
    }
    if (nonfinite) {
        fprintf(stderr, "error: learner: %ld steps in a row had a non-finite gradient (last: step %ld, "
                "gradient norm %g); stopping with status %d. The weights are as after the last "
                "finite update. Look for NaN/inf in the reference model ([grpo] ref) or the "
                "rewards, or lower [grpo] lr\n",
                s.m.nonfinite_in_a_row, step, s.m.grad_norm, EXIT_NONFINITE);
        return EXIT_NONFINITE;
    }
    if (empty_stop) {
        fprintf(stderr, "error: learner: %d consecutive steps with no valid group (%ld bad "
                        "messages, %ld stale dropped so far): the actors' data is unusable; "
                        "checkpointed step %ld to %s/ckpt-%08ld.ckpt; stopping with status %d\n",
                R->n_empty, R->in.n_bad, R->in.n_stale, step, R->run->dir, step, EXIT_EMPTY_STEPS);
        return EXIT_EMPTY_STEPS;
    }
    if (stopping) {
        printf("signal %d: checkpointed step %ld to %s/ckpt-%08ld.ckpt; exiting with status %d "
               "so a batch script requeues the job (train resumes automatically)\n",
               R->stop_signal, step, R->run->dir, step, EXIT_REQUEUE);
        return EXIT_REQUEUE;
    }
    return 0;
}

/* Frees what setup got to. */
static void run_free(Run *R) {
    if (R->plan->async && R->intake_ready) {
        wchan_free(&R->wch);
        checksum_ring_free(&R->ring);
    }
    if (R->intake_ready) intake_free(&R->in);
    if (R->learner_ready) learner_free(&R->L);
    run_state_free(&R->rs);
    if (R->task) R->task->destroy(R->task);
    model_free(&R->policy);
    model_free(&R->ref);
    if (R->value.params) model_free(&R->value);
    tokenizer_free(R->tok);
    tokenizer_free(R->ref_tok);
    xfree(R->tok);
    xfree(R->ref_tok);
    xfree(R->ck_buf);
    xfree(R->ev_buf);
    xfree(R->grad_dump);
    if (R->local_groups) R->local->close(R->local->ctx);
    xfree(R->local_groups);
    if (R->relay_codec) wire_codec_free(R->relay_codec);
    eval_samples_free(&R->samples);
    run_lock_release(&R->lock);
    xfree(R);
}

int learner_run(Config *cfg, Comm *comm, CommGroup *learners, const LocalActor *local) {
    Run *R = xcalloc(1, sizeof *R);
    R->cfg = cfg;
    R->run = run_settings(cfg);
    R->last_saved_step = -1;
    R->plan = train_plan(cfg);
    R->gs = grpo_settings(cfg);
    R->comm = comm;
    R->roles = plan_roles(R->plan, 0, comm->size);
    R->lg = learners && comm_group_size(learners) > 1 ? learners : NULL;
    R->local = local;
    learner_watch_waits(R, comm);
    char err[1000];
    make_dirs_or_die(R->run->dir);
    int status = run_lock_take(&R->lock, R->run->dir);
    if (!status) status = setup(R);
    if (status && !R->actors_started) {
        /* the actors wait for their state first thing: tell them to leave */
        uint64_t refused = WIRE_START_REFUSED;
        comm_bcast_bytes(R->comm, &refused, sizeof refused);
        if (R->metrics_ready) metrics_close(&R->ml, NULL, 0);
        run_free(R);
        return status;
    }
    dashboard_init(&R->dash, R->run->dir);
    Group *groups = xcalloc((size_t)R->plan->prompts_per_step, sizeof(Group));
    /* a resume whose saved training time is already past the limit trains
     * no further: it goes straight to the final evaluation (a fresh run
     * holds 0 s, so it always takes its first step) */
    if (!status && R->L.step < R->plan->steps && R->gs->time_limit_s > 0 &&
        R->rs.train_seconds >= R->gs->time_limit_s) {
        R->time_stop = 1;
        printf("time limit: the checkpoint holds %.1f s of training, [grpo] time_limit_s = %g: "
               "no new step after step %ld of %d\n",
               R->rs.train_seconds, (double)R->gs->time_limit_s, R->L.step, R->plan->steps);
    }
    for (long step = R->L.step + 1; step <= R->plan->steps && !status && !R->time_stop; step++)
        status = run_step(R, step, groups);
    /* resumed after the last step (or no steps): the final evaluation */
    if (status == 0 && !R->have_final) {
        publish_and_evaluate(R, WIRE_CMD_EVAL_PASS_K, &R->final_eval);
        R->have_final = 1;
    }
    stop_actors(R);
    if (R->local && R->intake_ready) { /* rank 0's actor half times its own phases */
        const double *ap = R->local->phases(R->local->ctx);
        for (int i = 0; i < PHASE_COUNT; i++)
            if (i != PHASE_WAIT && i != PHASE_LEARN) R->phase[i] += ap[i];
    }
    double *all = xcalloc((size_t)comm->size * PHASE_COUNT, sizeof(double));
    comm_gather_doubles(R->comm, R->phase, PHASE_COUNT, all);
    if (status == 0) status = report(R, all);
    if (metrics_close(&R->ml, err, sizeof err) != 0 && status == 0) {
        fprintf(stderr, "error: run directory not writable: %s\n", err);
        status = EXIT_RUN_DIR;
    }
    xfree(all);
    xfree(groups);
    run_free(R);
    return status;
}
