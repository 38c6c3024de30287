/* test_task_code.c: the code task: generation and splits, the C reference
 * against hand-computed Python output, the sandboxed verifier on correct,
 * flawed and hostile programs, and verify_batch against verify. Tests
 * that run programs skip when sandbox_available() says this machine
 * cannot build a sandbox. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "task.h"
#include "test_shell.h"
#include "task_code_prog.h"
#include "util.h"

static int have_sandbox(void) {
    static int known = -1;
    char why[256] = "";
    if (known < 0) {
        known = sandbox_available(why, sizeof why);
        if (!known) print_message("no sandbox here (%s): skipping\n", why);
    }
    return known;
}

/* The task with the low limits of a test: 1 s CPU, 2 s wall, 3 jobs. */
static Task *make_code(int jobs) {
    TaskParams p;
    task_params_default(&p);
    p.sandbox.cpu_seconds = 1;
    p.sandbox.wall_seconds = 2;
    p.sandbox.memory_mb = 256;
    p.sandbox.jobs = jobs;
    char err[512] = "";
    Task *t = task_create("code", &p, 11, err, sizeof err);
    if (!t) fail_msg("task_create(code): %s", err);
    return t;
}

static Reward verify(const Task *t, const TaskItem *it, const char *c) {
    Reward r;
    t->verify(t, it, c, 1, &r);
    return r;
}

/* The item of a prompt, as the task would make it. */
static TaskItem item_of(const char *prompt) {
    TaskItem it = {0};
    CodeProg p;
    if (code_prog_parse(prompt, &p) != 0) fail_msg("'%s' does not parse", prompt);
    strcpy(it.prompt, prompt);
    code_prog_expr(&p, 0, it.solution, sizeof it.solution);
    strcpy(it.answer, it.solution);
    it.id = task_item_id(prompt);
    return it;
}

/* ---- without the sandbox ---- */

static void test_reference_matches_python(void **state) {
    static const struct {
        const char *prompt, *solution;
        CodeInput in;
        const char *repr;
    } cases[] = {
        {"sort,last 2,double:", "[v*2 for v in sorted(x)[-2:]]", {5, {3, 9, 1, 4, 1}}, "[8, 18]"},
        {"reverse,first 3:", "x[::-1][:3]", {6, {1, 2, 3, 4, 5, 6}}, "[6, 5, 4]"},
        {"drop 2,sum:", "sum(x[2:])", {5, {7, 7, 1, 2, 3}}, "6"},
        {"evens:", "[v for v in x if v%2==0]", {5, {1, 3, 5, 7, 9}}, "[]"},
        {"add 3,odds,len:", "len([v for v in [v+3 for v in x] if v%2])", {5, {0, 1, 2, 3, 4}}, "3"},
        {"last 3,min:", "min(x[-3:])", {7, {0, 0, 0, 0, 9, 5, 6}}, "5"},
        {"double,max:", "max([v*2 for v in x])", {5, {2, 9, 0, 9, 1}}, "18"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CodeProg p;
        assert_int_equal(code_prog_parse(cases[i].prompt, &p), 0);
        char expr[TASK_MAX_TEXT], repr[128], back[TASK_MAX_TEXT];
        code_prog_expr(&p, 0, expr, sizeof expr);
        assert_string_equal(expr, cases[i].solution);
        code_reference_repr(&p, &cases[i].in, repr, sizeof repr);
        assert_string_equal(repr, cases[i].repr);
        code_prog_prompt(&p, back, sizeof back);
        assert_string_equal(back, cases[i].prompt);
    }
    /* the demonstrator's slip: last written as drop */
    CodeProg p;
    char expr[TASK_MAX_TEXT];
    assert_int_equal(code_prog_parse("sort,last 2,double:", &p), 0);
    code_prog_expr(&p, 1, expr, sizeof expr);
    assert_string_equal(expr, "[v*2 for v in sorted(x)[2:]]");
    /* outside the item space */
    const char *bad[] = {"sort,sort:", "sum,sort:", "evens,odds:", "double,odds:", "odds,max:",
                         "first 2,len:", "last 0:", "add 10:", "sort", "sort,:", "shuffle:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(code_prog_parse(bad[i], &p), -1);
}

/* Splits: deterministic, disjoint, the listed eval split equals what
 * sampling finds, lengths within the task's bounds. */
static void test_generation_and_splits(void **state) {
    if (!have_sandbox()) skip(); /* task_create needs it */
    Task *t = make_code(1);
    int n_trap = 0, n_steps[4] = {0};
    for (int i = 0; i < 3000; i++) {
        TaskItem a, b;
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &a), 0);
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &b), 0);
        assert_string_equal(a.prompt, b.prompt);
        assert_false(task_id_is_eval(a.id, 20));
        CodeProg p;
        assert_int_equal(code_prog_parse(a.prompt, &p), 0);
        assert_true((int)strlen(a.prompt) <= t->max_prompt_chars);
        assert_true((int)strlen(a.solution) <= t->max_completion_chars);
        n_trap += code_prog_has_trap(&p);
        n_steps[p.n_steps]++;
    }
    /* the trap is common but not everywhere; every length occurs */
    print_message("train items with last: %d / 3000; prompt <= %d, solution <= %d chars\n",
                  n_trap, t->max_prompt_chars, t->max_completion_chars);
    assert_true(n_trap > 450 && n_trap < 1500);
    assert_true(n_steps[1] > 500 && n_steps[2] > 500 && n_steps[3] > 500);
    assert_true(t->max_completion_chars <= CODE_MAX_SOLUTION);
    uint64_t *keys = NULL;
    int n = t->eval_split(t, &keys);
    assert_true(n > 50);
    for (int i = 0; i < n; i++) {
        TaskItem it;
        assert_int_equal(t->eval_item(t, keys[i], &it), 0);
        assert_true(task_id_is_eval(it.id, 20));
    }
    for (int i = 0; i < 200; i++) {
        TaskItem it;
        assert_int_equal(t->sample(t, SPLIT_EVAL, 0, (uint64_t)i, &it), 0);
        assert_true(task_id_is_eval(it.id, 20));
        int found = 0;
        for (int k = 0; k < n && !found; k++) {
            TaskItem e;
            t->eval_item(t, keys[k], &e);
            found = strcmp(e.prompt, it.prompt) == 0;
        }
        assert_true(found);
    }
    xfree(keys);
    t->destroy(t);
}

/* ---- through the sandbox ---- */

static void test_correct_solutions_verify(void **state) {
    if (!have_sandbox()) skip();
    Task *t = make_code(3);
    enum { N = 60 };
    TaskItem items[N];
    VerifyJob jobs[N];
    Reward r[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 1, (uint64_t)i, &items[i]), 0);
        jobs[i] = (VerifyJob){&items[i], items[i].solution, 1};
    }
    task_verify_batch(t, jobs, N, r);
    for (int i = 0; i < N; i++) {
        if (!r[i].correct) fail_msg("%s -> %s: status %s accuracy %g", items[i].prompt,
                                    items[i].solution, reward_status_name(r[i].status), r[i].value[0]);
        assert_int_equal(r[i].status, REWARD_OK);
        assert_float_equal(r[i].value[0], 1, 0);
        assert_float_equal(r[i].value[1], 1, 0);
        assert_float_equal(r[i].value[2], 1, 0);
        assert_float_equal(r[i].total, 1.2f, 1e-6);
    }
    /* an equivalent program written differently passes too */
    TaskItem it = item_of("sort,last 2,double:");
    Reward q = verify(t, &it, "[2*v for v in sorted(x)][len(x)-2:]");
    assert_true(q.correct);
    t->destroy(t);
}

/* The demonstrator's x[N:] fails exactly the tests where it differs from
 * x[-N:] (input length != 2N), by the reference's own count. */
static void test_trap_fails_right_tests(void **state) {
    if (!have_sandbox()) skip();
    Task *t = make_code(3);
    const char *prompts[] = {"last 2:", "last 3,sum:", "sort,last 3:", "reverse,last 1,double:"};
    for (size_t q = 0; q < sizeof prompts / sizeof prompts[0]; q++) {
        TaskItem it = item_of(prompts[q]);
        CodeProg p;
        code_prog_parse(it.prompt, &p);
        char trap[TASK_MAX_TEXT];
        code_prog_expr(&p, 1, trap, sizeof trap);
        CodeInput in[CODE_MAX_TESTS];
        code_test_inputs(it.id, 5, in);
        int same = 0;
        for (int k = 0; k < 5; k++) {
            /* the trap program's output is the reference of "drop N" */
            CodeProg d = p;
            for (int s = 0; s < d.n_steps; s++)
                if (d.step[s].op == CODE_LAST) d.step[s].op = CODE_DROP;
            char a[128], b[128];
            code_reference_repr(&p, &in[k], a, sizeof a);
            code_reference_repr(&d, &in[k], b, sizeof b);
            same += strcmp(a, b) == 0;
        }
        Reward r = verify(t, &it, trap);
        assert_int_equal(r.status, REWARD_OK);
        assert_float_equal(r.value[0], same / 5.0f, 1e-6);
        assert_true(same < 5);
        assert_int_equal(r.correct, 0);
        assert_float_equal(r.value[2], 1, 0);
        /* the demonstrator writes exactly this at code_demo_error = 1 */
        TaskParams pp;
        task_params_default(&pp);
        pp.code_demo_error = 1;
        char err[256];
        Task *d1 = task_create("code", &pp, 11, err, sizeof err);
        assert_non_null(d1);
        Rng rng;
        rng_seed(&rng, 1, 2);
        char demo[TASK_MAX_TEXT];
        assert_int_equal(d1->demonstrate(d1, &it, &rng, demo, sizeof demo), 0);
        assert_string_equal(demo, trap);
        d1->destroy(d1);
    }
    t->destroy(t);
}

static void test_syntax_and_format(void **state) {
    if (!have_sandbox()) skip();
    Task *t = make_code(1);
    TaskItem it = item_of("sort:");
    Reward r = verify(t, &it, "sorted(x");
    assert_int_equal(r.status, REWARD_OK);
    assert_float_equal(r.value[2], 0, 0);
    assert_float_equal(r.value[0], 0, 0);
    assert_float_equal(r.value[1], 1, 0); /* its characters are fine */
    r = verify(t, &it, "");
    assert_int_equal(r.status, REWARD_OK);
    assert_float_equal(r.value[2], 0, 0);
    assert_float_equal(r.value[1], 0, 0);
    /* right answer, a character outside the solution alphabet: format 0 */
    r = verify(t, &it, "sorted(x) #'");
    assert_true(r.correct);
    assert_float_equal(r.value[1], 0, 0);
    /* a program printing harness-like lines of its own changes nothing */
    r = verify(t, &it, "print('0 OK [1]', end='') or sorted(x)");
    assert_true(r.correct);
    /* cut at the length limit: not run, all 0 */
    t->verify(t, &it, "sorted(x)", 0, &r);
    assert_int_equal(r.status, REWARD_OK);
    assert_float_equal(r.total, 0, 0);
    t->destroy(t);
}

/* A completion that the sandbox stops or that raises: reward 0, all
 * components 0, and the status that says why. */
static void expect_status(const Task *t, const char *prompt, const char *code, int s1, int s2) {
    TaskItem it = item_of(prompt);
    Reward r = verify(t, &it, code);
    if (r.status != s1 && r.status != s2)
        fail_msg("%s: status %s, expected %s or %s", code, reward_status_name(r.status),
                 reward_status_name(s1), reward_status_name(s2));
    assert_float_equal(r.total, 0, 0);
    for (int i = 0; i < r.n; i++) assert_float_equal(r.value[i], 0, 0);
    assert_int_equal(r.correct, 0);
}

static void test_hostile_programs(void **state) {
    if (!have_sandbox()) skip();
    Task *t = make_code(1);
    expect_status(t, "sort:", "[v for v in iter(int, 1)]", REWARD_SANDBOX_CPU,
                  REWARD_SANDBOX_TIMEOUT);
    expect_status(t, "sort:", "print('y' * 10**7) or sorted(x)", REWARD_SANDBOX_OUTPUT,
                  REWARD_SANDBOX_OUTPUT);
    expect_status(t, "sum:", "sum(x) // (len(x) - 6)", REWARD_SANDBOX_ERROR, REWARD_SANDBOX_ERROR);
    expect_status(t, "sum:", "len([0] * 10**9)", REWARD_SANDBOX_MEMORY, REWARD_SANDBOX_MEMORY);
    /* fork bomb: stopped by the process limit (the fork raises), or by time */
    expect_status(t, "sort:", "[__import__('os').fork() for _ in range(40)]", REWARD_SANDBOX_ERROR,
                  REWARD_SANDBOX_TIMEOUT);
    /* a write outside its directory fails inside, and nothing appears here */
    char path[512];
    snprintf(path, sizeof path, "/tmp/code_task_escape_%d", (int)getpid());
    unlink(path);
    char code[700];
    snprintf(code, sizeof code, "open('%s', 'w').write('x') and sorted(x)", path);
    expect_status(t, "sort:", code, REWARD_SANDBOX_ERROR, REWARD_SANDBOX_ERROR);
    assert_int_equal(access(path, F_OK), -1);
    expect_status(t, "sort:", "__import__('os').kill(__import__('os').getpid(), 9)",
                  REWARD_SANDBOX_SIGNAL, REWARD_SANDBOX_SIGNAL);
    /* a file over [sandbox] file_kb in its own directory */
    expect_status(t, "sort:", "open('big', 'w').write('z' * 4 * 2**20) and sorted(x)",
                  REWARD_SANDBOX_FILE_SIZE, REWARD_SANDBOX_FILE_SIZE);
    /* the harness killed from inside: no END line */
    expect_status(t, "sort:", "__import__('os')._exit(0)", REWARD_SANDBOX_ERROR,
                  REWARD_SANDBOX_ERROR);
    t->destroy(t);
}

/* The README's escape table, through the code task as the trainer runs
 * it: each program would pass every hidden test of "sort:" if its escape
 * worked (it ends in sorted(x)), so reward 0 with the listed status
 * proves it was contained; and the host is checked afterwards. */
static void test_escapes_contained(void **state) {
    if (!have_sandbox()) skip();
    Task *t = make_code(1);
    char dir[256], ckpt[300], outside[300], code[1200];
    snprintf(dir, sizeof dir, "/tmp/code_escape_%d", (int)getpid());
    snprintf(ckpt, sizeof ckpt, "%s/ckpt-00000001.ckpt", dir);
    snprintf(outside, sizeof outside, "%s/written", dir);
    assert_int_equal(run("mkdir -p %s && chmod 755 %s && printf GRPOCKPT > %s && chmod 644 %s",
                             dir, dir, ckpt, ckpt),
                     0);
    /* a listener the program would reach if it had a network */
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(srv, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(srv, 4), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(srv, (struct sockaddr *)&a, &al), 0);

    /* infinite loop: RLIMIT_CPU, or the wall-time kill */
    expect_status(t, "sort:", "[v for v in iter(int, 1)] or sorted(x)", REWARD_SANDBOX_CPU,
                  REWARD_SANDBOX_TIMEOUT);
    /* fork bomb: RLIMIT_NPROC of the run's own uid (the fork raises), or time */
    expect_status(t, "sort:",
                  "[__import__('os').fork() for _ in iter(int, 1)] and sorted(x)",
                  REWARD_SANDBOX_ERROR, REWARD_SANDBOX_TIMEOUT);
    /* memory bomb: RLIMIT_AS */
    expect_status(t, "sort:", "len(' ' * 2**40) and sorted(x)", REWARD_SANDBOX_MEMORY,
                  REWARD_SANDBOX_MEMORY);
    /* writing outside its directory: the root is read-only, the host's
     * directories are not there */
    snprintf(code, sizeof code, "open('%s', 'w').write('x') and sorted(x)", outside);
    expect_status(t, "sort:", code, REWARD_SANDBOX_ERROR, REWARD_SANDBOX_ERROR);
    assert_int_equal(access(outside, F_OK), -1);
    expect_status(t, "sort:", "open('/usr/escape', 'w').write('x') and sorted(x)",
                  REWARD_SANDBOX_ERROR, REWARD_SANDBOX_ERROR);
    assert_int_equal(access("/usr/escape", F_OK), -1);
    /* reading outside: a world-readable checkpoint of "the run", and
     * /etc/shadow: neither exists in its mount namespace */
    snprintf(code, sizeof code, "open('%s', 'rb').read() and sorted(x)", ckpt);
    expect_status(t, "sort:", code, REWARD_SANDBOX_ERROR, REWARD_SANDBOX_ERROR);
    expect_status(t, "sort:", "open('/etc/shadow').read() and sorted(x)", REWARD_SANDBOX_ERROR,
                  REWARD_SANDBOX_ERROR);
    /* a network socket: seccomp refuses every family but AF_UNIX, and the
     * network namespace has no route to the host's loopback */
    snprintf(code, sizeof code,
             "__import__('socket').create_connection(('127.0.0.1', %d), 1) and sorted(x)",
             (int)ntohs(a.sin_port));
    expect_status(t, "sort:", code, REWARD_SANDBOX_ERROR, REWARD_SANDBOX_ERROR);
    /* a signal to the actor (this process): its pid does not exist in the
     * sandbox's PID namespace, and the uid differs */
    snprintf(code, sizeof code, "__import__('os').kill(%d, 9) or sorted(x)", (int)getpid());
    expect_status(t, "sort:", code, REWARD_SANDBOX_ERROR, REWARD_SANDBOX_ERROR);
    expect_status(t, "sort:", "__import__('os').kill(-1, 9) or sorted(x)", REWARD_SANDBOX_SIGNAL,
                  REWARD_SANDBOX_ERROR);
    /* sleeping past the timeout: the wall-time kill */
    expect_status(t, "sort:", "__import__('time').sleep(60) or sorted(x)", REWARD_SANDBOX_TIMEOUT,
                  REWARD_SANDBOX_TIMEOUT);
    /* printing gigabytes: the output limit */
    expect_status(t, "sort:", "[print('y' * 2**20) for _ in range(4096)] and sorted(x)",
                  REWARD_SANDBOX_OUTPUT, REWARD_SANDBOX_OUTPUT);
    /* system calls that would widen its powers, through ctypes: a new
     * user namespace (which this kernel grants any user) and ptrace of
     * itself both succeed (0) outside; seccomp refuses them (-1), and the
     * program then raises */
    expect_status(t, "sort:",
                  "(__import__('ctypes').CDLL(None).unshare(0x10000000) != 0 and 1 / 0) or sorted(x)",
                  REWARD_SANDBOX_ERROR, REWARD_SANDBOX_ERROR);
    expect_status(t, "sort:",
                  "(__import__('ctypes').CDLL(None).ptrace(0, 0, 0, 0) != 0 and 1 / 0) or sorted(x)",
                  REWARD_SANDBOX_ERROR, REWARD_SANDBOX_ERROR);
    /* and an honest program still passes, after all that */
    TaskItem it = item_of("sort:");
    Reward r = verify(t, &it, "sorted(x)");
    assert_int_equal(r.status, REWARD_OK);
    assert_true(r.correct);
    /* nobody connected to the listener */
    int fl = 1;
    assert_int_equal(ioctl(srv, FIONBIO, &fl), 0);
    assert_int_equal(accept(srv, NULL, NULL), -1);
    close(srv);
    run("rm -rf %s", dir);
    t->destroy(t);
}

/* verify_batch with 3 sandboxes at once equals verify one by one. */
static void test_batch_equals_one_by_one(void **state) {
    if (!have_sandbox()) skip();
    Task *t3 = make_code(3), *t1 = make_code(1);
    enum { N = 12 };
    TaskItem items[N];
    const char *codes[N];
    char demo[N][TASK_MAX_TEXT];
    VerifyJob jobs[N];
    Reward rb[N];
    Rng rng;
    rng_seed(&rng, 5, 6);
    for (int i = 0; i < N; i++) {
        assert_int_equal(t3->sample(t3, SPLIT_TRAIN, 2, (uint64_t)i, &items[i]), 0);
        assert_int_equal(t3->demonstrate(t3, &items[i], &rng, demo[i], sizeof demo[i]), 0);
        codes[i] = i % 4 == 1 ? "sorted(x" : i % 4 == 2 ? "x[0]" : demo[i];
        if (i == 7) codes[i] = "len(x) / 0";
        /* repeats of an earlier job (run once, reward copied), of an
         * error and of a plain one */
        if (i == 10 || i == 11) {
            items[i] = items[i - 7];
            codes[i] = codes[i - 7];
        }
        if (i == 11) items[i] = items[7], codes[i] = codes[7];
        jobs[i] = (VerifyJob){&items[i], codes[i], i != 9};
    }
    task_verify_batch(t3, jobs, N, rb);
    for (int i = 0; i < N; i++) {
        Reward r;
        t1->verify(t1, &items[i], codes[i], i != 9, &r);
        assert_int_equal(r.status, rb[i].status);
        assert_int_equal(r.correct, rb[i].correct);
        assert_int_equal(r.n, rb[i].n);
        for (int q = 0; q < r.n; q++) assert_float_equal(r.value[q], rb[i].value[q], 0);
        assert_float_equal(r.total, rb[i].total, 0);
    }
    assert_int_equal(rb[7].status, REWARD_SANDBOX_ERROR);
    t3->destroy(t3);
    t1->destroy(t1);
}

/* The demonstrator's held-out accuracy is clearly below 1 (the ceiling
 * SFT inherits), and 1 at code_demo_error = 0. */
static void test_demonstrator_ceiling(void **state) {
    if (!have_sandbox()) skip();
    TaskParams p;
    task_params_default(&p);
    p.sandbox.jobs = 2;
    char err[256];
    Task *t = task_create("code", &p, 11, err, sizeof err);
    assert_non_null(t);
    double acc = task_demo_accuracy(t, 100, 3);
    print_message("demonstrator held-out accuracy (100 prompts): %.3f\n", acc);
    assert_true(acc > 0.5 && acc < 0.92);
    t->destroy(t);
    p.code_demo_error = 0;
    t = task_create("code", &p, 11, err, sizeof err);
    assert_float_equal(task_demo_accuracy(t, 40, 3), 1.0, 0);
    t->destroy(t);
}

static void test_bad_settings(void **state) {
    TaskParams p;
    task_params_default(&p);
    char err[512] = "";
    p.code_max_steps = 4;
    assert_null(task_create("code", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "code_max_steps"));
    task_params_default(&p);
    p.code_tests = 0;
    assert_null(task_create("code", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "code_tests"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_matches_python),
        cmocka_unit_test(test_generation_and_splits),
        cmocka_unit_test(test_correct_solutions_verify),
        cmocka_unit_test(test_trap_fails_right_tests),
        cmocka_unit_test(test_syntax_and_format),
        cmocka_unit_test(test_hostile_programs),
        cmocka_unit_test(test_escapes_contained),
        cmocka_unit_test(test_batch_equals_one_by_one),
        cmocka_unit_test(test_demonstrator_ceiling),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
