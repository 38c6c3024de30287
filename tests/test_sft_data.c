/* SFT on JSON-lines demonstration files ([sft] data, learner/sft_data.c):
 * a bad line is named with file and line, an empty file and a bad weight
 * are refused, an example longer than [model] max_seq_len is named, a
 * mixture's draws follow its weights and are fixed by the seed, and an SFT
 * run on a small file of arithmetic demonstrations halves its loss. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "config.h"
#include "eval.h"
#include "run_settings.h"
#include "sections.h"
#include "sft.h"
#include "sft_data.h"
#include "task.h"
#include "blas_setup.h"
#include "util.h"

static char g_dir[64]; /* this run's scratch directory under /tmp */

/* Writes text to <g_dir>/name; returns the path in a static buffer slot. */
static const char *write_file(const char *name, const char *text) {
    static char paths[8][128];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 128, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Loads text as a one-file spec; returns the error ("" on success). */
static const char *load_error(const char *text, int max_seq_len) {
    static char err[1000];
    Tokenizer *tok = xmalloc(sizeof *tok);
    tokenizer_init_char(tok);
    err[0] = '\0';
    SftData *d = sft_data_load(write_file("x.jsonl", text), tok, max_seq_len, 1, err, sizeof err);
    if (d) {
        assert_string_equal(err, "");
        sft_data_free(d);
    } else {
        assert_true(err[0] != '\0');
    }
    xfree(tok);
    return err;
}

static void assert_has(const char *hay, const char *needle) {
    if (!strstr(hay, needle)) fail_msg("expected '%s' in: %s", needle, hay);
}

static void test_bad_lines_named(void **state) {
    (void)state;
    /* extra fields, as rejection sampling writes them, are ignored */
    const char *ok =
        "{\"prompt\": \"1+2=\", \"completion\": \"3\", \"reward\": 1, \"source\": \"x\"}\n";
    assert_string_equal(load_error(ok, 64), "");
    char text[400];
    snprintf(text, sizeof text, "%s\n%s{\"prompt\": \"1+2=\", \"completion\": 3}\n", ok, ok);
    /* the blank line 2 counts: line numbers are the editor's */
    assert_has(load_error(text, 64), "x.jsonl line 4: \"completion\" is not a string");
    snprintf(text, sizeof text, "%s{\"prompt\": \"1+2=\", \n", ok);
    assert_has(load_error(text, 64), "x.jsonl line 2: not valid JSON");
    assert_has(load_error("{\"completion\": \"3\"}\n", 64),
               "x.jsonl line 1: \"prompt\" is missing");
    assert_has(load_error("[1, 2]\n", 64), "x.jsonl line 1: not a JSON object");
    assert_has(load_error("{\"prompt\": \"a\", \"completion\": \"\"}\n", 64),
               "line 1: \"completion\" is empty");
    snprintf(text, sizeof text, "%s{\"prompt\": \"caf\xc3\xa9=\", \"completion\": \"3\"}\n", ok);
    assert_has(load_error(text, 64),
               "x.jsonl line 2: prompt has character '\xc3\xa9' (0xc3 0xa9) that the tokenizer");
    assert_has(load_error("{\"prompt\": \"a\", \"completion\": \"tab\\there\"}\n", 64),
               "line 1: completion has character '\\t' (0x09)");
}

static void test_empty_and_missing_files_refused(void **state) {
    (void)state;
    assert_has(load_error("", 64), "x.jsonl: no examples in the file");
    assert_has(load_error("\n   \n", 64), "x.jsonl: no examples in the file");
    char err[500];
    Tokenizer *tok = xmalloc(sizeof *tok);
    tokenizer_init_char(tok);
    assert_null(sft_data_load("/nonexistent/d.jsonl", tok, 64, 1, err, sizeof err));
    assert_has(err, "cannot open '/nonexistent/d.jsonl'");
    xfree(tok);
}

/* [BOS] "12+34=" "46" [EOS] is 10 tokens: fits 10, not 9. */
static void test_too_long_named(void **state) {
    (void)state;
    const char *line = "{\"prompt\": \"1+1=\", \"completion\": \"2\"}\n"
                       "{\"prompt\": \"12+34=\", \"completion\": \"46\"}\n";
    assert_string_equal(load_error(line, 10), "");
    assert_has(load_error(line, 9), "x.jsonl line 2: prompt + completion are 10 tokens with BOS "
               "and EOS, more than [model] max_seq_len = 9");
}

static void test_weights_checked(void **state) {
    (void)state;
    char err[500];
    assert_int_equal(sft_data_check_spec("a.jsonl,b.jsonl:0.3, c:d.jsonl:2", err, sizeof err), 0);
    const char *bad[] = {"a.jsonl:0", "a.jsonl,b.jsonl:-1", "a.jsonl:abc", "a.jsonl:inf",
                         "a.jsonl:", "a.jsonl:nan", "a:b.jsonl"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sft_data_check_spec(bad[i], err, sizeof err), -1);
        assert_has(err, "is not a positive number");
    }
    assert_int_equal(sft_data_check_spec("a.jsonl:0", err, sizeof err), -1);
    assert_has(err, "[sft] data entry 'a.jsonl:0': weight '0'");
    assert_int_equal(sft_data_check_spec("a.jsonl,,b.jsonl", err, sizeof err), -1);
    assert_has(err, "entry 2 has no file name");
    /* the [sft] section refuses it at validation, before any file is read */
    Config *c = grpo_config_new();
    assert_int_equal(config_set(c, "sft.data=a.jsonl,b.jsonl:-0.5", err, sizeof err), 0);
    assert_int_equal(config_validate(c, err, sizeof err), -1);
    assert_has(err, "'b.jsonl:-0.5': weight '-0.5' is not a positive number");
    config_free(c);
}

/* Repeated --data flags build one mixture in [sft] data. */
static void test_cli_data_flags(void **state) {
    (void)state;
    Config *c = grpo_config_new();
    char *argv[] = {"grpo", "sft", "--data", "a.jsonl", "--data", "b.jsonl:0.3", NULL};
    CliArgs a;
    cli_parse(6, argv, c, &a);
    const SftSettings *s = config_get(c, &sft_section);
    assert_string_equal(s->data, "a.jsonl,b.jsonl:0.3");
    config_free(c);
}

/* A mixture of a (4 examples, weight 1) and b (2 examples, weight 0.3). */
static SftData *mixture(uint64_t seed) {
    char spec[300], err[500];
    const char *a = write_file("a.jsonl", "{\"prompt\":\"a0\",\"completion\":\"x\"}\n"
                                          "{\"prompt\":\"a1\",\"completion\":\"x\"}\n"
                                          "{\"prompt\":\"a2\",\"completion\":\"x\"}\n"
                                          "{\"prompt\":\"a3\",\"completion\":\"x\"}\n");
    const char *b = write_file("b.jsonl", "{\"prompt\":\"b0\",\"completion\":\"y\"}\n\n"
                                          "{\"prompt\":\"b1\",\"completion\":\"y\"}\n");
    snprintf(spec, sizeof spec, "%s,%s:0.3", a, b);
    Tokenizer *tok = xmalloc(sizeof *tok);
    tokenizer_init_char(tok);
    SftData *d = sft_data_load(spec, tok, 16, seed, err, sizeof err);
    if (!d) fail_msg("%s", err);
    xfree(tok);
    return d;
}

/* 40000 draws: the share of b is 0.3/1.3 = 0.2308 (sd 0.0021), each file's
 * examples are drawn about equally, and the draw of a file matches its
 * text. */
static void test_mixture_follows_weights(void **state) {
    (void)state;
    SftData *d = mixture(7);
    assert_int_equal(d->files[0].n, 4);
    assert_int_equal(d->files[1].n, 2);
    const int N = 40000;
    int per_file[2] = {0, 0}, per_example[2][4] = {{0}};
    for (int i = 0; i < N; i++) {
        const char *p, *c;
        int f;
        sft_data_draw(d, (uint64_t)i, &p, &c, &f);
        assert_int_equal(p[0], f ? 'b' : 'a');
        assert_string_equal(c, f ? "y" : "x");
        per_file[f]++;
        per_example[f][p[1] - '0']++;
    }
    double share_b = (double)per_file[1] / N;
    if (fabs(share_b - 0.3 / 1.3) > 0.01) fail_msg("share of b %.4f, expected 0.2308", share_b);
    for (int j = 0; j < 4; j++)
        assert_true(fabs(per_example[0][j] / (double)per_file[0] - 0.25) < 0.02);
    for (int j = 0; j < 2; j++)
        assert_true(fabs(per_example[1][j] / (double)per_file[1] - 0.5) < 0.02);
    sft_data_free(d);
}

static void test_draws_fixed_by_seed(void **state) {
    (void)state;
    SftData *x = mixture(7), *y = mixture(7), *z = mixture(8);
    int differ = 0;
    for (uint64_t i = 0; i < 200; i++) {
        const char *p1, *c1, *p2, *c2, *p3, *c3;
        sft_data_draw(x, i, &p1, &c1, NULL);
        sft_data_draw(y, i, &p2, &c2, NULL);
        sft_data_draw(z, i, &p3, &c3, NULL);
        assert_string_equal(p1, p2);
        differ += strcmp(p1, p3) != 0;
    }
    assert_true(differ > 50);
    sft_data_free(x);
    sft_data_free(y);
    sft_data_free(z);
}

/* A tiny config whose run.dir is g_dir. */
static Config *tiny(void) {
    char err[512], set[128];
    Config *c = grpo_config_new();
    const char *sets[] = {"model.dim=32", "model.n_layers=2", "model.n_heads=4",
                          "model.n_kv_heads=2", "model.hidden_dim=64", "model.max_seq_len=16",
                          "sft.steps=100", "sft.batch_size=16", "sft.warmup=5", "sft.lr=3e-3",
                          "sft.eval_every=0", "eval.prompts=8", "eval.pass_k=2"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        assert_int_equal(config_set(c, sets[i], err, sizeof err), 0);
    snprintf(set, sizeof set, "run.dir=%s", g_dir);
    assert_int_equal(config_set(c, set, err, sizeof err), 0);
    return c;
}

/* Writes n arith demonstrations (demo_error 0: always correct, with the
 * extra fields rejection sampling writes) to path. */
static void write_arith_demos(Config *c, const char *path, int n) {
    char err[512];
    TaskParams p = task_settings(c)->p;
    p.demo_error = 0;
    Task *t = task_create("arith", &p, 3, err, sizeof err);
    if (!t) fail_msg("%s", err);
    Rng r;
    rng_seed(&r, 3, 1);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        TaskItem it;
        char demo[TASK_MAX_TEXT];
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
        assert_int_equal(t->demonstrate(t, &it, &r, demo, sizeof demo), 0);
        fprintf(f, "{\"prompt\": \"%s\", \"completion\": \"%s\", \"reward\": 1.0, "
                "\"source\": \"arith demonstrator\"}\n", it.prompt, demo);
    }
    fclose(f);
    t->destroy(t);
}

static void test_sft_on_file_learns(void **state) {
    (void)state;
    blas_set_threads(1);
    char path[128], out[128], set[200], err[512];
    snprintf(path, sizeof path, "%s/arith.jsonl", g_dir);
    snprintf(out, sizeof out, "%s/sft.ckpt", g_dir);
    Config *c = tiny();
    write_arith_demos(c, path, 400);
    snprintf(set, sizeof set, "sft.data=%s", path);
    assert_int_equal(config_set(c, set, err, sizeof err), 0);
    assert_int_equal(config_validate(c, err, sizeof err), 0);
    Evaluator ev = local_evaluator(c);
    SftReport rep;
    assert_int_equal(sft_run_report(c, out, &ev, &rep), 0);
    print_message("sft on %s: loss %.3f at step 1, %.3f over the last 10 of %ld steps\n", path,
                  rep.first_loss, rep.last_loss, rep.steps);
    assert_int_equal(rep.steps, 100);
    assert_true(rep.first_loss > 3.0); /* about ln 98 = 4.6 for a fresh model */
    assert_true(rep.last_loss < rep.first_loss / 2);
    /* the file, not the task's demonstrator, was what it learned from */
    char base[128];
    snprintf(base, sizeof base, "%s/task.ckpt", g_dir);
    assert_int_equal(config_set(c, "sft.data=", err, sizeof err), 0);
    assert_int_equal(sft_run(c, base, &ev), 0);
    Checkpoint x, y;
    assert_int_equal(ckpt_read(&x, out, err, sizeof err), 0);
    assert_int_equal(ckpt_read(&y, base, err, sizeof err), 0);
    const CkptSection *px = ckpt_get(&x, "PARM"), *py = ckpt_get(&y, "PARM");
    assert_true(px && py && px->len == py->len);
    assert_true(memcmp(px->data, py->data, px->len) != 0);
    ckpt_free(&x);
    ckpt_free(&y);
    unlink(out);
    unlink(base);
    unlink(path);
    config_free(c);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/grpo_sftdata_%d", (int)getpid());
    return mkdir(g_dir, 0755);
}

static int teardown(void **state) {
    (void)state;
    /* also what a failed end-to-end test leaves behind */
    const char *names[] = {"x.jsonl", "a.jsonl", "b.jsonl", "arith.jsonl", "sft.ckpt", "task.ckpt",
                           ".lock"};
    char p[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
    return rmdir(g_dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_lines_named),
        cmocka_unit_test(test_empty_and_missing_files_refused),
        cmocka_unit_test(test_too_long_named),
        cmocka_unit_test(test_weights_checked),
        cmocka_unit_test(test_cli_data_flags),
        cmocka_unit_test(test_mixture_follows_weights),
        cmocka_unit_test(test_draws_fixed_by_seed),
        cmocka_unit_test(test_sft_on_file_learns),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
