/* sft.c: supervised fine-tuning on demonstrations, the cold start of the
 * R1 pipeline. Each step draws B demonstrations, from the task's imperfect
 * demonstrator on fresh training-split items (the default) or from the
 * JSON-lines files of [sft] data (sft_data.h), and minimises the mean
 * negative log-likelihood of the completion tokens (EOS included): the
 * weighted log-likelihood backward with w = 1/N on completion targets.
 * Held-out evaluation is on the task either way. */
#include "sft.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "checkpoint.h"
#include "learner.h"
#include "memory.h"
#include "optim.h"
#include "run_lock.h"
#include "run_settings.h"
#include "sampling.h"
#include "sft_data.h"
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

/* Fills the batch with step's demonstrations, completion targets weighted
 * 1/N; returns N, the completion tokens. */
static int sft_fill_batch(SftSource *src, const Tokenizer *tok, long step, SeqBatch *batch,
                          int *scratch_prompt, int *scratch_comp) {
    int L = batch->max_len, n_target = 0;
    batch_clear(batch);
    for (int i = 0; i < batch->max_B; i++) {
        const char *prompt, *demo;
        source_draw(src, (uint64_t)step * batch->max_B + i, &prompt, &demo);
        int plen = encode_prompt(tok, prompt, scratch_prompt, L);
        int bad = -1;
        int clen = tokenizer_encode(tok, demo, scratch_comp, L, &bad);
        /* files were checked at load; this guards the task's demonstrator */
        if (clen < 0 || plen + clen + 1 > L)
            die("demonstration '%s%s' does not fit [model] max_seq_len = %d (or has a character "
                "outside the vocabulary): raise max_seq_len",
                prompt, demo, L);
        scratch_comp[clen++] = TOK_EOS;
        batch_add(batch, scratch_prompt, plen, scratch_comp, clen);
        n_target += clen;
    }
    batch_layout(batch);
    for (int r = 0; r < batch->B; r++) {
        int clen = batch->seq_len[r] - batch->prompt_len[r];
        for (int j = 0; j < clen; j++) batch->weights[batch_index(batch, r, j)] = 1.0f / n_target;
    }
    return n_target;
}

/* Prints what the files hold and the share of draws each one gets. */
static void print_data(const SftData *d) {
    for (int i = 0; i < d->n_files; i++)
        printf("sft: data %s: %d examples, %.1f%% of draws\n", d->files[i].path, d->files[i].n,
               100.0 * (d->cum[i] - (i ? d->cum[i - 1] : 0)));
}

int sft_run(const Config *cfg, const char *out_path, const Evaluator *eval) {
    return sft_run_report(cfg, out_path, eval, NULL);
}

int sft_run_report(const Config *cfg, const char *out_path, const Evaluator *eval,
                   SftReport *report) {
    char err[1000];
    const SftSettings *ss = config_get(cfg, &sft_section);
    const RunSettings *run = run_settings(cfg);
    const TaskSettings *ts = task_settings(cfg);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit: a reported EFBIG, not a silent kill */
    RunLock lock;
    int locked = run_lock_take(&lock, run->dir);
    if (locked) return locked;
    Task *task = task_create(ts->name, &ts->p, run->seed, err, sizeof err);
    if (!task) die("%s", err);
    Tokenizer *tok = xmalloc(sizeof *tok);
    tokenizer_init_char(tok);
    if (task_check_tokenizer(task, tok, err, sizeof err) != 0) die("%s", err);
    ModelConfig mc = *model_settings(cfg);
    mc.vocab_size = tok->vocab_size;
    const char *bad = model_config_check(&mc);
    if (bad) die("[model] %s", bad);
    if (task_check_fits(task, mc.max_seq_len, sampling_settings(cfg)->max_new_tokens, err,
                        sizeof err) != 0)
        die("%s", err);
    memory_check_or_die(&mc, ROLE_SFT, ss->batch, mc.max_seq_len, 64, 1);
    Model m;
    model_init(&m, &mc);
    model_init_weights(&m, run->seed);
    model_alloc_grads(&m);
    AdamW opt;
    adamw_init(&opt, m.n_params);
    int B = ss->batch, L = mc.max_seq_len;
    SeqBatch batch;
    batch_init(&batch, B, L);
    ForwardState *fs = forward_state_new(&mc, B, L);
    float *logp = xmalloc(sizeof(float) * (size_t)B * L);
    int *sp = xmalloc(sizeof(int) * L), *sc = xmalloc(sizeof(int) * L);
    Rng demo_rng;
    rng_seed(&demo_rng, run->seed, 0x5F7);
    SftData *data = NULL;
    if (ss->data[0]) {
        data = sft_data_load(ss->data, tok, L, run->seed, err, sizeof err);
        if (!data) die("%s", err);
    }
    SftSource src = {.task = task, .demo_rng = &demo_rng, .data = data};

    printf("sft: %zu parameters (dim %d, %d layers, %d heads, %d kv heads, hidden %d), "
           "%d steps x %d sequences, task %s%s\n",
           m.n_params, mc.dim, mc.n_layers, mc.n_heads, mc.n_kv_heads, mc.hidden_dim,
           ss->steps, B, task->name, data ? " (held-out evaluation only)" : "");
    if (data) print_data(data);
    double t0 = now_seconds(), t_last = t0, loss_acc = 0;
    long tok_acc = 0;
    /* the compute spent, for comparing runs whose sequences differ in
     * length (deploy/think_vs_direct.sh): tokens of the sequences as
     * written, and positions the forward pass ran including padding */
    long long seq_tokens = 0, positions = 0, n_seqs = 0;
    int n_acc = 0, status = 0;
    SftReport rep = {0, 0, 0};
    double tail_loss = 0;
    long tail_n = 0;
    NonfiniteTally nonfinite = {0, 0};
    for (long step = 0; step < ss->steps && status == 0; step++) {
        sft_fill_batch(&src, tok, step, &batch, sp, sc);
        model_forward(&m, fs, batch.tokens, batch.targets, batch.B, batch.T, 1.0f, logp, NULL);
        double loss = 0;
        for (int i = 0; i < batch.B * batch.T; i++) loss -= (double)batch.weights[i] * logp[i];
        model_backward(&m, fs, batch.weights);
        UpdateStats us = model_update(&m, &opt, &ss->opt, step, ss->steps);
        if (us.skipped)
            fprintf(stderr, "warning: sft step %ld: gradient norm %g is not finite; update skipped "
                    "(weights and AdamW state unchanged)\n", step + 1, us.grad_norm);
        if (nonfinite_tally(&nonfinite, us.skipped, ss->max_nonfinite_steps)) {
            fprintf(stderr, "error: sft: %ld steps in a row had a non-finite gradient (last: step "
                    "%ld); stopping with status %d without writing %s. Lower [sft] lr (or "
                    "weight_decay), or raise [sft] warmup\n", nonfinite.in_a_row, step + 1,
                    EXIT_NONFINITE, out_path);
            status = EXIT_NONFINITE;
        }
        loss_acc += loss;
        n_acc++;
        if (step == 0) rep.first_loss = loss;
        if (step >= ss->steps - 10) {
            tail_loss += loss;
            tail_n++;
        }
        rep.steps = step + 1;
        tok_acc += (long)batch.B * batch.T;
        positions += (long long)batch.B * batch.T;
        for (int r = 0; r < batch.B; r++) seq_tokens += batch.seq_len[r];
        n_seqs += batch.B;
        int last = step + 1 == ss->steps;
        if ((step + 1) % 100 == 0 || last) {
            double now = now_seconds();
            printf("sft step %5ld/%d  loss %.4f  lr %.2e  |g| %.3f  %.0f tok/s  %.1fs\n", step + 1,
                   ss->steps, loss_acc / n_acc, us.lr, us.grad_norm,
                   tok_acc / (now - t_last), now - t0);
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
    }
    if (status == 0) {
        printf("sft: trained in %.1f s on %lld sequences, %lld tokens (mean sequence %.2f "
               "tokens with BOS and EOS), %lld positions computed (padded)\n",
               now_seconds() - t0, n_seqs, seq_tokens,
               n_seqs ? (double)seq_tokens / (double)n_seqs : 0.0, positions);
        Checkpoint ck;
        ckpt_init(&ck);
        ckpt_put_model(&ck, &m, tok);
        char *cfg_text = config_to_string(cfg);
        ckpt_put(&ck, "META", cfg_text, strlen(cfg_text));
        xfree(cfg_text);
        status = ckpt_write(&ck, out_path, err, sizeof err) == 0 ? 0 : EXIT_RUN_DIR;
        ckpt_free(&ck);
        if (status) {
            fprintf(stderr, "error: %s\n", err);
        } else {
            printf("sft: wrote %s\n", out_path);
            EvalResult er;
            eval->run(eval->ctx, &m, tok, task, 0, &er);
            eval_print("sft", &er, task);
        }
    }

    rep.last_loss = tail_n ? tail_loss / tail_n : rep.first_loss;
    if (report) *report = rep;
    sft_data_free(data);
    xfree(sp);
    xfree(sc);
    xfree(logp);
    forward_state_free(fs);
    batch_free(&batch);
    adamw_free(&opt);
    model_free(&m);
    xfree(tok);
    task->destroy(task);
    run_lock_release(&lock);
    return status;
}

int sft_command(Config *cfg, const CliArgs *a, const Evaluator *eval) {
    const char *dir = run_settings(cfg)->dir;
    make_dirs_or_die(dir);
    char path[CFG_STR_MAX + 16];
    snprintf(path, sizeof path, "%s/sft.ckpt", dir);
    return sft_run(cfg, a->out ? a->out : path, eval);
}
