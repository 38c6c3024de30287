/* test_import_vocab.c: the tokenizer on the way out and the vocabulary on
 * the way in, through the grpo binary (deploy/import_command.c).
 *
 * export --format llama2c / llama2c-v1 writes tokenizer.bin: beside the
 * model file by default, refusing to replace one there that holds another
 * tokenizer (llama2.c's own directory keeps Llama 2's, which its other
 * models need), or at --tokenizer-out FILE (overwritten). export -> import
 * --tokenizer gives the same weights and the same tokenizer. A tokenizer
 * with no tokenizer.bin form (the character one, byte-level BPE) is named
 * as such and the model file alone written; --tokenizer-out then refuses.
 *
 * Padded vocabularies (more embedding rows than tokens, as Hugging Face
 * models often have): the extra rows are dropped on import, with a note,
 * and the real tokens' logits are unchanged; fewer rows than tokens is
 * refused, naming both sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "model_formats.h"
#include "rng.h"
#include "test_model_weights.h"
#include "test_files.h"
#include "test_shell.h"

static char dir[256];

static const char *tpath(const char *name) {
    static char buf[8][600];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 600, "%s/%s", dir, name);
    return p;
}

static const char *bin(void) { return getenv("GRPO_BIN") ? getenv("GRPO_BIN") : "build/grpo"; }

static const char *corpus(const char *name) {
    static char p[4][600];
    static int k;
    char *o = p[k++ & 3];
    snprintf(o, 600, "%s/fuzz/corpus/tokenizer_json/%s",
             getenv("GRPO_TESTS_DIR") ? getenv("GRPO_TESTS_DIR") : "tests", name);
    return o;
}

static void assert_file_contains(const char *path, const char *sub) {
    char *s = slurp(path, NULL);
    if (!strstr(s, sub)) fail_msg("%s: '%s' not in:\n%s", path, sub, s);
    free(s);
}

static int same_files(const char *a, const char *b) { return run("cmp -s '%s' '%s'", a, b) == 0; }

static void load_tok(Tokenizer *t, const char *path) {
    char err[800];
    if (tokenizer_load_file(t, path, err, sizeof err) != 0) fail_msg("%s", err);
}

static void random_model(Model *m, int V, int tied, uint64_t seed) {
    ModelConfig c = {.vocab_size = V, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                     .hidden_dim = 48, .max_seq_len = 32, .tied_embeddings = tied,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    model_init(m, &c);
    Rng r;
    rng_seed(&r, seed, 3);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = 0.25f * rng_normal(&r);
}

static void write_ckpt(const char *path, const Model *m, const Tokenizer *tok) {
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, m, tok);
    char err[800];
    if (ckpt_write(&ck, path, err, sizeof err) != 0) fail_msg("%s", err);
    ckpt_free(&ck);
}

static void read_ckpt(const char *path, Model *m, Tokenizer *tok) {
    char err[800];
    if (ckpt_read_model(path, m, tok, err, sizeof err) != 0) fail_msg("%s", err);
}

static const int seq[] = {1, 17, 40, 5, 93, 60, 22, 8, 71, 33, 2, 64, 11, 50, 97, 3};
enum { SEQ_T = sizeof seq / sizeof seq[0] };

/* Logits (SEQ_T, V) of m on seq. */
static float *logits(const Model *m) { return logits_on(m, seq, SEQ_T); }

/* ---- export writes tokenizer.bin ----------------------------------------- */

/* export -> import --tokenizer: the same weights, the same tokenizer, and
 * the file is byte for byte the tokenizer.bin the checkpoint came from. */
static void test_export_writes_tokenizer_bin(void **st) {
    (void)st;
    const char *orig_bin = corpus("llama2c.bin"); /* tokenizer.py's layout, 264 tokens */
    Tokenizer tok, back_tok;
    load_tok(&tok, orig_bin);
    Model m, back;
    random_model(&m, tok.vocab_size, 0, 5);
    write_ckpt(tpath("sp.ckpt"), &m, &tok);
    run("mkdir -p %s", tpath("out"));
    const char *fmts[2] = {"llama2c", "llama2c-v1"};
    for (int v = 0; v < 2; v++) {
        char model[700];
        snprintf(model, sizeof model, "%s/model_%s.bin", tpath("out"), fmts[v]);
        assert_int_equal(run("%s export --format %s --checkpoint %s --out %s > %s 2>&1", bin(),
                             fmts[v], tpath("sp.ckpt"), model, tpath("exp.log")),
                         0);
        /* the second export finds its own tokenizer.bin already there */
        assert_file_contains(tpath("exp.log"), v == 0 ? "tokenizer written to" : "already holds");
        assert_true(same_files(tpath("out/tokenizer.bin"), orig_bin));
        assert_int_equal(run("%s import --from llama2c %s --tokenizer %s --out %s > %s 2>&1",
                             bin(), model, tpath("out/tokenizer.bin"), tpath("back.ckpt"),
                             tpath("imp.log")),
                         0);
        read_ckpt(tpath("back.ckpt"), &back, &back_tok);
        assert_int_equal(back.n_params, m.n_params);
        assert_memory_equal(back.params, m.params, sizeof(float) * m.n_params);
        assert_true(tokenizer_same(&tok, &back_tok));
        model_free(&back);
        tokenizer_free(&back_tok);
    }
    printf("export --format llama2c / llama2c-v1 -> import --tokenizer: weights and tokenizer "
           "identical, tokenizer.bin byte for byte the original\n");
    /* another tokenizer.bin in the way: refused before the model is written */
    char other[600];
    snprintf(other, sizeof other, "%s", tpath("other"));
    run("mkdir -p %s && printf 'not this one' > %s/tokenizer.bin", other, other);
    assert_int_not_equal(run("%s export --format llama2c --checkpoint %s --out %s/m.bin > %s 2>&1",
                             bin(), tpath("sp.ckpt"), other, tpath("clash.log")),
                         0);
    assert_file_contains(tpath("clash.log"), "tokenizer.bin already exists");
    assert_file_contains(tpath("clash.log"), "--tokenizer-out");
    assert_int_not_equal(access(tpath("other/m.bin"), F_OK), 0);
    assert_file_contains(tpath("other/tokenizer.bin"), "not this one");
    /* --tokenizer-out names the file: written there, overwriting */
    assert_int_equal(run("%s export --format llama2c --checkpoint %s --out %s/m.bin "
                         "--tokenizer-out %s/tokenizer.bin > %s 2>&1",
                         bin(), tpath("sp.ckpt"), other, other, tpath("named.log")),
                     0);
    assert_true(same_files(tpath("other/tokenizer.bin"), orig_bin));
    assert_int_equal(run("%s export --format llama2c --checkpoint %s --out %s/m2.bin "
                         "--tokenizer-out %s/my_tok.bin > /dev/null 2>&1",
                         bin(), tpath("sp.ckpt"), other, other),
                     0);
    assert_true(same_files(tpath("other/my_tok.bin"), orig_bin));
    /* --tokenizer-out is llama2.c's only */
    assert_int_not_equal(run("%s export --format hf --checkpoint %s --out %s --tokenizer-out x "
                             "> %s 2>&1", bin(), tpath("sp.ckpt"), tpath("hfx"),
                             tpath("hfx.log")),
                         0);
    assert_file_contains(tpath("hfx.log"), "only for --format llama2c");
    model_free(&m);
    tokenizer_free(&tok);
}

/* Tokenizers tokenizer.bin cannot express: said so, the model still
 * written; refused when --tokenizer-out asks for the file. */
static void test_export_tokenizer_without_bin_form(void **st) {
    (void)st;
    struct {
        const char *name, *file, *says;
    } cases[3] = {
        {"char", NULL, "the character tokenizer has no tokenizer.bin form"},
        {"bytelevel", "byte_level.json", "byte-level BPE tokenizer"},
        /* SentencePiece, but its byte tokens are not at 3 + byte */
        {"spjson", "sentencepiece.json", "byte fallback is token 3 + byte"},
    };
    for (int i = 0; i < 3; i++) {
        Tokenizer tok;
        if (cases[i].file) load_tok(&tok, corpus(cases[i].file));
        else tokenizer_init_char(&tok);
        Model m;
        random_model(&m, tok.vocab_size, 1, 9 + (uint64_t)i);
        char ck[700], d[700], log[700];
        snprintf(ck, sizeof ck, "%s.ckpt", tpath(cases[i].name));
        snprintf(d, sizeof d, "%s_out", tpath(cases[i].name));
        snprintf(log, sizeof log, "%s.log", tpath(cases[i].name));
        write_ckpt(ck, &m, &tok);
        run("mkdir -p %s", d);
        assert_int_equal(run("%s export --format llama2c --checkpoint %s --out %s/m.bin > %s 2>&1",
                             bin(), ck, d, log),
                         0);
        assert_file_contains(log, "no tokenizer.bin");
        assert_file_contains(log, cases[i].says);
        char p[800];
        snprintf(p, sizeof p, "%s/m.bin", d);
        assert_int_equal(access(p, F_OK), 0);
        snprintf(p, sizeof p, "%s/tokenizer.bin", d);
        assert_int_not_equal(access(p, F_OK), 0);
        assert_int_not_equal(run("%s export --format llama2c --checkpoint %s --out %s/n.bin "
                                 "--tokenizer-out %s/t.bin > %s 2>&1",
                                 bin(), ck, d, d, log),
                             0);
        assert_file_contains(log, cases[i].says);
        snprintf(p, sizeof p, "%s/n.bin", d);
        assert_int_not_equal(access(p, F_OK), 0);
        model_free(&m);
        tokenizer_free(&tok);
    }
}

/* ---- padded vocabularies ------------------------------------------------- */

/* An HF directory whose config.json vocab_size is the tokenizer's plus
 * pad: the import drops pad rows of wte (and of lm_head when untied) and
 * says so; the logits of the real tokens are those of the padded model. */
static void padded_hf(int tied, int pad) {
    Tokenizer tok, got_tok;
    load_tok(&tok, corpus("byte_level.json"));
    const int V = tok.vocab_size;
    Model m, got;
    random_model(&m, V + pad, tied, 21 + (uint64_t)tied);
    char d[600], err[800], cmd_out[700];
    snprintf(d, sizeof d, "%s", tpath(tied ? "pad_tied" : "pad_untied"));
    if (hf_write_dir(&m, d, tok.bos_id, tok.eos_id, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(run("cp %s %s/tokenizer.json", corpus("byte_level.json"), d), 0);
    snprintf(cmd_out, sizeof cmd_out, "%s.log", d);
    assert_int_equal(run("%s import --from hf %s --out %s.ckpt > %s 2>&1", bin(), d, d, cmd_out), 0);
    char want[200];
    snprintf(want, sizeof want, "the %d padding rows (ids %d..%d, no text) are dropped", pad, V,
             V + pad - 1);
    assert_file_contains(cmd_out, want);
    assert_file_contains(cmd_out, "softmax runs over the");
    char ck[720];
    snprintf(ck, sizeof ck, "%s.ckpt", d);
    read_ckpt(ck, &got, &got_tok);
    assert_true(tokenizer_same(&tok, &got_tok));
    assert_int_equal(got.cfg.vocab_size, V);
    const size_t D = (size_t)m.cfg.dim;
    assert_memory_equal(got.w.wte, m.w.wte, sizeof(float) * V * D);
    if (!tied) assert_memory_equal(got.w.wcls, m.w.wcls, sizeof(float) * V * D);
    assert_memory_equal(got.w.rms_final, m.w.rms_final, sizeof(float) * D);
    float *a = logits(&m), *b = logits(&got);
    double diff = 0;
    for (int t = 0; t < SEQ_T; t++)
        for (int j = 0; j < V; j++)
            diff = fmax(diff, fabs((double)a[(size_t)t * (V + pad) + j] - b[(size_t)t * V + j]));
    printf("padded vocabulary (%s, %d + %d rows): %d dropped, max |logit difference| on the %d "
           "real tokens %g\n", tied ? "tied" : "untied", V, pad, pad, V, diff);
    assert_true(diff < 1e-5);
    free(a);
    free(b);
    model_free(&m);
    model_free(&got);
    tokenizer_free(&tok);
    tokenizer_free(&got_tok);
}

static void test_padded_vocab_dropped(void **st) {
    (void)st;
    padded_hf(0, 5);
    padded_hf(1, 3);
    /* llama2.c with --tokenizer: the same */
    Tokenizer tok;
    load_tok(&tok, corpus("llama2c.bin"));
    Model m, got;
    random_model(&m, tok.vocab_size + 8, 0, 33);
    char err[800];
    if (llama2c_write(&m, LLAMA2C_V1, tpath("pad.bin"), err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(run("%s import --from llama2c %s --tokenizer %s --out %s > %s 2>&1", bin(),
                         tpath("pad.bin"), corpus("llama2c.bin"), tpath("pad_l2c.ckpt"),
                         tpath("pad_l2c.log")),
                     0);
    assert_file_contains(tpath("pad_l2c.log"), "the 8 padding rows");
    Tokenizer got_tok;
    read_ckpt(tpath("pad_l2c.ckpt"), &got, &got_tok);
    assert_int_equal(got.cfg.vocab_size, tok.vocab_size);
    assert_memory_equal(got.w.wcls, m.w.wcls, sizeof(float) * tok.vocab_size * m.cfg.dim);
    model_free(&got);
    tokenizer_free(&got_tok);
    model_free(&m);
    tokenizer_free(&tok);
}

/* A tokenizer larger than the model: ids with no embedding row, refused
 * naming both sizes; nothing written. */
static void test_tokenizer_larger_than_model_refused(void **st) {
    (void)st;
    Tokenizer tok;
    load_tok(&tok, corpus("byte_level.json"));
    Model m;
    random_model(&m, tok.vocab_size - 4, 1, 44);
    char err[800], want[900];
    char d[600];
    snprintf(d, sizeof d, "%s", tpath("small_hf"));
    if (hf_write_dir(&m, d, tok.bos_id, tok.eos_id, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(run("cp %s %s/tokenizer.json", corpus("byte_level.json"), d), 0);
    assert_int_not_equal(run("%s import --from hf %s --out %s > %s 2>&1", bin(), d,
                             tpath("small.ckpt"), tpath("small.log")),
                         0);
    snprintf(want, sizeof want, "has %d tokens but the model %s has only %d embedding rows",
             tok.vocab_size, d, tok.vocab_size - 4);
    assert_file_contains(tpath("small.log"), want);
    assert_file_contains(tpath("small.log"), "tokenizer.json");
    assert_int_not_equal(access(tpath("small.ckpt"), F_OK), 0);
    /* and with no tokenizer given, a vocabulary other than the character
     * tokenizer's is a forgotten --tokenizer, not padding: refused */
    Model c;
    random_model(&c, 100, 1, 45);
    if (llama2c_write(&c, LLAMA2C_V1, tpath("v100.bin"), err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_not_equal(run("%s import --from llama2c %s --out %s > %s 2>&1", bin(),
                             tpath("v100.bin"), tpath("v100.ckpt"), tpath("v100.log")),
                         0);
    assert_file_contains(tpath("v100.log"), "--tokenizer FILE");
    model_free(&c);
    model_free(&m);
    tokenizer_free(&tok);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s/test_import_vocab_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    if (getenv("KEEP_VOCAB")) return 0; /* to look at the logs */
    return run("rm -rf '%s'", dir) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_writes_tokenizer_bin),
        cmocka_unit_test(test_export_tokenizer_without_bin_form),
        cmocka_unit_test(test_padded_vocab_dropped),
        cmocka_unit_test(test_tokenizer_larger_than_model_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
