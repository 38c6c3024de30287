/* distill.c: `grpo distill`, token-level distillation (distill.h). Each
 * step takes B training-split prompts, samples one completion of each from
 * the frozen teacher, from the student as it is at that step, or the first
 * rows from the student and the rest from the teacher ([distill] samples;
 * through the Completer: the sampler is the actors'),
 * runs teacher and student forward on the same sequences and minimises the
 * mean over completion tokens (EOS included) of KL(p_teacher || q_student)
 * (distill_loss.h), backpropagated from the full logit gradient
 * (model_backward_logits). The held-out KL is measured on a fixed set of
 * eval-split prompts with teacher completions drawn once at the start, in
 * every mode, so it compares across modes; the KL on the student's own
 * held-out samples is measured at the start and the end. */
#include "distill.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "checkpoint.h"
#include "model_start.h"
#include "distill_loss.h"
#include "learner.h"
#include "memory.h"
#include "run_lock.h"
#include "run_settings.h"
#include "sampling.h"
#include "task.h"
#include "update.h"
#include "util.h"

void distill_work_init(DistillWork *w, const Model *teacher, const ModelConfig *student,
                       const Tokenizer *tok, const Completer *complete, int rows, int max_new) {
    /* both models see the same sequences: the shorter context bounds them */
    int L = student->max_seq_len < teacher->cfg.max_seq_len ? student->max_seq_len
                                                             : teacher->cfg.max_seq_len;
    *w = (DistillWork){.teacher = teacher, .tok = tok, .complete = complete, .L = L,
                       .max_new = max_new, .rows = rows};
    w->prompt = xmalloc(sizeof(int *) * rows);
    for (int i = 0; i < rows; i++) w->prompt[i] = xmalloc(sizeof(int) * L);
    w->plen = xmalloc(sizeof(int) * rows);
    w->comp = xmalloc(sizeof(int) * (size_t)rows * max_new);
    w->clen = xmalloc(sizeof(int) * rows);
    w->mask = xmalloc((size_t)rows * L);
    w->logp = xmalloc(sizeof(float) * (size_t)rows * L);
    w->head_mask = xmalloc((size_t)rows * L);
    w->dlogits = xmalloc(sizeof(float) * (size_t)rows * L * student->vocab_size);
    w->fs_t = forward_state_new(&teacher->cfg, rows, L);
    w->fs_s = forward_state_new(student, rows, L);
}

void distill_work_free(DistillWork *w) {
    forward_state_free(w->fs_s);
    forward_state_free(w->fs_t);
    for (int i = 0; i < w->rows; i++) xfree(w->prompt[i]);
    void *bufs[] = {w->prompt, w->plen, w->comp, w->clen, w->mask, w->logp, w->head_mask,
                    w->dlogits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) xfree(bufs[i]);
}

void distill_fill_batch(DistillWork *w, const Task *task, TaskSplit split, uint64_t first, int n,
                        const Model *student, int n_student, Rng *rng, SeqBatch *batch,
                        uint8_t *mask) {
    CHECK(n >= 1 && n <= w->rows && n_student >= 0 && n_student <= n);
    TaskItem it;
    for (int i = 0; i < n; i++) {
        if (task->sample(task, split, 0, first + i, &it) != 0)
            die("task %s has no %s items", task->name, split == SPLIT_EVAL ? "held-out" : "training");
        w->plen[i] = encode_prompt(w->tok, it.prompt, w->prompt[i], w->L);
    }
    /* The student's rows first, then the teacher's, from one rng: with no
     * student rows this is the single teacher call of teacher-only
     * distillation, so samples = teacher draws exactly what it always did. */
    const Completer *c = w->complete;
    if (n_student > 0)
        c->run(c->ctx, student, w->tok, (const int *const *)w->prompt, w->plen, n_student,
               w->max_new, rng, w->comp, w->clen);
    if (n_student < n)
        c->run(c->ctx, w->teacher, w->tok, (const int *const *)(w->prompt + n_student),
               w->plen + n_student, n - n_student, w->max_new, rng,
               w->comp + (size_t)n_student * w->max_new, w->clen + n_student);
    batch_clear(batch);
    for (int i = 0; i < n; i++) {
        int clen = w->clen[i];
        if (w->plen[i] + clen > w->L) clen = w->L - w->plen[i];
        batch_add(batch, w->prompt[i], w->plen[i], w->comp + (size_t)i * w->max_new, clen);
    }
    batch_layout(batch);
    memset(mask, 0, (size_t)batch->B * batch->T);
    for (int r = 0; r < batch->B; r++)
        for (int j = 0; j < batch->seq_len[r] - batch->prompt_len[r]; j++)
            mask[batch_index(batch, r, j)] = 1;
}

double distill_batch_kl(DistillWork *w, const Model *student, const SeqBatch *b,
                        const uint8_t *mask, float tau, int grad) {
    const SampleDist full = {1.0f, 0, 1.0f, LOGPROB_FULL};
    model_forward_batch(w->teacher, w->fs_t, b, &full, w->logp, NULL);
    model_forward_batch(student, w->fs_s, b, &full, w->logp, NULL);
    int n, n_s;
    const int *pos;
    const float *teacher_logits = forward_state_logits(w->fs_t, &n, &pos);
    const float *student_logits = forward_state_logits(w->fs_s, &n_s, NULL);
    CHECK(n == n_s); /* one batch, one layout: the same rows */
    for (int i = 0; i < n; i++) w->head_mask[i] = mask[pos[i]];
    return distill_kl_loss(teacher_logits, student_logits, w->head_mask, n,
                           student->cfg.vocab_size, tau, grad ? w->dlogits : NULL, NULL);
}

int distill_load_teacher(const char *path, const Tokenizer *tok, Model *m, char *err,
                        size_t errlen) {
    if (!path[0]) {
        set_err(err, errlen, "distill: no teacher: give --teacher FILE ([distill] teacher)");
        return -1;
    }
    char why[1500];
    if (ckpt_read_model_with(path, tok, m, why, sizeof why) != 0) {
        /* the KL compares next-token distributions over one vocabulary */
        set_err(err, errlen, "distill: teacher %s", why);
        return -1;
    }
    return 0;
}

/* One process holds both models: the student trains (weights, gradients,
 * AdamW moments, activations of rows sequences) and the teacher runs the
 * same rows forward (weights, activations: the SFT estimate less its three
 * optimizer copies); either samples batch of them (its KV cache). Dies naming
 * the limit that binds, before any step. */
static void check_memory(const ModelConfig *student, const ModelConfig *teacher, int rows,
                         int batch) {
    size_t sizes[MODEL_NUM_TENSORS];
    double tp = (double)model_tensor_sizes(teacher, sizes) * sizeof(float);
    double need = memory_needed(student, ROLE_SFT, rows, student->max_seq_len, 0) +
                  memory_needed(teacher, ROLE_SFT, rows, teacher->max_seq_len, 0) - 3 * tp +
                  memory_needed(teacher, ROLE_EVAL, 0, 0, batch) - tp +
                  memory_needed(student, ROLE_EVAL, 0, 0, batch) -
                  (double)model_tensor_sizes(student, sizes) * sizeof(float);
    MemoryLimits l;
    memory_read_limits(&l);
    char why[MEMORY_PATH_MAX + 512];
    if (memory_fits(&l, need, 1, why, sizeof why) != 0)
        die("refusing to start: distilling the teacher (dim %d, %d layers) into the student "
            "(dim %d, %d layers) %s; use a smaller student, batch or [distill] heldout, or raise "
            "the limit", teacher->dim, teacher->n_layers, student->dim, student->n_layers, why);
}

static void write_student(const Config *cfg, const Model *m, const Tokenizer *tok,
                          const char *path, int *status) {
    char err[1000];
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, m, tok);
    char *cfg_text = config_to_string(cfg);
    ckpt_put(&ck, "META", cfg_text, strlen(cfg_text));
    xfree(cfg_text);
    if (ckpt_write(&ck, path, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        *status = EXIT_RUN_DIR;
    } else {
        printf("distill: wrote %s\n", path);
    }
    ckpt_free(&ck);
}

/* The held-out KL on completions the student samples now, of the same
 * held-out prompts. Its rng is re-seeded at every call, apart from the
 * training stream, so measuring it changes no training sample. */
static double own_heldout_kl(DistillWork *w, const Task *task, const Model *student,
                             const DistillSettings *ds, uint64_t seed, SeqBatch *b) {
    Rng r;
    rng_seed(&r, seed, 0xD159);
    distill_fill_batch(w, task, SPLIT_EVAL, 0, ds->heldout, student, ds->heldout, &r, b, w->mask);
    return distill_batch_kl(w, student, b, w->mask, ds->temperature, 0);
}

int distill_run(Config *cfg, const char *out_path, const Completer *complete,
                const Evaluator *eval, DistillReport *report) {
    char err[2000];
    const DistillSettings *ds = config_get(cfg, &distill_section);
    const RunSettings *run = run_settings(cfg);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit: a reported EFBIG, not a silent kill */
    RunLock lock;
    int locked = run_lock_take(&lock, run->dir);
    if (locked) return locked;
    Tokenizer *tok = xmalloc(sizeof *tok);
    tokenizer_init_char(tok);
    Model teacher;
    if (distill_load_teacher(ds->teacher, tok, &teacher, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        xfree(tok);
        run_lock_release(&lock);
        return EXIT_USAGE;
    }
    Task *task = task_from_config(cfg, run->seed, err, sizeof err);
    if (!task) die("%s", err);
    if (task_check_tokenizer(task, tok, err, sizeof err) != 0) die("%s", err);
    Model m;
    if (model_start(cfg, ds->init, "[distill] init", tok, &m, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        task->destroy(task);
        model_free(&teacher);
        xfree(tok);
        run_lock_release(&lock);
        return EXIT_USAGE;
    }
    ModelConfig mc = m.cfg;
    int max_new = sampling_settings(cfg)->max_new_tokens;
    if (task_check_fits(task, mc.max_seq_len, max_new, err, sizeof err) != 0) die("%s", err);
    int rows = ds->batch > ds->heldout ? ds->batch : ds->heldout;
    check_memory(&mc, &teacher.cfg, rows, ds->batch);
    model_alloc_grads(&m);
    AdamW opt;
    adamw_init(&opt, m.n_params);

    DistillWork w;
    distill_work_init(&w, &teacher, &mc, tok, complete, rows, max_new);
    int L = w.L;
    int n_student = distill_student_rows(ds, ds->batch);
    char mode[64];
    if (ds->samples == DISTILL_MIXED)
        snprintf(mode, sizeof mode, "mixed %d/%d", n_student, ds->batch);
    else
        snprintf(mode, sizeof mode, "%s", distill_samples_names[ds->samples]);
    SeqBatch batch, held, held_own;
    batch_init(&batch, ds->batch, L);
    batch_init(&held, ds->heldout, L);
    batch_init(&held_own, ds->heldout, L);
    Rng rng, held_rng;
    rng_seed(&rng, run->seed, 0xD157);
    rng_seed(&held_rng, run->seed, 0xD158);
    /* the held-out sequences stay fixed, so their KL is comparable over time */
    uint8_t *held_mask = xmalloc((size_t)ds->heldout * L);
    distill_fill_batch(&w, task, SPLIT_EVAL, 0, ds->heldout, &m, 0, &held_rng, &held, held_mask);

    printf("distill: student %zu parameters (dim %d, %d layers) from %s, teacher %s %zu "
           "parameters (dim %d, %d layers), %d steps x %d sequences (samples: %s), task %s, "
           "teacher temperature %g\n", m.n_params, mc.dim, mc.n_layers,
           ds->init[0] ? ds->init : "fresh weights", ds->teacher, teacher.n_params,
           teacher.cfg.dim, teacher.cfg.n_layers, ds->steps, ds->batch, mode, task->name,
           ds->temperature);
    DistillReport rep = {0};
    rep.heldout_kl_first = distill_batch_kl(&w, &m, &held, held_mask, ds->temperature, 0);
    rep.heldout_student_kl_first = own_heldout_kl(&w, task, &m, ds, run->seed, &held_own);
    printf("distill step %5d  held-out KL %.4f (%d sequences; on the student's own samples "
           "%.4f)\n", 0, rep.heldout_kl_first, held.B, rep.heldout_student_kl_first);
    double t0 = now_seconds();
    int status = 0;
    NonfiniteTally nonfinite = {0, 0};
    for (long step = 0; step < ds->steps && status == 0; step++) {
        /* m is this step's student, so its rows are on-policy */
        distill_fill_batch(&w, task, SPLIT_TRAIN, (uint64_t)step * ds->batch, ds->batch, &m,
                           n_student, &rng, &batch, w.mask);
        double kl = distill_batch_kl(&w, &m, &batch, w.mask, ds->temperature, 1);
        model_backward_logits(&m, w.fs_s, w.dlogits);
        UpdateStats us = model_update(&m, &opt, &ds->opt, step, ds->steps);
        if (us.skipped)
            fprintf(stderr, "warning: distill step %ld: gradient norm %g is not finite; update "
                    "skipped (weights and AdamW state unchanged)\n", step + 1, us.grad_norm);
        if (nonfinite_tally(&nonfinite, us.skipped, ds->max_nonfinite_steps)) {
            fprintf(stderr, "error: distill: %ld steps in a row had a non-finite gradient (last: "
                    "step %ld); stopping with status %d without writing %s. Lower [distill] lr\n",
                    nonfinite.in_a_row, step + 1, EXIT_NONFINITE, out_path);
            status = EXIT_NONFINITE;
        }
        rep.steps = step + 1;
        int last = step + 1 == ds->steps;
        if ((ds->eval_every > 0 && (step + 1) % ds->eval_every == 0) || last) {
            rep.heldout_kl_last = distill_batch_kl(&w, &m, &held, held_mask, ds->temperature, 0);
            printf("distill step %5ld/%d  samples %s  train KL %.4f  held-out KL %.4f  lr %.2e  "
                   "|g| %.3f  %.1fs\n", step + 1, ds->steps, mode, kl, rep.heldout_kl_last, us.lr,
                   us.grad_norm, now_seconds() - t0);
            fflush(stdout);
        }
    }
    if (ds->steps == 0) rep.heldout_kl_last = rep.heldout_kl_first;
    if (status == 0) {
        double secs = now_seconds() - t0;
        rep.heldout_student_kl_last = own_heldout_kl(&w, task, &m, ds, run->seed, &held_own);
        printf("distill: trained in %.1f s (%.1f ms a step, samples %s); held-out KL on fixed "
               "teacher samples %.4f -> %.4f, on the student's own samples %.4f -> %.4f\n", secs,
               ds->steps > 0 ? 1e3 * secs / (double)ds->steps : 0.0, mode, rep.heldout_kl_first,
               rep.heldout_kl_last, rep.heldout_student_kl_first, rep.heldout_student_kl_last);
        write_student(cfg, &m, tok, out_path, &status);
        if (status == 0) {
            EvalResult er;
            eval->run(eval->ctx, &m, tok, task, 0, &er);
            eval_print("distill", &er, task);
        }
    }
    if (report) *report = rep;

    xfree(held_mask);
    batch_free(&held_own);
    batch_free(&held);
    batch_free(&batch);
    distill_work_free(&w);
    adamw_free(&opt);
    model_free(&m);
    model_free(&teacher);
    task->destroy(task);
    xfree(tok);
    run_lock_release(&lock);
    return status;
}

int distill_command(Config *cfg, const CliArgs *a, const Completer *complete,
                    const Evaluator *eval) {
    const char *dir = run_settings(cfg)->dir;
    make_dirs_or_die(dir);
    char path[CFG_STR_MAX + 16];
    snprintf(path, sizeof path, "%s/distill.ckpt", dir);
    return distill_run(cfg, a->out ? a->out : path, complete, eval, NULL);
}
