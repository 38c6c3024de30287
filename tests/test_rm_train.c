/* `grpo rm-train` (learner/rm_train.c) and its pair reader
 * (common/comparisons.c):
 *   - a tiny reward model learns a hidden preference (chosen holds more
 *     'a's than rejected; generated here) to >= 90% held-out pairwise
 *     accuracy in a few seconds, from chance (0.5, every pair tied by the
 *     zero head) and log 2; the written checkpoint is a reward model the
 *     scorer opens, ranking held-out pairs the same way;
 *   - bad input: malformed lines refuse the file naming the line (invalid
 *     JSON, a missing or non-string field, a character outside the
 *     vocabulary), degenerate pairs are skipped with a warning naming the
 *     line and a count (empty completion, chosen == rejected, too long for
 *     the model), a file with nothing usable and a split with an empty
 *     side are refused;
 *   - the start: a policy checkpoint gets a scalar head (chance at step 0),
 *     a reward model continues as it is;
 *   - resume: SIGTERM (status 75) and kill -9 in the middle, then the same
 *     command: the same weights, bit for bit, as an uninterrupted run, and
 *     the same rm_metrics.jsonl (wall times aside); a changed lr refused.
 * KEEP_TEST_DIRS=1 keeps the folder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_files.h"
#include "test_shell.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "comparisons.h"
#include "config.h"
#include "reward_model.h"
#include "rm_train.h"
#include "rng.h"
#include "sections.h"
#include "util.h"

static char tmp[256];
static const char *bin;

static const char *TINY =
    "model.dim=32 model.n_layers=2 model.n_heads=4 model.n_kv_heads=2 model.hidden_dim=64 "
    "model.max_seq_len=32 rm.lr=3e-3 rm.warmup=10 run.blas_threads=1 run.seed=5";

static int setup(void **state) {
    (void)state;
    bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    snprintf(tmp, sizeof tmp, "/tmp/grpo_test_rm_train_%d", (int)getpid());
    return run("rm -rf %s && mkdir -p %s", tmp, tmp);
}

static int teardown(void **state) {
    (void)state;
    remove_test_dir(tmp);
    return 0;
}

static const char *tpath(const char *name) {
    static char buf[8][400]; /* up to 8 in one expression */
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static int count_a(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == 'a';
    return n;
}

/* n pairs of the hidden preference: 4-letter prompts, 8-letter
 * completions over "abcdefgh", chosen the one with more 'a's. */
static void write_pairs(const char *path, int n, uint64_t seed) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    Rng r;
    rng_seed(&r, seed, 1);
    for (int i = 0; i < n; i++) {
        char p[8], x[12], y[12];
        for (int j = 0; j < 4; j++) p[j] = (char)('a' + rng_below(&r, 8));
        p[4] = ':';
        p[5] = 0;
        do {
            for (int j = 0; j < 8; j++) {
                x[j] = (char)('a' + rng_below(&r, 8));
                y[j] = (char)('a' + rng_below(&r, 8));
            }
            x[8] = y[8] = 0;
        } while (count_a(x) == count_a(y));
        int xc = count_a(x) > count_a(y);
        fprintf(f, "{\"prompt\":\"%s\",\"chosen\":\"%s\",\"rejected\":\"%s\"}\n", p, xc ? x : y,
                xc ? y : x);
    }
    fclose(f);
}

/* A config of sections.c's sections with TINY and the given overrides. */
static Config *tiny_config(const char *extra) {
    Config *cfg = grpo_config_new();
    char err[600], all[2048];
    snprintf(all, sizeof all, "%s %s", TINY, extra);
    for (char *tok = strtok(all, " "); tok; tok = strtok(NULL, " "))
        if (config_set(cfg, tok, err, sizeof err) != 0) fail_msg("%s", err);
    if (config_validate(cfg, err, sizeof err) != 0) fail_msg("%s", err);
    return cfg;
}

/* ---- learning ---- */

static void test_learns_hidden_preference(void **state) {
    (void)state;
    write_pairs(tpath("pairs.jsonl"), 2000, 1);
    char extra[1200];
    snprintf(extra, sizeof extra, "rm.data=%s run.dir=%s rm.steps=200 rm.eval_every=100",
             tpath("pairs.jsonl"), tpath("learn"));
    make_dirs_or_die(tpath("learn"));
    Config *cfg = tiny_config(extra);
    RmReport rep;
    double t0 = now_seconds();
    assert_int_equal(rm_train_run(cfg, tpath("learn/rm.ckpt"), &rep), 0);
    double secs = now_seconds() - t0;
    printf("  %d train / %d held-out pairs, %ld steps in %.1f s: loss %.4f -> %.4f, train acc "
           "%.3f, held-out acc %.4f\n", rep.n_train, rep.n_eval, rep.steps, secs, rep.first_loss,
           rep.last_loss, rep.train_acc, rep.eval_acc);
    /* the zero head ties every pair: log 2 */
    assert_float_equal(rep.first_loss, 0.693147, 1e-5);
    assert_true(rep.last_loss < 0.2);
    assert_true(rep.eval_acc >= 0.9);
    assert_true(rep.n_eval > 100 && rep.n_train > 1500 && rep.n_train + rep.n_eval == 2000);
    /* one line per step, the held-out accuracy on evaluation steps */
    assert_int_equal(run("test $(wc -l < %s) -eq 201", tpath("learn/rm_metrics.jsonl")), 0);
    assert_int_equal(run("head -n1 %s | grep -qx '{\"step\":0,\"eval_acc\":0.500000}'",
                         tpath("learn/rm_metrics.jsonl")), 0);
    assert_int_equal(run("grep -c eval_acc %s | grep -qx 3", tpath("learn/rm_metrics.jsonl")), 0);
    config_free(cfg);

    /* the scorer's reader takes it, and ranks fresh pairs by the preference */
    char err[800];
    RewardModel *rm = reward_model_open(tpath("learn/rm.ckpt"), 8, err, sizeof err);
    if (!rm) fail_msg("%s", err);
    Rng r;
    rng_seed(&r, 99, 2);
    int right = 0;
    for (int i = 0; i < 50; i++) {
        char x[12] = "bcdefghb", y[12] = "bcdefghb";
        int k = 1 + (int)rng_below(&r, 4);
        for (int j = 0; j < k; j++) x[rng_below(&r, 8)] = 'a';
        const char *prompts[2] = {"hgfe:", "hgfe:"}, *comps[2] = {x, y};
        float s[2];
        reward_model_score(rm, prompts, comps, 2, s);
        right += s[0] > s[1];
    }
    printf("  scorer: %d/50 fresh pairs ranked by the preference\n", right);
    assert_true(right >= 45);
    reward_model_close(rm);
}

/* --eval FILE holds out its pairs instead of a share of --data's */
static void test_eval_file(void **state) {
    (void)state;
    write_pairs(tpath("train.jsonl"), 300, 2);
    write_pairs(tpath("held.jsonl"), 77, 3);
    assert_int_equal(run("%s rm-train --data %s --eval %s run.dir=%s rm.steps=5 %s > %s 2>&1",
                         bin, tpath("train.jsonl"), tpath("held.jsonl"), tpath("evalfile"), TINY,
                         tpath("evalfile.log")), 0);
    assert_int_equal(run("grep -q '300 training pairs .* 77 held out (%s)' %s",
                         tpath("held.jsonl"), tpath("evalfile.log")), 0);
    assert_int_equal(run("test -s %s", tpath("evalfile/rm.ckpt")), 0);
    /* --eval is rm-train's alone; rm-train takes one --data */
    assert_int_equal(run("%s sft --eval x > /dev/null 2>&1", bin), 2);
    assert_int_equal(run("%s rm-train --data a --data b > %s 2>&1", bin, tpath("two.log")), 2);
    assert_int_equal(run("grep -q 'one file of comparison pairs' %s", tpath("two.log")), 0);
    /* no --data */
    assert_int_equal(run("%s rm-train run.dir=%s %s > %s 2>&1", bin, tpath("nodata"), TINY,
                         tpath("nodata.log")), 2);
    assert_int_equal(run("grep -q 'needs comparison pairs: --data' %s", tpath("nodata.log")), 0);
}

/* ---- bad input ---- */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *GOOD = "{\"prompt\":\"p\",\"chosen\":\"aa\",\"rejected\":\"b\"}\n";

/* Loads text as a pair file for a max_seq_len-16 model; the warnings go to
 * *warn (malloc'd). */
static Comparisons *load_text(const char *text, char *err, size_t errlen, char **warn) {
    char body[4096];
    snprintf(body, sizeof body, "%s", text);
    write_text(tpath("bad.jsonl"), body);
    Tokenizer tok;
    tokenizer_init_char(&tok);
    FILE *w = tmpfile();
    assert_non_null(w);
    Comparisons *c = comparisons_load(tpath("bad.jsonl"), &tok, 16, w, err, errlen);
    long n = ftell(w);
    rewind(w);
    *warn = xcalloc((size_t)n + 1, 1);
    assert_int_equal(fread(*warn, 1, (size_t)n, w), (size_t)n);
    fclose(w);
    tokenizer_free(&tok);
    return c;
}

static void expect_refused(const char *text, const char *want) {
    char err[1000], *warn;
    Comparisons *c = load_text(text, err, sizeof err, &warn);
    if (c) fail_msg("accepted a file that should be refused with '%s'", want);
    printf("  refused: %s\n", err);
    if (!strstr(err, want)) fail_msg("message '%s' lacks '%s'", err, want);
    xfree(warn);
}

static void test_malformed_lines_refuse_the_file(void **state) {
    (void)state;
    char t[2048];
    snprintf(t, sizeof t, "%s\n%s{\"prompt\": \"p\", \"chosen\": \"a\"\n", GOOD, GOOD);
    expect_refused(t, "bad.jsonl line 4: not valid JSON");
    snprintf(t, sizeof t, "%s{\"prompt\":\"p\",\"chosen\":\"a\"}\n", GOOD);
    expect_refused(t, "bad.jsonl line 2: \"rejected\" is missing");
    snprintf(t, sizeof t, "%s%s{\"prompt\":\"p\",\"chosen\":5,\"rejected\":\"b\"}\n", GOOD, GOOD);
    expect_refused(t, "bad.jsonl line 3: \"chosen\" is not a string");
    expect_refused("{\"chosen\":\"a\",\"rejected\":\"b\"}\n", "line 1: \"prompt\" is missing");
    expect_refused("[1, 2]\n", "line 1: not a JSON object");
    snprintf(t, sizeof t, "%s{\"prompt\":\"p\",\"chosen\":\"a\\u0000b\",\"rejected\":\"b\"}\n",
             GOOD);
    expect_refused(t, "line 2: not valid JSON"); /* jansson refuses \u0000 itself */
    snprintf(t, sizeof t, "%s%s%s{\"prompt\":\"p\",\"chosen\":\"a\\tb\",\"rejected\":\"b\"}\n",
             GOOD, GOOD, GOOD);
    expect_refused(t, "line 4: \"chosen\" has character");
    expect_refused("\n\n", "no usable comparison pair");
    char err[300];
    Tokenizer tok;
    tokenizer_init_char(&tok);
    assert_null(comparisons_load(tpath("missing.jsonl"), &tok, 16, NULL, err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));
    tokenizer_free(&tok);
}

static void test_degenerate_pairs_are_skipped(void **state) {
    (void)state;
    char t[4096], err[1000], *warn;
    snprintf(t, sizeof t,
             "%s"                                                            /* 1 */
             "{\"prompt\":\"p\",\"chosen\":\"\",\"rejected\":\"b\"}\n"        /* 2 empty */
             "\n"                                                            /* 3 blank */
             "{\"prompt\":\"p\",\"chosen\":\"same\",\"rejected\":\"same\"}\n" /* 4 identical */
             "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"bbbbbbbbbbbbbb\"}\n" /* 5 long */
             "{\"prompt\":\"\",\"chosen\":\"a\",\"rejected\":\"b\",\"extra\":1}\n" /* 6 fine */
             "{\"prompt\":\"p\",\"chosen\":\"x\",\"rejected\":\"\"}\n",       /* 7 empty */
             GOOD);
    Comparisons *c = load_text(t, err, sizeof err, &warn);
    if (!c) fail_msg("%s", err);
    printf("%s", warn);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->lines, 6);
    assert_int_equal(c->pairs[0].line, 1);
    assert_int_equal(c->pairs[1].line, 6);
    assert_int_equal(c->skipped[CMP_SKIP_EMPTY], 2);
    assert_int_equal(c->skipped[CMP_SKIP_IDENTICAL], 1);
    assert_int_equal(c->skipped[CMP_SKIP_TOO_LONG], 1);
    assert_int_equal(comparisons_skipped(c), 4);
    assert_non_null(strstr(warn, "bad.jsonl line 2: an empty completion (\"chosen\" is \"\")"));
    assert_non_null(strstr(warn, "bad.jsonl line 7: an empty completion (\"rejected\" is \"\")"));
    assert_non_null(strstr(warn, "bad.jsonl line 4: chosen identical to rejected (skipped)"));
    assert_non_null(strstr(warn, "bad.jsonl line 5: longer than the model"));
    assert_non_null(strstr(warn, "max_seq_len = 16"));
    assert_non_null(strstr(warn, "skipped 2 of 6 lines for an empty completion"));
    /* BOS p aa EOS */
    assert_int_equal(c->pairs[0].len_c, 5);
    assert_int_equal(c->pairs[0].len_r, 4);
    comparisons_free(c);
    xfree(warn);

    /* past COMPARISONS_WARN_LINES lines per reason: the count alone */
    t[0] = 0;
    for (int i = 0; i < 9; i++)
        strcat(t, "{\"prompt\":\"p\",\"chosen\":\"s\",\"rejected\":\"s\"}\n");
    strcat(t, GOOD);
    c = load_text(t, err, sizeof err, &warn);
    assert_non_null(c);
    assert_non_null(strstr(warn, "line 5: chosen identical"));
    assert_null(strstr(warn, "line 6: chosen identical"));
    assert_non_null(strstr(warn, "skipped 9 of 10 lines for chosen identical to rejected"));
    comparisons_free(c);
    xfree(warn);

    /* nothing left */
    expect_refused("{\"prompt\":\"p\",\"chosen\":\"s\",\"rejected\":\"s\"}\n",
                   "no usable comparison pair (1 lines, 1 skipped");
}

/* Through the command: a refused file is status 2 naming the line; a split
 * with an empty side is refused saying what to do. */
static void test_bad_input_command(void **state) {
    (void)state;
    char t[1024];
    snprintf(t, sizeof t, "%s%s{\"prompt\":\"p\",\"chosen\":\"a\"}\n", GOOD, GOOD);
    write_text(tpath("cmd_bad.jsonl"), t);
    assert_int_equal(run("%s rm-train --data %s run.dir=%s %s > %s 2>&1", bin,
                         tpath("cmd_bad.jsonl"), tpath("cmdbad"), TINY, tpath("cmdbad.log")), 2);
    assert_int_equal(run("grep -q 'cmd_bad.jsonl line 3: \"rejected\" is missing' %s",
                         tpath("cmdbad.log")), 0);
    /* one prompt: all its pairs on one side of the split */
    snprintf(t, sizeof t, "%s%s{\"prompt\":\"p\",\"chosen\":\"s\",\"rejected\":\"s\"}\n", GOOD,
             GOOD);
    write_text(tpath("one_prompt.jsonl"), t);
    assert_int_equal(run("%s rm-train --data %s run.dir=%s %s > %s 2>&1", bin,
                         tpath("one_prompt.jsonl"), tpath("oneprompt"), TINY,
                         tpath("oneprompt.log")), 2);
    assert_int_equal(run("grep -q 'one_prompt.jsonl line 3: chosen identical to rejected "
                         "(skipped)' %s", tpath("oneprompt.log")), 0);
    assert_int_equal(run("grep -q 'leaves the .* side empty' %s", tpath("oneprompt.log")), 0);
}

/* ---- the start ---- */

static void test_init_from_policy_and_reward_model(void **state) {
    (void)state;
    write_pairs(tpath("init_pairs.jsonl"), 400, 4);
    /* a policy of a shape unlike [model]'s default */
    ModelConfig mc = {.vocab_size = 0, .dim = 16, .n_layers = 1, .n_heads = 2, .n_kv_heads = 2,
                      .hidden_dim = 32, .max_seq_len = 24, .tied_embeddings = 1,
                      .rope_theta = 10000.0f, .norm_eps = 1e-5f, .head = MODEL_HEAD_LM};
    Tokenizer tok;
    tokenizer_init_char(&tok);
    mc.vocab_size = tok.vocab_size;
    Model m;
    model_init(&m, &mc);
    model_init_weights(&m, 7);
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, &m, &tok);
    char err[600];
    assert_int_equal(ckpt_write(&ck, tpath("policy.ckpt"), err, sizeof err), 0);
    ckpt_free(&ck);
    const char *args = "run.blas_threads=1 rm.steps=20 rm.eval_every=0";
    assert_int_equal(run("%s rm-train --data %s rm.init=%s run.dir=%s --out %s %s > %s 2>&1", bin,
                         tpath("init_pairs.jsonl"), tpath("policy.ckpt"), tpath("frompol"),
                         tpath("frompol/rm1.ckpt"), args, tpath("frompol.log")), 0);
    assert_int_equal(run("grep -q 'accuracy at the start 0.5000' %s", tpath("frompol.log")), 0);
    Model rm;
    Tokenizer rtok;
    assert_int_equal(ckpt_read_scalar_model(tpath("frompol/rm1.ckpt"), &rm, &rtok, err,
                                            sizeof err), 0);
    assert_int_equal(rm.cfg.head, MODEL_HEAD_SCALAR);
    assert_int_equal(rm.cfg.dim, 16);
    assert_int_equal(rm.cfg.n_layers, 1);
    assert_int_equal(rm.cfg.max_seq_len, 24);
    model_free(&rm);
    tokenizer_free(&rtok);
    /* a reward model continues: its start is its own ranking, not chance */
    assert_int_equal(run("%s rm-train --data %s rm.init=%s run.dir=%s --out %s %s > %s 2>&1", bin,
                         tpath("init_pairs.jsonl"), tpath("frompol/rm1.ckpt"), tpath("fromrm"),
                         tpath("fromrm/rm2.ckpt"), args, tpath("fromrm.log")), 0);
    assert_int_not_equal(run("grep -q 'accuracy at the start 0.5000' %s", tpath("fromrm.log")), 0);
    /* a [model] override that contradicts the init checkpoint is refused */
    assert_int_equal(run("%s rm-train --data %s rm.init=%s run.dir=%s model.dim=32 %s > %s 2>&1",
                         bin, tpath("init_pairs.jsonl"), tpath("policy.ckpt"), tpath("contra"),
                         args, tpath("contra.log")), 2);
    assert_int_equal(run("grep -q 'dim' %s", tpath("contra.log")), 0);
    model_free(&m);
    tokenizer_free(&tok);
}

/* ---- resume ---- */

enum { HALF = 150, RESUME_STEPS = 2 * HALF };

static pid_t start_rm(const char *dir, const char *extra) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec %s rm-train --data %s run.dir=%s rm.steps=%d "
             "rm.checkpoint_every=%d rm.eval_every=50 rm.eval_pairs=64 %s %s >> %s.log 2>&1",
             bin, tpath("resume_pairs.jsonl"), dir, RESUME_STEPS, HALF, TINY, extra, dir);
    return start_sh(cmd);
}


/* Interrupted by sig after the periodic checkpoint, then the same command:
 * the uninterrupted run's weights and metrics. Returns the resumed step. */
static long interrupt_and_resume(const char *name, int sig) {
    char ref[300], dir[300], resume[400];
    snprintf(ref, sizeof ref, "%s", tpath("ref"));
    if (access(tpath("ref/rm.ckpt"), F_OK) != 0) {
        write_pairs(tpath("resume_pairs.jsonl"), 1000, 5);
        assert_int_equal(wait_status(start_rm(ref, "")), 0);
        assert_int_not_equal(access(tpath("ref/rm.resume.ckpt"), F_OK), 0);
    }
    snprintf(dir, sizeof dir, "%s", tpath(name));
    snprintf(resume, sizeof resume, "%s/rm.resume.ckpt", dir);
    pid_t pid = start_rm(dir, "");
    assert_true(wait_for_file(resume, pid, "rm-train"));
    kill(pid, sig);
    int st = wait_status(pid);
    if (st == 0) fail_msg("rm-train finished before signal %d reached it", sig);
    assert_int_equal(st, sig == SIGKILL ? 128 + SIGKILL : 75);
    /* a change that would train differently is refused, naming the key */
    assert_int_equal(wait_status(start_rm(dir, "rm.lr=0.002")), 2);
    assert_int_equal(run("grep -q 'refusing to resume .*\\[rm\\] lr' %s.log", dir), 0);
    /* a harmless one (the progress cadence) is not */
    assert_int_equal(wait_status(start_rm(dir, "rm.log_every=7")), 0);
    char out[400], refm[400], outm[400];
    snprintf(out, sizeof out, "%s/rm.ckpt", dir);
    assert_true(same_weights(tpath("ref/rm.ckpt"), out));
    assert_int_not_equal(access(resume, F_OK), 0);
    snprintf(refm, sizeof refm, "%s/rm_metrics.jsonl", ref);
    snprintf(outm, sizeof outm, "%s/rm_metrics.jsonl", dir);
    assert_int_equal(run("test $(wc -l < %s) -eq %d", outm, RESUME_STEPS + 1), 0);
    assert_int_equal(run("sed 's/,\"elapsed_s\":[^,}]*//' %s > %s.a && "
                         "sed 's/,\"elapsed_s\":[^,}]*//' %s > %s.b && cmp %s.a %s.b",
                         refm, dir, outm, dir, dir, dir), 0);
    char grep[600];
    snprintf(grep, sizeof grep, "sed -n 's/.*resuming from .* at step \\([0-9]*\\).*/\\1/p' %s.log",
             dir);
    FILE *p = popen(grep, "r");
    long step = 0;
    assert_int_equal(fscanf(p, "%ld", &step), 1);
    pclose(p);
    return step;
}

static void test_sigterm_resumes_bit_exact(void **state) {
    (void)state;
    long step = interrupt_and_resume("term", SIGTERM);
    printf("  SIGTERM: resumed at step %ld\n", step);
    assert_true(step >= HALF && step < RESUME_STEPS);
}

static void test_kill9_resumes_from_periodic(void **state) {
    (void)state;
    assert_int_equal(interrupt_and_resume("kill", SIGKILL), HALF);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_hidden_preference),
        cmocka_unit_test(test_eval_file),
        cmocka_unit_test(test_malformed_lines_refuse_the_file),
        cmocka_unit_test(test_degenerate_pairs_are_skipped),
        cmocka_unit_test(test_bad_input_command),
        cmocka_unit_test(test_init_from_policy_and_reward_model),
        cmocka_unit_test(test_sigterm_resumes_bit_exact),
        cmocka_unit_test(test_kill9_resumes_from_periodic),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
