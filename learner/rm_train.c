/* rm_train.c: `grpo rm-train` (rm_train.h), laid out as sft.c is: the
 * start, the resume checkpoint, the step loop with progress lines and
 * metrics, the result written atomically. */
#include "rm_train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config_meta.h"
#include "comparisons.h"
#include "learner.h"
#include "memory.h"
#include "model_start.h"
#include "rm_batch.h"
#include "rm_resume.h"
#include "rng.h"
#include "run_files.h"
#include "run_lock.h"
#include "run_settings.h"
#include "sft_resume.h"
#include "stop_signals.h"
#include "trainer_run.h"
#include "task.h"
#include "update.h"
#include "util.h"

/* A step's draws are (seed ^ this, step * batch + row). */
#define RM_DRAW_STREAM 0x5EA7D0A1ULL

/* The training and held-out pairs: index lists into one or two files. */
typedef struct {
    Comparisons *data, *eval_file; /* eval_file NULL: held out of data by prompt hash */
    int n_train, n_eval;
    int *train, *eval;             /* indices into data->pairs / the eval pairs */
    const Comparison *eval_pairs;
} RmSplit;

static void rm_split_free(RmSplit *s) {
    comparisons_free(s->data);
    comparisons_free(s->eval_file);
    xfree(s->train);
    xfree(s->eval);
}

/* Loads [rm] data (and eval) and splits them; 0 or -1 with err. */
static int rm_split_load(RmSplit *s, const RmSettings *rs, const Tokenizer *tok, int L,
                         char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    if (!rs->data[0]) {
        set_err(err, errlen, "rm-train needs comparison pairs: --data PAIRS.jsonl (or [rm] data)");
        return -1;
    }
    s->data = comparisons_load(rs->data, tok, L, stderr, err, errlen);
    if (!s->data) return -1;
    int n = s->data->n;
    s->train = xmalloc(sizeof(int) * (size_t)n);
    if (rs->eval[0]) {
        s->eval_file = comparisons_load(rs->eval, tok, L, stderr, err, errlen);
        if (!s->eval_file) return -1;
        for (int i = 0; i < n; i++) s->train[s->n_train++] = i;
        s->n_eval = s->eval_file->n;
        s->eval = xmalloc(sizeof(int) * (size_t)s->n_eval);
        for (int i = 0; i < s->n_eval; i++) s->eval[i] = i;
        s->eval_pairs = s->eval_file->pairs;
        return 0;
    }
    s->eval = xmalloc(sizeof(int) * (size_t)n);
    int permille = (int)lrintf(rs->holdout * 1000);
    for (int i = 0; i < n; i++) {
        if (task_id_is_eval(s->data->pairs[i].prompt_hash, permille))
            s->eval[s->n_eval++] = i;
        else
            s->train[s->n_train++] = i;
    }
    s->eval_pairs = s->data->pairs;
    if (s->n_train == 0 || s->n_eval == 0) {
        set_err(err, errlen, "%s: the [rm] holdout = %g split of its %d pairs leaves %s empty "
                "(the split is by prompt: give more distinct prompts, another holdout, or a "
                "held-out file with --eval)", rs->data, rs->holdout, n,
                s->n_train ? "the held-out side" : "the training side");
        return -1;
    }
    return 0;
}

/* Keeps the lines of the metrics file at path whose step is at most step
 * (a resume continues after it; later lines were written by the run that
 * died past its last checkpoint). 0 or -1 with err. */
static int metrics_cut(const char *path, long step, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char *line = NULL, *keep = NULL;
    size_t cap = 0, n = 0, kcap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        long s;
        if (sscanf(line, "{\"step\":%ld", &s) != 1 || s > step || line[len - 1] != '\n') break;
        if (n + (size_t)len > kcap) {
            kcap = 2 * (n + (size_t)len);
            keep = realloc(keep, kcap);
            if (!keep) die("out of memory reading %s", path);
        }
        memcpy(keep + n, line, (size_t)len);
        n += (size_t)len;
    }
    fclose(f);
    free(line);
    int rc = run_file_write(path, keep ? keep : "", n, err, errlen);
    free(keep);
    return rc;
}

/* The model rm-train starts from (rm_train.h): init's or fresh, with a
 * scalar head. 0 or -1 with err. */
static int rm_start(Config *cfg, const RmSettings *rs, const Tokenizer *tok, Model *m,
                    char *err, size_t errlen) {
    if (rs->init[0]) {
        /* a reward model continues as it is (its HEAD section says so) */
        Checkpoint ck;
        char why[1500];
        if (ckpt_read(&ck, rs->init, why, sizeof why) != 0) {
            set_err(err, errlen, "[rm] init: %s", why);
            return -1;
        }
        const CkptSection *head = ckpt_get(&ck, "HEAD");
        int scalar = head && head->len >= 4 && head->data[0] == MODEL_HEAD_SCALAR;
        ckpt_free(&ck);
        if (scalar) {
            if (ckpt_read_scalar_model_with(rs->init, tok, m, why, sizeof why) != 0) {
                set_err(err, errlen, "[rm] init: %s", why);
                return -1;
            }
            if (model_config_adopt(cfg, &m->cfg, rs->init, err, errlen) != 0) {
                model_free(m);
                return -1;
            }
            return 0;
        }
    }
    /* a policy, or fresh [model] weights: the trunk kept, a scalar head at 0 */
    Model start;
    if (model_start(cfg, rs->init, "[rm] init", tok, &start, err, errlen) != 0) return -1;
    model_swap_head(m, &start, MODEL_HEAD_SCALAR);
    model_free(&start);
    return 0;
}

/* Appends step's metrics line; 0 or -1 with err. */
static int metrics_line(LineFile *lf, long step, double loss, double acc, float lr, double gnorm,
                        long long tokens, double elapsed, const double *eval_acc, char *err,
                        size_t errlen) {
    char buf[400], ev[48] = "";
    if (eval_acc) snprintf(ev, sizeof ev, ",\"eval_acc\":%.6f", *eval_acc);
    int n = snprintf(buf, sizeof buf, "{\"step\":%ld,\"loss\":%.6g,\"train_acc\":%.6f,\"lr\":%.6g,"
                     "\"grad_norm\":%.6g,\"tokens\":%lld,\"elapsed_s\":%.3f%s}\n",
                     step, loss, acc, (double)lr, gnorm, tokens, elapsed, ev);
    return linefile_append(lf, buf, (size_t)n, err, errlen);
}

int rm_train_run(Config *cfg, const char *out_path, RmReport *report) {
    char err[1600];
    const RmSettings *rs = config_get(cfg, &rm_section);
    const RunSettings *run = run_settings(cfg);
    TrainerRun tr;
    int locked = trainer_begin(&tr, run->dir);
    if (locked) return locked;
    int status = 0;
    Tokenizer *tok = trainer_tokenizer(rs->init);
    Model m;
    RmSplit split;
    memset(&split, 0, sizeof split);
    if (rm_start(cfg, rs, tok, &m, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        tokenizer_free(tok);
        xfree(tok);
        trainer_end(&tr);
        return EXIT_USAGE;
    }
    const ModelConfig mc = m.cfg;
    if (rm_split_load(&split, rs, tok, mc.max_seq_len, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        rm_split_free(&split);
        model_free(&m);
        tokenizer_free(tok);
        xfree(tok);
        trainer_end(&tr);
        return EXIT_USAGE;
    }
    int B = rs->batch, L = split.data->max_len;
    if (split.eval_file && split.eval_file->max_len > L) L = split.eval_file->max_len;
    memory_check_or_die(&mc, ROLE_SFT, 2 * B, L, 0, 1);
    model_alloc_grads(&m);
    AdamW opt;
    adamw_init(&opt, m.n_params);
    RmBatch bt;
    rm_batch_init(&bt, &mc, B, L);
    int n_eval = rs->eval_pairs > 0 && rs->eval_pairs < split.n_eval ? rs->eval_pairs
                                                                       : split.n_eval;
    char held[CFG_STR_MAX + 64];
    if (split.eval_file)
        snprintf(held, sizeof held, "%s", rs->eval);
    else
        snprintf(held, sizeof held, "[rm] holdout = %g of the prompts", rs->holdout);
    printf("rm-train: %zu parameters (dim %d, %d layers, %d heads, hidden %d), %d steps x %d "
           "pairs, %s; %d training pairs (%s), %d held out (%s), %d of them evaluated\n",
           m.n_params, mc.dim, mc.n_layers, mc.n_heads, mc.hidden_dim, rs->steps, B,
           rs->init[0] ? rs->init : "fresh weights", split.n_train, rs->data, split.n_eval, held,
           n_eval);

    RmProgress prog;
    memset(&prog, 0, sizeof prog);
    char resume_path[CFG_STR_MAX + 32], harmless[2048], metrics_path[CFG_STR_MAX + 32];
    sft_resume_path(out_path, resume_path, sizeof resume_path);
    snprintf(metrics_path, sizeof metrics_path, "%s/rm_metrics.jsonl", run->dir);
    int resumed = rm_resume_load(resume_path, &m, tok, &opt, &prog, cfg, harmless,
                                 sizeof harmless, err, sizeof err);
    status = trainer_resumed("rm-train", resumed, resume_path, prog.step, harmless, err);
    LineFile lf = {.fd = -1};
    if (status == 0 && ((resumed && metrics_cut(metrics_path, prog.step, err, sizeof err) != 0) ||
                        linefile_open(&lf, metrics_path, resumed, err, sizeof err) != 0)) {
        fprintf(stderr, "error: %s\n", err);
        status = EXIT_RUN_DIR;
    }
    if (status == 0 && !resumed) {
        /* the start as step 0: chance (0.5) for a fresh scalar head */
        double acc0 = rm_accuracy(&m, &bt, split.eval_pairs, split.eval, n_eval, tok->pad_id);
        printf("rm-train: held-out pairwise accuracy at the start %.4f\n", acc0);
        char line[80];
        int n = snprintf(line, sizeof line, "{\"step\":0,\"eval_acc\":%.6f}\n", acc0);
        if (linefile_append(&lf, line, (size_t)n, err, sizeof err) != 0) {
            fprintf(stderr, "error: rm-train: %s\n", err);
            status = EXIT_RUN_DIR;
        }
    }
    int *idx = xmalloc(sizeof(int) * (size_t)B);
    double t0 = now_seconds(), t_last = t0, win_loss = 0, win_acc = 0, last_eval = NAN;
    long long win_tokens = 0;
    int win_n = 0;
    for (long step = prog.step; step < rs->steps && status == 0; step++) {
        for (int i = 0; i < B; i++) {
            Rng r;
            rng_seed(&r, run->seed ^ RM_DRAW_STREAM, (uint64_t)step * B + i);
            idx[i] = split.train[rng_below(&r, (uint32_t)split.n_train)];
        }
        long long step_tokens = 0;
        double right;
        double loss = rm_step_grad(&m, &bt, split.data->pairs, idx, B, tok->pad_id, &right,
                                   &step_tokens);
        UpdateStats us = model_update(&m, &opt, &rs->opt, step, rs->steps);
        if (us.skipped)
            fprintf(stderr, "warning: rm-train step %ld: gradient norm %g is not finite; update "
                    "skipped (weights and AdamW state unchanged)\n", step + 1, us.grad_norm);
        if (nonfinite_tally(&prog.nonfinite, us.skipped, rs->max_nonfinite_steps)) {
            fprintf(stderr, "error: rm-train: %ld steps in a row had a non-finite gradient (last: "
                    "step %ld); stopping with status %d without writing %s. Lower [rm] lr, or "
                    "raise [rm] warmup\n", prog.nonfinite.in_a_row, step + 1, EXIT_NONFINITE,
                    out_path);
            status = EXIT_NONFINITE;
        }
        double acc = right / B;
        if (step == 0) prog.first_loss = loss;
        if (step >= rs->steps - 10) {
            prog.tail_loss += loss;
            prog.tail_acc += acc;
            prog.tail_n++;
        }
        prog.step = step + 1;
        win_loss += loss;
        win_acc += acc;
        win_tokens += step_tokens;
        win_n++;
        int last = step + 1 == rs->steps;
        int eval_now = last || (rs->eval_every > 0 && (step + 1) % rs->eval_every == 0);
        if (eval_now) last_eval = rm_accuracy(&m, &bt, split.eval_pairs, split.eval, n_eval,
                                              tok->pad_id);
        double elapsed = prog.train_seconds + now_seconds() - t0;
        if (status == 0 && metrics_line(&lf, step + 1, loss, acc, us.lr, us.grad_norm,
                                        step_tokens, elapsed, eval_now ? &last_eval : NULL, err,
                                        sizeof err) != 0) {
            fprintf(stderr, "error: rm-train: %s\n", err);
            status = EXIT_RUN_DIR;
        }
        if ((step + 1) % rs->log_every == 0 || last || eval_now) {
            double now = now_seconds();
            char ev[40] = "";
            if (eval_now) snprintf(ev, sizeof ev, "  eval acc %.3f", last_eval);
            printf("rm step %5ld/%d  loss %.4f  acc %.3f%s  lr %.2e  |g| %.3f  %.0f tok/s  "
                   "%.1fs\n", step + 1, rs->steps, win_loss / win_n, win_acc / win_n, ev, us.lr,
                   us.grad_norm, win_tokens / (now - t_last > 1e-9 ? now - t_last : 1e-9),
                   elapsed);
            fflush(stdout);
            t_last = now;
            win_loss = win_acc = 0;
            win_tokens = 0;
            win_n = 0;
        }
        int stop = stop_signal_pending() && !last;
        int due = rs->checkpoint_every > 0 && (step + 1) % rs->checkpoint_every == 0 && !last;
        if (status == 0 && (stop || due)) {
            RmProgress at = prog;
            at.train_seconds += now_seconds() - t0;
            if (linefile_sync(&lf, err, sizeof err) != 0 ||
                rm_resume_write(resume_path, &m, tok, &opt, &at, cfg, err, sizeof err) != 0) {
                fprintf(stderr, "error: rm-train: cannot write the resume checkpoint: %s\n", err);
                status = EXIT_RUN_DIR;
            } else if (stop) {
                status = trainer_requeue("rm-train", resume_path, step + 1);
            }
        }
    }
    xfree(idx);
    if (linefile_close(&lf, err, sizeof err) != 0 && status == 0) {
        fprintf(stderr, "error: rm-train: %s\n", err);
        status = EXIT_RUN_DIR;
    }
    double seconds = prog.train_seconds + now_seconds() - t0;
    if (status == 0 && isnan(last_eval)) /* resumed at the end, or 0 steps */
        last_eval = rm_accuracy(&m, &bt, split.eval_pairs, split.eval, n_eval, tok->pad_id);
    if (status == 0) {
        status = write_model_with_config(out_path, &m, tok, cfg, err, sizeof err) == 0
                     ? 0 : EXIT_RUN_DIR;
        if (status) {
            fprintf(stderr, "error: %s\n", err);
        } else {
            printf("rm-train: trained in %.1f s; held-out pairwise accuracy %.4f (%d pairs); "
                   "wrote %s\n", seconds, last_eval, n_eval, out_path);
            trainer_drop_resume(resume_path);
        }
    }
    if (report) {
        report->first_loss = prog.first_loss;
        report->last_loss = prog.tail_n ? prog.tail_loss / prog.tail_n : prog.first_loss;
        report->train_acc = prog.tail_n ? prog.tail_acc / prog.tail_n : 0;
        report->eval_acc = last_eval;
        report->n_train = split.n_train;
        report->n_eval = n_eval;
        report->steps = prog.step;
        report->seconds = seconds;
    }
    rm_batch_free(&bt);
    adamw_free(&opt);
    model_free(&m);
    rm_split_free(&split);
    tokenizer_free(tok);
    xfree(tok);
    trainer_end(&tr);
    return status;
}

int rm_train_command(Config *cfg, const CliArgs *a) {
    const char *dir = run_settings(cfg)->dir;
    make_dirs_or_die(dir);
    char path[CFG_STR_MAX + 16];
    snprintf(path, sizeof path, "%s/rm.ckpt", dir);
    return rm_train_run(cfg, a->out ? a->out : path, NULL);
}
