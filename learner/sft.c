/* sft.c: supervised fine-tuning on demonstrations, the cold start of the
 * R1 pipeline. Each step draws B demonstrations, from the task's imperfect
 * demonstrator on fresh training-split items (the default) or from the
 * JSON-lines files of [sft] data (sft_data.h), and minimises the mean
 * negative log-likelihood of the completion tokens (EOS included): the
 * weighted log-likelihood backward with w = 1/N on completion targets.
 * A step's rows run in [sft] micro_batches length-sorted chunks, each
 * padded only to its own longest row, whose gradients accumulate into one
 * optimizer step (sft_step_grad): the same gradient, less padding.
 * Held-out evaluation is on the task either way. The start is fresh
 * weights or [sft] init's checkpoint; a resume checkpoint (sft_resume.h)
 * every [sft] checkpoint_every steps and on SIGTERM/SIGINT/SIGUSR1 lets a
 * killed run continue bit-exactly when the same command runs again. */
#include "sft.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "blas_setup.h"
#include "checkpoint.h"
#include "config_meta.h"
#include "model_start.h"
#include "learner.h"
#include "memory.h"
#include "optim.h"
#include "run_lock.h"
#include "run_settings.h"
#include "sampling.h"
#include "sft_data.h"
#include "sft_resume.h"
#include "stop_signals.h"
#include "trainer_run.h"
#include "update.h"
#include "util.h"

/* Where demonstrations come from: the task's demonstrator (data == NULL)
 * or loaded files. */
typedef struct {
    const Task *task;
    Rng *demo_rng;       /* the demonstrator's errors, drawn in batch order */
    const SftData *data;
    TaskItem it;         /* the task source's current item */
    char demo[TASK_MAX_TEXT];
} SftSource;

/* Sets *prompt and *completion to demonstration number index (valid until
 * the next call). The task path makes exactly the calls it always made, so
 * a run without [sft] data is bit-identical to before files existed. */
static void source_draw(SftSource *s, uint64_t index, const char **prompt,
                        const char **completion) {
    if (s->data) {
        sft_data_draw(s->data, index, prompt, completion, NULL);
        return;
    }
    const Task *task = s->task;
    if (task->sample(task, SPLIT_TRAIN, 0, index, &s->it) != 0)
        die("task %s has no training items", task->name);
    if (task->demonstrate(task, &s->it, s->demo_rng, s->demo, sizeof s->demo) != 0)
        die("task %s has no demonstrator, so it cannot be used for SFT", task->name);
    *prompt = s->it.prompt;
    *completion = s->demo;
}

/* Fills rows with step's demonstrations, in drawing order (sft_step_grad
 * lays them out). */
static void sft_fill_rows(SftSource *src, const Tokenizer *tok, long step, SeqBatch *rows,
                          int *scratch_prompt, int *scratch_comp) {
    int L = rows->max_len;
    batch_clear(rows);
    for (int i = 0; i < rows->max_B; i++) {
        const char *prompt, *demo;
        source_draw(src, (uint64_t)step * rows->max_B + i, &prompt, &demo);
        int plen = encode_prompt(tok, prompt, scratch_prompt, L);
        int bad = -1;
        /* the demonstration continues the prompt: no SentencePiece dummy prefix */
        int clen = tokenizer_encode_cont(tok, demo, scratch_comp, L, &bad);
        /* files were checked at load; this guards the task's demonstrator */
        if (clen < 0 || plen + clen + 1 > L)
            die("demonstration '%s%s' does not fit [model] max_seq_len = %d (or has a character "
                "outside the vocabulary): raise max_seq_len",
                prompt, demo, L);
        scratch_comp[clen++] = tok->eos_id;
        batch_add(rows, scratch_prompt, plen, scratch_comp, clen);
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Lays out rows[order[lo..hi)] in chunk, padded to their longest, with
 * completion targets weighted per norm (sft_step_grad). */
static void sft_chunk(const SeqBatch *rows, const int *order, int lo, int hi, SftLossNorm norm,
                      int n_target, SeqBatch *chunk) {
    batch_clear(chunk);
    for (int i = lo; i < hi; i++) {
        int r = order[i], plen = rows->prompt_len[r];
        const int *s = rows->seq + (size_t)r * rows->max_len;
        batch_add(chunk, s, plen, s + plen, rows->seq_len[r] - plen);
    }
    batch_layout(chunk);
    for (int r = 0; r < chunk->B; r++) {
        int len = chunk->seq_len[r] - chunk->prompt_len[r];
        float w = norm == SFT_NORM_SEQUENCE ? 1.0f / ((float)rows->B * (float)len)
                                            : 1.0f / (float)n_target;
        for (int j = 0; j < len; j++) chunk->weights[batch_index(chunk, r, j)] = w;
    }
}

double sft_step_grad(Model *m, ForwardState *fs, const SeqBatch *rows, int k, SftLossNorm norm,
                     SeqBatch *chunk, float *logp, long long *positions) {
    int B = rows->B, n_target = 0;
    if (k > B) k = B;
    /* keys length * B + row: sorted by length, ties in drawing order;
     * one chunk keeps the drawing order (the single batch, bit for bit) */
    int64_t *key = xmalloc(sizeof *key * (size_t)B);
    for (int r = 0; r < B; r++) {
        key[r] = (int64_t)rows->seq_len[r] * B + r;
        n_target += rows->seq_len[r] - rows->prompt_len[r];
    }
    if (k > 1) qsort(key, (size_t)B, sizeof *key, cmp_i64);
    int *order = xmalloc(sizeof *order * (size_t)B);
    for (int i = 0; i < B; i++) order[i] = (int)(key[i] % B);
    double loss = 0;
    const SampleDist full = {1.0f, 0, 1.0f, LOGPROB_FULL};
    for (int c = 0; c < k; c++) {
        sft_chunk(rows, order, (int)((int64_t)c * B / k), (int)((int64_t)(c + 1) * B / k), norm,
                  n_target, chunk);
        /* prompt targets have weight 0: the head skips them (chunk->first);
         * the trunk skips padding, and computes a prompt rows share once
         * (chunk->layout) */
        model_forward_batch(m, fs, chunk, &full, logp, NULL);
        for (int i = 0; i < chunk->B * chunk->T; i++) loss -= (double)chunk->weights[i] * logp[i];
        model_backward(m, fs, chunk->weights);
        *positions += chunk->layout.n_rows;
    }
    xfree(order);
    xfree(key);
    return loss;
}

/* Prints what the files hold and the share of draws each one gets. */
static void print_data(const SftData *d) {
    for (int i = 0; i < d->n_files; i++)
        printf("sft: data %s: %d examples, %.1f%% of draws\n", d->files[i].path, d->files[i].n,
               100.0 * (d->cum[i] - (i ? d->cum[i - 1] : 0)));
}

int sft_run(Config *cfg, const char *out_path, const Evaluator *eval) {
    return sft_run_report(cfg, out_path, eval, NULL);
}

int sft_run_report(Config *cfg, const char *out_path, const Evaluator *eval, SftReport *report) {
    char err[1000];
    const SftSettings *ss = config_get(cfg, &sft_section);
    const RunSettings *run = run_settings(cfg);
    /* (sft_run is also called inside other programs, the tests, whose
     * handlers come back on return); the loop reads the stop flag once per
     * step, so the step in progress always finishes */
    TrainerRun tr;
    int locked = trainer_begin(&tr, run->dir);
    if (locked) return locked;
    Task *task = task_from_config(cfg, run->seed, err, sizeof err);
    if (!task) die("%s", err);
    Tokenizer *tok = trainer_tokenizer(ss->init);
    if (task_check_tokenizer(task, tok, err, sizeof err) != 0) die("%s", err);
    Model m;
    char why[1600];
    if (model_start(cfg, ss->init, "[sft] init", tok, &m, why, sizeof why) != 0) {
        fprintf(stderr, "error: %s\n", why);
        tokenizer_free(tok);
        xfree(tok);
        task->destroy(task);
        trainer_end(&tr);
        return EXIT_USAGE;
    }
    int status = 0;
    const ModelConfig mc = m.cfg;
    if (task_check_fits(task, mc.max_seq_len, sampling_settings(cfg)->max_new_tokens, err,
                        sizeof err) != 0)
        die("%s", err);
    /* the activations are one chunk's (sft_step_grad) */
    int B = ss->batch, L = mc.max_seq_len, CB = sft_chunk_rows(B, ss->micro_batches);
    memory_check_or_die(&mc, ROLE_SFT, CB, L, 64, 1);
    model_alloc_grads(&m);
    AdamW opt;
    adamw_init(&opt, m.n_params);
    SeqBatch rows, chunk;
    batch_init(&rows, B, L);
    batch_init(&chunk, CB, L);
    ForwardState *fs = forward_state_new(&mc, CB, L);
    float *logp = xmalloc(sizeof(float) * (size_t)CB * L);
    int *sp = xmalloc(sizeof(int) * L), *sc = xmalloc(sizeof(int) * L);
    SftProgress prog;
    memset(&prog, 0, sizeof prog);
    rng_seed(&prog.demo_rng, run->seed, 0x5F7);
    SftData *data = NULL;
    if (ss->data[0]) {
        data = sft_data_load(ss->data, tok, L, run->seed, err, sizeof err);
        if (!data) die("%s", err);
    }
    SftSource src = {.task = task, .demo_rng = &prog.demo_rng, .data = data};

    printf("sft: %zu parameters (dim %d, %d layers, %d heads, %d kv heads, hidden %d), "
           "%d steps x %d sequences, task %s%s, %s\n",
           m.n_params, mc.dim, mc.n_layers, mc.n_heads, mc.n_kv_heads, mc.hidden_dim,
           ss->steps, B, task->name, data ? " (held-out evaluation only)" : "",
           ss->init[0] ? ss->init : "fresh weights");
    char compute[256];
    blas_describe(compute, sizeof compute);
    printf("sft: compute: %s\n", compute);
    if (data) print_data(data);
    char resume_path[CFG_STR_MAX + 32], harmless[2048];
    sft_resume_path(out_path, resume_path, sizeof resume_path);
    int resumed = sft_resume_load(resume_path, &m, tok, &opt, &prog, cfg, harmless,
                                  sizeof harmless, err, sizeof err);
    status = trainer_resumed("sft", resumed, resume_path, prog.step, harmless, err);
    double t0 = now_seconds(), t_last = t0, loss_acc = 0;
    long tok_acc = 0;
    /* the compute spent (this process), for comparing runs whose sequences
     * differ in length (deploy/think_vs_direct.sh): tokens of the sequences
     * as written, and positions the trunk computed (no padding; a prompt
     * that rows share, once: SeqBatch.layout) */
    long long seq_tokens = 0, positions = 0, n_seqs = 0;
    int n_acc = 0;
    SftReport rep = {.first_loss = prog.first_loss, .steps = prog.step};
    for (long step = prog.step; step < ss->steps && status == 0; step++) {
        sft_fill_rows(&src, tok, step, &rows, sp, sc);
        long long step_positions = 0;
        double loss = sft_step_grad(&m, fs, &rows, ss->micro_batches, (SftLossNorm)ss->loss_norm, &chunk, logp,
                                    &step_positions);
        UpdateStats us = model_update(&m, &opt, &ss->opt, step, ss->steps);
        if (us.skipped)
            fprintf(stderr, "warning: sft step %ld: gradient norm %g is not finite; update skipped "
                    "(weights and AdamW state unchanged)\n", step + 1, us.grad_norm);
        if (nonfinite_tally(&prog.nonfinite, us.skipped, ss->max_nonfinite_steps)) {
            fprintf(stderr, "error: sft: %ld steps in a row had a non-finite gradient (last: step "
                    "%ld); stopping with status %d without writing %s. Lower [sft] lr (or "
                    "weight_decay), or raise [sft] warmup\n", prog.nonfinite.in_a_row, step + 1,
                    EXIT_NONFINITE, out_path);
            status = EXIT_NONFINITE;
        }
        loss_acc += loss;
        n_acc++;
        if (step == 0) rep.first_loss = prog.first_loss = loss;
        if (step >= ss->steps - 10) {
            prog.tail_loss += loss;
            prog.tail_n++;
        }
        rep.steps = prog.step = step + 1;
        tok_acc += step_positions;
        positions += step_positions;
        for (int r = 0; r < rows.B; r++) seq_tokens += rows.seq_len[r];
        n_seqs += rows.B;
        int last = step + 1 == ss->steps;
        if ((step + 1) % 100 == 0 || last) {
            double now = now_seconds();
            printf("sft step %5ld/%d  loss %.4f  lr %.2e  |g| %.3f  %.0f tok/s  %.1fs\n", step + 1,
                   ss->steps, loss_acc / n_acc, us.lr, us.grad_norm,
                   tok_acc / (now - t_last), prog.train_seconds + now - t0);
            fflush(stdout);
            t_last = now;
            loss_acc = 0;
            n_acc = 0;
            tok_acc = 0;
        }
        if (ss->eval_every > 0 && (step + 1) % ss->eval_every == 0 && !last) {
            EvalResult er;
            eval->run(eval->ctx, &m, tok, task, ss->eval_prompts, &er);
            printf("sft step %5ld  held-out greedy accuracy %.3f (%d prompts)\n", step + 1,
                   er.greedy_acc, er.n_prompts);
        }
        /* the last step writes the result instead; a signal during it is
         * too late to matter */
        int stop = stop_signal_pending() && !last;
        int due = ss->checkpoint_every > 0 && (step + 1) % ss->checkpoint_every == 0 && !last;
        if (status == 0 && (stop || due)) {
            SftProgress at = prog;
            at.train_seconds += now_seconds() - t0;
            if (sft_resume_write(resume_path, &m, tok, &opt, &at, cfg, err, sizeof err) != 0) {
                fprintf(stderr, "error: sft: cannot write the resume checkpoint: %s\n", err);
                status = EXIT_RUN_DIR;
            } else if (stop) {
                status = trainer_requeue("sft", resume_path, step + 1);
            }
        }
    }
    if (status == 0) {
        printf("sft: trained in %.1f s; this process: %lld sequences, %lld tokens (mean sequence "
               "%.2f tokens with BOS and EOS), %lld positions computed\n",
               prog.train_seconds + now_seconds() - t0, n_seqs, seq_tokens,
               n_seqs ? (double)seq_tokens / (double)n_seqs : 0.0, positions);
        status = write_model_with_config(out_path, &m, tok, cfg, err, sizeof err) == 0
                     ? 0 : EXIT_RUN_DIR;
        if (status) {
            fprintf(stderr, "error: %s\n", err);
        } else {
            printf("sft: wrote %s\n", out_path);
            trainer_drop_resume(resume_path);
            EvalResult er;
            eval->run(eval->ctx, &m, tok, task, 0, &er);
            eval_print("sft", &er, task);
        }
    }
    rep.last_loss = prog.tail_n ? prog.tail_loss / prog.tail_n : rep.first_loss;
    rep.tokens = seq_tokens;
    rep.positions = positions;
    if (report) *report = rep;
    sft_data_free(data);
    xfree(sp);
    xfree(sc);
    xfree(logp);
    forward_state_free(fs);
    batch_free(&chunk);
    batch_free(&rows);
    adamw_free(&opt);
    model_free(&m);
    tokenizer_free(tok);
    xfree(tok);
    task->destroy(task);
    trainer_end(&tr);
    return status;
}

int sft_command(Config *cfg, const CliArgs *a, const Evaluator *eval) {
    const char *dir = run_settings(cfg)->dir;
    make_dirs_or_die(dir);
    char path[CFG_STR_MAX + 16];
    snprintf(path, sizeof path, "%s/sft.ckpt", dir);
    return sft_run(cfg, a->out ? a->out : path, eval);
}
