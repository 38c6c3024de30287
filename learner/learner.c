/* learner.c: rank 0 of `grpo train`. Each step: receive prompts_per_step
 * groups (matched probe, any actor), validate and decode them, train on them
 * (grpo_step.c), bump the policy version, broadcast the new weights, and
 * every checksum_every versions check that every actor holds bit-identical
 * weights. */
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
#include "run_state.h"
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

/* Receives one step's groups. Good ones land in groups[0..*n_good); bad
 * ones are counted, reported and dropped. */
static void collect_groups(const Config *cfg, const Comm *comm, WireCodec *codec,
                           const WireLimits *lim, const Task *task, uint64_t version, Group *groups,
                           int *n_good, long *n_bad, double *wire_bytes, double *raw_bytes,
                           double *gen_by_rank, double *verify_by_rank) {
    static void *buf = NULL;
    static size_t cap = 0;
    char err[512];
    *n_good = 0;
    for (int received = 0; received < cfg->prompts_per_step; received++) {
        int src = -1;
        size_t len = comm_recv_any(&buf, &cap, TAG_GROUP, &src);
        Group *g = &groups[*n_good];
        int rc = wire_decode_group(codec, buf, len, lim, g, err, sizeof err);
        if (rc == 0) {
            const char *why = NULL;
            if ((int)g->actor_rank != src) why = "actor_rank differs from the sending rank";
            else if (g->G != cfg->group_size) why = "G differs from [grpo] group_size";
            else if (g->n_components != task->n_components) why = "reward component count differs";
            else if (g->policy_version != version) why = "policy version is not the current one";
            if (why) {
                snprintf(err, sizeof err, "%s", why);
                group_free(g);
                rc = -1;
            }
        }
        if (rc != 0) {
            (*n_bad)++;
            fprintf(stderr, "learner: dropped a bad group message from rank %d (%zu bytes): %s "
                            "[%ld dropped so far]\n", src, len, err, *n_bad);
            continue;
        }
        *wire_bytes += (double)len;
        *raw_bytes += (double)wire_codec_stats(codec)->last_decoded_raw_bytes;
        gen_by_rank[src] += g->gen_seconds;
        verify_by_rank[src] += g->verify_seconds;
        (*n_good)++;
    }
}

/* Writes model + optimizer + step to path atomically; dies on failure. */
static void save_checkpoint(const char *path, const Model *m, const Tokenizer *tok,
                            const Learner *L, uint64_t version, const Config *cfg) {
    Checkpoint ck;
    char err[600];
    ckpt_init(&ck);
    ckpt_put_model(&ck, m, tok);
    size_t n = m->n_params;
    uint8_t *adam = xmalloc(8 + 8 * n);
    int64_t t = L->opt.t;
    memcpy(adam, &t, 8);
    memcpy(adam + 8, L->opt.m, 4 * n);
    memcpy(adam + 8 + 4 * n, L->opt.v, 4 * n);
    ckpt_put(&ck, "ADAM", adam, 8 + 8 * n);
    xfree(adam);
    uint8_t step[16];
    int64_t s = L->step;
    memcpy(step, &s, 8);
    memcpy(step + 8, &version, 8);
    ckpt_put(&ck, "STEP", step, 16);
    char *text = config_to_string(cfg);
    ckpt_put(&ck, "META", text, strlen(text));
    xfree(text);
    if (ckpt_write(&ck, path, err, sizeof err) != 0) die("%s", err);
    ckpt_free(&ck);
}

/* Asks every actor for its resumable state and writes a training
 * checkpoint (run_state.h). */
static void checkpoint_run(const Config *cfg, const Comm *comm, const Model *m, const Tokenizer *tok,
                           const Learner *L, RunState *rs) {
    control_send(WIRE_CMD_SNAPSHOT);
    uint8_t mine[ACTOR_STATE_BYTES] = {0};
    uint8_t *all = xmalloc((size_t)comm->size * ACTOR_STATE_BYTES);
    comm_gather_bytes(mine, ACTOR_STATE_BYTES, all);
    xfree(rs->actor_state);
    rs->actor_state = xmalloc((size_t)(comm->size - 1) * ACTOR_STATE_BYTES);
    memcpy(rs->actor_state, all + ACTOR_STATE_BYTES, (size_t)(comm->size - 1) * ACTOR_STATE_BYTES);
    xfree(all);
    rs->n_ranks = comm->size;
    run_checkpoint_save(cfg->dir, cfg->keep_checkpoints, m, tok, &L->opt, rs, cfg);
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

int learner_run(const Config *cfg, const Comm *comm) {
    char init[CFG_STR_MAX + 16], refp[CFG_STR_MAX + 16], err[600], path[CFG_STR_MAX + 32];
    config_init_path(cfg, init, sizeof init);
    config_ref_path(cfg, refp, sizeof refp);
    Tokenizer *tok = xmalloc(sizeof *tok), *ref_tok = xmalloc(sizeof *ref_tok);
    Model policy, ref;
    ckpt_load_model_or_die(init, &policy, tok);
    ckpt_load_model_or_die(refp, &ref, ref_tok);
    if (ref.n_params != policy.n_params || memcmp(&ref.cfg, &policy.cfg, sizeof ref.cfg) != 0)
        die("reference model %s has a different shape from the starting model %s", refp, init);
    model_alloc_grads(&policy);
    Task *task = task_create(cfg->task_name, &cfg->task, cfg->seed, err, sizeof err);
    if (!task) die("%s", err);

    snprintf(path, sizeof path, "%s/config.ini", cfg->dir);
    FILE *cf = xfopen(path, "w");
    config_write(cfg, cf);
    fclose(cf);
    printf("grpo train: learner rank 0 + %d actors, %zu parameters, start %s, reference %s\n"
           "effective config (also in %s):\n",
           comm->size - 1, policy.n_params, init, refp, path);
    config_write(cfg, stdout);

    SamplerConfig sc = sampler_config_from(cfg);
    Learner L;
    learner_init(&L, &policy, &ref, cfg);
    RunState rs;
    memset(&rs, 0, sizeof rs);
    Config saved;
    EvalResult ev_start;
    memset(&ev_start, 0, sizeof ev_start);
    MetricsLog ml;
    int resumed = run_checkpoint_resume(cfg->dir, &policy, &L.opt, &rs, &saved, path, sizeof path);
    if (resumed) {
        char defining[2048], harmless[2048];
        if (rs.n_ranks != comm->size)
            die("cannot resume %s: it was written by a run with %d ranks, this one has %d "
                "(the actors' data streams depend on the rank count)",
                path, rs.n_ranks, comm->size);
        if (config_diff(&saved, cfg, defining, sizeof defining, harmless, sizeof harmless) > 0)
            die("refusing to resume %s with a changed config that would alter the run: %s "
                "(use a new run.dir to start a different run)",
                path, defining);
        if (harmless[0]) printf("resume: harmless config changes recorded: %s\n", harmless);
        L.step = rs.step;
        L.opt_steps = L.opt.t;
        ev_start.greedy_acc = rs.start_acc;
        ev_start.n_prompts = cfg->eval_prompts;
        printf("resume: continuing from %s (step %ld, policy version %llu)\n", path, rs.step,
               (unsigned long long)rs.version);
        metrics_open(&ml, cfg->dir, task, 1);
    } else {
        rs.demo_acc = task_demo_accuracy(task, cfg->eval_prompts, cfg->seed);
        double t_e = now_seconds();
        evaluate(&policy, tok, task, &sc, cfg->eval_prompts, 0, cfg->seed, &ev_start);
        rs.start_acc = ev_start.greedy_acc;
        printf("start: held-out greedy accuracy %.3f on %d prompts (%.1f s); demonstrator %.3f\n",
               ev_start.greedy_acc, cfg->eval_prompts, now_seconds() - t_e, rs.demo_acc);
        metrics_open(&ml, cfg->dir, task, 0);
        metrics_start(&ml, &ev_start);
    }
    double demo_acc = rs.demo_acc;
    WireCodec *codec = wire_codec_new(3);
    WireLimits lim = wire_limits_make(tok->vocab_size, cfg->group_size, policy.cfg.max_seq_len,
                                      cfg->max_new_tokens);
    Group *groups = xcalloc((size_t)cfg->prompts_per_step, sizeof(Group));
    double *gen_by_rank = xcalloc((size_t)comm->size, sizeof(double));
    double *ver_by_rank = xcalloc((size_t)comm->size, sizeof(double));
    double phase[PHASE_COUNT] = {0};
    long n_bad = 0;
    uint64_t version = rs.version;
    int exit_code = 0;

    /* actors' saved state (resume) or nothing (fresh run) */
    uint64_t state_len = resumed ? (uint64_t)(comm->size - 1) * ACTOR_STATE_BYTES : 0;
    comm_bcast_bytes(&state_len, sizeof state_len);
    if (state_len) comm_bcast_bytes(rs.actor_state, state_len);

    double t_start = now_seconds() - rs.train_seconds;
    if (L.step < cfg->grpo_steps) {
        weights_send(policy.params, policy.n_params, version);
        if (version % (uint64_t)cfg->checksum_every == 0)
            weights_check_all(policy.params, policy.n_params, version, 0, comm->size, err,
                              sizeof err);
    } else {
        control_send(WIRE_CMD_STOP);
    }
    for (long step = L.step + 1; step <= cfg->grpo_steps; step++) {
        StepLog s;
        memset(&s, 0, sizeof s);
        s.step = step;
        s.total_steps = cfg->grpo_steps;
        double t0 = now_seconds();
        memset(gen_by_rank, 0, sizeof(double) * comm->size);
        memset(ver_by_rank, 0, sizeof(double) * comm->size);
        int n_good = 0;
        collect_groups(cfg, comm, codec, &lim, task, version, groups, &n_good, &n_bad, &s.wire_bytes,
                       &s.raw_bytes, gen_by_rank, ver_by_rank);
        double t1 = now_seconds();
        s.t_collect = t1 - t0;
        for (int r = 1; r < comm->size; r++) {
            if (gen_by_rank[r] > s.t_gen) s.t_gen = gen_by_rank[r];
            if (ver_by_rank[r] > s.t_verify) s.t_verify = ver_by_rank[r];
        }
        s.t_comm = fmax(0, s.t_collect - s.t_gen - s.t_verify);
        if (n_good > 0) {
            learner_step(&L, groups, n_good, version, &s.m);
            version++;
        }
        double t2 = now_seconds();
        s.t_learn = t2 - t1;
        double gen_sum = 0;
        for (int r = 1; r < comm->size; r++) gen_sum += gen_by_rank[r];
        s.actor_tok_s = gen_sum > 0 ? s.m.tokens / gen_sum : 0;
        s.learner_tok_s = s.t_learn > 0 ? s.m.learner_tokens / s.t_learn : 0;
        for (int i = 0; i < n_good; i++) {
            group_free(&groups[i]);
        }
        s.bad_messages = n_bad;
        s.version = (unsigned long long)version;
        if ((cfg->eval_every > 0 && step % cfg->eval_every == 0) || step == cfg->grpo_steps) {
            double te = now_seconds();
            evaluate(&policy, tok, task, &sc, cfg->eval_prompts, 0, cfg->seed, &s.eval);
            s.has_eval = 1;
            s.t_eval = now_seconds() - te;
        }
        double t3 = now_seconds();
        int stopping = stop_signal != 0 && step < cfg->grpo_steps;
        if ((cfg->checkpoint_every > 0 && step % cfg->checkpoint_every == 0) || stopping ||
            step == cfg->grpo_steps) {
            rs.step = L.step;
            rs.version = version;
            rs.train_seconds = now_seconds() - t_start;
            checkpoint_run(cfg, comm, &policy, tok, &L, &rs);
        }
        if (stopping) {
            control_send(WIRE_CMD_STOP);
            s.elapsed = now_seconds() - t_start;
            s.step_seconds = now_seconds() - t0;
            metrics_step(&ml, &s);
            printf("signal %d: checkpointed step %ld to %s/ckpt-%08ld.ckpt; exiting with status %d "
                   "so a batch script requeues the job (train resumes automatically)\n",
                   (int)stop_signal, step, cfg->dir, step, EXIT_REQUEUE);
            exit_code = EXIT_REQUEUE;
            break;
        }
        if (step < cfg->grpo_steps) {
            weights_send(policy.params, policy.n_params, version);
            if (version % (uint64_t)cfg->checksum_every == 0 &&
                weights_check_all(policy.params, policy.n_params, version, 0, comm->size, err,
                                  sizeof err) != 0) {
                fprintf(stderr, "error: %s\n", err);
                comm_abort(3);
            }
        } else {
            control_send(WIRE_CMD_STOP);
        }
        s.t_bcast = now_seconds() - t3;
        s.elapsed = now_seconds() - t_start;
        s.step_seconds = now_seconds() - t0;
        phase[PHASE_WAIT] += s.t_collect;
        phase[PHASE_LEARN] += s.t_learn;
        phase[PHASE_BCAST] += s.t_bcast;
        phase[PHASE_EVAL] += s.t_eval;
        metrics_step(&ml, &s);
    }
    double wall = now_seconds() - t_start;
    double *all = xcalloc((size_t)comm->size * PHASE_COUNT, sizeof(double));
    comm_gather_doubles(phase, PHASE_COUNT, all);
    if (exit_code != 0) goto cleanup;

    snprintf(path, sizeof path, "%s/final.ckpt", cfg->dir);
    save_checkpoint(path, &policy, tok, &L, version, cfg);
    printf("wrote %s (policy version %llu)\n", path, (unsigned long long)version);
    EvalResult final;
    evaluate(&policy, tok, task, &sc, cfg->eval_prompts, cfg->pass_k, cfg->seed, &final);
    eval_print("grpo", &final, task);
    print_phase_table(all, comm->size);
    char png[600] = "";
    int plotted = metrics_plot(&ml, png, sizeof png) == 0;
    metrics_close(&ml);

    printf("\nheld-out greedy accuracy, %d %s prompts never trained on:\n", cfg->eval_prompts,
           task->name);
    printf("  %-28s %.3f\n", "demonstrator", demo_acc);
    printf("  %-28s %.3f\n", "SFT model (start of GRPO)", ev_start.greedy_acc);
    printf("  %-28s %.3f   (%ld steps, %.0f s, %ld bad messages)\n", "GRPO model", final.greedy_acc,
           (long)cfg->grpo_steps, wall, n_bad);
    if (plotted) printf("plot: %s\n", png);
    snprintf(path, sizeof path, "%s/summary.json", cfg->dir);
    FILE *sf = xfopen(path, "w");
    fprintf(sf,
            "{\"demonstrator_acc\":%.6g,\"sft_greedy_acc\":%.6g,\"grpo_greedy_acc\":%.6g,"
            "\"grpo_sampled_acc\":%.6g,\"grpo_pass_at_k\":%.6g,\"k\":%d,\"steps\":%d,"
            "\"train_seconds\":%.2f,\"bad_messages\":%ld,\"plot\":\"%s\"}\n",
            demo_acc, ev_start.greedy_acc, final.greedy_acc, final.sampled_acc, final.pass_at_k,
            final.k, cfg->grpo_steps, wall, n_bad, plotted ? png : "");
    fclose(sf);

cleanup:
    metrics_close(&ml);
    run_state_free(&rs);
    xfree(all);
    xfree(gen_by_rank);
    xfree(ver_by_rank);
    xfree(groups);
    wire_codec_free(codec);
    learner_free(&L);
    task->destroy(task);
    model_free(&policy);
    model_free(&ref);
    xfree(tok);
    xfree(ref_tok);
    return exit_code;
}
