/* test_tasks.c: the arithmetic, countdown and jsonl tasks: generators,
 * verifiers, demonstrators, splits and the factory's error messages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eval.h"
#include "model.h"
#include "rollout.h"
#include "task.h"
#include "tokenizer.h"
#include "util.h"

/* Creates a task or fails the test with the factory's message. */
static Task *make_task(const char *name, const TaskParams *p, uint64_t seed) {
    char err[512] = "";
    Task *t = task_create(name, p, seed, err, sizeof err);
    if (!t) fail_msg("task_create(%s): %s", name, err);
    return t;
}

static Reward verify(const Task *t, const TaskItem *it, const char *c, int finished) {
    Reward r;
    t->verify(t, it, c, finished, &r);
    return r;
}

/* ---- arith ---- */

/* Parses "a<op>b=" from a prompt; fails the test if malformed. */
static void parse_arith(const char *prompt, long long *a, char *op, long long *b) {
    assert_int_equal(sscanf(prompt, "%lld%c%lld=", a, op, b), 3);
}

/* Number of carries (for +) or borrows (for -, larger minus smaller) the
 * exact column algorithm needs, counted independently of the task code. */
static int needed_carries(long long a, char op, long long b) {
    if (op == '*') return 0;
    if (op == '-' && a < b) {
        long long t = a;
        a = b;
        b = t;
    }
    int c = 0, n = 0;
    while (a > 0 || b > 0 || c) {
        int x = (int)(a % 10), y = (int)(b % 10);
        if (op == '+') c = x + y + c >= 10;
        else c = x - y - c < 0;
        n += c;
        a /= 10;
        b /= 10;
        if (op == '-' && a == 0 && b == 0) break;
    }
    return n;
}

static void reverse_str(const char *s, char *out) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) out[i] = s[n - 1 - i];
    out[n] = '\0';
}

static void test_arith_reference_answers(void **state) {
    TaskParams p;
    task_params_default(&p);
    Task *t = make_task("arith", &p, 7);
    int n_op[3] = {0};
    for (int i = 0; i < 5000; i++) {
        TaskItem it;
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
        long long a, b, v;
        char op;
        parse_arith(it.prompt, &a, &op, &b);
        assert_true(a >= 0 && b >= 0);
        if (op == '*') {
            assert_true(a >= 1 && a <= 12 && b >= 1 && b <= 12);
            v = a * b;
            n_op[2]++;
        } else {
            assert_true(a <= 999 && b <= 999);
            v = op == '+' ? a + b : a - b;
            assert_true(op == '+' || op == '-');
            n_op[op == '-']++;
        }
        assert_true(v >= 0); /* allow_negative = 0 */
        char want[32], sol[32];
        snprintf(want, sizeof want, "%lld", v);
        assert_string_equal(it.answer, want);
        reverse_str(want, sol);
        assert_string_equal(it.solution, sol);
        assert_true(it.id == task_item_id(it.prompt));
    }
    /* shares 0.6 / 0.2 / 0.2 within a few standard deviations */
    assert_true(abs(n_op[0] - 3000) < 150);
    assert_true(abs(n_op[1] - 1000) < 120 && abs(n_op[2] - 1000) < 120);
    t->destroy(t);
}

static void test_arith_verifier(void **state) {
    TaskParams p;
    task_params_default(&p);
    Task *t = make_task("arith", &p, 1);
    TaskItem it = {0};
    strcpy(it.prompt, "123+45=");
    strcpy(it.answer, "168");
    strcpy(it.solution, "861");
    Reward r = verify(t, &it, "861", 1);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.correct, 1);
    assert_float_equal(r.value[0], 1, 0);
    assert_float_equal(r.value[1], 1, 0);
    assert_float_equal(r.total, 1.1f, 1e-6);
    /* garbage around or inside the number: no credit at all */
    const char *garbage[] = {"861x", " 861", "8 61", "861 ", "", "x", "-861", "861--", "8610",
                             "86.1", "861\n", "+861"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        r = verify(t, &it, garbage[i], 1);
        assert_int_equal(r.correct, 0);
        assert_float_equal(r.value[1], 0, 0);
        assert_float_equal(r.total, 0, 0);
    }
    /* well-formed but wrong: format only */
    const char *wrong[] = {"168", "862", "861-", "0", "8611", "0861" /* 1680 */};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        r = verify(t, &it, wrong[i], 1);
        assert_int_equal(r.correct, 0);
        assert_float_equal(r.value[1], 1, 0);
        assert_float_equal(r.total, 0.1f, 1e-6);
    }
    /* cut at the length limit: neither */
    r = verify(t, &it, "861", 0);
    assert_int_equal(r.correct, 0);
    assert_float_equal(r.value[1], 0, 0);
    /* zero and negatives */
    strcpy(it.prompt, "5-5=");
    strcpy(it.answer, "0");
    assert_int_equal(verify(t, &it, "0", 1).correct, 1);
    assert_float_equal(verify(t, &it, "0-", 1).value[1], 0, 0);
    assert_float_equal(verify(t, &it, "00", 1).value[1], 0, 0);
    strcpy(it.prompt, "7-19=");
    strcpy(it.answer, "-12");
    assert_int_equal(verify(t, &it, "21-", 1).correct, 1);
    assert_int_equal(verify(t, &it, "21", 1).correct, 0);
    t->destroy(t);
}

static void test_arith_negative_items(void **state) {
    TaskParams p;
    task_params_default(&p);
    p.allow_negative = 1;
    p.p_add = p.p_mul = 0;
    p.p_sub = 1;
    Task *t = make_task("arith", &p, 3);
    int n_neg = 0;
    Rng rng;
    rng_seed(&rng, 1, 2);
    for (int i = 0; i < 2000; i++) {
        TaskItem it;
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
        long long a, b;
        char op;
        parse_arith(it.prompt, &a, &op, &b);
        assert_int_equal(op, '-');
        if (a < b) {
            n_neg++;
            assert_int_equal(it.solution[strlen(it.solution) - 1], '-');
        }
        assert_int_equal(verify(t, &it, it.solution, 1).correct, 1);
        char demo[TASK_MAX_TEXT];
        assert_int_equal(t->demonstrate(t, &it, &rng, demo, sizeof demo), 0);
        assert_float_equal(verify(t, &it, demo, 1).value[1], 1, 0); /* always well-formed */
    }
    assert_true(n_neg > 500);
    t->destroy(t);
}

/* Demonstrations with demo_error err on n train items: calls check on
 * each (item, carries needed, correct?). */
static void run_demo(float err, int n, void (*check)(const TaskItem *, int, int)) {
    TaskParams p;
    task_params_default(&p);
    p.demo_error = err;
    Task *t = make_task("arith", &p, 11);
    Rng rng;
    rng_seed(&rng, 5, 0);
    for (int i = 0; i < n; i++) {
        TaskItem it;
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
        char demo[TASK_MAX_TEXT];
        assert_int_equal(t->demonstrate(t, &it, &rng, demo, sizeof demo), 0);
        Reward r = verify(t, &it, demo, 1);
        assert_float_equal(r.value[1], 1, 0);
        long long a, b;
        char op;
        parse_arith(it.prompt, &a, &op, &b);
        check(&it, needed_carries(a, op, b), r.correct);
    }
    t->destroy(t);
}

static void check_always_right(const TaskItem *it, int carries, int correct) {
    if (!correct) fail_msg("demo_error=0 demonstrator wrong on %s", it->prompt);
}

static void check_wrong_iff_carry(const TaskItem *it, int carries, int correct) {
    if (correct != (carries == 0))
        fail_msg("demo_error=1 on %s (%d carries): correct=%d", it->prompt, carries, correct);
}

static void test_arith_demonstrator_extremes(void **state) {
    run_demo(0.0f, 5000, check_always_right);
    run_demo(1.0f, 5000, check_wrong_iff_carry);
}

static void test_arith_demonstrator_accuracy(void **state) {
    TaskParams p;
    task_params_default(&p); /* demo_error 0.6 */
    /* a held-out split of about 4500 prompts, so 4000 distinct ones exist */
    p.eval_permille = 300;
    Task *t = make_task("arith", &p, 1234);
    /* Expected accuracy over the held-out set it is measured on: each
     * needed carry survives with probability 0.4. */
    int n = 4000;
    TaskEvalSet set;
    char err[256];
    assert_int_equal(task_eval_set(t, n, &set, err, sizeof err), 0);
    assert_int_equal(set.n, n);
    double expect = 0;
    for (int i = 0; i < n; i++) {
        TaskItem it;
        assert_int_equal(task_eval_item(t, &set, i, &it), 0);
        long long a, b;
        char op;
        parse_arith(it.prompt, &a, &op, &b);
        expect += pow(0.4, needed_carries(a, op, b));
    }
    expect /= n;
    task_eval_set_free(&set);
    double acc = task_demo_accuracy(t, n, 99);
    print_message("demonstrator accuracy at demo_error 0.6: %.4f (expected %.4f, %d eval items)\n",
                  acc, expect, n);
    assert_true(fabs(acc - expect) < 0.03);
    assert_true(acc > 0.3 && acc < 0.75);
    t->destroy(t);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Draws n items of split and checks each one's id lands in that split. */
static uint64_t *split_ids(const Task *t, TaskSplit split, int n, int permille) {
    uint64_t *ids = malloc(sizeof(uint64_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        TaskItem it;
        assert_int_equal(t->sample(t, split, (uint64_t)(i % 3), (uint64_t)i, &it), 0);
        assert_int_equal(task_id_is_eval(it.id, permille), split == SPLIT_EVAL);
        ids[i] = it.id;
    }
    qsort(ids, (size_t)n, sizeof ids[0], cmp_u64);
    return ids;
}

/* Asserts no id is in both sorted lists. */
static void assert_disjoint(const uint64_t *a, int na, const uint64_t *b, int nb) {
    int i = 0, j = 0;
    while (i < na && j < nb) {
        assert_true(a[i] != b[j]);
        if (a[i] < b[j]) i++;
        else j++;
    }
}

static void test_splits_disjoint(void **state) {
    const char *names[] = {"arith", "countdown"};
    for (int k = 0; k < 2; k++) {
        TaskParams p;
        task_params_default(&p);
        Task *t = make_task(names[k], &p, 42);
        int ntr = 20000, nev = 2000;
        uint64_t *tr = split_ids(t, SPLIT_TRAIN, ntr, p.eval_permille);
        uint64_t *ev = split_ids(t, SPLIT_EVAL, nev, p.eval_permille);
        assert_disjoint(tr, ntr, ev, nev);
        free(tr);
        free(ev);
        t->destroy(t);
    }
    /* all eval: the train split is empty, not an endless loop */
    TaskParams p;
    task_params_default(&p);
    p.eval_permille = 1000;
    Task *t = make_task("arith", &p, 42);
    TaskItem it;
    assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, 0, &it), -1);
    assert_int_equal(t->sample(t, SPLIT_EVAL, 0, 0, &it), 0);
    t->destroy(t);
}

static void test_determinism(void **state) {
    TaskParams p;
    task_params_default(&p);
    Task *a = make_task("arith", &p, 5), *b = make_task("arith", &p, 5);
    Task *c = make_task("arith", &p, 6);
    int n_same_c = 0, n_same_stream = 0;
    for (int i = 0; i < 500; i++) {
        TaskItem x, y, z, w;
        a->sample(a, SPLIT_TRAIN, 0, (uint64_t)i, &x);
        b->sample(b, SPLIT_TRAIN, 0, (uint64_t)i, &y);
        c->sample(c, SPLIT_TRAIN, 0, (uint64_t)i, &z);
        a->sample(a, SPLIT_TRAIN, 1, (uint64_t)i, &w);
        assert_memory_equal(&x, &y, sizeof x);
        n_same_c += strcmp(x.prompt, z.prompt) == 0;
        n_same_stream += strcmp(x.prompt, w.prompt) == 0;
    }
    assert_true(n_same_c < 50 && n_same_stream < 50);
    a->destroy(a);
    b->destroy(b);
    c->destroy(c);
}

static void test_factory_errors(void **state) {
    char err[256];
    TaskParams p;
    task_params_default(&p);
    assert_null(task_create("nope", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "nope"));
    p.max_digits = 12;
    assert_null(task_create("arith", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "max_digits"));
    task_params_default(&p);
    p.p_add = p.p_sub = p.p_mul = 0;
    assert_null(task_create("arith", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "p_add"));
    task_params_default(&p);
    p.demo_error = 1.5f;
    assert_null(task_create("arith", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "demo_error"));
    task_params_default(&p);
    p.eval_permille = 1001;
    assert_null(task_create("arith", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "eval_permille"));
    task_params_default(&p);
    p.cd_n_max = 2;
    assert_null(task_create("countdown", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "countdown_max"));
    task_params_default(&p);
    assert_null(task_create("jsonl", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "data"));
}

/* ---- countdown ---- */

static void test_countdown_solutions_verify(void **state) {
    TaskParams p;
    task_params_default(&p);
    Task *t = make_task("countdown", &p, 9);
    Rng rng;
    rng_seed(&rng, 1, 1);
    int n_by_count[7] = {0};
    for (int i = 0; i < 3000; i++) {
        TaskItem it;
        TaskSplit split = i % 10 == 0 ? SPLIT_EVAL : SPLIT_TRAIN;
        assert_int_equal(t->sample(t, split, 0, (uint64_t)i, &it), 0);
        int n = 1;
        for (const char *c = it.prompt; *c; c++) n += *c == ',';
        assert_true(n >= 3 && n <= 4);
        n_by_count[n]++;
        int target = atoi(strchr(it.prompt, '>') + 1);
        assert_true(target >= 1 && target <= 999);
        Reward r = verify(t, &it, it.solution, 1);
        if (!r.correct) fail_msg("solution %s for %s rejected", it.solution, it.prompt);
        assert_float_equal(r.total, 1.1f, 1e-6);
        char demo[TASK_MAX_TEXT];
        assert_int_equal(t->demonstrate(t, &it, &rng, demo, sizeof demo), 0);
        assert_int_equal(verify(t, &it, demo, 1).correct, 1);
    }
    assert_true(n_by_count[3] > 1000 && n_by_count[4] > 1000);
    t->destroy(t);
}

/* Verifies c against prompt; checks accuracy and format. */
static void cd_expect(const Task *t, const char *prompt, const char *c, int acc, int form) {
    TaskItem it = {0};
    strcpy(it.prompt, prompt);
    Reward r = verify(t, &it, c, 1);
    if (r.correct != acc || (int)r.value[1] != form)
        fail_msg("%s on %s: accuracy %d format %d, expected %d %d", c, prompt, r.correct,
                 (int)r.value[1], acc, form);
}

static void test_countdown_verifier(void **state) {
    TaskParams p;
    task_params_default(&p);
    Task *t = make_task("countdown", &p, 1);
    const char *q = "3,7,25,2>46=";
    cd_expect(t, q, "25*2-7+3", 1, 1);
    cd_expect(t, q, "25*2-(7-3)", 1, 1);
    cd_expect(t, q, "3+25*2-7", 1, 1);
    cd_expect(t, q, "((25))*2-7+3", 1, 1);
    /* wrong multiset of numbers */
    cd_expect(t, q, "25*2-4", 0, 1);
    cd_expect(t, q, "25*2-7+3+0", 0, 1);
    cd_expect(t, q, "25*2-7+3*1", 0, 1);
    cd_expect(t, q, "25*2-7+3+7-7", 0, 1);
    cd_expect(t, "3,3,2>12=", "3*2*2", 0, 1);
    cd_expect(t, "3,3,2>12=", "3*3+2", 0, 1); /* right numbers, wrong value */
    cd_expect(t, "3,3,2>18=", "3*3*2", 1, 1);
    /* division by zero and inexact division */
    cd_expect(t, "5,5,3>3=", "3+5/(5-5)", 0, 1);
    cd_expect(t, "5,5,3>3=", "3/(5-5)*5", 0, 1);
    cd_expect(t, "6,4,2>3=", "6/4*2", 0, 1);
    cd_expect(t, "6,4,2>3=", "6*2/4", 1, 1);
    /* overflow is an arithmetic error, not a crash */
    cd_expect(t, "999999999,999999999,999999999>1=", "999999999*999999999*999999999", 0, 1);
    /* garbage */
    cd_expect(t, q, "46", 0, 1);
    const char *garbage[] = {"", "25*2-7+3=", "25 * 2-7+3", "25*2-7+3x", "-3+25*2-7",
                             "(25*2-7+3", "25*2-7+3)", "25**2-7+3", "025*2-7+3", "25*2-7+3.0",
                             "25*2-7+3\n", "()", "25*2-7+3+", "99999999999999999999*2-7+3"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
        cd_expect(t, q, garbage[i], 0, 0);
    /* not finished: neither component */
    TaskItem it = {0};
    strcpy(it.prompt, q);
    Reward r = verify(t, &it, "25*2-7+3", 0);
    assert_int_equal(r.correct, 0);
    assert_float_equal(r.value[1], 0, 0);
    t->destroy(t);
}

static void test_countdown_nesting_bounded(void **state) {
    TaskParams p;
    task_params_default(&p);
    Task *t = make_task("countdown", &p, 1);
    char buf[20100];
    /* 20 levels: fine */
    int d = 20, n = 0;
    for (int i = 0; i < d; i++) buf[n++] = '(';
    n += sprintf(buf + n, "3*3");
    for (int i = 0; i < d; i++) buf[n++] = ')';
    n += sprintf(buf + n, "*2");
    buf[n] = '\0';
    cd_expect(t, "3,3,2>18=", buf, 1, 1);
    /* 10000 levels: refused without exhausting the stack */
    d = 10000;
    n = 0;
    for (int i = 0; i < d; i++) buf[n++] = '(';
    n += sprintf(buf + n, "18");
    for (int i = 0; i < d; i++) buf[n++] = ')';
    buf[n] = '\0';
    cd_expect(t, "18,1>18=", buf, 0, 0);
    t->destroy(t);
}

/* ---- jsonl ---- */

/* Writes text to a fresh temp file; returns its path (static buffer). */
static const char *write_temp(const char *text) {
    static char path[64];
    strcpy(path, "/tmp/test_tasks_XXXXXX.jsonl");
    int fd = mkstemps(path, 6);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_jsonl_good_file(void **state) {
    char *text = malloc(1 << 16);
    int n = 0;
    for (int i = 0; i < 300; i++) {
        n += sprintf(text + n, "{\"prompt\": \"What is %d+%d?\", \"answer\": \"%d\"}\n", i, i,
                     2 * i);
        if (i == 10) n += sprintf(text + n, "\n   \n"); /* blank lines are skipped */
    }
    const char *path = write_temp(text);
    free(text);
    TaskParams p;
    task_params_default(&p);
    p.eval_permille = 200;
    snprintf(p.jsonl_path, sizeof p.jsonl_path, "%s", path);
    Task *t = make_task("jsonl", &p, 3);
    Rng rng;
    rng_seed(&rng, 1, 1);
    int n_eval = 0;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 200; i++) {
            TaskItem it, again;
            assert_int_equal(t->sample(t, (TaskSplit)s, 0, (uint64_t)i, &it), 0);
            assert_int_equal(t->sample(t, (TaskSplit)s, 0, (uint64_t)i, &again), 0);
            assert_memory_equal(&it, &again, sizeof it);
            assert_int_equal(task_id_is_eval(it.id, 200), s);
            int a, b;
            assert_int_equal(sscanf(it.prompt, "What is %d+%d?", &a, &b), 2);
            assert_int_equal(atoi(it.answer), a + b);
            char demo[TASK_MAX_TEXT];
            assert_int_equal(t->demonstrate(t, &it, &rng, demo, sizeof demo), 0);
            Reward r = verify(t, &it, demo, 1);
            assert_int_equal(r.correct, 1);
            assert_float_equal(r.total, 1.1f, 1e-6);
            n_eval += s;
        }
    assert_int_equal(n_eval, 200);
    t->destroy(t);
    unlink(path);
}

static void test_jsonl_normalisation(void **state) {
    const char *path = write_temp("{\"prompt\": \"p\", \"answer\": \"1000\"}\n");
    TaskParams p;
    task_params_default(&p);
    snprintf(p.jsonl_path, sizeof p.jsonl_path, "%s", path);
    Task *t = make_task("jsonl", &p, 1);
    TaskItem it = {0};
    strcpy(it.prompt, "p");
    strcpy(it.answer, "1000");
    const char *same[] = {"1000",  "1,000", "+1000", "1000.0",
                          " 1000 ", "1000.", "01000", "1,000.00"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (!verify(t, &it, same[i], 1).correct) fail_msg("'%s' should equal 1000", same[i]);
    const char *differ[] = {"1e3", "10,00", "1000.1", "100", "-1000", "1,0000", "1000 apples", "",
                            "1.000", ",1000", "1000,"};
    for (size_t i = 0; i < sizeof differ / sizeof differ[0]; i++)
        if (verify(t, &it, differ[i], 1).correct) fail_msg("'%s' should not equal 1000", differ[i]);
    strcpy(it.answer, "-0.50");
    assert_int_equal(verify(t, &it, "-.5", 1).correct, 1);
    assert_int_equal(verify(t, &it, "0.5", 1).correct, 0);
    strcpy(it.answer, "0");
    assert_int_equal(verify(t, &it, "-0.0", 1).correct, 1);
    strcpy(it.answer, "Paris");
    assert_int_equal(verify(t, &it, " Paris\t", 1).correct, 1);
    assert_int_equal(verify(t, &it, "paris", 1).correct, 0);
    /* format: non-blank, one line, finished */
    assert_float_equal(verify(t, &it, "Paris", 1).value[1], 1, 0);
    assert_float_equal(verify(t, &it, "Lyon", 1).value[1], 1, 0);
    assert_float_equal(verify(t, &it, "  ", 1).value[1], 0, 0);
    assert_float_equal(verify(t, &it, "Paris\nLyon", 1).value[1], 0, 0);
    Reward r = verify(t, &it, "Paris", 0);
    assert_int_equal(r.correct, 0);
    assert_float_equal(r.value[1], 0, 0);
    t->destroy(t);
    unlink(path);
}

static void test_jsonl_bad_line(void **state) {
    const char *bad3[] = {
        "{\"prompt\": \"c\"}",                       /* missing answer */
        "{\"prompt\": \"c\", \"answer\": 3}",        /* wrong type */
        "{\"prompt\": \"c\", \"answer\": \"3\"",     /* not JSON */
        "[\"c\", \"3\"]",                            /* not an object */
        "{\"prompt\": \"\", \"answer\": \"3\"}",     /* empty prompt */
        NULL,                                        /* too long (built below) */
    };
    for (int k = 0; k < 6; k++) {
        char text[2048];
        int n = sprintf(text, "{\"prompt\": \"a\", \"answer\": \"1\"}\n"
                              "{\"prompt\": \"b\", \"answer\": \"2\"}\n");
        if (bad3[k]) {
            n += sprintf(text + n, "%s\n", bad3[k]);
        } else {
            n += sprintf(text + n, "{\"prompt\": \"");
            for (int i = 0; i < TASK_MAX_TEXT; i++) text[n++] = 'x';
            n += sprintf(text + n, "\", \"answer\": \"3\"}\n");
        }
        sprintf(text + n, "{\"prompt\": \"d\", \"answer\": \"4\"}\n");
        const char *path = write_temp(text);
        TaskParams p;
        task_params_default(&p);
        snprintf(p.jsonl_path, sizeof p.jsonl_path, "%s", path);
        char err[512] = "";
        assert_null(task_create("jsonl", &p, 1, err, sizeof err));
        if (!strstr(err, path) || !strstr(err, "line 3"))
            fail_msg("case %d: error '%s' lacks the path or line 3", k, err);
        unlink(path);
    }
    TaskParams p;
    task_params_default(&p);
    strcpy(p.jsonl_path, "/nonexistent/data.jsonl");
    char err[512];
    assert_null(task_create("jsonl", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/data.jsonl"));
}

/* Runs fn(arg) in a child process; returns its exit status and what it
 * wrote to stderr (cap bytes, NUL-terminated), for code that dies. */
static int run_child(void (*fn)(void *), void *arg, char *out, size_t cap) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], out + n, cap - 1 - n)) > 0) n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Line 3 of the file (after a blank line) has a prompt with 'é', line 4 an
 * answer with a tab; the tokenizer check names the file, line, field and
 * character of the first. */
static void test_jsonl_char_not_in_tokenizer(void **state) {
    const char *path = write_temp("{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n"
                                  "\n"
                                  "{\"prompt\": \"caf\\u00e9=\", \"answer\": \"3\"}\n"
                                  "{\"prompt\": \"2+2=\", \"answer\": \"4\\t\"}\n");
    TaskParams p;
    task_params_default(&p);
    snprintf(p.jsonl_path, sizeof p.jsonl_path, "%s", path);
    Task *t = make_task("jsonl", &p, 1);
    Tokenizer tok;
    tokenizer_init_char(&tok);
    char err[512] = "", want[600];
    assert_int_equal(task_check_tokenizer(t, &tok, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s line 3: prompt has character '\xc3\xa9' (0xc3 0xa9) that the tokenizer does not "
             "have", path);
    assert_string_equal(err, want);
    t->destroy(t);
    unlink(path);
    path = write_temp("{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n"
                      "{\"prompt\": \"2+2=\", \"answer\": \"4\\t\"}\n");
    snprintf(p.jsonl_path, sizeof p.jsonl_path, "%s", path);
    t = make_task("jsonl", &p, 1);
    assert_int_equal(task_check_tokenizer(t, &tok, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s line 2: answer has character '\\t' (0x09) that the tokenizer does not have", path);
    assert_string_equal(err, want);
    t->destroy(t);
    unlink(path);
    /* generated tasks have nothing to report */
    Task *a = make_task("arith", &p, 1);
    assert_int_equal(task_check_tokenizer(a, &tok, err, sizeof err), 0);
    a->destroy(a);
}

/* An actor given that data: it stops before any rollout with the file and
 * line, not with a bare prompt and byte offset once the line is drawn. */
static void actor_on_bad_data(void *arg) {
    const char *path = arg;
    TaskParams p;
    task_params_default(&p);
    snprintf(p.jsonl_path, sizeof p.jsonl_path, "%s", path);
    p.eval_permille = 0; /* every line trains */
    char err[512];
    Task *t = task_create("jsonl", &p, 1, err, sizeof err);
    if (!t) {
        fprintf(stderr, "task_create: %s\n", err);
        _exit(2);
    }
    Tokenizer tok;
    tokenizer_init_char(&tok);
    const ModelConfig mc = {.vocab_size = tok.vocab_size, .dim = 8, .n_layers = 1, .n_heads = 2,
                            .n_kv_heads = 1, .hidden_dim = 8, .max_seq_len = 32,
                            .tied_embeddings = 1, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &mc);
    model_init_weights(&m, 1);
    SamplerConfig sc = {.temperature = 1.0f, .top_p = 1.0f, .max_new_tokens = 4};
    Roller r;
    roller_init(&r, &m, &tok, t, NULL, &sc, 2, 1, 1, 1, 1);
    Group g;
    roller_run(&r, 1, 0, 1, 0, &g);
    _exit(0); /* not reached: the data is bad */
}

static void test_jsonl_bad_char_stops_actor_with_line(void **state) {
    const char *path = write_temp("\n\n{\"prompt\": \"caf\\u00e9=\", \"answer\": \"3\"}\n");
    char out[4096], want[600];
    const int rc = run_child(actor_on_bad_data, (void *)path, out, sizeof out);
    snprintf(want, sizeof want,
             "%s line 3: prompt has character '\xc3\xa9' (0xc3 0xa9) that the tokenizer does not "
             "have", path);
    if (rc == 0 || !strstr(out, want))
        fail_msg("exit %d, stderr '%s', expected '%s'", rc, out, want);
    unlink(path);
}

/* ---- the held-out evaluation set ---- */

/* Checks s: n items, distinct prompts, each in the eval split of
 * permille, each item's own solution verified correct. Returns the ids
 * sorted (malloc'd). */
static uint64_t *check_eval_set(const Task *t, const TaskEvalSet *s, int permille) {
    uint64_t *ids = malloc(sizeof(uint64_t) * (size_t)s->n);
    for (int i = 0; i < s->n; i++) {
        TaskItem it;
        assert_int_equal(task_eval_item(t, s, i, &it), 0);
        assert_true(it.id == task_item_id(it.prompt));
        assert_int_equal(task_id_is_eval(it.id, permille), 1);
        assert_int_equal(verify(t, &it, it.solution, 1).correct, 1);
        ids[i] = it.id;
    }
    qsort(ids, (size_t)s->n, sizeof ids[0], cmp_u64);
    for (int i = 1; i < s->n; i++)
        if (ids[i] == ids[i - 1]) fail_msg("held-out set repeats a prompt (id %016llx)",
                                           (unsigned long long)ids[i]);
    return ids;
}

static void assert_same_set(const TaskEvalSet *a, const TaskEvalSet *b) {
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->whole_split, b->whole_split);
    assert_memory_equal(a->key, b->key, sizeof(uint64_t) * (size_t)a->n);
}

/* At the defaults the arith eval split is small (the issue: "500 prompts"
 * were about 150 distinct ones): the set is the whole split, and every eval
 * item the generator ever draws is in it. */
static void test_eval_set_arith_whole_split(void **state) {
    TaskParams p;
    task_params_default(&p);
    Task *t = make_task("arith", &p, 42);
    TaskEvalSet s;
    char err[256];
    assert_int_equal(task_eval_set(t, 500, &s, err, sizeof err), 0);
    assert_int_equal(s.whole_split, 1);
    assert_int_equal(s.asked, 500);
    assert_int_equal(s.n, 287);
    uint64_t *ids = check_eval_set(t, &s, p.eval_permille);
    int n_seen = 0;
    uint64_t *seen = malloc(sizeof(uint64_t) * (size_t)s.n);
    for (int k = 0; k < 20000; k++) {
        TaskItem it;
        assert_int_equal(t->sample(t, SPLIT_EVAL, 0, (uint64_t)k, &it), 0);
        if (!bsearch(&it.id, ids, (size_t)s.n, sizeof ids[0], cmp_u64))
            fail_msg("generated eval item %s is not in the listed split", it.prompt);
        int known = 0;
        for (int j = 0; j < n_seen && !known; j++) known = seen[j] == it.id;
        if (!known) seen[n_seen++] = it.id;
    }
    print_message("arith defaults: held-out split of %d prompts; 20000 draws found %d of them\n",
                  s.n, n_seen);
    assert_int_equal(n_seen, s.n); /* and it lists nothing the generator never writes */
    /* the same task always yields the same set; asking for fewer gives a prefix */
    Task *again = make_task("arith", &p, 42);
    TaskEvalSet s2, few;
    assert_int_equal(task_eval_set(again, 500, &s2, err, sizeof err), 0);
    assert_same_set(&s, &s2);
    assert_int_equal(task_eval_set(again, 40, &few, err, sizeof err), 0);
    assert_int_equal(few.n, 40);
    assert_int_equal(few.whole_split, 0);
    assert_memory_equal(few.key, s.key, 40 * sizeof(uint64_t));
    free(seen);
    free(ids);
    task_eval_set_free(&s);
    task_eval_set_free(&s2);
    task_eval_set_free(&few);
    again->destroy(again);
    t->destroy(t);
}

/* A split larger than asked: that many distinct prompts, fixed by the seed;
 * sampled (countdown) and listed (arith) alike. */
static void test_eval_set_subset(void **state) {
    const char *names[2] = {"arith", "countdown"};
    for (int k = 0; k < 2; k++) {
        TaskParams p;
        task_params_default(&p);
        if (k == 0) p.eval_permille = 300; /* about 4500 prompts */
        Task *t = make_task(names[k], &p, 7), *same = make_task(names[k], &p, 7);
        Task *other = make_task(names[k], &p, 8);
        TaskEvalSet a, b, c;
        char err[256];
        assert_int_equal(task_eval_set(t, 1000, &a, err, sizeof err), 0);
        assert_int_equal(a.n, 1000);
        assert_int_equal(a.whole_split, 0);
        assert_int_equal(a.listed, k == 0);
        free(check_eval_set(t, &a, p.eval_permille));
        assert_int_equal(task_eval_set(same, 1000, &b, err, sizeof err), 0);
        assert_same_set(&a, &b);
        assert_int_equal(task_eval_set(other, 1000, &c, err, sizeof err), 0);
        assert_int_equal(c.n, 1000);
        assert_true(memcmp(a.key, c.key, sizeof(uint64_t) * 1000) != 0);
        task_eval_set_free(&a);
        task_eval_set_free(&b);
        task_eval_set_free(&c);
        t->destroy(t);
        same->destroy(same);
        other->destroy(other);
    }
    /* asking for none is an error, not an empty evaluation */
    TaskParams p;
    task_params_default(&p);
    Task *t = make_task("arith", &p, 7);
    TaskEvalSet s;
    char err[256];
    assert_int_equal(task_eval_set(t, 0, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 1"));
    t->destroy(t);
}

/* jsonl: 40 lines, 10 of them repeating an earlier prompt, so the eval
 * split (all of it here) has 30 distinct prompts. */
static const char *write_repeats(void) {
    static char text[8192];
    int n = 0;
    for (int i = 0; i < 40; i++)
        n += sprintf(text + n, "{\"prompt\": \"%d*3=\", \"answer\": \"%d\"}\n", i % 30,
                     (i % 30) * 3);
    return write_temp(text);
}

static Task *repeats_task(const char *path, int permille) {
    TaskParams p;
    task_params_default(&p);
    p.eval_permille = permille;
    snprintf(p.jsonl_path, sizeof p.jsonl_path, "%s", path);
    return make_task("jsonl", &p, 5);
}

static void test_eval_set_jsonl_distinct(void **state) {
    const char *path = write_repeats();
    Task *t = repeats_task(path, 1000);
    TaskEvalSet s;
    char err[512];
    assert_int_equal(task_eval_set(t, 100, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 30);
    assert_int_equal(s.whole_split, 1);
    free(check_eval_set(t, &s, 1000));
    task_eval_set_free(&s);
    t->destroy(t);
    /* no line in the eval split: the message says so */
    t = repeats_task(path, 0);
    assert_int_equal(task_eval_set(t, 100, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "held-out split is empty"));
    assert_true(task_demo_accuracy(t, 100, 1) == -1);
    t->destroy(t);
    unlink(path);
}

/* Evaluation and the demonstrator report, observed through the verifier
 * they call: which held-out prompts they score, and how often. */
static const Task *counted_inner;
static uint64_t counted_id[256];
static int n_counted;

static void counting_verify(const Task *t, const TaskItem *it, const char *c, int finished,
                            Reward *out) {
    assert_true(n_counted < 256);
    counted_id[n_counted++] = it->id;
    counted_inner->verify(counted_inner, it, c, finished, out);
}

/* The sorted ids verified since the last call, in ids (256); returns how
 * many, failing if one repeats. */
static int take_counted(uint64_t *ids) {
    const int n = n_counted;
    memcpy(ids, counted_id, sizeof(uint64_t) * (size_t)n);
    qsort(ids, (size_t)n, sizeof ids[0], cmp_u64);
    for (int i = 1; i < n; i++)
        if (ids[i] == ids[i - 1]) fail_msg("a held-out prompt was scored twice");
    n_counted = 0;
    return n;
}

/* What eval_print writes for r, in out (cap bytes). */
static void print_to(const EvalResult *r, const Task *t, char *out, size_t cap) {
    char path[] = "/tmp/test_tasks_print_XXXXXX";
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    const int saved = dup(1);
    dup2(fd, 1);
    eval_print("test", r, t);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    const ssize_t n = pread(fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

static void test_evaluate_uses_distinct_prompts(void **state) {
    const char *path = write_repeats();
    Task *inner = repeats_task(path, 1000);
    Task t = *inner;
    t.verify = counting_verify;
    counted_inner = inner;
    n_counted = 0;
    Tokenizer tok;
    tokenizer_init_char(&tok);
    const ModelConfig mc = {.vocab_size = tok.vocab_size, .dim = 8, .n_layers = 1, .n_heads = 2,
                            .n_kv_heads = 1, .hidden_dim = 8, .max_seq_len = 16,
                            .tied_embeddings = 1, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &mc);
    model_init_weights(&m, 3);
    SamplerConfig sc = {.temperature = 1.0f, .top_p = 1.0f, .max_new_tokens = 4};
    uint64_t all[256], part[256], again[256], demo[256];
    EvalResult r;

    /* more asked than the split has: each of its 30 prompts exactly once */
    evaluate(&m, &tok, &t, &sc, 100, 0, 1, &r);
    assert_int_equal(take_counted(all), 30);
    assert_int_equal(r.n_prompts, 30);
    assert_int_equal(r.asked, 100);
    assert_int_equal(r.whole_split, 1);
    assert_true(task_demo_accuracy(&t, 100, 1) == 1.0);
    assert_int_equal(take_counted(demo), 30);
    assert_memory_equal(demo, all, sizeof(uint64_t) * 30);
    char line[512];
    print_to(&r, &t, line, sizeof line);
    assert_non_null(strstr(line, "test held-out on 30 distinct prompts (the whole held-out split; "
                                 "100 asked): greedy accuracy"));

    /* fewer: that many distinct prompts of the split, the same each time,
     * and the demonstrator is scored on the same ones */
    evaluate(&m, &tok, &t, &sc, 12, 0, 1, &r);
    assert_int_equal(take_counted(part), 12);
    assert_int_equal(r.n_prompts, 12);
    assert_int_equal(r.whole_split, 0);
    for (int i = 0; i < 12; i++)
        assert_non_null(bsearch(&part[i], all, 30, sizeof all[0], cmp_u64));
    evaluate(&m, &tok, &t, &sc, 12, 0, 2, &r);
    assert_int_equal(take_counted(again), 12);
    assert_memory_equal(again, part, sizeof(uint64_t) * 12);
    assert_true(task_demo_accuracy(&t, 12, 1) == 1.0);
    assert_int_equal(take_counted(demo), 12);
    assert_memory_equal(demo, part, sizeof(uint64_t) * 12);
    print_to(&r, &t, line, sizeof line);
    assert_non_null(strstr(line, "test held-out on 12 distinct prompts: greedy accuracy"));

    model_free(&m);
    inner->destroy(inner);
    unlink(path);
}

/* task_verify_batch is verify() one by one for a task without a batch
 * verifier, with every status REWARD_OK; each status has its own name. */
static void test_verify_batch_and_status_names(void **state) {
    (void)state;
    TaskParams p;
    task_params_default(&p);
    char err[256];
    Task *t = task_create("arith", &p, 7, err, sizeof err);
    assert_non_null(t);
    enum { N = 40 };
    TaskItem items[N];
    char texts[N][TASK_MAX_TEXT];
    VerifyJob jobs[N];
    Rng rng;
    rng_seed(&rng, 3, 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &items[i]), 0);
        assert_int_equal(t->demonstrate(t, &items[i], &rng, texts[i], TASK_MAX_TEXT), 0);
        jobs[i] = (VerifyJob){&items[i], texts[i], i % 3 != 0};
    }
    Reward batch[N];
    memset(batch, 0x5a, sizeof batch); /* garbage: the batch must set every field */
    task_verify_batch(t, jobs, N, batch);
    int right = 0;
    for (int i = 0; i < N; i++) {
        Reward one;
        memset(&one, 0, sizeof one);
        t->verify(t, &items[i], texts[i], jobs[i].finished, &one);
        assert_int_equal(batch[i].status, REWARD_OK);
        assert_int_equal(batch[i].n, one.n);
        assert_int_equal(batch[i].correct, one.correct);
        assert_memory_equal(&batch[i].total, &one.total, sizeof one.total);
        assert_memory_equal(batch[i].value, one.value, sizeof(float) * (size_t)one.n);
        right += one.correct;
    }
    assert_true(right > 0 && right < N); /* both kinds were compared */
    t->destroy(t);
    for (int a = 0; a < REWARD_STATUS_COUNT; a++) {
        assert_string_not_equal(reward_status_name(a), "unknown");
        for (int b = 0; b < a; b++)
            assert_string_not_equal(reward_status_name(a), reward_status_name(b));
    }
    assert_string_equal(reward_status_name(REWARD_OK), "ok");
    assert_string_equal(reward_status_name(REWARD_SANDBOX_CPU), "sandbox_cpu");
    assert_string_equal(reward_status_name(REWARD_STATUS_COUNT), "unknown");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arith_reference_answers),
        cmocka_unit_test(test_arith_verifier),
        cmocka_unit_test(test_arith_negative_items),
        cmocka_unit_test(test_arith_demonstrator_extremes),
        cmocka_unit_test(test_arith_demonstrator_accuracy),
        cmocka_unit_test(test_splits_disjoint),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_factory_errors),
        cmocka_unit_test(test_countdown_solutions_verify),
        cmocka_unit_test(test_countdown_verifier),
        cmocka_unit_test(test_countdown_nesting_bounded),
        cmocka_unit_test(test_jsonl_good_file),
        cmocka_unit_test(test_jsonl_normalisation),
        cmocka_unit_test(test_jsonl_bad_line),
        cmocka_unit_test(test_jsonl_char_not_in_tokenizer),
        cmocka_unit_test(test_jsonl_bad_char_stops_actor_with_line),
        cmocka_unit_test(test_eval_set_arith_whole_split),
        cmocka_unit_test(test_eval_set_subset),
        cmocka_unit_test(test_eval_set_jsonl_distinct),
        cmocka_unit_test(test_evaluate_uses_distinct_prompts),
        cmocka_unit_test(test_verify_batch_and_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
