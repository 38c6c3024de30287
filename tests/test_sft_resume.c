/* The three things the R1 pipeline needs from SFT, through build/grpo:
 *   - `grpo demos` writes the demonstrator's completions on distinct
 *     training prompts as SFT data, byte-identical for the same seed;
 *   - [sft] init starts SFT from a checkpoint's weights, adopting its
 *     shape, refusing a contradicting [model] override and a checkpoint of
 *     another vocabulary, and works with a --data mixture;
 *   - SFT survives a kill: SIGTERM (SIGINT, SIGUSR1) writes the resume
 *     checkpoint and exits 75, kill -9 leaves the periodic one, and the re-run command finishes
 *     with weights byte-identical to an uninterrupted run; a re-run with a
 *     config that trains differently is refused naming the key.
 * KEEP_TEST_DIRS=1 keeps the folder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_files.h"
#include "test_shell.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config.h"
#include "sections.h"
#include "sft.h"
#include "sft_data.h"
#include "sft_demos.h"
#include "task.h"
#include "util.h"

static char tmp[256];
static const char *bin;

/* A tiny model; about 1 ms a step here, so a half of RESUME_STEPS lasts
 * long enough for the test to signal inside it. */
static const char *TINY =
    "model.dim=32 model.n_layers=2 model.n_heads=4 model.n_kv_heads=2 model.hidden_dim=48 "
    "sft.batch_size=16 sft.warmup=2 sft.eval_every=0 eval.prompts=8 eval.pass_k=1 "
    "run.blas_threads=1 run.seed=5";
enum { HALF = 150, RESUME_STEPS = 2 * HALF };

static int setup(void **state) {
    (void)state;
    bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    snprintf(tmp, sizeof tmp, "/tmp/grpo_test_sft_resume_%d", (int)getpid());
    return run("rm -rf %s && mkdir -p %s", tmp, tmp);
}

static int teardown(void **state) {
    (void)state;
    remove_test_dir(tmp);
    return 0;
}

/* ---- grpo demos ---- */

static Task *arith(uint64_t seed, int max_digits) {
    char err[300];
    TaskParams p;
    task_params_default(&p);
    p.max_digits = max_digits;
    Task *t = task_create("arith", &p, seed, err, sizeof err);
    if (!t) fail_msg("%s", err);
    return t;
}

/* Same seed, same bytes; another seed, other demonstrations; every line is
 * SFT data with a distinct prompt; the demonstrator's mistakes are counted
 * by the verifier; a split smaller than asked stops at its distinct prompts. */
static void test_demos_deterministic_distinct(void **state) {
    (void)state;
    Task *t = arith(9, 2), *u = arith(10, 2);
    SftDemosStats s1, s2, s3;
    size_t n1, n2, n3;
    char *a = sft_demos_jsonl(t, 400, 9, &n1, &s1), *b = sft_demos_jsonl(t, 400, 9, &n2, &s2);
    char *c = sft_demos_jsonl(u, 400, 10, &n3, &s3);
    assert_int_equal(s1.n, 400);
    assert_false(s1.exhausted);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    assert_true(n1 != n3 || memcmp(a, c, n1) != 0);
    /* demo_error 0.6 on the items that need a carry or borrow: some, not all */
    assert_true(s1.wrong > 0 && s1.wrong < s1.n);

    char path[400], err[1000];
    snprintf(path, sizeof path, "%s/demos.jsonl", tmp);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(a, 1, n1, f);
    fclose(f);
    Tokenizer *tok = xmalloc(sizeof *tok);
    tokenizer_init_char(tok);
    SftData *d = sft_data_load(path, tok, 32, 1, err, sizeof err);
    if (!d) fail_msg("%s", err);
    assert_int_equal(d->files[0].n, 400);
    int wrong = 0;
    for (int i = 0; i < 400; i++) {
        for (int j = 0; j < i; j++) assert_string_not_equal(d->files[0].prompt[i], d->files[0].prompt[j]);
        TaskItem it;
        memset(&it, 0, sizeof it);
        snprintf(it.prompt, sizeof it.prompt, "%s", d->files[0].prompt[i]);
        /* the verifier needs the answer: recompute it from the prompt */
        int x, y;
        char op;
        assert_int_equal(sscanf(it.prompt, "%d%c%d=", &x, &op, &y), 3);
        long v = op == '+' ? x + y : op == '-' ? x - y : (long)x * y;
        char fwd[32], rev[32];
        snprintf(fwd, sizeof fwd, "%ld", v < 0 ? -v : v);
        size_t k = strlen(fwd);
        for (size_t q = 0; q < k; q++) rev[q] = fwd[k - 1 - q];
        rev[k] = 0;
        if (v < 0) strcat(rev, "-");
        wrong += strcmp(d->files[0].completion[i], rev) != 0;
    }
    assert_int_equal(wrong, s1.wrong);
    assert_non_null(strstr(a, "\"source\":\"demonstrator\""));
    sft_data_free(d);
    xfree(tok);
    xfree(a);
    xfree(b);
    xfree(c);

    /* one-digit operands: a few hundred distinct training prompts */
    Task *small = arith(9, 1);
    SftDemosStats s4;
    char *e = sft_demos_jsonl(small, 5000, 9, &n1, &s4);
    assert_true(s4.exhausted);
    assert_true(s4.n > 50 && s4.n < 400);
    xfree(e);
    small->destroy(small);
    t->destroy(t);
    u->destroy(u);
}

/* The command: -n and sft.demos, byte-identical re-runs, --out required,
 * and what it writes is what grpo sft --data trains on. */
static void test_demos_command(void **state) {
    (void)state;
    char a[400], b[400];
    snprintf(a, sizeof a, "%s/cmd_a.jsonl", tmp);
    snprintf(b, sizeof b, "%s/cmd_b.jsonl", tmp);
    assert_int_equal(run("%s demos --out %s -n 60 run.seed=3 > /dev/null", bin, a), 0);
    assert_int_equal(run("%s demos --out %s -n 60 run.seed=3 > /dev/null", bin, b), 0);
    assert_int_equal(run("cmp -s %s %s", a, b), 0);
    assert_int_equal(run("%s demos --out %s sft.demos=25 run.seed=3 > /dev/null", bin, b), 0);
    assert_int_equal(run("test $(wc -l < %s) -eq 25", b), 0);
    /* the first 25 of the 60: the file is a prefix, fixed by the seed */
    assert_int_equal(run("head -n 25 %s | cmp -s - %s", a, b), 0);
    assert_int_equal(run("%s demos -n 5 > /dev/null 2>&1", bin), 2);
    assert_int_equal(run("%s sft --data %s run.dir=%s/from_demos sft.steps=3 %s > %s/fd.log 2>&1",
                         bin, a, tmp, TINY, tmp), 0);
    assert_int_equal(run("grep -q 'cmd_a.jsonl: 60 examples' %s/fd.log", tmp), 0);
}

/* ---- [sft] init ---- */

static void test_sft_init(void **state) {
    (void)state;
    char base[400], zero[400], mixed[400], demos[400], demos2[400];
    snprintf(base, sizeof base, "%s/init_base.ckpt", tmp);
    snprintf(zero, sizeof zero, "%s/init_zero.ckpt", tmp);
    snprintf(mixed, sizeof mixed, "%s/init_mixed.ckpt", tmp);
    snprintf(demos, sizeof demos, "%s/init_demos.jsonl", tmp);
    snprintf(demos2, sizeof demos2, "%s/init_demos2.jsonl", tmp);
    assert_int_equal(run("%s sft --out %s run.dir=%s/ia sft.steps=10 %s > /dev/null", bin, base,
                         tmp, TINY), 0);
    /* no [model] keys: the shape is the checkpoint's (dim 32, not the
     * default 128); zero steps leave its weights as they were */
    assert_int_equal(run("%s sft --out %s run.dir=%s/ib sft.steps=0 sft.init=%s eval.prompts=8 "
                         "eval.pass_k=1 > %s/ib.log", bin, zero, tmp, base, tmp), 0);
    assert_true(same_weights(base, zero));
    Checkpoint ck;
    char err[600];
    if (ckpt_read(&ck, zero, err, sizeof err) != 0) fail_msg("%s", err);
    const CkptSection *meta = ckpt_get(&ck, "META");
    assert_non_null(meta);
    char *text = xmalloc(meta->len + 1);
    memcpy(text, meta->data, meta->len);
    text[meta->len] = 0;
    Config *saved = grpo_config_new();
    if (config_load_string(saved, text, zero, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(model_settings(saved)->dim, 32);
    assert_int_equal(model_settings(saved)->hidden_dim, 48);
    assert_string_equal(((const SftSettings *)config_get(saved, &sft_section))->init, base);
    config_free(saved);
    xfree(text);
    ckpt_free(&ck);

    /* a contradicting override is refused, naming it */
    assert_int_equal(run("%s sft --out %s/x.ckpt run.dir=%s/ic sft.init=%s model.dim=64 "
                         "> /dev/null 2> %s/ic.err", bin, tmp, tmp, base, tmp), 2);
    assert_int_equal(run("grep -q 'model.dim = 64' %s/ic.err", tmp), 0);

    /* the pipeline's call: rejection samples plus a second task's data */
    assert_int_equal(run("%s demos --out %s -n 80 > /dev/null && %s demos --out %s -n 40 "
                         "run.seed=77 > /dev/null", bin, demos, bin, demos2), 0);
    assert_int_equal(run("%s sft --out %s --data %s --data %s:0.3 sft.init=%s run.dir=%s/id "
                         "sft.steps=4 sft.batch_size=8 eval.prompts=8 eval.pass_k=1 > "
                         "%s/id.log 2>&1", bin, mixed, demos, demos2, base, tmp, tmp), 0);
    assert_false(same_weights(base, mixed));

    /* a checkpoint whose head is one token wider: another vocabulary */
    Tokenizer *tok = xmalloc(sizeof *tok);
    tokenizer_init_char(tok);
    ModelConfig mc = {.vocab_size = tok->vocab_size + 1, .dim = 32, .n_layers = 1, .n_heads = 4,
                      .n_kv_heads = 4, .hidden_dim = 48, .max_seq_len = 32,
                      .tied_embeddings = 1, .rope_theta = 10000, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &mc);
    model_init_weights(&m, 1);
    ckpt_init(&ck);
    ckpt_put_model(&ck, &m, tok);
    char wide[400];
    snprintf(wide, sizeof wide, "%s/wide.ckpt", tmp);
    if (ckpt_write(&ck, wide, err, sizeof err) != 0) fail_msg("%s", err);
    ckpt_free(&ck);
    model_free(&m);
    xfree(tok);
    assert_int_equal(run("%s sft --out %s/y.ckpt run.dir=%s/ie sft.init=%s > /dev/null 2> "
                         "%s/ie.err", bin, tmp, tmp, wide, tmp), 2);
    assert_int_equal(run("grep -q 'different tokenizer' %s/ie.err", tmp), 0);
    assert_int_equal(run("%s sft run.dir=%s/if sft.init=%s/none.ckpt > /dev/null 2> %s/if.err",
                         bin, tmp, tmp, tmp), 2);
    assert_int_equal(run("grep -q 'none.ckpt' %s/if.err", tmp), 0);
}

/* ---- surviving a kill ---- */

/* Starts `grpo sft` into dir (run.dir and --out dir/sft.ckpt) with TINY,
 * RESUME_STEPS steps and a resume checkpoint every HALF, plus extra;
 * stdout and stderr are appended to dir.log. */
static pid_t start_sft(const char *dir, const char *extra) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec %s sft --out %s/sft.ckpt run.dir=%s sft.steps=%d "
             "sft.checkpoint_every=%d %s %s >> %s.log 2>&1", bin, dir, dir, RESUME_STEPS, HALF,
             TINY, extra, dir);
    return start_sh(cmd);
}


static char reference[400]; /* the uninterrupted run's sft.ckpt */

static void make_reference(void) {
    if (reference[0]) return;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/ref", tmp);
    assert_int_equal(wait_status(start_sft(dir, "")), 0);
    snprintf(reference, sizeof reference, "%s/sft.ckpt", dir);
    /* a finished run leaves no resume checkpoint */
    assert_int_not_equal(run("test -e %s/sft.resume.ckpt", dir), 0);
}

/* Interrupted in the second half by sig, then re-run: the same weights as
 * the uninterrupted run. Returns the step the re-run resumed at. */
static long interrupt_and_resume(const char *name, int sig) {
    make_reference();
    char dir[300], resume[400], out[400];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    snprintf(resume, sizeof resume, "%s/sft.resume.ckpt", dir);
    snprintf(out, sizeof out, "%s/sft.ckpt", dir);
    pid_t pid = start_sft(dir, "");
    assert_true(wait_for_file(resume, pid, "sft")); /* the periodic one, at step HALF */
    kill(pid, sig);
    int st = wait_status(pid);
    if (st == 0) fail_msg("sft finished before signal %d reached it (too fast a machine?)", sig);
    assert_int_equal(st, sig == SIGKILL ? 128 + SIGKILL : 75);
    assert_int_not_equal(access(out, F_OK), 0);
    assert_int_equal(access(resume, F_OK), 0);

    /* a change that would train differently is refused, naming the key */
    pid = start_sft(dir, "sft.lr=0.001");
    assert_int_equal(wait_status(pid), 2);
    assert_int_equal(run("grep -q 'refusing to resume .*\\[sft\\] lr' %s.log", dir), 0);
    assert_int_equal(access(resume, F_OK), 0);

    /* a harmless one (evaluation size) is not */
    assert_int_equal(wait_status(start_sft(dir, "eval.prompts=6")), 0);
    assert_true(same_weights(reference, out));
    assert_int_not_equal(access(resume, F_OK), 0);
    char logp[400];
    snprintf(logp, sizeof logp, "%s.log", dir);
    char *log = slurp(logp, NULL);
    const char *r = strstr(log, "sft: resuming from ");
    assert_non_null(r);
    const char *at = strstr(r, " at step ");
    assert_non_null(at);
    assert_true(strncmp(r + 19, resume, strlen(resume)) == 0);
    long step = strtol(at + 9, NULL, 10);
    xfree(log);
    return step;
}

/* SIGTERM: the current step finishes, the resume checkpoint is written at
 * it, and the status is 75 (requeue). */
static void test_sft_sigterm_resumes_bit_exact(void **state) {
    (void)state;
    long step = interrupt_and_resume("term", SIGTERM);
    assert_true(step >= HALF && step < RESUME_STEPS);
    assert_int_equal(run("grep -q 'signal 15: wrote .* at step %ld; exiting with status 75' "
                         "%s/term.log", step, tmp), 0);
}

/* The other two stop signals take the same path. */
static void test_sft_sigint_sigusr1_resume(void **state) {
    (void)state;
    long a = interrupt_and_resume("int", SIGINT), b = interrupt_and_resume("usr1", SIGUSR1);
    assert_true(a >= HALF && a < RESUME_STEPS);
    assert_true(b >= HALF && b < RESUME_STEPS);
}

/* kill -9: nothing is written at the kill, so the re-run resumes from the
 * periodic checkpoint of step HALF. */
static void test_sft_kill9_resumes_from_periodic(void **state) {
    (void)state;
    assert_int_equal(interrupt_and_resume("kill", SIGKILL), HALF);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demos_deterministic_distinct),
        cmocka_unit_test(test_demos_command),
        cmocka_unit_test(test_sft_init),
        cmocka_unit_test(test_sft_sigterm_resumes_bit_exact),
        cmocka_unit_test(test_sft_sigint_sigusr1_resume),
        cmocka_unit_test(test_sft_kill9_resumes_from_periodic),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
