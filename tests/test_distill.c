/* test_distill.c: token-level distillation.
 *   - the forward KL and its gradient against PPO.md's worked numbers, and
 *     the teacher temperature against an equivalent unscaled teacher;
 *   - the masked mean loss's gradient against finite differences;
 *   - the loss through the model (model_backward_logits) against finite
 *     differences on a tiny model;
 *   - end to end: a tiny SFT teacher distilled into a smaller student, the
 *     KL on held-out teacher samples falls and the student's checkpoint
 *     loads with the student's shape;
 *   - a teacher with another tokenizer, or none, is refused;
 *   - [distill] samples: with student the batch the loss sees is the
 *     student's own samples (the same Completer on the student with the
 *     same rng), with mixed the first rows are, with teacher it is the one
 *     teacher call of before; the gradient through the model on such a
 *     student-sampled batch against finite differences; the mode and share
 *     validated naming the key; the default run makes the same sampling
 *     calls as before; end to end through build/grpo with samples=student,
 *     the held-out KL falls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas_setup.h"
#include "checkpoint.h"
#include "config.h"
#include "distill.h"
#include "distill_loss.h"
#include "eval.h"
#include "learner.h"
#include "local_completer.h"
#include "rng.h"
#include "run_settings.h"
#include "sections.h"
#include "sft.h"
#include "task.h"
#include "test_shell.h"
#include "util.h"

/* ---- the loss -------------------------------------------------------------- */

static void test_worked_numbers(void **st) {
    (void)st;
    const double p[3] = {0.7, 0.2, 0.1}, q[3] = {0.5, 0.3, 0.2};
    float lp[3], lq[3], d[3];
    for (int v = 0; v < 3; v++) {
        lp[v] = (float)log(p[v]);
        lq[v] = (float)log(q[v]);
    }
    double kl = distill_kl_row(lp, lq, 3, 1.0f, d, 1.0f);
    printf("  KL(p||q) = %.6f, KL(q||p) = %.6f, grad [%.6f %.6f %.6f]\n", kl,
           distill_kl_row(lq, lp, 3, 1.0f, NULL, 1.0f), d[0], d[1], d[2]);
    assert_float_equal(kl, 0.08512, 5e-6);
    assert_float_equal(distill_kl_row(lq, lp, 3, 1.0f, NULL, 1.0f), 0.09203, 5e-6);
    const float want[3] = {-0.2f, 0.1f, 0.1f};
    for (int v = 0; v < 3; v++) assert_float_equal(d[v], want[v], 1e-6);
    /* a teacher at temperature 2 with logits 2 log p is the same p */
    float lp2[3];
    for (int v = 0; v < 3; v++) lp2[v] = 2.0f * lp[v] + 5.0f; /* a shift changes nothing */
    assert_float_equal(distill_kl_row(lp2, lq, 3, 2.0f, NULL, 1.0f), 0.08512, 5e-6);
    /* and at temperature 1 it is a sharper p: a different KL */
    assert_true(fabs(distill_kl_row(lp2, lq, 3, 1.0f, NULL, 1.0f) - 0.08512) > 1e-2);
    /* KL(p||p) = 0 and no gradient */
    assert_float_equal(distill_kl_row(lp, lp, 3, 1.0f, d, 1.0f), 0.0, 1e-9);
    for (int v = 0; v < 3; v++) assert_float_equal(d[v], 0.0f, 1e-7);
}

enum { FN = 5, FV = 7 };

/* d loss / d student logits vs central differences, teacher temperature
 * 0.7, rows 1 and 3 masked out (they must get no gradient). */
static void test_kl_gradient_fd(void **st) {
    (void)st;
    float t[FN * FV], s[FN * FV], d[FN * FV];
    const uint8_t mask[FN] = {1, 0, 1, 0, 1};
    Rng r;
    rng_seed(&r, 3, 1);
    for (int i = 0; i < FN * FV; i++) {
        t[i] = 2.0f * rng_normal(&r);
        s[i] = 2.0f * rng_normal(&r);
    }
    int n = 0;
    double loss = distill_kl_loss(t, s, mask, FN, FV, 0.7f, d, &n);
    assert_int_equal(n, 3);
    double mean = 0;
    for (int i = 0; i < FN; i++)
        if (mask[i]) mean += distill_kl_row(t + i * FV, s + i * FV, FV, 0.7f, NULL, 1.0f) / 3;
    assert_float_equal(loss, mean, 1e-12);
    double worst = 0;
    for (int i = 0; i < FN * FV; i++) {
        const float eps = 1e-2f;
        float orig = s[i];
        s[i] = orig + eps;
        float hi = s[i];
        double lp = distill_kl_loss(t, s, mask, FN, FV, 0.7f, NULL, NULL);
        s[i] = orig - eps;
        float lo = s[i];
        double lm = distill_kl_loss(t, s, mask, FN, FV, 0.7f, NULL, NULL);
        s[i] = orig;
        double fd = (lp - lm) / ((double)hi - lo);
        if (!mask[i / FV]) assert_true(d[i] == 0.0f);
        double e = fabs(fd - d[i]);
        if (e > worst) worst = e;
    }
    printf("  KL gradient vs finite differences: worst |g - fd| = %.2e\n", worst);
    assert_true(worst < 1e-5);
    /* nothing masked: loss and gradient 0 */
    const uint8_t none[FN] = {0};
    assert_float_equal(distill_kl_loss(t, s, none, FN, FV, 1.0f, d, &n), 0.0, 0);
    assert_int_equal(n, 0);
    for (int i = 0; i < FN * FV; i++) assert_true(d[i] == 0.0f);
}

/* worst |g - fd| / tol of model_backward_logits(d from distill_batch_kl)
 * against central differences of distill_batch_kl on 60 parameters of
 * student spread over every tensor: the trainer's own path. */
static double batch_kl_fd_worst(DistillWork *w, Model *student, const SeqBatch *b,
                                const uint8_t *mask, float tau) {
    distill_batch_kl(w, student, b, mask, tau, 1);
    model_zero_grads(student);
    model_backward_logits(student, w->fs_s, w->dlogits);
    double worst = 0;
    for (int k = 0; k < 60; k++) {
        size_t j = (size_t)k * (student->n_params / 60);
        float orig = student->params[j], eps = 3e-3f;
        student->params[j] = orig + eps;
        float hi = student->params[j];
        double lp = distill_batch_kl(w, student, b, mask, tau, 0);
        student->params[j] = orig - eps;
        float lo = student->params[j];
        double lm = distill_batch_kl(w, student, b, mask, tau, 0);
        student->params[j] = orig;
        double fd = (lp - lm) / ((double)hi - lo);
        double e = fabs(fd - student->grads[j]) / (1e-3 + 1e-2 * fabs(fd));
        if (e > worst) worst = e;
    }
    return worst;
}

/* The KL through a tiny student: model_backward_logits(d from
 * distill_kl_loss) vs central differences of the loss on 60 parameters
 * spread over every tensor. */
static void test_model_kl_backward_fd(void **st) {
    (void)st;
    ModelConfig c = {.vocab_size = 9, .dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1,
                     .hidden_dim = 12, .max_seq_len = 6, .tied_embeddings = 0,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    enum { B = 2, T = 5 };
    Model m;
    model_init(&m, &c);
    model_init_weights(&m, 7);
    Rng r;
    rng_seed(&r, 8, 2);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] += 0.3f * rng_normal(&r);
    model_alloc_grads(&m);
    ForwardState *fs = forward_state_new(&c, B, T);
    const int tok[B * T] = {1, 4, 6, 3, 8, 1, 5, 2, 0, 0};
    const int tgt[B * T] = {4, 6, 3, 8, 2, 5, 2, 0, 0, 0};
    const uint8_t mask[B * T] = {0, 1, 1, 1, 1, 0, 1, 0, 0, 0};
    float teacher[B * T * 9], d[B * T * 9], logp[B * T];
    for (int i = 0; i < B * T * 9; i++) teacher[i] = 1.5f * rng_normal(&r);
    model_forward(&m, fs, tok, tgt, B, T, 1.0f, logp, NULL);
    distill_kl_loss(teacher, forward_state_logits(fs, NULL, NULL), mask, B * T, 9, 1.0f, d, NULL);
    model_zero_grads(&m);
    model_backward_logits(&m, fs, d);
    double worst = 0;
    for (int k = 0; k < 60; k++) {
        size_t j = (size_t)k * (m.n_params / 60);
        float orig = m.params[j], eps = 3e-3f;
        m.params[j] = orig + eps;
        float hi = m.params[j];
        model_forward(&m, fs, tok, tgt, B, T, 1.0f, logp, NULL);
        double lp = distill_kl_loss(teacher, forward_state_logits(fs, NULL, NULL), mask, B * T, 9,
                                    1.0f, NULL, NULL);
        m.params[j] = orig - eps;
        float lo = m.params[j];
        model_forward(&m, fs, tok, tgt, B, T, 1.0f, logp, NULL);
        double lm = distill_kl_loss(teacher, forward_state_logits(fs, NULL, NULL), mask, B * T, 9,
                                    1.0f, NULL, NULL);
        m.params[j] = orig;
        double fd = (lp - lm) / ((double)hi - lo);
        double e = fabs(fd - m.grads[j]) / (1e-3 + 1e-2 * fabs(fd));
        if (e > worst) worst = e;
    }
    printf("  KL through the model vs finite differences: worst |g - fd| / tol = %.3f\n", worst);
    assert_true(worst <= 1.0);
    forward_state_free(fs);
    model_free(&m);
}

/* ---- the trainer ------------------------------------------------------------ */

static Config *tiny(const char *dir, const char *const *extra, size_t n_extra) {
    char err[512], set[200];
    Config *c = grpo_config_new();
    const char *sets[] = {"model.dim=32", "model.n_layers=2", "model.n_heads=4",
                          "model.n_kv_heads=2", "model.hidden_dim=48", "model.max_seq_len=16",
                          "sft.steps=150", "sft.batch_size=16", "sft.warmup=5", "sft.lr=5e-3",
                          "sft.eval_every=0", "eval.prompts=8", "eval.pass_k=2"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        assert_int_equal(config_set(c, sets[i], err, sizeof err), 0);
    for (size_t i = 0; i < n_extra; i++)
        if (config_set(c, extra[i], err, sizeof err) != 0) fail_msg("%s", err);
    snprintf(set, sizeof set, "run.dir=%s", dir);
    assert_int_equal(config_set(c, set, err, sizeof err), 0);
    return c;
}

static void test_distill_end_to_end(void **st) {
    (void)st;
    blas_set_threads(1);
    char dir[64], teacher[96], student[96], set[160], lockf[96];
    snprintf(dir, sizeof dir, "/tmp/grpo_distill_%d", (int)getpid());
    mkdir(dir, 0755);
    snprintf(teacher, sizeof teacher, "%s/teacher.ckpt", dir);
    snprintf(student, sizeof student, "%s/student.ckpt", dir);
    Config *c = tiny(dir, NULL, 0);
    Evaluator ev = local_evaluator(c);
    double t0 = now_seconds();
    assert_int_equal(sft_run(c, teacher, &ev), 0);
    double t_sft = now_seconds() - t0;
    config_free(c);

    snprintf(set, sizeof set, "distill.teacher=%s", teacher);
    const char *extra[] = {set, "model.dim=16", "model.n_layers=1", "model.n_heads=2",
                           "model.n_kv_heads=1", "model.hidden_dim=32", "distill.steps=60",
                           "distill.batch_size=16", "distill.heldout=32", "distill.warmup=5",
                           "distill.lr=1e-2", "distill.eval_every=20"};
    c = tiny(dir, extra, sizeof extra / sizeof extra[0]);
    ev = local_evaluator(c);
    Completer co = local_completer(c);
    DistillReport rep;
    t0 = now_seconds();
    assert_int_equal(distill_run(c, student, &co, &ev, &rep), 0);
    printf("  teacher SFT %.1f s, distill %.1f s: held-out KL %.4f -> %.4f over %ld steps\n",
           t_sft, now_seconds() - t0, rep.heldout_kl_first, rep.heldout_kl_last, rep.steps);
    assert_int_equal(rep.steps, 60);
    assert_true(rep.heldout_kl_first > 1.0); /* a fresh student is near uniform over 98 tokens */
    assert_true(rep.heldout_kl_last < 0.5 * rep.heldout_kl_first);
    config_free(c);

    Model m;
    Tokenizer *tok = xmalloc(sizeof *tok);
    ckpt_load_model_or_die(student, &m, tok);
    assert_int_equal(m.cfg.dim, 16);
    assert_int_equal(m.cfg.n_layers, 1);
    model_free(&m);
    xfree(tok);

    /* [distill] init: a student that starts from that checkpoint starts
     * where it ended (the same held-out teacher samples, the same KL) */
    char init[200], again[96];
    snprintf(init, sizeof init, "distill.init=%s", student);
    snprintf(again, sizeof again, "%s/again.ckpt", dir);
    const char *from[] = {set, init, "distill.steps=0", "distill.batch_size=16",
                          "distill.heldout=32", "model.dim=16", "model.n_layers=1",
                          "model.n_heads=2", "model.n_kv_heads=1", "model.hidden_dim=32"};
    c = tiny(dir, from, sizeof from / sizeof from[0]);
    ev = local_evaluator(c);
    co = local_completer(c);
    DistillReport rep2;
    assert_int_equal(distill_run(c, again, &co, &ev, &rep2), 0);
    if (fabs(rep2.heldout_kl_first - rep.heldout_kl_last) > 1e-6 * rep.heldout_kl_last)
        fail_msg("from init: held-out KL %.9f, the student ended at %.9f",
                 rep2.heldout_kl_first, rep.heldout_kl_last);
    config_free(c);
    /* a [model] override the init checkpoint contradicts is refused
     * (tiny's dim 32 and 2 layers) */
    c = tiny(dir, from, 5);
    ev = local_evaluator(c);
    co = local_completer(c);
    assert_int_equal(distill_run(c, again, &co, &ev, NULL), EXIT_USAGE);
    config_free(c);
    unlink(again);
    unlink(teacher);
    unlink(student);
    snprintf(lockf, sizeof lockf, "%s/.lock", dir);
    unlink(lockf);
    rmdir(dir);
}

/* A teacher over a 60-token vocabulary (the first 60 of the character
 * tokenizer) against the student's 98: refused, naming the file and both
 * sizes, before any training; so is a run without a teacher. */
static void test_tokenizer_mismatch_refused(void **st) {
    (void)st;
    char dir[64], teacher[96], student[96], set[160], lockf[96], err[2000];
    snprintf(dir, sizeof dir, "/tmp/grpo_distill_tok_%d", (int)getpid());
    mkdir(dir, 0755);
    snprintf(teacher, sizeof teacher, "%s/small_vocab.ckpt", dir);
    snprintf(student, sizeof student, "%s/student.ckpt", dir);
    Tokenizer *small = xmalloc(sizeof *small), *chars = xmalloc(sizeof *chars);
    tokenizer_init_char(small);
    tokenizer_init_char(chars);
    small->vocab_size = 60;
    for (int b = 0; b < 256; b++)
        if (small->byte_to_id[b] >= 60) small->byte_to_id[b] = -1;
    ModelConfig mc = {.vocab_size = 60, .dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1,
                      .hidden_dim = 8, .max_seq_len = 16, .tied_embeddings = 1,
                      .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &mc);
    model_init_weights(&m, 1);
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, &m, small);
    assert_int_equal(ckpt_write(&ck, teacher, err, sizeof err), 0);
    ckpt_free(&ck);
    model_free(&m);

    Model t;
    assert_int_equal(distill_load_teacher(teacher, chars, &t, err, sizeof err), -1);
    printf("  %s\n", err);
    assert_non_null(strstr(err, teacher));
    assert_non_null(strstr(err, "60 tokens"));
    assert_non_null(strstr(err, "98 tokens"));
    assert_int_equal(distill_load_teacher("", chars, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "--teacher"));

    snprintf(set, sizeof set, "distill.teacher=%s", teacher);
    const char *extra[] = {set, "distill.steps=5"};
    Config *c = tiny(dir, extra, 2);
    Evaluator ev = local_evaluator(c);
    Completer co = local_completer(c);
    assert_int_equal(distill_run(c, student, &co, &ev, NULL), EXIT_USAGE);
    assert_int_not_equal(access(student, F_OK), 0);
    config_free(c);
    xfree(small);
    xfree(chars);
    unlink(teacher);
    snprintf(lockf, sizeof lockf, "%s/.lock", dir);
    unlink(lockf);
    rmdir(dir);
}

/* ---- who samples ------------------------------------------------------------ */

/* A teacher and a student over the character vocabulary that sample very
 * differently: the teacher's weights are scaled up, so its distributions
 * are sharp, where a fresh student's are near uniform. The student's
 * context (12) is shorter than the teacher's (16) and max_new (12) asks
 * for more than either holds, so cut-to-fit is exercised. */
typedef struct {
    Config *cfg;
    Tokenizer *tok;
    Task *task;
    Model teacher, student;
    Completer co;
    DistillWork w;
} Pair;

enum { PN = 6, PMAX_NEW = 12 };

static void pair_init(Pair *p) {
    char err[512];
    p->cfg = grpo_config_new();
    p->tok = xmalloc(sizeof *p->tok);
    tokenizer_init_char(p->tok);
    const TaskSettings *ts = task_settings(p->cfg);
    p->task = task_create(ts->name, &ts->p, 5, err, sizeof err);
    assert_non_null(p->task);
    ModelConfig tc = {.vocab_size = p->tok->vocab_size, .dim = 16, .n_layers = 1, .n_heads = 2,
                      .n_kv_heads = 1, .hidden_dim = 24, .max_seq_len = 16,
                      .tied_embeddings = 0, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    ModelConfig sc = tc;
    sc.dim = 8;
    sc.hidden_dim = 12;
    sc.max_seq_len = 12;
    model_init(&p->teacher, &tc);
    model_init_weights(&p->teacher, 11);
    for (size_t i = 0; i < p->teacher.n_params; i++) p->teacher.params[i] *= 4.0f;
    model_init(&p->student, &sc);
    model_init_weights(&p->student, 12);
    model_alloc_grads(&p->student);
    p->co = local_completer(p->cfg);
    distill_work_init(&p->w, &p->teacher, &sc, p->tok, &p->co, PN, PMAX_NEW);
}

static void pair_free(Pair *p) {
    distill_work_free(&p->w);
    model_free(&p->student);
    model_free(&p->teacher);
    p->task->destroy(p->task);
    xfree(p->tok);
    config_free(p->cfg);
}

/* Completions of the first PN training prompts, sampled straight through
 * the Completer: rows [0, ns) from the student, the rest from the teacher,
 * from one rng seeded as the batch's. */
static void sample_directly(Pair *p, int ns, uint64_t seed, int *comp, int *clen) {
    int prompt_buf[PN][16], plen[PN];
    const int *prompts[PN];
    TaskItem it;
    for (int i = 0; i < PN; i++) {
        assert_int_equal(p->task->sample(p->task, SPLIT_TRAIN, 0, 40 + i, &it), 0);
        plen[i] = encode_prompt(p->tok, it.prompt, prompt_buf[i], 16);
        prompts[i] = prompt_buf[i];
    }
    Rng r;
    rng_seed(&r, seed, 1);
    if (ns > 0)
        p->co.run(p->co.ctx, &p->student, p->tok, prompts, plen, ns, PMAX_NEW, &r, comp, clen);
    if (ns < PN)
        p->co.run(p->co.ctx, &p->teacher, p->tok, prompts + ns, plen + ns, PN - ns, PMAX_NEW, &r,
                  comp + (size_t)ns * PMAX_NEW, clen + ns);
}

/* Rows of batch whose completion is comp's (cut to the batch's capacity). */
static int rows_matching(const SeqBatch *b, const int *comp, const int *clen, int from, int to) {
    int match = 0;
    for (int r = from; r < to; r++) {
        int plen = b->prompt_len[r], n = b->seq_len[r] - plen;
        int want = plen + clen[r] > b->max_len ? b->max_len - plen : clen[r];
        int same = n == want;
        for (int j = 0; same && j < n; j++)
            same = b->seq[(size_t)r * b->max_len + plen + j] == comp[(size_t)r * PMAX_NEW + j];
        match += same;
    }
    return match;
}

static void test_student_samples_are_the_students(void **st) {
    (void)st;
    blas_set_threads(1);
    Pair p;
    pair_init(&p);
    SeqBatch b;
    batch_init(&b, PN, p.w.L);
    uint8_t mask[PN * 16];
    int s_comp[PN * PMAX_NEW], s_len[PN], t_comp[PN * PMAX_NEW], t_len[PN];
    int m_comp[PN * PMAX_NEW], m_len[PN];
    sample_directly(&p, PN, 77, s_comp, s_len);
    sample_directly(&p, 0, 77, t_comp, t_len);
    sample_directly(&p, 2, 77, m_comp, m_len);
    Rng r;
    int cut = 0;

    /* samples = student: every row is the student's own sample */
    rng_seed(&r, 77, 1);
    distill_fill_batch(&p.w, p.task, SPLIT_TRAIN, 40, PN, &p.student, PN, &r, &b, mask);
    assert_int_equal(rows_matching(&b, s_comp, s_len, 0, PN), PN);
    int like_teacher = rows_matching(&b, t_comp, t_len, 0, PN);
    printf("  student mode: %d/%d rows the student's samples, %d/%d the teacher's\n", PN, PN,
           like_teacher, PN);
    assert_true(like_teacher <= 1); /* the two models really sample differently */
    for (int i = 0; i < PN; i++) assert_true(b.seq_len[i] <= p.student.cfg.max_seq_len);

    /* samples = teacher: the one teacher call of before, cut to the student's context */
    rng_seed(&r, 77, 1);
    distill_fill_batch(&p.w, p.task, SPLIT_TRAIN, 40, PN, &p.student, 0, &r, &b, mask);
    assert_int_equal(rows_matching(&b, t_comp, t_len, 0, PN), PN);
    for (int i = 0; i < PN; i++) {
        assert_true(b.seq_len[i] <= p.student.cfg.max_seq_len);
        cut += b.prompt_len[i] + t_len[i] > p.student.cfg.max_seq_len;
    }
    printf("  teacher mode: %d of %d teacher completions cut to the student's context\n", cut, PN);
    assert_true(cut > 0);

    /* mixed, 2 student rows: rows 0-1 the student's, 2-5 the teacher's */
    rng_seed(&r, 77, 1);
    distill_fill_batch(&p.w, p.task, SPLIT_TRAIN, 40, PN, &p.student, 2, &r, &b, mask);
    /* (not a prefix of the all-student rows: the batched sampler draws
     * each position for every row from the one rng) */
    assert_int_equal(rows_matching(&b, m_comp, m_len, 0, PN), PN);
    assert_true(rows_matching(&b, t_comp, t_len, 0, 2) <= 1);

    /* the mask covers exactly the completion tokens the loss averages over */
    int masked = 0, toks = 0;
    for (int i = 0; i < b.B * b.T; i++) masked += mask[i];
    for (int i = 0; i < PN; i++) toks += b.seq_len[i] - b.prompt_len[i];
    assert_int_equal(masked, toks);
    batch_free(&b);
    pair_free(&p);
}

/* A pair whose student is moved away from its fresh init (so a gradient
 * has structure to get wrong), and b (batch_init'd here for n rows) a
 * batch of n completions the student sampled itself from seed; mask gets
 * its completion positions (n * 16 at most). */
static void student_batch(Pair *p, SeqBatch *b, int n, uint64_t seed, uint8_t *mask) {
    blas_set_threads(1);
    pair_init(p);
    Rng r;
    rng_seed(&r, 8, 2);
    for (size_t i = 0; i < p->student.n_params; i++) p->student.params[i] += 0.3f * rng_normal(&r);
    batch_init(b, n, p->w.L);
    rng_seed(&r, seed, 1);
    distill_fill_batch(&p->w, p->task, SPLIT_TRAIN, 0, n, &p->student, n, &r, b, mask);
}

/* The trainer's KL gradient through the model on a batch the student
 * sampled itself (so the positions are the student's own trajectories)
 * against finite differences. */
static void test_student_batch_kl_fd(void **st) {
    (void)st;
    Pair p;
    SeqBatch b;
    uint8_t mask[3 * 16];
    student_batch(&p, &b, 3, 78, mask);
    int toks = 0;
    for (int i = 0; i < 3; i++) toks += b.seq_len[i] - b.prompt_len[i];
    double kl = distill_batch_kl(&p.w, &p.student, &b, mask, 0.8f, 0);
    double worst = batch_kl_fd_worst(&p.w, &p.student, &b, mask, 0.8f);
    printf("  student-sampled batch (%d completion tokens, KL %.4f): worst |g - fd| / tol = "
           "%.3f\n", toks, kl, worst);
    assert_true(toks > 3 && isfinite(kl) && kl > 0);
    assert_true(worst <= 1.0);
    batch_free(&b);
    pair_free(&p);
}

/* distill_batch_kl (model_forward_batch: the heads on completion positions
 * only, no padding computed) against the old full-grid path (model_forward
 * on every position of the padded (B, T) batch, the KL over the grid's
 * mask, model_backward_logits from (B, T, V)): the loss and every student
 * gradient, max abs difference printed. PN rows of the student's own
 * samples, every other one cut short. */
static void test_batch_kl_matches_full_grid(void **st) {
    (void)st;
    Pair p;
    SeqBatch b;
    uint8_t mask[PN * 16];
    student_batch(&p, &b, PN, 79, mask);
    /* every other row cut to a third of its completion: a grid with padding */
    SeqBatch sampled = b;
    batch_init(&b, PN, p.w.L);
    for (int r = 0; r < PN; r++) {
        const int *seq = sampled.seq + (size_t)r * sampled.max_len, plen = sampled.prompt_len[r];
        const int clen = sampled.seq_len[r] - plen;
        batch_add(&b, seq, plen, seq + plen, r % 2 ? clen : (clen + 2) / 3);
    }
    batch_free(&sampled);
    batch_layout(&b);
    memset(mask, 0, sizeof mask);
    for (int r = 0; r < b.B; r++)
        for (int j = 0; j < b.seq_len[r] - b.prompt_len[r]; j++) mask[batch_index(&b, r, j)] = 1;
    const int V = p.student.cfg.vocab_size, N = b.B * b.T;
    int real = 0;
    for (int i = 0; i < b.B; i++) real += b.seq_len[i] - 1;
    model_zero_grads(&p.student);
    const double kl_new = distill_batch_kl(&p.w, &p.student, &b, mask, 0.8f, 1);
    int rows_new;
    forward_state_logits(p.w.fs_s, &rows_new, NULL);
    model_backward_logits(&p.student, p.w.fs_s, p.w.dlogits);
    float *g_new = xmalloc(sizeof(float) * p.student.n_params);
    memcpy(g_new, p.student.grads, sizeof(float) * p.student.n_params);

    float *logp = xmalloc(sizeof(float) * N), *d = xmalloc(sizeof(float) * (size_t)N * V);
    model_forward(&p.teacher, p.w.fs_t, b.tokens, b.targets, b.B, b.T, 1.0f, logp, NULL);
    model_forward(&p.student, p.w.fs_s, b.tokens, b.targets, b.B, b.T, 1.0f, logp, NULL);
    const double kl_old = distill_kl_loss(forward_state_logits(p.w.fs_t, NULL, NULL),
                                          forward_state_logits(p.w.fs_s, NULL, NULL), mask, N, V,
                                          0.8f, d, NULL);
    model_zero_grads(&p.student);
    model_backward_logits(&p.student, p.w.fs_s, d);
    double dg = 0, gmax = 0;
    for (size_t i = 0; i < p.student.n_params; i++) {
        dg = fmax(dg, fabs((double)g_new[i] - p.student.grads[i]));
        gmax = fmax(gmax, fabs((double)p.student.grads[i]));
    }
    int head_rows;
    forward_state_logits(p.w.fs_s, &head_rows, NULL);
    printf("  distill on the packed layout vs the full grid (%d x %d grid, %d real positions, "
           "the heads on %d): |dKL| = %.3g (KL %.4f), max |dgrad| = %.3g (max |grad| %.3g)\n",
           b.B, b.T, real, rows_new, fabs(kl_new - kl_old), kl_old, dg, gmax);
    assert_int_equal(head_rows, N); /* the old path's head ran everywhere */
    assert_true(real < N); /* the batch has padding to skip */
    assert_true(fabs(kl_new - kl_old) <= 1e-6 * (1 + kl_old));
    assert_true(dg <= 1e-5 * gmax);
    xfree(logp);
    xfree(d);
    xfree(g_new);
    batch_free(&b);
    pair_free(&p);
}

/* 0 if cfg with these overrides validates, else -1 with err. */
static int try_config(const char *const *sets, int n, char *err, size_t errlen) {
    Config *c = grpo_config_new();
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) rc = config_set(c, sets[i], err, errlen);
    if (rc == 0) rc = config_validate(c, err, errlen);
    config_free(c);
    return rc;
}

static void test_samples_validated(void **st) {
    (void)st;
    char err[1000];
    const char *ok[][3] = {{"distill.samples=teacher", "", ""},
                           {"distill.samples=student", "", ""},
                           {"distill.samples=mixed", "", ""},
                           {"distill.samples=mixed", "distill.student_share=0.25", ""},
                           {"distill.samples=mixed", "distill.student_share=0.5",
                            "distill.batch_size=2"}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int n = ok[i][2][0] ? 3 : ok[i][1][0] ? 2 : 1;
        if (try_config(ok[i], n, err, sizeof err) != 0) fail_msg("%s: %s", ok[i][0], err);
    }
    struct { const char *sets[3]; int n; const char *names; } bad[] = {
        {{"distill.samples=self"}, 1, "samples"},
        {{"distill.samples=mixed", "distill.student_share=0"}, 2, "student_share"},
        {{"distill.samples=mixed", "distill.student_share=1"}, 2, "student_share"},
        {{"distill.samples=mixed", "distill.student_share=1.5"}, 2, "student_share"},
        {{"distill.samples=student", "distill.student_share=-0.1"}, 2, "student_share"},
        /* 0.5 of one row is no row of one of the two */
        {{"distill.samples=mixed", "distill.batch_size=1"}, 2, "batch_size"},
        {{"distill.samples=mixed", "distill.student_share=0.01"}, 2, "student_share"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(try_config(bad[i].sets, bad[i].n, err, sizeof err), -1);
        printf("  %s %s: %s\n", bad[i].sets[0], bad[i].n > 1 ? bad[i].sets[1] : "", err);
        if (!strstr(err, bad[i].names)) fail_msg("'%s' does not name %s", err, bad[i].names);
    }
    /* the default is teacher, and the share's rows */
    Config *c = grpo_config_new();
    const DistillSettings *ds = config_get(c, &distill_section);
    assert_int_equal(ds->samples, DISTILL_TEACHER);
    assert_float_equal(ds->student_share, 0.5f, 0);
    assert_int_equal(distill_student_rows(ds, 32), 0);
    DistillSettings d = *ds;
    d.samples = DISTILL_STUDENT;
    assert_int_equal(distill_student_rows(&d, 32), 32);
    d.samples = DISTILL_MIXED;
    d.student_share = 0.25f;
    assert_int_equal(distill_student_rows(&d, 32), 8);
    config_free(c);
}

/* A Completer that records which model every call samples from, around
 * the local one. */
typedef struct {
    Completer inner;
    int calls, dims[64], ns[64];
    const Rng *rngs[64];
} Recorder;

static void record_run(const void *ctx, const Model *m, const Tokenizer *tok,
                       const int *const *prompts, const int *plen, int n, int max_new, Rng *rng,
                       int *out, int *len) {
    Recorder *r = (Recorder *)ctx; /* the test owns it: recording is its point */
    if (r->calls < 64) {
        r->dims[r->calls] = m->cfg.dim;
        r->ns[r->calls] = n;
        r->rngs[r->calls] = rng;
    }
    r->calls++;
    r->inner.run(r->inner.ctx, m, tok, prompts, plen, n, max_new, rng, out, len);
}

/* ---- end to end, every mode, one teacher -------------------------------------- */

static void test_modes_end_to_end(void **st) {
    (void)st;
    blas_set_threads(1);
    char dir[64], teacher[96], student[128], set[160], lockf[96];
    snprintf(dir, sizeof dir, "/tmp/grpo_distill_modes_%d", (int)getpid());
    mkdir(dir, 0755);
    snprintf(teacher, sizeof teacher, "%s/teacher.ckpt", dir);
    Config *c = tiny(dir, NULL, 0);
    Evaluator ev = local_evaluator(c);
    assert_int_equal(sft_run(c, teacher, &ev), 0);
    config_free(c);
    snprintf(set, sizeof set, "distill.teacher=%s", teacher);
    const char *modes[] = {"distill.samples=teacher", "distill.samples=student",
                           "distill.samples=mixed"};
    for (int k = 0; k < 3; k++) {
        const char *extra[] = {set, modes[k], "model.dim=16", "model.n_layers=1",
                               "model.n_heads=2", "model.n_kv_heads=1", "model.hidden_dim=32",
                               "distill.steps=6", "distill.batch_size=8", "distill.heldout=8",
                               "distill.lr=1e-2", "distill.warmup=1"};
        c = tiny(dir, extra, sizeof extra / sizeof extra[0]);
        ev = local_evaluator(c);
        Recorder rec = {.inner = local_completer(c)};
        Completer co = {record_run, &rec};
        DistillReport rep;
        snprintf(student, sizeof student, "%s/student_%d.ckpt", dir, k);
        double t0 = now_seconds();
        assert_int_equal(distill_run(c, student, &co, &ev, &rep), 0);
        printf("  %s: %.1f ms a run of 6 steps; held-out KL %.4f -> %.4f, own samples %.4f -> "
               "%.4f\n", modes[k], 1e3 * (now_seconds() - t0), rep.heldout_kl_first,
               rep.heldout_kl_last, rep.heldout_student_kl_first, rep.heldout_student_kl_last);
        assert_true(isfinite(rep.heldout_student_kl_last) && rep.heldout_student_kl_last > 0);
        /* held-out teacher samples, held-out own samples, 6 steps' calls,
         * the final own samples: the step calls share one rng */
        const Rng *train_rng = rec.rngs[2];
        int step_calls = 0, student_calls = 0;
        for (int i = 0; i < rec.calls && i < 64; i++) {
            if (rec.rngs[i] != train_rng) continue;
            step_calls++;
            student_calls += rec.dims[i] == 16;
            if (k == 0) assert_true(rec.dims[i] == 32 && rec.ns[i] == 8);
            if (k == 1) assert_true(rec.dims[i] == 16 && rec.ns[i] == 8);
            if (k == 2) assert_int_equal(rec.ns[i], 4);
        }
        assert_int_equal(step_calls, k == 2 ? 12 : 6);
        assert_int_equal(student_calls, k == 0 ? 0 : 6);
        assert_int_equal(rec.dims[0], 32); /* the fixed held-out set is the teacher's */
        assert_int_equal(rec.ns[0], 8);
        config_free(c);
        unlink(student);
    }
    unlink(teacher);
    snprintf(lockf, sizeof lockf, "%s/.lock", dir);
    unlink(lockf);
    rmdir(dir);
}

/* build/grpo distill with samples=student: exit 0, the mode on the
 * progress lines, a finite held-out KL (on the fixed teacher samples) that
 * fell. */
static void test_student_mode_binary(void **st) {
    (void)st;
    char dir[64], out[128], line[1024];
    const char *bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    snprintf(dir, sizeof dir, "/tmp/grpo_distill_bin_%d", (int)getpid());
    const char *model = "model.dim=32 model.n_layers=2 model.n_heads=4 model.n_kv_heads=2 "
                        "model.hidden_dim=48 model.max_seq_len=16 eval.prompts=8 eval.pass_k=2";
    assert_int_equal(run("OPENBLAS_NUM_THREADS=1 %s sft %s sft.steps=150 "
                         "sft.batch_size=16 sft.warmup=5 sft.lr=5e-3 sft.eval_every=0 "
                         "run.dir=%s/t > /dev/null", bin, model, dir), 0);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    int rc = run("OPENBLAS_NUM_THREADS=1 %s distill --teacher %s/t/sft.ckpt %s "
                 "model.dim=16 model.n_layers=1 model.n_heads=2 model.n_kv_heads=1 "
                 "model.hidden_dim=32 distill.steps=40 distill.batch_size=16 distill.heldout=32 "
                 "distill.warmup=5 distill.lr=1e-2 distill.eval_every=20 distill.samples=student "
                 "run.dir=%s/s > %s", bin, dir, model, dir, out);
    assert_int_equal(rc, 0);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    double first = NAN, last = NAN, own0 = NAN, own1 = NAN, ms = NAN;
    int mode_lines = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "  samples student  ")) mode_lines++;
        const char *t = strstr(line, "trained in");
        if (t) {
            printf("  %s", line);
            const char *a = strstr(t, "("), *k = strstr(t, "teacher samples"),
                       *o = strstr(t, "own samples");
            assert_non_null(a);
            assert_non_null(k);
            assert_non_null(o);
            assert_int_equal(sscanf(a, "(%lf ms", &ms), 1);
            assert_int_equal(sscanf(k, "teacher samples %lf -> %lf", &first, &last), 2);
            assert_int_equal(sscanf(o, "own samples %lf -> %lf", &own0, &own1), 2);
        }
    }
    fclose(f);
    assert_int_equal(mode_lines, 2);
    assert_true(isfinite(first) && isfinite(last) && isfinite(own1));
    assert_true(last < 0.5 * first);
    assert_true(own1 < own0);
    run("rm -rf %s", dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_numbers),
        cmocka_unit_test(test_kl_gradient_fd),
        cmocka_unit_test(test_model_kl_backward_fd),
        cmocka_unit_test(test_distill_end_to_end),
        cmocka_unit_test(test_tokenizer_mismatch_refused),
        cmocka_unit_test(test_student_samples_are_the_students),
        cmocka_unit_test(test_student_batch_kl_fd),
        cmocka_unit_test(test_batch_kl_matches_full_grid),
        cmocka_unit_test(test_samples_validated),
        cmocka_unit_test(test_modes_end_to_end),
        cmocka_unit_test(test_student_mode_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
