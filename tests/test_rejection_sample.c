/* test_rejection_sample.c: `grpo rejection-sample`: the filter (only what
 * the verifier accepts), deduplication (per prompt text, across indices),
 * `shortest`, the acceptance tallies, the RS record's wire format, the
 * JSON lines read back by `grpo sft --data`'s loader, an end-to-end
 * run under mpirun -np 2 on a tiny SFT checkpoint, and a clean stop on
 * SIGUSR1 to mpirun or SIGTERM to one rank (status 75, nothing written). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_shell.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "rejection_sample.h"
#include "rs_records.h"
#include "sft_data.h"
#include "task.h"
#include "util.h"

static char tmp[256];
static const char *bin;
static const char *TINY =
    "model.dim=32 model.n_layers=2 model.n_heads=4 model.n_kv_heads=2 model.hidden_dim=64 "
    "task.max_digits=2 run.seed=7";

static Task *make_task(const char *name) {
    TaskParams p;
    task_params_default(&p);
    char err[300];
    Task *t = task_create(name, &p, 7, err, sizeof err);
    if (!t) fail_msg("%s", err);
    return t;
}

static TaskItem item_of(const char *prompt, const char *answer) {
    TaskItem it;
    memset(&it, 0, sizeof it);
    snprintf(it.prompt, sizeof it.prompt, "%s", prompt);
    snprintf(it.answer, sizeof it.answer, "%s", answer);
    it.id = task_item_id(prompt);
    return it;
}

static const int ALL_FINISHED[8] = {1, 1, 1, 1, 1, 1, 1, 1};

/* arith answers least-significant digit first: 37+49=86 is "68" */
static void test_filter_keeps_only_correct(void **st) {
    (void)st;
    Task *t = make_task("arith");
    TaskItem it = item_of("37+49=", "86");
    const char *texts[5] = {"68", "86", "68 ", "x", "58"};
    RsRecords out = {0};
    RsStats s = {0};
    rs_filter(t, &it, 3, texts, ALL_FINISHED, 5, &out, &s);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.r[0].completion, "68");
    assert_string_equal(out.r[0].prompt, "37+49=");
    assert_int_equal(out.r[0].index, 3);
    assert_int_equal(out.r[0].seq, 0);
    assert_true(out.r[0].reward > 0);
    /* a right answer cut at the length limit is not accepted */
    const int cut[1] = {0};
    const char *only[1] = {"68"};
    rs_filter(t, &it, 4, only, cut, 1, &out, &s);
    assert_int_equal(out.n, 1);
    rs_records_free(&out);
    t->destroy(t);
}

/* chain of thought: Reward.correct needs the format too */
static void test_filter_cot_needs_format(void **st) {
    (void)st;
    Task *t = make_task("arith_cot");
    TaskItem it = item_of("472+385=", "857");
    const char *texts[4] = {
        "<think>2+5+0=07 7+8+0=15 4+3+1=08 =857</think><answer>857</answer>",
        "2+5+0=07 7+8+0=15 4+3+1=08 =857</think><answer>857</answer>", /* no <think> */
        "<think>2+5+0=07 7+8+0=15 4+3+1=08 =857</think><answer>857</answer>junk",
        "<think>=857</think><answer>857</answer>",
    };
    RsRecords out = {0};
    RsStats s = {0};
    rs_filter(t, &it, 0, texts, ALL_FINISHED, 4, &out, &s);
    assert_int_equal(out.n, 2);
    assert_int_equal(out.r[0].seq, 0);
    assert_int_equal(out.r[1].seq, 3);
    assert_int_equal(s.cat[RS_CAT_ADD].accepted, 2);
    /* shortest keeps the short well-formatted one */
    rs_dedupe(&out, 1);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.r[0].completion, texts[3]);
    rs_records_free(&out);
    t->destroy(t);
}

static void test_dedupe_same_prompt_only(void **st) {
    (void)st;
    Task *t = make_task("arith");
    /* the filter drops a repeat within one prompt's k ... */
    TaskItem it = item_of("3+4=", "7");
    const char *texts[3] = {"7", "7", "7"};
    RsRecords out = {0};
    RsStats s = {0};
    rs_filter(t, &it, 0, texts, ALL_FINISHED, 3, &out, &s);
    assert_int_equal(out.n, 1);
    assert_int_equal(s.cat[RS_CAT_ADD].accepted, 3); /* the rate is the verifier's */
    t->destroy(t);
    /* ... and rs_dedupe a repeat of the same prompt at another index or
     * rank; the same completion of another prompt stays */
    rs_records_push(&out, 9, 1, 1.0f, "3+4=", "7");
    rs_records_push(&out, 5, 2, 1.0f, "2+5=", "7");
    rs_records_push(&out, 2, 0, 1.0f, "3+4=", "7 "); /* another text: kept */
    rs_dedupe(&out, 0);
    assert_int_equal(out.n, 3);
    /* (index, seq) order, the first occurrence kept */
    assert_int_equal(out.r[0].index, 0);
    assert_string_equal(out.r[0].prompt, "3+4=");
    assert_int_equal(out.r[1].index, 2);
    assert_int_equal(out.r[2].index, 5);
    assert_string_equal(out.r[2].prompt, "2+5=");
    rs_records_free(&out);
}

static void test_shortest_one_per_prompt(void **st) {
    (void)st;
    RsRecords rs = {0};
    rs_records_push(&rs, 0, 0, 1.0f, "a=", "xxxx");
    rs_records_push(&rs, 0, 1, 1.0f, "a=", "yy");
    rs_records_push(&rs, 4, 0, 1.0f, "a=", "zz"); /* tie: later (index, seq) loses */
    rs_records_push(&rs, 1, 0, 1.0f, "b=", "q");
    rs_records_push(&rs, 1, 1, 1.0f, "b=", "qqq");
    rs_records_push(&rs, 2, 0, 1.0f, "c=", "long one");
    rs_dedupe(&rs, 1);
    assert_int_equal(rs.n, 3);
    assert_string_equal(rs.r[0].prompt, "a=");
    assert_string_equal(rs.r[0].completion, "yy");
    assert_int_equal(rs.r[0].seq, 1);
    assert_string_equal(rs.r[1].completion, "q");
    assert_string_equal(rs.r[2].completion, "long one");
    rs_records_free(&rs);
}

static void test_stats_per_operation(void **st) {
    (void)st;
    assert_int_equal(rs_category("12+3="), RS_CAT_ADD);
    assert_int_equal(rs_category("-12-3="), RS_CAT_SUB);
    assert_int_equal(rs_category("7*8="), RS_CAT_MUL);
    assert_int_equal(rs_category("3,7,25,2>46="), RS_CAT_OTHER);
    Task *t = make_task("arith");
    RsRecords out = {0};
    RsStats s = {0};
    TaskItem add = item_of("3+4=", "7"), sub = item_of("9-4=", "5"), mul = item_of("7*8=", "56");
    const char *a1[4] = {"7", "8", "7", "1"}; /* 2 of 4, passes */
    const char *a2[4] = {"9", "9", "9", "9"}; /* 0 of 4 */
    const char *s1[4] = {"5", "5", "5", "5"}; /* 4 of 4 */
    const char *m1[4] = {"65", "56", "x", "65"}; /* "65" is 56 reversed: 2 of 4 */
    rs_filter(t, &add, 0, a1, ALL_FINISHED, 4, &out, &s);
    rs_filter(t, &add, 1, a2, ALL_FINISHED, 4, &out, &s);
    rs_filter(t, &sub, 2, s1, ALL_FINISHED, 4, &out, &s);
    rs_filter(t, &mul, 3, m1, ALL_FINISHED, 4, &out, &s);
    assert_int_equal(s.cat[RS_CAT_ADD].sampled, 8);
    assert_int_equal(s.cat[RS_CAT_ADD].accepted, 2);
    assert_int_equal(s.cat[RS_CAT_ADD].prompts, 2);
    assert_int_equal(s.cat[RS_CAT_ADD].prompts_ok, 1);
    assert_int_equal(s.cat[RS_CAT_SUB].accepted, 4);
    assert_int_equal(s.cat[RS_CAT_MUL].accepted, 2);
    assert_int_equal(s.cat[RS_CAT_OTHER].sampled, 0);
    RsCount tot = rs_stats_total(&s);
    assert_int_equal(tot.sampled, 16);
    assert_int_equal(tot.accepted, 8);
    assert_int_equal(tot.prompts, 4);
    assert_int_equal(tot.prompts_ok, 3);
    assert_int_equal(out.n, 3); /* one distinct text per passing prompt */
    rs_records_free(&out);
    t->destroy(t);
}

static void test_wire_round_trip_and_errors(void **st) {
    (void)st;
    RsStats s = {0}, got;
    s.cat[RS_CAT_ADD] = (RsCount){10, 3, 5, 2};
    s.cat[RS_CAT_OTHER] = (RsCount){4, 1, 1, 1};
    RsRecords rs = {0}, back = {0};
    rs_records_push(&rs, 7, 2, 1.1f, "1+2=", "3");
    rs_records_push(&rs, 8, 0, 1.0f, "3,7>10=", "3+7");
    uint8_t *msg;
    size_t len;
    char err[300];
    assert_int_equal(rs_encode(&s, &rs, &msg, &len, err, sizeof err), 0);
    assert_int_equal(rs_decode(msg, len, &got, &back, err, sizeof err), 0);
    assert_memory_equal(&got, &s, sizeof s);
    assert_int_equal(back.n, 2);
    assert_int_equal(back.r[1].index, 8);
    assert_string_equal(back.r[1].completion, "3+7");
    assert_true(back.r[0].reward == 1.1f);
    /* truncated, trailing bytes, a NUL in a text, an impossible count */
    assert_int_equal(rs_decode(msg, len - 1, &got, &back, err, sizeof err), -1);
    assert_non_null(strstr(err, "record 1"));
    assert_int_equal(back.n, 2); /* unchanged on failure */
    uint8_t *big = xmalloc(len + 1);
    memcpy(big, msg, len);
    big[len] = 'x';
    assert_int_equal(rs_decode(big, len + 1, &got, &back, err, sizeof err), -1);
    assert_non_null(strstr(err, "after the last record"));
    memcpy(big, msg, len);
    big[RS_HEADER_BYTES + 20] = 0; /* first byte of record 0's prompt */
    assert_int_equal(rs_decode(big, len, &got, &back, err, sizeof err), -1);
    assert_non_null(strstr(err, "NUL"));
    memcpy(big, msg, len);
    big[12] = 0xff; /* n_records */
    assert_int_equal(rs_decode(big, len, &got, &back, err, sizeof err), -1);
    assert_non_null(strstr(err, "records declared"));
    memcpy(big, msg, len);
    big[16 + 8] = 11; /* add: accepted 11 > sampled 10 */
    assert_int_equal(rs_decode(big, len, &got, &back, err, sizeof err), -1);
    assert_non_null(strstr(err, "inconsistent"));
    /* counts that would wrap when summed (a fuzzer finding) */
    memcpy(big, msg, len);
    for (int c = 0; c < 2; c++) big[16 + 32 * c + 7] = 0x80; /* sampled = 2^63 */
    assert_int_equal(rs_decode(big, len, &got, &back, err, sizeof err), -1);
    assert_non_null(strstr(err, "inconsistent"));
    assert_int_equal(rs_decode((const uint8_t *)"nope", 4, &got, &back, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a GRSR"));
    xfree(big);
    xfree(msg);
    rs_records_free(&rs);
    rs_records_free(&back);
}

/* The file rejection-sample writes is what grpo sft --data reads. */
static void test_jsonl_loads_as_sft_data(void **st) {
    (void)st;
    RsRecords rs = {0};
    rs_records_push(&rs, 0, 0, 1.1f, "37+49=", "68");
    rs_records_push(&rs, 1, 3, 1.0f, "472+385=", "<think>=857</think><answer>857</answer>");
    size_t len;
    char *text = rs_jsonl(&rs, "runs/x/final.ckpt", &len);
    char path[300], err[600];
    snprintf(path, sizeof path, "%s/rt.jsonl", tmp);
    assert_int_equal(atomic_file_write(path, text, len, err, sizeof err), 0);
    Tokenizer tok;
    tokenizer_init_char(&tok);
    SftData *d = sft_data_load(path, &tok, 64, 1, err, sizeof err);
    if (!d) fail_msg("%s", err);
    assert_int_equal(d->n_files, 1);
    assert_int_equal(d->files[0].n, 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(d->files[0].prompt[i], rs.r[i].prompt);
        assert_string_equal(d->files[0].completion[i], rs.r[i].completion);
    }
    sft_data_free(d);
    json_error_t je;
    char *nl = strchr(text, '\n');
    *nl = 0;
    json_t *o = json_loads(text, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "source")), "runs/x/final.ckpt");
    assert_true(fabs(json_number_value(json_object_get(o, "reward")) - 1.1) < 1e-6);
    json_decref(o);
    free(text);
    rs_records_free(&rs);
}

static int setup(void **state) {
    (void)state;
    bin = grpo_bin();
    /* a tiny SFT model: about 1 s, and some of its samples are right */
    return make_sft_fixture(tmp, sizeof tmp, "rs", bin,
                            "sft.steps=600 sft.batch_size=32 eval.prompts=16 eval.pass_k=2", TINY);
}

static int teardown(void **state) {
    (void)state;
    remove_test_dir(tmp);
    return 0;
}

/* Reads every line of path; each must verify correct under the arith task
 * with the run's settings and name the checkpoint. Returns the count. */
static int check_file(const char *path, const char *ckpt) {
    Task *t = make_task("arith");
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("%s line %d: not JSON: %s", path, n + 1, je.text);
        const char *prompt = json_string_value(json_object_get(o, "prompt"));
        long long a, b;
        char op;
        if (sscanf(prompt, "%lld%c%lld=", &a, &op, &b) != 3) fail_msg("prompt '%s'", prompt);
        char answer[32];
        snprintf(answer, sizeof answer, "%lld", op == '+' ? a + b : op == '-' ? a - b : a * b);
        TaskItem it = item_of(prompt, answer);
        Reward r;
        t->verify(t, &it, json_string_value(json_object_get(o, "completion")), 1, &r);
        if (!r.correct)
            fail_msg("%s line %d: '%s' does not verify", path, n + 1, line);
        assert_string_equal(json_string_value(json_object_get(o, "source")), ckpt);
        json_decref(o);
        n++;
    }
    fclose(f);
    t->destroy(t);
    return n;
}

static void test_mpi_end_to_end(void **st) {
    (void)st;
    char ckpt[300], out1[300], out2[300], log[300];
    snprintf(ckpt, sizeof ckpt, "%s/a/sft.ckpt", tmp);
    snprintf(out1, sizeof out1, "%s/one.jsonl", tmp);
    snprintf(out2, sizeof out2, "%s/two.jsonl", tmp);
    snprintf(log, sizeof log, "%s/rs2.log", tmp);
    assert_int_equal(run("mpirun --oversubscribe -np 2 %s rejection-sample --checkpoint %s --out "
                         "%s rs.prompts=100 rs.k=4 %s > %s 2>&1",
                         bin, ckpt, out2, TINY, log),
                     0);
    int n = check_file(out2, ckpt);
    printf("rejection-sample -np 2: %d records\n", n);
    assert_true(n > 0);
    assert_int_equal(run("grep -q 'accepted .* of 400 completions' %s", log), 0);
    assert_int_equal(run("grep -q 'from 2 rank(s)' %s", log), 0);
    /* one process, no mpirun: the same file (whole batches per rank, each
     * batch on its own stream) */
    assert_int_equal(run("%s rejection-sample --checkpoint %s --out %s rs.prompts=100 rs.k=4 %s "
                         "> %s/rs1.log 2>&1",
                         bin, ckpt, out1, TINY, tmp),
                     0);
    assert_int_equal(run("cmp -s %s %s", out1, out2), 0);
    /* shortest: at most one line per prompt */
    assert_int_equal(run("%s rejection-sample --checkpoint %s --out %s rs.prompts=100 rs.k=4 "
                         "rs.shortest=1 %s > /dev/null 2>&1",
                         bin, ckpt, out1, TINY),
                     0);
    int n1 = check_file(out1, ckpt);
    assert_true(n1 > 0 && n1 <= n);
    assert_int_equal(run("sed 's/\"completion.*//' %s | sort | uniq -d | grep -q .", out1), 1);
    /* an output that cannot be written is named, with status 7 */
    assert_int_equal(run("%s rejection-sample --checkpoint %s --out %s/no/such/dir.jsonl "
                         "rs.prompts=4 rs.k=2 %s > %s 2>&1",
                         bin, ckpt, tmp, TINY, log),
                     7);
    assert_int_equal(run("grep -q 'cannot write %s/no/such/dir.jsonl: open of' %s", tmp, log), 0);
    /* more ranks than batches: the idle rank sends an empty share */
    assert_int_equal(run("mpirun --oversubscribe -np 3 %s rejection-sample --checkpoint %s --out "
                         "%s rs.prompts=2 rs.k=2 %s > %s 2>&1",
                         bin, ckpt, out1, TINY, log),
                     0);
    assert_int_equal(run("grep -q 'of 2 prompts' %s", log), 0);
    /* usage: a missing --out is named */
    assert_int_equal(run("%s rejection-sample --checkpoint %s %s > %s 2>&1", bin, ckpt, TINY, log),
                     2);
    assert_int_equal(run("grep -q 'needs --checkpoint FILE and --out' %s", log), 0);
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Starts `mpirun -np 2 grpo rejection-sample` on enough prompts for ~10 s,
 * output to out, log to log; returns mpirun's pid. */
static pid_t start_long_rs(const char *ckpt, const char *out, const char *log) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "exec mpirun --oversubscribe -np 2 %s rejection-sample --checkpoint %s --out %s "
             "rs.prompts=200000 rs.k=4 %s > %s 2>&1",
             bin, ckpt, out, TINY, log);
    return start_sh(cmd);
}

/* wait_status, the test failing if mpirun did not exit normally. */
static int wait_exited(pid_t pid) {
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st)) fail_msg("mpirun did not exit normally (signal %d)", WTERMSIG(st));
    return WEXITSTATUS(st);
}

/* One rank of mpirun's (its first child), once both ranks are started and
 * have had time to install their handlers (a loaded machine: the start
 * can take longer than a fixed sleep). */
static pid_t a_rank_of(pid_t mpirun) {
    for (int tries = 0; tries < 100; tries++) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "pgrep -P %d", (int)mpirun);
        FILE *p = popen(cmd, "r");
        int child = 0, other = 0, n = 0;
        if (p) n = fscanf(p, "%d %d", &child, &other);
        if (p) pclose(p);
        if (n == 2) {
            sleep_s(0.8);
            return (pid_t)child;
        }
        sleep_s(0.1);
    }
    fail_msg("mpirun %d has not started its 2 ranks", (int)mpirun);
    return 0;
}

/* a stop signal: every rank finishes its batch, they agree to stop,
 * nothing is written (an absent file stays absent, an old one as it was),
 * status 75, one line saying so; a second signal is harmless */
static void test_mpi_stop_signal(void **st) {
    (void)st;
    char ckpt[300], out[300], log[300];
    snprintf(ckpt, sizeof ckpt, "%s/a/sft.ckpt", tmp);
    snprintf(out, sizeof out, "%s/stopped.jsonl", tmp);
    snprintf(log, sizeof log, "%s/stop.log", tmp);
    double t0 = now_seconds();
    pid_t pid = start_long_rs(ckpt, out, log);
    a_rank_of(pid);
    kill(pid, SIGUSR1);
    sleep_s(0.2);
    kill(pid, SIGUSR1);
    assert_int_equal(wait_exited(pid), 75);
    printf("rejection-sample SIGUSR1 to mpirun: status 75 after %.1f s\n", now_seconds() - t0);
    assert_int_equal(access(out, F_OK), -1);
    assert_int_equal(run("grep -q 'rejection-sample: stopped by signal %d .*nothing written, "
                         "%s is as it was; exiting with status 75 .*the next run starts over' %s",
                         SIGUSR1, out, log),
                     0);
    assert_int_equal(run("grep -c 'stopped by signal' %s | grep -qx 1", log), 0);
    /* SIGTERM to one rank only (twice): the other rank stops with it */
    assert_int_equal(run("echo old > %s", out), 0);
    t0 = now_seconds();
    pid = start_long_rs(ckpt, out, log);
    pid_t rank = a_rank_of(pid);
    kill(rank, SIGTERM);
    sleep_s(0.2);
    kill(rank, SIGTERM);
    assert_int_equal(wait_exited(pid), 75);
    printf("rejection-sample SIGTERM to one rank: status 75 after %.1f s\n", now_seconds() - t0);
    assert_int_equal(run("grep -qx old %s && test $(wc -l < %s) -eq 1", out, out), 0);
    assert_int_equal(run("grep -q 'stopped by signal %d .*the next run starts over' %s", SIGTERM,
                         log),
                     0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_keeps_only_correct),
        cmocka_unit_test(test_filter_cot_needs_format),
        cmocka_unit_test(test_dedupe_same_prompt_only),
        cmocka_unit_test(test_shortest_one_per_prompt),
        cmocka_unit_test(test_stats_per_operation),
        cmocka_unit_test(test_wire_round_trip_and_errors),
        cmocka_unit_test(test_jsonl_loads_as_sft_data),
        cmocka_unit_test(test_mpi_end_to_end),
        cmocka_unit_test(test_mpi_stop_signal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
