/* SFT: the same seed gives bit-identical weights after N training steps
 * (single-threaded BLAS is deterministic), a different seed does not, and
 * the checkpoint it writes is self-describing (config, tokenizer, params,
 * effective config in META). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config.h"
#include "eval.h"
#include "run_settings.h"
#include "sections.h"
#include "sft.h"
#include "update.h"
#include "blas_setup.h"
#include "util.h"

static Config *tiny(uint64_t seed) {
    char err[512];
    Config *c = grpo_config_new();
    const char *sets[] = {"model.dim=32", "model.n_layers=2", "model.n_heads=4",
                          "model.n_kv_heads=2", "model.hidden_dim=48", "sft.steps=12",
                          "sft.batch_size=8", "sft.warmup=2", "eval.prompts=8", "eval.pass_k=2"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        assert_int_equal(config_set(c, sets[i], err, sizeof err), 0);
    ((RunSettings *)config_get_mut(c, &run_section))->seed = seed;
    return c;
}

static void read_ckpt(const char *path, Checkpoint *c) {
    char err[512];
    if (ckpt_read(c, path, err, sizeof err) != 0) fail_msg("%s", err);
}

static void test_sft_deterministic(void **state) {
    (void)state;
    blas_set_threads(1);
    char dir[64], p1[96], p2[96], p3[96];
    /* sft_run locks run.dir, which must exist (sft_command creates it) */
    snprintf(dir, sizeof dir, "/tmp/grpo_sft_%d", (int)getpid());
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(p1, sizeof p1, "%s/1.ckpt", dir);
    snprintf(p2, sizeof p2, "%s/2.ckpt", dir);
    snprintf(p3, sizeof p3, "%s/3.ckpt", dir);
    char set[200], cerr[300];
    snprintf(set, sizeof set, "run.dir=%s", dir);
    Config *c = tiny(11);
    assert_int_equal(config_set(c, set, cerr, sizeof cerr), 0);
    Evaluator ev = local_evaluator(c);
    assert_int_equal(sft_run(c, p1, &ev), 0);
    assert_int_equal(sft_run(c, p2, &ev), 0);
    config_free(c);
    c = tiny(12);
    assert_int_equal(config_set(c, set, cerr, sizeof cerr), 0);
    ev = local_evaluator(c);
    assert_int_equal(sft_run(c, p3, &ev), 0);
    config_free(c);
    Checkpoint a, b, d;
    read_ckpt(p1, &a);
    read_ckpt(p2, &b);
    read_ckpt(p3, &d);
    const CkptSection *x = ckpt_get(&a, "PARM"), *y = ckpt_get(&b, "PARM"), *z = ckpt_get(&d, "PARM");
    assert_non_null(x);
    assert_int_equal(x->len, y->len);
    assert_memory_equal(x->data, y->data, x->len);
    assert_true(memcmp(x->data, z->data, x->len) != 0);
    const CkptSection *meta = ckpt_get(&a, "META");
    assert_non_null(meta);
    assert_non_null(memmem(meta->data, meta->len, "hidden_dim", 10));
    Model m;
    Tokenizer *tok = xmalloc(sizeof *tok);
    char err[512];
    assert_int_equal(ckpt_get_model(&a, p1, &m, tok, err, sizeof err), 0);
    assert_int_equal(m.cfg.dim, 32);
    assert_int_equal(m.cfg.vocab_size, tok->vocab_size);
    model_free(&m);
    xfree(tok);
    ckpt_free(&a);
    ckpt_free(&b);
    ckpt_free(&d);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    snprintf(p1, sizeof p1, "%s/.lock", dir);
    unlink(p1);
    rmdir(dir);
}

/* lr 10 with decoupled weight decay 10 multiplies every matrix by about
 * -99 per step: the weights overflow within a few steps and the gradient
 * turns NaN. SFT skips those updates and, after max_nonfinite_steps in a
 * row, stops with EXIT_NONFINITE without writing a checkpoint (before, it
 * trained on and wrote a NaN model with status 0). */
static void test_sft_nonfinite_stops(void **state) {
    (void)state;
    blas_set_threads(1);
    char dir[64], path[96], err[512], set[128];
    /* sft_run locks run.dir, which must exist */
    snprintf(dir, sizeof dir, "/tmp/grpo_sft_nan_%d", (int)getpid());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/nan.ckpt", dir);
    snprintf(set, sizeof set, "run.dir=%s", dir);
    unlink(path);
    Config *c = tiny(11);
    assert_int_equal(config_set(c, set, err, sizeof err), 0);
    const char *sets[] = {"sft.steps=40", "sft.lr=10", "sft.lr_min=10", "sft.warmup=0",
                          "sft.weight_decay=10", "sft.max_nonfinite_steps=2"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        assert_int_equal(config_set(c, sets[i], err, sizeof err), 0);
    Evaluator ev = local_evaluator(c);
    assert_int_equal(sft_run(c, path, &ev), EXIT_NONFINITE);
    assert_int_not_equal(access(path, F_OK), 0);
    config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sft_deterministic),
                                       cmocka_unit_test(test_sft_nonfinite_stops)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
