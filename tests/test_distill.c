/* test_distill.c: token-level distillation.
 *   - the forward KL and its gradient against PPO.md's worked numbers, and
 *     the teacher temperature against an equivalent unscaled teacher;
 *   - the masked mean loss's gradient against finite differences;
 *   - the loss through the model (model_backward_logits) against finite
 *     differences on a tiny model;
 *   - end to end: a tiny SFT teacher distilled into a smaller student, the
 *     KL on held-out teacher samples falls and the student's checkpoint
 *     loads with the student's shape;
 *   - a teacher with another tokenizer, or none, is refused. */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_numbers),
        cmocka_unit_test(test_kl_gradient_fd),
        cmocka_unit_test(test_model_kl_backward_fd),
        cmocka_unit_test(test_distill_end_to_end),
        cmocka_unit_test(test_tokenizer_mismatch_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
