/* test_external_verifier.c: [task] verifier, a program scoring
 * completions over JSON lines (task_external.c, verifier_pool.c). The
 * programs are tests/verifiers/faulty.py, which scores like the arith
 * task and misbehaves on its K-th request in the way its mode names, and
 * the two examples in deploy/verifiers/. Every test checks the outcome of
 * each completion exactly (statuses, and the rewards of the others equal
 * the built-in verifier's, so scoring after a restart is right), and that
 * no child is left unreaped. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"
#include "util.h"

enum { MAX_JOBS = 64 };

static char tests_dir[400], repo_dir[512];
/* The python3 in PATH, resolved once: a pyenv shim costs 0.4 s a start. */
static char python[256] = "python3";

static void resolve_python(void) {
    FILE *f = popen("python3 -c 'import sys; print(sys.executable)'", "r");
    char line[256];
    if (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '/') snprintf(python, sizeof python, "%s", line);
    }
    if (f) pclose(f);
}

/* n arith items with demonstrator completions (every 7th cut at the
 * length limit), and what the built-in arith verifier says of each. */
typedef struct {
    int n;
    TaskItem item[MAX_JOBS];
    char comp[MAX_JOBS][TASK_MAX_TEXT];
    VerifyJob job[MAX_JOBS];
    Reward want[MAX_JOBS];
} Batch;

static void make_batch(Batch *b, int n) {
    CHECK(n <= MAX_JOBS);
    TaskParams p;
    task_params_default(&p);
    char err[256];
    Task *arith = task_create("arith", &p, 7, err, sizeof err);
    assert_non_null(arith);
    Rng r;
    rng_seed(&r, 7, 1);
    b->n = n;
    int correct = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(arith->sample(arith, SPLIT_TRAIN, 0, (uint64_t)i, &b->item[i]), 0);
        assert_int_equal(arith->demonstrate(arith, &b->item[i], &r, b->comp[i], TASK_MAX_TEXT), 0);
        b->job[i] = (VerifyJob){&b->item[i], b->comp[i], i % 7 != 6};
        arith->verify(arith, &b->item[i], b->comp[i], b->job[i].finished, &b->want[i]);
        correct += b->want[i].correct;
    }
    assert_true(correct > 0 && correct < n); /* both kinds, or the comparison proves little */
    arith->destroy(arith);
}

/* [task] settings for cmd ("faulty.py MODE ARG" is expanded to the script). */
static TaskParams params_for(const char *cmd) {
    TaskParams p;
    task_params_default(&p);
    size_t n = strlen(cmd);
    assert_true(n < sizeof p.verifier);
    memcpy(p.verifier, cmd, n + 1);
    strcpy(p.verifier_components, "accuracy,format");
    p.verifier_procs = 1;
    p.verifier_timeout = 5;
    return p;
}

static Task *make_external(const TaskParams *p) {
    char err[512] = "";
    Task *t = task_create("arith", p, 7, err, sizeof err);
    if (!t) fail_msg("task_create: %s", err);
    return t;
}

static void faulty(char *out, size_t cap, const char *mode_and_arg) {
    snprintf(out, cap, "%s %s/verifiers/faulty.py %s", python, tests_dir, mode_and_arg);
}

static void assert_same_reward(const Reward *got, const Reward *want, int i) {
    if (got->status != REWARD_OK || got->n != want->n || got->correct != want->correct ||
        got->total != want->total || got->value[0] != want->value[0] ||
        got->value[1] != want->value[1])
        fail_msg("completion %d: status %s, total %g, correct %d; built-in: total %g, correct %d",
                 i, reward_status_name(got->status), (double)got->total, got->correct,
                 (double)want->total, want->correct);
}

static void assert_failed(const Reward *got, int status, int i) {
    if (got->status != status || got->total != 0 || got->correct || got->value[0] != 0 ||
        got->value[1] != 0 || got->n != 2)
        fail_msg("completion %d: status %s (want %s), total %g", i,
                 reward_status_name(got->status), reward_status_name(status), (double)got->total);
}

/* Every child started was reaped. */
static void assert_no_children(void) {
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* Runs mode over a batch with one process; completion i must fail with
 * status when fails(i), else score as the built-in verifier. */
static void run_mode(const char *mode, float timeout, int n, int (*fails)(int), int status) {
    Batch b;
    make_batch(&b, n);
    char cmd[700];
    faulty(cmd, sizeof cmd, mode);
    TaskParams p = params_for(cmd);
    p.verifier_timeout = timeout;
    Task *t = make_external(&p);
    Reward out[MAX_JOBS];
    task_verify_batch(t, b.job, n, out);
    for (int i = 0; i < n; i++) {
        if (fails(i))
            assert_failed(&out[i], status, i);
        else
            assert_same_reward(&out[i], &b.want[i], i);
    }
    t->destroy(t);
    assert_no_children();
}

/* The K-th request of each process (K = 3) fails; the failed one is not
 * resent, so a process serves requests i, i+1, i+2 and fails the third. */
static int every_third(int i) { return i % 3 == 2; }
/* A double reply to the 3rd request fails the 4th (the extra line is read
 * as its reply); the fresh process's 3rd is 3 requests later. */
static int after_twice(int i) { return i % 4 == 3; }
static int none(int i) { return i < 0; }
static int first(int i) { return i == 0; }

static void test_good_matches_builtin(void **state) {
    (void)state;
    run_mode("good", 5, 40, none, REWARD_OK);
}
static void test_crash(void **state) {
    (void)state;
    run_mode("crash 3", 5, 12, every_third, REWARD_VERIFIER_CRASH);
}
static void test_hang(void **state) {
    (void)state;
    run_mode("hang 3", 0.5f, 6, every_third, REWARD_VERIFIER_TIMEOUT);
}
static void test_garbage(void **state) {
    (void)state;
    run_mode("garbage 3", 5, 12, every_third, REWARD_VERIFIER_MALFORMED);
}
static void test_line_too_long(void **state) {
    (void)state;
    run_mode("long 3", 5, 9, every_third, REWARD_VERIFIER_MALFORMED);
}
static void test_component_out_of_range(void **state) {
    (void)state;
    run_mode("badcomp 3", 5, 9, every_third, REWARD_VERIFIER_MALFORMED);
}
static void test_nan_reward(void **state) {
    (void)state;
    run_mode("nan 3", 5, 9, every_third, REWARD_VERIFIER_MALFORMED);
}
static void test_twice(void **state) {
    (void)state;
    run_mode("twice 3", 5, 12, after_twice, REWARD_VERIFIER_WRONG_ID);
}
static void test_wrong_id(void **state) {
    (void)state;
    run_mode("wrongid 3", 5, 12, every_third, REWARD_VERIFIER_WRONG_ID);
}

/* A process that exits between batches, owing nothing, fails no request:
 * the next batch starts a fresh one. */
static void test_exit_between_batches(void **state) {
    (void)state;
    Batch b;
    make_batch(&b, 6);
    char cmd[700];
    faulty(cmd, sizeof cmd, "exit_after 2");
    TaskParams p = params_for(cmd);
    Task *t = make_external(&p);
    Reward out[MAX_JOBS];
    for (int i = 0; i < 6; i += 2) {
        task_verify_batch(t, b.job + i, 2, out + i);
        usleep(300000); /* it has exited by the next batch */
    }
    for (int i = 0; i < 6; i++) assert_same_reward(&out[i], &b.want[i], i);
    t->destroy(t);
    assert_no_children();
}

/* A program slow to start (0.8 s) against verifier_timeout 0.3 s: the
 * first reply of each process may take verifier_start_timeout; without
 * that allowance every start times out. */
static void test_slow_start(void **state) {
    (void)state;
    Batch b;
    make_batch(&b, 3);
    char cmd[700];
    faulty(cmd, sizeof cmd, "slowstart 0.8");
    for (int allowance = 1; allowance >= 0; allowance--) {
        TaskParams p = params_for(cmd);
        p.verifier_timeout = 0.3f;
        p.verifier_start_timeout = allowance ? 10 : 0;
        Task *t = make_external(&p);
        Reward out[MAX_JOBS];
        task_verify_batch(t, b.job, 3, out);
        for (int i = 0; i < 3; i++) {
            if (allowance)
                assert_same_reward(&out[i], &b.want[i], i);
            else
                assert_failed(&out[i], REWARD_VERIFIER_TIMEOUT, i);
        }
        t->destroy(t);
    }
    assert_no_children();
}

static void test_exit_first_launch(void **state) {
    (void)state;
    char dir[] = "/tmp/test_extverif_XXXXXX", mode[128], marker[160];
    assert_non_null(mkdtemp(dir));
    snprintf(mode, sizeof mode, "exit_first %s", dir);
    run_mode(mode, 5, 10, first, REWARD_VERIFIER_CRASH);
    snprintf(marker, sizeof marker, "%s/started", dir);
    unlink(marker);
    rmdir(dir);
}

/* A program that closed its stdin: the next request is written to a
 * pipe nobody reads, which gives EPIPE (SIGPIPE is blocked for the
 * write, then consumed) and never kills us; the request is a crash once
 * the program exits. With pipeline 1 request 1 is written only after the
 * reply to request 0, so after the close. */
static int odd(int i) { return i % 2 == 1; }
static void test_write_to_closed_stdin(void **state) {
    (void)state;
    Batch b;
    make_batch(&b, 4);
    char cmd[700];
    faulty(cmd, sizeof cmd, "closein 1");
    TaskParams p = params_for(cmd);
    p.verifier_pipeline = 1;
    Task *t = make_external(&p);
    Reward out[MAX_JOBS];
    task_verify_batch(t, b.job, 4, out);
    for (int i = 0; i < 4; i++) {
        if (odd(i))
            assert_failed(&out[i], REWARD_VERIFIER_CRASH, i);
        else
            assert_same_reward(&out[i], &b.want[i], i);
    }
    t->destroy(t);
    assert_no_children();
}

/* A program that exits at once, over and over: every request is a crash,
 * and the run goes on while the failures stay under the limit. */
static void test_exits_at_once(void **state) {
    (void)state;
    Batch b;
    make_batch(&b, 40);
    TaskParams p = params_for("true");
    p.verifier_max_failures = 1000;
    p.verifier_procs = 2;
    Task *t = make_external(&p);
    Reward out[MAX_JOBS];
    task_verify_batch(t, b.job, 40, out);
    for (int i = 0; i < 40; i++) assert_failed(&out[i], REWARD_VERIFIER_CRASH, i);
    t->destroy(t);
    assert_no_children();
}

/* Always exits at start: the run stops after verifier_max_failures in a
 * row, naming the program and what it wrote on stderr. */
static void test_always_exit_stops_run(void **state) {
    (void)state;
    Batch b;
    make_batch(&b, 8);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        char cmd[700];
        faulty(cmd, sizeof cmd, "always_exit");
        TaskParams p = params_for(cmd);
        p.verifier_max_failures = 5;
        Task *t = make_external(&p);
        Reward out[MAX_JOBS];
        task_verify_batch(t, b.job, b.n, out);
        _exit(0); /* not reached: the run stops */
    }
    close(pfd[1]);
    char text[16384];
    size_t len = 0;
    ssize_t k;
    while (len + 1 < sizeof text && (k = read(pfd[0], text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)k;
    text[len] = '\0';
    close(pfd[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    if (!strstr(text, "faulty.py always_exit") || !strstr(text, "5 requests in a row") ||
        !strstr(text, "crash x5") || !strstr(text, "cannot load the reward model") ||
        !strstr(text, "exit status 2"))
        fail_msg("stderr lacks the program, the count, the reason or its stderr:\n%s", text);
    /* three warnings, then only counts: not a line per restart */
    int warnings = 0;
    for (const char *s = text; (s = strstr(s, "restarting it")); s++) warnings++;
    assert_int_equal(warnings, 3);
}

/* 3 processes x 4 in flight over 50 requests: every reply lands on its
 * own completion, though the processes answer in random order. */
static void test_pipelined_processes(void **state) {
    (void)state;
    Batch b;
    make_batch(&b, 50);
    for (int i = 0; i < 50; i++) snprintf(b.comp[i], TASK_MAX_TEXT, "c%d", i);
    char cmd[700];
    faulty(cmd, sizeof cmd, "echo");
    TaskParams p = params_for(cmd);
    p.verifier_procs = 3;
    p.verifier_pipeline = 4;
    Task *t = make_external(&p);
    Reward out[MAX_JOBS];
    for (int round = 0; round < 2; round++) {
        task_verify_batch(t, b.job, 50, out);
        for (int i = 0; i < 50; i++) {
            assert_int_equal(out[i].status, REWARD_OK);
            assert_float_equal(out[i].total, (float)i, 0);
            /* no "accuracy" component: the reward clamped to [0, 1] */
            assert_float_equal(out[i].value[0], i ? 1 : 0, 0);
            assert_int_equal(out[i].correct, i > 0);
        }
    }
    t->destroy(t);
    assert_no_children();
}

/* The child gets its three pipes and nothing else of ours. */
static void test_no_inherited_fds(void **state) {
    (void)state;
    Batch b;
    make_batch(&b, 20);
    FILE *f = tmpfile(); /* an fd without O_CLOEXEC the child must not see */
    assert_non_null(f);
    char cmd[700];
    faulty(cmd, sizeof cmd, "fds");
    TaskParams p = params_for(cmd);
    Task *t = make_external(&p);
    Reward r;
    t->verify(t, b.job[0].item, b.comp[0], 1, &r);
    assert_int_equal(r.status, REWARD_OK);
    assert_float_equal(r.total, 0, 0);
    t->destroy(t);
    fclose(f);
    assert_no_children();
}

/* Built but never asked to verify (the learner): no process starts. */
static void test_lazy_start(void **state) {
    (void)state;
    char dir[] = "/tmp/test_extverif_XXXXXX", cmd[128], marker[160];
    assert_non_null(mkdtemp(dir));
    snprintf(marker, sizeof marker, "%s/spawned", dir);
    snprintf(cmd, sizeof cmd, "touch %.100s", marker);
    TaskParams p = params_for(cmd);
    strcpy(p.verifier_components, "format, accuracy,style");
    Task *t = make_external(&p);
    assert_int_equal(t->n_components, 3);
    assert_string_equal(t->component_names[0], "accuracy");
    assert_string_equal(t->component_names[1], "format");
    assert_string_equal(t->component_names[2], "style");
    TaskItem it;
    assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, 0, &it), 0); /* the inner task's items */
    assert_true(task_verifier_is_external(t));
    assert_true(task_demo_accuracy(t, 10, 1) < 0); /* the learner's report: not verified */
    t->destroy(t);
    usleep(50000);
    assert_int_equal(access(marker, F_OK), -1);
    rmdir(dir);
    assert_no_children();
}

static void test_bad_settings(void **state) {
    (void)state;
    char err[512];
    TaskParams p = params_for("true");
    strcpy(p.verifier_components, "a,b,c,d");
    assert_null(task_create("arith", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "verifier_components"));
    strcpy(p.verifier_components, "format,format");
    assert_null(task_create("arith", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "twice"));
    strcpy(p.verifier_components, "bad name");
    assert_null(task_create("arith", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "not a name"));
    p = params_for("true");
    p.verifier_timeout = 0;
    assert_null(task_create("arith", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "verifier_timeout"));
    p = params_for("true");
    p.verifier_procs = 0;
    assert_null(task_create("arith", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "verifier_procs"));
}

/* deploy/verifiers/exact_match.py --reverse: the arith verifier's rewards. */
static void test_example_python(void **state) {
    (void)state;
    Batch b;
    make_batch(&b, 30);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "%s %.400s/deploy/verifiers/exact_match.py --reverse", python, repo_dir);
    TaskParams p = params_for(cmd);
    p.verifier_procs = 2;
    Task *t = make_external(&p);
    Reward out[MAX_JOBS];
    task_verify_batch(t, b.job, b.n, out);
    for (int i = 0; i < b.n; i++) assert_same_reward(&out[i], &b.want[i], i);
    t->destroy(t);
    assert_no_children();
}

/* deploy/verifiers/exact_match.sh --reverse: accuracy only, the reward. */
static void test_example_shell(void **state) {
    (void)state;
    Batch b;
    make_batch(&b, 30);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "sh %s/deploy/verifiers/exact_match.sh --reverse", repo_dir);
    TaskParams p = params_for(cmd);
    strcpy(p.verifier_components, "accuracy");
    Task *t = make_external(&p);
    assert_int_equal(t->n_components, 1);
    Reward out[MAX_JOBS];
    task_verify_batch(t, b.job, b.n, out);
    for (int i = 0; i < b.n; i++) {
        assert_int_equal(out[i].status, REWARD_OK);
        assert_int_equal(out[i].correct, b.want[i].correct);
        assert_float_equal(out[i].total, b.want[i].value[0], 0);
    }
    t->destroy(t);
    assert_no_children();
}

int main(void) {
    const char *d = getenv("GRPO_TESTS_DIR");
    snprintf(tests_dir, sizeof tests_dir, "%s", d ? d : "tests");
    snprintf(repo_dir, sizeof repo_dir, "%s/..", tests_dir);
    resolve_python();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_matches_builtin),
        cmocka_unit_test(test_crash),
        cmocka_unit_test(test_hang),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_component_out_of_range),
        cmocka_unit_test(test_nan_reward),
        cmocka_unit_test(test_twice),
        cmocka_unit_test(test_wrong_id),
        cmocka_unit_test(test_exit_between_batches),
        cmocka_unit_test(test_slow_start),
        cmocka_unit_test(test_exit_first_launch),
        cmocka_unit_test(test_write_to_closed_stdin),
        cmocka_unit_test(test_exits_at_once),
        cmocka_unit_test(test_always_exit_stops_run),
        cmocka_unit_test(test_pipelined_processes),
        cmocka_unit_test(test_no_inherited_fds),
        cmocka_unit_test(test_lazy_start),
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(test_example_python),
        cmocka_unit_test(test_example_shell),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
