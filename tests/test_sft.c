/* SFT: the same seed gives bit-identical weights after N training steps
 * (single-threaded BLAS is deterministic), a different seed does not, and
 * the checkpoint it writes is self-describing (config, tokenizer, params,
 * effective config in META). A step's rows cut into length-sorted
 * micro-batches give the single batch's gradient and loss, and the
 * positions computed are the rows' own (no padding) either way. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config.h"
#include "rng.h"
#include "eval.h"
#include "run_settings.h"
#include "sections.h"
#include "sft.h"
#include "tokenizer.h"
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

/* A byte-level BPE tokenizer.json (ids 0..255 the bytes through GPT-2's
 * map, then "<|endoftext|>" 256 as BOS and EOS), written to path. */
static void write_bpe_json(const char *path) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "{\"added_tokens\": [{\"id\": 256, \"content\": \"<|endoftext|>\", \"special\": "
               "true}], \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
               "\"vocab\": {");
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        unsigned cp = printable ? (unsigned)b : 256u + (unsigned)n++;
        if (cp == '"' || cp == '\\') fprintf(f, "\"\\%c\": %d, ", (char)cp, b);
        else if (cp < 0x80) fprintf(f, "\"%c\": %d, ", (char)cp, b);
        else fprintf(f, "\"%c%c\": %d, ", 0xC0 | cp >> 6, 0x80 | (cp & 0x3F), b);
    }
    fprintf(f, "\"<|endoftext|>\": 256}, \"merges\": []}}");
    fclose(f);
}

/* SFT from an init checkpoint that carries a BPE tokenizer (as an imported
 * model would) trains with that tokenizer, evaluates with it, and writes it
 * into its own checkpoint. */
static void test_sft_from_bpe_checkpoint(void **state) {
    (void)state;
    blas_set_threads(1);
    char dir[64], tj[96], init[96], out[96], set[200], err[512];
    snprintf(dir, sizeof dir, "/tmp/grpo_sft_bpe_%d", (int)getpid());
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(tj, sizeof tj, "%s/tokenizer.json", dir);
    snprintf(init, sizeof init, "%s/init.ckpt", dir);
    snprintf(out, sizeof out, "%s/out.ckpt", dir);
    write_bpe_json(tj);
    Tokenizer bpe, got;
    if (tokenizer_load_json(&bpe, tj, err, sizeof err)) fail_msg("%s", err);
    ModelConfig mc = {.vocab_size = bpe.vocab_size, .dim = 32, .n_layers = 2, .n_heads = 4,
                      .n_kv_heads = 2, .hidden_dim = 48, .max_seq_len = 128,
                      .tied_embeddings = 1, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &mc);
    model_init_weights(&m, 3);
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, &m, &bpe);
    assert_int_equal(ckpt_write(&ck, init, err, sizeof err), 0);
    ckpt_free(&ck);
    model_free(&m);
    Config *c = tiny(11);
    snprintf(set, sizeof set, "run.dir=%s", dir);
    assert_int_equal(config_set(c, set, err, sizeof err), 0);
    snprintf(set, sizeof set, "sft.init=%s", init);
    assert_int_equal(config_set(c, set, err, sizeof err), 0);
    assert_int_equal(config_set(c, "sft.steps=3", err, sizeof err), 0);
    Evaluator ev = local_evaluator(c);
    assert_int_equal(sft_run(c, out, &ev), 0);
    config_free(c);
    if (ckpt_read_tokenizer(out, &got, err, sizeof err)) fail_msg("%s", err);
    assert_true(tokenizer_same(&got, &bpe));
    tokenizer_free(&got);
    tokenizer_free(&bpe);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
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

/* Rows of very different lengths (prompts 2-9 tokens, completions 1-55):
 * the gradient accumulated over k = 2, 4, 7, 8 (and 50: clamped to one row
 * each) length-sorted chunks is the single batch's (k = 1) to float
 * summation order, the loss the same, and every cut computes the rows'
 * own positions, no padding. */
static void test_sft_chunks_same_gradient(void **state) {
    (void)state;
    blas_set_threads(1);
    enum { B = 8, L = 64 };
    ModelConfig c = {.vocab_size = 40, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                     .hidden_dim = 48, .max_seq_len = L, .tied_embeddings = 1,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &c);
    model_init_weights(&m, 7);
    model_alloc_grads(&m);
    SeqBatch rows, chunk;
    batch_init(&rows, B, L);
    batch_init(&chunk, B, L);
    ForwardState *fs = forward_state_new(&c, B, L);
    float *logp = xmalloc(sizeof(float) * B * L);
    Rng rng;
    rng_seed(&rng, 3, 0);
    const int clens[B] = {55, 1, 30, 4, 48, 12, 2, 21};
    for (int r = 0; r < B; r++) {
        int p[L], q[L], plen = 2 + (int)rng_below(&rng, 8);
        p[0] = 1;
        for (int i = 1; i < plen; i++) p[i] = 3 + (int)rng_below(&rng, 37);
        for (int i = 0; i < clens[r]; i++) q[i] = 3 + (int)rng_below(&rng, 37);
        batch_add(&rows, p, plen, q, clens[r]);
    }
    long long pos1 = 0;
    double loss1 = sft_step_grad(&m, fs, &rows, 1, SFT_NORM_TOKEN, &chunk, logp, &pos1);
    float *g1 = xmalloc(sizeof(float) * m.n_params);
    memcpy(g1, m.grads, sizeof(float) * m.n_params);
    double n1 = 0;
    for (size_t i = 0; i < m.n_params; i++) n1 += (double)g1[i] * g1[i];
    assert_true(n1 > 0 && loss1 > 1.0); /* a real gradient, a real loss (~ln 40) */
    /* the trunk computes no padding (SeqBatch.layout; the prompts differ) */
    long long own = 0;
    for (int r = 0; r < B; r++) own += rows.seq_len[r] - 1;
    assert_int_equal(pos1, own);
    const int ks[] = {2, 4, 7, 8, 50};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        model_zero_grads(&m);
        long long pos = 0;
        double loss = sft_step_grad(&m, fs, &rows, ks[t], SFT_NORM_TOKEN, &chunk, logp, &pos);
        double d = 0;
        for (size_t i = 0; i < m.n_params; i++) d += pow((double)m.grads[i] - g1[i], 2);
        if (sqrt(d / n1) > 1e-5 || fabs(loss - loss1) > 1e-6 * loss1)
            fail_msg("k = %d: gradient off by %g relative, loss %.9f vs %.9f", ks[t],
                     sqrt(d / n1), loss, loss1);
        assert_int_equal(pos, own); /* however the rows are cut */
    }
    xfree(g1);
    xfree(logp);
    forward_state_free(fs);
    batch_free(&chunk);
    batch_free(&rows);
    model_free(&m);
}

/* loss_norm = sequence: every row the same share whatever its length. The
 * gradient of B rows is the mean of the B one-row gradients (where both
 * norms agree), for k = 1 and 4 chunks; token norm is not (the 55-token row
 * outweighs the 1-token one), so the test can tell them apart. */
static void test_sft_sequence_norm(void **state) {
    (void)state;
    blas_set_threads(1);
    enum { B = 6, L = 64 };
    ModelConfig c = {.vocab_size = 40, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                     .hidden_dim = 48, .max_seq_len = L, .tied_embeddings = 1,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &c);
    model_init_weights(&m, 9);
    model_alloc_grads(&m);
    SeqBatch rows, one, chunk;
    batch_init(&rows, B, L);
    batch_init(&one, 1, L);
    batch_init(&chunk, B, L);
    ForwardState *fs = forward_state_new(&c, B, L);
    float *logp = xmalloc(sizeof(float) * B * L);
    float *mean = xcalloc(m.n_params, sizeof(float));
    Rng rng;
    rng_seed(&rng, 5, 0);
    const int clens[B] = {55, 1, 3, 40, 2, 20};
    double mean_loss = 0;
    for (int r = 0; r < B; r++) {
        int p[L], q[L], plen = 2 + (int)rng_below(&rng, 6);
        p[0] = 1;
        for (int i = 1; i < plen; i++) p[i] = 3 + (int)rng_below(&rng, 37);
        for (int i = 0; i < clens[r]; i++) q[i] = 3 + (int)rng_below(&rng, 37);
        batch_add(&rows, p, plen, q, clens[r]);
        batch_clear(&one);
        batch_add(&one, p, plen, q, clens[r]);
        model_zero_grads(&m);
        long long pos = 0;
        mean_loss += sft_step_grad(&m, fs, &one, 1, SFT_NORM_TOKEN, &chunk, logp, &pos) / B;
        for (size_t i = 0; i < m.n_params; i++) mean[i] += m.grads[i] / B;
    }
    double n = 0;
    for (size_t i = 0; i < m.n_params; i++) n += (double)mean[i] * mean[i];
    assert_true(n > 0);
    const int ks[] = {1, 4};
    for (int t = 0; t < 2; t++) {
        model_zero_grads(&m);
        long long pos = 0;
        double loss = sft_step_grad(&m, fs, &rows, ks[t], SFT_NORM_SEQUENCE, &chunk, logp, &pos);
        double d = 0;
        for (size_t i = 0; i < m.n_params; i++) d += pow((double)m.grads[i] - mean[i], 2);
        if (sqrt(d / n) > 1e-5 || fabs(loss - mean_loss) > 1e-6 * mean_loss)
            fail_msg("k = %d: sequence norm off by %g relative, loss %.9f vs %.9f", ks[t],
                     sqrt(d / n), loss, mean_loss);
    }
    model_zero_grads(&m);
    long long pos = 0;
    sft_step_grad(&m, fs, &rows, 1, SFT_NORM_TOKEN, &chunk, logp, &pos);
    double d = 0;
    for (size_t i = 0; i < m.n_params; i++) d += pow((double)m.grads[i] - mean[i], 2);
    assert_true(sqrt(d / n) > 0.05);
    xfree(mean);
    xfree(logp);
    forward_state_free(fs);
    batch_free(&chunk);
    batch_free(&one);
    batch_free(&rows);
    model_free(&m);
}

/* A tiny `grpo sft` on arith_cot (rows 60-180 tokens) with micro_batches =
 * 1 and 4: the same steps and first loss, final weights equal up to
 * summation order, and no padding computed with either. */
static void test_sft_micro_batches_run(void **state) {
    (void)state;
    blas_set_threads(1);
    char dir[64], path[2][96], set[128], err[512];
    snprintf(dir, sizeof dir, "/tmp/grpo_sft_mb_%d", (int)getpid());
    assert_int_equal(mkdir(dir, 0755), 0);
    SftReport rep[2];
    for (int i = 0; i < 2; i++) {
        Config *c = tiny(11);
        snprintf(path[i], sizeof path[i], "%s/%d.ckpt", dir, i);
        const char *sets[] = {"task.name=arith_cot", "model.max_seq_len=192",
                              "sampler.max_new_tokens=180", "sft.steps=6", "eval.prompts=2",
                              "eval.pass_k=1", i ? "sft.micro_batches=4" : "sft.micro_batches=1"};
        for (size_t j = 0; j < sizeof sets / sizeof sets[0]; j++)
            assert_int_equal(config_set(c, sets[j], err, sizeof err), 0);
        snprintf(set, sizeof set, "run.dir=%s", dir);
        assert_int_equal(config_set(c, set, err, sizeof err), 0);
        Evaluator ev = local_evaluator(c);
        assert_int_equal(sft_run_report(c, path[i], &ev, &rep[i]), 0);
        config_free(c);
    }
    assert_int_equal(rep[0].steps, 6);
    assert_int_equal(rep[1].steps, 6);
    assert_true(fabs(rep[0].first_loss - rep[1].first_loss) < 1e-6 * rep[0].first_loss);
    assert_true(rep[0].tokens == rep[1].tokens);
    printf("positions: micro_batches=1 %lld, 4 %lld (tokens %lld)\n", rep[0].positions,
           rep[1].positions, rep[0].tokens);
    /* one batch shares any repeated prompt at least as well as four */
    assert_true(rep[0].positions <= rep[1].positions && rep[1].positions <= rep[1].tokens);
    assert_true(rep[1].positions >= rep[1].tokens - 8 * 6); /* T = row - 1 */
    Checkpoint a, b;
    read_ckpt(path[0], &a);
    read_ckpt(path[1], &b);
    const CkptSection *x = ckpt_get(&a, "PARM"), *y = ckpt_get(&b, "PARM");
    assert_int_equal(x->len, y->len);
    const float *wa = (const float *)x->data, *wb = (const float *)y->data;
    double d = 0, n = 0;
    for (size_t i = 0; i < x->len / sizeof(float); i++) {
        d += pow((double)wa[i] - wb[i], 2);
        n += (double)wa[i] * wa[i];
    }
    printf("final weights: relative difference %.3g\n", sqrt(d / n));
    assert_true(sqrt(d / n) < 1e-5);
    ckpt_free(&a);
    ckpt_free(&b);
    unlink(path[0]);
    unlink(path[1]);
    snprintf(set, sizeof set, "%s/.lock", dir);
    unlink(set);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sft_deterministic),
                                       cmocka_unit_test(test_sft_from_bpe_checkpoint),
                                       cmocka_unit_test(test_sft_nonfinite_stops),
                                       cmocka_unit_test(test_sft_chunks_same_gradient),
                                       cmocka_unit_test(test_sft_sequence_norm),
                                       cmocka_unit_test(test_sft_micro_batches_run)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
