/* test_tasks_cot.c: the chain-of-thought tasks (arith_cot, countdown_cot):
 * the scratchpad text, every verifier case, the gated reward under GRPO's
 * group advantages, the dropped-carry demonstrator (the first carry), the
 * direct-answer variant (cot_think = 0), countdown_cot's
 * smaller-from-larger demonstrator, completion length, determinism and the
 * start-up length check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpo_loss.h"
#include "task.h"
#include "tokenizer.h"

static Task *make_task(const char *name, const TaskParams *p, uint64_t seed) {
    char err[512] = "";
    Task *t = task_create(name, p, seed, err, sizeof err);
    if (!t) fail_msg("task_create(%s): %s", name, err);
    return t;
}

/* An item with this prompt, its answer and correct solution (the
 * demonstrator at cot_demo_error = 0). */
static void item_of(const char *prompt, const char *answer, TaskItem *it) {
    memset(it, 0, sizeof *it);
    snprintf(it->prompt, sizeof it->prompt, "%s", prompt);
    snprintf(it->answer, sizeof it->answer, "%s", answer);
    it->id = task_item_id(prompt);
}

static void demo_exact(const char *prompt, const char *answer, const char *want) {
    TaskParams p;
    task_params_default(&p);
    p.cot_demo_error = 0;
    Task *t = make_task("arith_cot", &p, 1);
    TaskItem it;
    item_of(prompt, answer, &it);
    Rng r;
    rng_seed(&r, 1, 2);
    char out[TASK_MAX_TEXT];
    assert_int_equal(t->demonstrate(t, &it, &r, out, sizeof out), 0);
    assert_string_equal(out, want);
    Reward rw;
    t->verify(t, &it, out, 1, &rw);
    assert_int_equal(rw.n, 3);
    assert_true(rw.value[0] == 1 && rw.value[1] == 1 && rw.value[2] == 1 && rw.correct);
    assert_true(rw.total == 1.0f);
    t->destroy(t);
}

static void test_scratchpad_text(void **st) {
    (void)st;
    demo_exact("472+385=", "857",
               "<think>2+5+0=07 7+8+0=15 4+3+1=08 =857</think><answer>857</answer>");
    demo_exact("903-267=", "636",
               "<think>13-7-0=6 10-6-1=3 09-2-1=6 =636</think><answer>636</answer>");
    demo_exact("999+999=", "1998",
               "<think>9+9+0=18 9+9+1=19 9+9+1=19 =1998</think><answer>1998</answer>");
    demo_exact("472*38=", "17936",
               "<think>472*8:2*8+0=16 7*8+1=57 4*8+5=37 =3776 472*3:2*3+0=06 7*3+0=21 "
               "4*3+2=14 =1416 3776+14160:6+0+0=06 7+6+0=13 7+1+1=09 3+4+0=07 0+1+0=01 "
               "=17936</think><answer>17936</answer>");
}

/* Verifies completion against item 472+385=857 of a default arith_cot. */
static Reward judge(const char *completion, int finished) {
    TaskParams p;
    task_params_default(&p);
    Task *t = make_task("arith_cot", &p, 1);
    TaskItem it;
    item_of("472+385=", "857", &it);
    Reward r;
    t->verify(t, &it, completion, finished, &r);
    t->destroy(t);
    return r;
}

#define GOOD_THINK "2+5+0=07 7+8+0=15 4+3+1=08 =857"

static void expect(const char *c, int finished, int acc, int fmt, int cons) {
    Reward r = judge(c, finished);
    if (r.value[0] != acc || r.value[1] != fmt || r.value[2] != cons)
        fail_msg("'%s': accuracy %g format %g consistency %g, expected %d %d %d", c, r.value[0],
                 r.value[1], r.value[2], acc, fmt, cons);
    /* the gate: only a correct, well-formatted completion earns anything */
    assert_true(r.total == (acc && fmt ? 1.0f : 0.0f));
}

static void test_verifier_cases(void **st) {
    (void)st;
    expect("<think>" GOOD_THINK "</think><answer>857</answer>", 1, 1, 1, 1);
    expect("<think>" GOOD_THINK "</think><answer>857</answer>", 0, 1, 0, 1);  /* cut */
    expect("857", 1, 0, 0, 0);                                                /* no tags */
    expect("<think>" GOOD_THINK "</think>857", 1, 0, 0, 0);                  /* no answer tags */
    expect(GOOD_THINK "</think><answer>857</answer>", 1, 1, 0, 0);          /* no think_open */
    expect("<think>" GOOD_THINK "</think><answer>857</answer><answer>857</answer>", 1, 0, 0, 0);
    expect("<think>a</think><think>" GOOD_THINK "</think><answer>857</answer>", 1, 1, 0, 0);
    expect("<answer>857</answer><think>" GOOD_THINK "</think>", 1, 1, 0, 1); /* out of order */
    expect("<think>" GOOD_THINK "<answer>857</answer></think>", 1, 1, 0, 0); /* answer in think */
    expect("<think>" GOOD_THINK "</think><answer>857</answer>x", 1, 1, 0, 1); /* junk after */
    expect("x<think>" GOOD_THINK "</think><answer>857</answer>", 1, 1, 0, 1); /* junk before */
    expect("<think>" GOOD_THINK "</think> <answer>857</answer>", 1, 1, 0, 1); /* between */
    /* the right answer in the think part only */
    expect("<think>" GOOD_THINK "</think><answer>847</answer>", 1, 0, 1, 0);
    expect("<think>" GOOD_THINK "</think><answer></answer>", 1, 0, 1, 0);
    expect("<think></think><answer>857</answer>", 1, 1, 0, 0);                 /* empty think */
    expect("<think>   </think><answer>857</answer>", 1, 1, 0, 0);              /* blank think */
    /* strict: no leading zero, sign or spaces around the number */
    expect("<think>" GOOD_THINK "</think><answer>0857</answer>", 1, 0, 1, 0);
    expect("<think>" GOOD_THINK "</think><answer> 857</answer>", 1, 0, 1, 0);
    expect("<think>" GOOD_THINK "</think><answer>+857</answer>", 1, 0, 1, 0);
    /* consistency: the answer agrees with the reasoning's last result */
    expect("<think>2+5+0=07 =847</think><answer>857</answer>", 1, 1, 1, 0);
}

static void expect_direct(const char *c, int finished, int acc, int fmt) {
    TaskParams p;
    task_params_default(&p);
    p.cot_think = 0;
    Task *t = make_task("arith_cot", &p, 1);
    TaskItem it;
    item_of("472+385=", "857", &it);
    Reward r;
    t->verify(t, &it, c, finished, &r);
    t->destroy(t);
    /* no reasoning to agree with: consistency is reported as format */
    if (r.n != 3 || r.value[0] != acc || r.value[1] != fmt || r.value[2] != fmt)
        fail_msg("cot_think=0 '%s': accuracy %g format %g consistency %g, expected %d %d %d", c,
                 r.value[0], r.value[1], r.value[2], acc, fmt, fmt);
    assert_true(r.total == (acc && fmt ? 1.0f : 0.0f));
    assert_int_equal(r.correct, acc && fmt);
}

static void test_verifier_direct(void **st) {
    (void)st;
    expect_direct("<answer>857</answer>", 1, 1, 1);
    expect_direct("<answer>857</answer>", 0, 1, 0); /* cut */
    expect_direct("<answer>847</answer>", 1, 0, 1); /* wrong, formatted */
    /* a think part, right or not, is not the direct template */
    expect_direct("<think>" GOOD_THINK "</think><answer>857</answer>", 1, 1, 0);
    expect_direct("<answer>857</answer><think>" GOOD_THINK "</think>", 1, 1, 0);
    expect_direct("<answer><think>x</think>857</answer>", 1, 0, 0);
    expect_direct("<answer>857</answer></think>", 1, 1, 0);
    expect_direct("<think><answer>857</answer>", 1, 1, 0);
    expect_direct("857", 1, 0, 0);
    expect_direct("x<answer>857</answer>", 1, 1, 0);
    expect_direct("<answer>857</answer> ", 1, 1, 0);
    expect_direct("<answer>857</answer><answer>857</answer>", 1, 0, 0);
    expect_direct("<answer></answer>", 1, 0, 0);
    expect_direct("<answer>  </answer>", 1, 0, 0);
    expect_direct("<answer>0857</answer>", 1, 0, 1); /* as strict as the worked form */
    /* and the worked form still refuses the direct one */
    expect("<answer>857</answer>", 1, 1, 0, 0);
    /* countdown_cot has no direct form: refused, naming the key */
    TaskParams p;
    task_params_default(&p);
    p.cot_think = 0;
    char err[512] = "";
    Task *t = task_create("countdown_cot", &p, 1, err, sizeof err);
    if (t) t->destroy(t);
    assert_null(t);
    assert_non_null(strstr(err, "[task] cot_think = 0"));
    p.cot_think = 2;
    t = task_create("arith_cot", &p, 1, err, sizeof err);
    if (t) t->destroy(t);
    assert_null(t);
    assert_non_null(strstr(err, "[task] cot_think = 2"));
}

/* Totals of a group, then its advantages (GRPO, population std). */
static float max_abs_adv(const Task *t, const TaskItem *it, const char *const *c, int G,
                         int additive) {
    float r[8] = {0}, adv[8], m = 0;
    assert_true(G >= 1 && G <= 8);
    for (int i = 0; i < G; i++) {
        Reward rw;
        t->verify(t, it, c[i], 1, &rw);
        /* additive: what w_accuracy * accuracy + w_format * format would pay */
        r[i] = additive ? rw.value[0] + 0.1f * rw.value[1] : rw.total;
    }
    group_advantages(r, G, ALGO_GRPO, ADV_STD_POPULATION, 1e-6f, adv);
    for (int i = 0; i < G; i++) m = fabsf(adv[i]) > m ? fabsf(adv[i]) : m;
    return m;
}

static void test_gate_keeps_accuracy_dominant(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    Task *t = make_task("arith_cot", &p, 1);
    TaskItem it;
    item_of("472+385=", "857", &it);
    const char *wrong_fmt = "<think>" GOOD_THINK "</think><answer>847</answer>";
    const char *wrong_bad = "<think>" GOOD_THINK "</think><answer>847</answer>junk";
    const char *right = "<think>" GOOD_THINK "</think><answer>857</answer>";
    const char *all_wrong[4] = {wrong_fmt, wrong_bad, wrong_fmt, wrong_bad};
    const char *mixed[4] = {right, wrong_fmt, right, wrong_fmt};
    /* an added format term of weight 0.1 would push the all-wrong group as
     * hard as the group that differs in correctness ... */
    assert_true(fabsf(max_abs_adv(t, &it, all_wrong, 4, 1) - 1.0f) < 1e-3f);
    assert_true(fabsf(max_abs_adv(t, &it, mixed, 4, 1) - 1.0f) < 1e-3f);
    /* ... the gate gives it no push at all, and the correctness group full */
    assert_true(max_abs_adv(t, &it, all_wrong, 4, 0) == 0.0f);
    assert_true(fabsf(max_abs_adv(t, &it, mixed, 4, 0) - 1.0f) < 1e-3f);
    /* a right but unformatted completion never outscores a wrong formatted one */
    Reward a, b;
    t->verify(t, &it, "<think>" GOOD_THINK "</think><answer>857</answer>junk", 1, &a);
    t->verify(t, &it, wrong_fmt, 1, &b);
    assert_true(a.total <= b.total);
    t->destroy(t);

    /* w_consistency ranks right answers only: a wrong consistent answer earns 0 */
    p.weights[2] = 0.5f;
    t = make_task("arith_cot", &p, 1);
    t->verify(t, &it, right, 1, &a);
    assert_true(fabsf(a.total - 1.5f) < 1e-6f);
    t->verify(t, &it, "<think>2+5+0=07 =847</think><answer>847</answer>", 1, &b);
    assert_true(b.value[2] == 1 && b.total == 0.0f);
    t->destroy(t);
}

/* 1 if 3-digit a + b needs a carry into a later column (what the
 * demonstrator can drop), computed here independently. */
static int add_has_inner_carry(int a, int b) {
    int c = 0;
    for (int i = 0; i < 2; i++) {
        c = (a % 10 + b % 10 + c) >= 10;
        if (c) return 1;
        a /= 10;
        b /= 10;
    }
    return 0;
}

/* Checks a demonstrated a+b completion line by line: every line's sum is
 * right for its own inputs, every carry in is the previous line's carry
 * out except where one was dropped; returns the number dropped, and checks
 * the answer is what the lines give. */
static int check_add_lines(const char *demo, int a, int b) {
    const char *p = strstr(demo, "<think>");
    assert_non_null(p);
    p += 7;
    int prev_out = 0, dropped = 0, value = 0, place = 1;
    for (int i = 0; i < 3; i++) {
        int x, y, c, s1, s0, used = 0;
        if (sscanf(p, "%1d+%1d+%1d=%1d%1d %n", &x, &y, &c, &s1, &s0, &used) != 5 || !used)
            fail_msg("line %d of '%s' unreadable", i, demo);
        assert_int_equal(x, a % 10);
        assert_int_equal(y, b % 10);
        assert_int_equal(x + y + c, 10 * s1 + s0);
        if (c != prev_out) {
            assert_true(prev_out == 1 && c == 0);
            dropped++;
        }
        prev_out = s1;
        value += s0 * place;
        place *= 10;
        a /= 10;
        b /= 10;
        p += used;
    }
    value += prev_out * place;
    char want[64];
    snprintf(want, sizeof want, "=%d</think><answer>%d</answer>", value, value);
    assert_string_equal(p, want);
    return dropped;
}

static void test_demonstrator_drops_one_carry(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    p.p_add = 1;
    p.p_sub = p.p_mul = 0;
    Task *t = make_task("arith_cot", &p, 7);
    Rng r;
    rng_seed(&r, 3, 4);
    int n_carry = 0, wrong = 0;
    for (int i = 0; i < 4000; i++) {
        TaskItem it;
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
        char demo[TASK_MAX_TEXT];
        assert_int_equal(t->demonstrate(t, &it, &r, demo, sizeof demo), 0);
        int a, b;
        assert_int_equal(sscanf(it.prompt, "%d+%d=", &a, &b), 2);
        int dropped = check_add_lines(demo, a, b);
        Reward rw;
        t->verify(t, &it, demo, 1, &rw);
        assert_true(rw.value[1] == 1 && rw.value[2] == 1); /* formatted, follows its lines */
        assert_int_equal(rw.value[0] == 0, dropped == 1);   /* wrong iff a carry dropped */
        int has = add_has_inner_carry(a, b);
        if (!has) assert_int_equal(dropped, 0);
        n_carry += has;
        wrong += dropped;
    }
    /* binomial over the items with a carry to drop: the default
     * cot_demo_error within 5 sigma */
    double q = p.cot_demo_error, rate = (double)wrong / n_carry, sd = sqrt(q * (1 - q) / n_carry);
    printf("arith_cot demonstrator: %d of %d items with a carry demonstrated wrong (%.3f, "
           "cot_demo_error %.2f)\n",
           wrong, n_carry, rate, q);
    assert_true(n_carry > 1000);
    assert_true(q > 0 && q < 1);
    assert_true(fabs(rate - q) < 5 * sd);
    t->destroy(t);
}

/* Which carry a worked demonstration dropped, read from its lines alone:
 * every line (a+b "x+y+c=s1s0", a-b "bx-y-c=d", a*d "x*d+c=s1s0", after
 * an optional "header:") is checked for its own arithmetic; a carry out
 * that a later line of the same sub-computation (up to its "=N") takes in
 * is a droppable carry, numbered in text order. Returns the number of the
 * one dropped (-1: none), fails on two dropped; *n_droppable gets the
 * count. */
static int dropped_carry_of(const char *demo, int *n_droppable) {
    const char *p = strstr(demo, "<think>"), *end = strstr(demo, "</think>");
    assert_non_null(p);
    assert_non_null(end);
    p += 7;
    int k = 0, dropped = -1, in_sub = 0, prev_out = 0;
    while (p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        size_t n = sp ? (size_t)(sp - p) : (size_t)(end - p);
        char line[64];
        assert_true(n < sizeof line);
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (sp != NULL);
        if (line[0] == '=') { /* a sub-computation's value: its carries end here */
            in_sub = 0;
            continue;
        }
        const char *l = strchr(line, ':') ? strchr(line, ':') + 1 : line;
        int x, y, c, hi, lo, out;
        if (strchr(l, '*')) {
            assert_int_equal(sscanf(l, "%1d*%1d+%d=%1d%1d", &x, &y, &c, &hi, &lo), 5);
            assert_int_equal(x * y + c, 10 * hi + lo);
            out = hi;
        } else if (strchr(l, '+')) {
            assert_int_equal(sscanf(l, "%1d+%1d+%1d=%1d%1d", &x, &y, &c, &hi, &lo), 5);
            assert_int_equal(x + y + c, 10 * hi + lo);
            out = hi;
        } else {
            assert_int_equal(sscanf(l, "%1d%1d-%1d-%1d=%1d", &out, &x, &y, &c, &lo), 5);
            assert_int_equal(10 * out + x - y - c, lo);
            assert_true(lo >= 0 && lo <= 9);
        }
        if (in_sub && prev_out) {
            if (c != prev_out) {
                if (c != 0 || dropped >= 0) fail_msg("'%s': line '%s' takes in %d", demo, l, c);
                dropped = k;
            }
            k++;
        } else if (in_sub) {
            assert_int_equal(c, 0);
        }
        in_sub = 1;
        prev_out = out;
    }
    *n_droppable = k;
    return dropped;
}

/* When the demonstrator errs it drops the FIRST droppable carry of the
 * scratchpad, in every operation: one habit at one place. */
static void test_demonstrator_drops_first_carry(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    p.cot_demo_error = 1;
    p.p_add = p.p_sub = p.p_mul = 1;
    Task *t = make_task("arith_cot", &p, 13);
    Rng r;
    rng_seed(&r, 7, 8);
    int n_ops[3] = {0, 0, 0}, later_carries = 0;
    for (int i = 0; i < 1500; i++) {
        TaskItem it;
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
        char demo[TASK_MAX_TEXT];
        assert_int_equal(t->demonstrate(t, &it, &r, demo, sizeof demo), 0);
        int n_right = 0, n = 0;
        assert_int_equal(dropped_carry_of(it.solution, &n_right), -1);
        int dropped = dropped_carry_of(demo, &n);
        /* the lines before the first carry are the same in both, so the
         * flawed one's first carry is the right one's first, and it is the
         * one dropped; the count after it may differ (a smaller partial
         * product changes the carries of the sum) */
        assert_int_equal(dropped, n_right > 0 ? 0 : -1);
        later_carries += n_right > 1;
        Reward rw;
        t->verify(t, &it, demo, 1, &rw);
        assert_true(rw.value[1] == 1 && rw.value[2] == 1);
        assert_int_equal(rw.value[0] == 0, dropped == 0);
        n_ops[strchr(it.prompt, '+') ? 0 : strchr(it.prompt, '-') ? 1 : 2] += dropped == 0;
    }
    printf("arith_cot demonstrator at cot_demo_error 1: the first carry dropped in %d sums, %d "
           "differences, %d products (%d items had more than one to choose from)\n",
           n_ops[0], n_ops[1], n_ops[2], later_carries);
    for (int k = 0; k < 3; k++) assert_true(n_ops[k] > 100);
    assert_true(later_carries > 300);
    t->destroy(t);
}

/* The value of a worked completion's last "=N" (the reasoning's result). */
static void think_result(const char *demo, char *out, size_t cap) {
    const char *end = strstr(demo, "</think>"), *eq = NULL;
    assert_non_null(end);
    for (const char *q = demo; q < end; q++)
        if (*q == '=') eq = q;
    assert_non_null(eq);
    assert_true((size_t)(end - eq) <= cap);
    memcpy(out, eq + 1, (size_t)(end - eq - 1));
    out[end - eq - 1] = '\0';
}

/* cot_think = 0: the same item stream and split, and a demonstration that
 * is "<answer>N</answer>" with N the worked demonstration's own result for
 * the same item and rng, flawed or not. */
static void test_direct_demonstrations(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    Task *worked = make_task("arith_cot", &p, 21);
    p.cot_think = 0;
    Task *direct = make_task("arith_cot", &p, 21);
    Rng rw, rd;
    rng_seed(&rw, 9, 10);
    rng_seed(&rd, 9, 10);
    int flawed = 0, longest = 0;
    for (int i = 0; i < 3000; i++) {
        TaskSplit split = i % 10 == 0 ? SPLIT_EVAL : SPLIT_TRAIN;
        TaskItem a, b;
        assert_int_equal(worked->sample(worked, split, 0, (uint64_t)i, &a), 0);
        assert_int_equal(direct->sample(direct, split, 0, (uint64_t)i, &b), 0);
        assert_string_equal(a.prompt, b.prompt);
        assert_string_equal(a.answer, b.answer);
        assert_true(a.id == b.id);
        char want[TASK_MAX_TEXT + 32], n[TASK_MAX_TEXT];
        snprintf(want, sizeof want, "<answer>%s</answer>", a.answer);
        assert_string_equal(b.solution, want);
        char dw[TASK_MAX_TEXT], dd[TASK_MAX_TEXT];
        assert_int_equal(worked->demonstrate(worked, &a, &rw, dw, sizeof dw), 0);
        assert_int_equal(direct->demonstrate(direct, &b, &rd, dd, sizeof dd), 0);
        assert_memory_equal(&rw, &rd, sizeof rw); /* the same draws */
        think_result(dw, n, sizeof n);
        snprintf(want, sizeof want, "<answer>%s</answer>", n);
        assert_string_equal(dd, want);
        flawed += strcmp(n, a.answer) != 0;
        int len = (int)strlen(dd);
        assert_true(len <= direct->max_completion_chars);
        longest = len > longest ? len : longest;
        Reward r;
        direct->verify(direct, &b, dd, 1, &r);
        assert_true(r.value[1] == 1 && r.value[2] == 1);
        assert_int_equal(r.value[0] == 1, strcmp(n, a.answer) == 0);
    }
    printf("arith_cot cot_think=0: %d of 3000 demonstrations flawed; longest completion %d "
           "(bound %d, worked %d)\n",
           flawed, longest, direct->max_completion_chars, worked->max_completion_chars);
    assert_true(flawed > 300);
    /* the bound is the direct form's: "<answer>" + 5 digits + "</answer>" */
    assert_int_equal(direct->max_completion_chars, 22);
    assert_int_equal(direct->max_prompt_chars, worked->max_prompt_chars);
    /* so the [model] default max_seq_len = 32 holds it; the worked form not */
    char err[512] = "";
    assert_int_equal(task_check_fits(direct, 32, 23, err, sizeof err), 0);
    assert_int_equal(task_check_fits(direct, 31, 23, err, sizeof err), -1);
    assert_non_null(strstr(err, "[model] max_seq_len >= 32"));
    assert_int_equal(task_check_fits(worked, 32, 23, err, sizeof err), -1);
    worked->destroy(worked);
    direct->destroy(direct);
}

/* Multiplication and subtraction demonstrations: a wrong one is still
 * formatted and its answer is the reasoning's own result. */
static void test_demonstrator_mul_sub_consistent(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    p.cot_demo_error = 1;
    p.p_add = 0;
    Task *t = make_task("arith_cot", &p, 9);
    Rng r;
    rng_seed(&r, 5, 6);
    int wrong = 0;
    for (int i = 0; i < 500; i++) {
        TaskItem it;
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
        char demo[TASK_MAX_TEXT];
        assert_int_equal(t->demonstrate(t, &it, &r, demo, sizeof demo), 0);
        Reward rw;
        t->verify(t, &it, demo, 1, &rw);
        assert_true(rw.value[1] == 1 && rw.value[2] == 1);
        wrong += rw.value[0] == 0;
    }
    assert_true(wrong > 250); /* most items have a carry or borrow to drop */
    t->destroy(t);
}

static void test_mean_length_and_tokenizer(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    const char *names[2] = {"arith_cot", "countdown_cot"};
    Tokenizer tok;
    tokenizer_init_char(&tok);
    for (int k = 0; k < 2; k++) {
        Task *t = make_task(names[k], &p, 11);
        double sum = 0;
        int n = 2000, longest = 0, ids[TASK_MAX_TEXT];
        for (int i = 0; i < n; i++) {
            TaskItem it;
            assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
            int bad = -1, len = tokenizer_encode(&tok, it.solution, ids, TASK_MAX_TEXT, &bad);
            if (len < 0) fail_msg("%s: '%s' not encodable at %d", names[k], it.solution, bad);
            assert_true(len <= t->max_completion_chars);
            assert_true((int)strlen(it.prompt) <= t->max_prompt_chars);
            Reward rw;
            t->verify(t, &it, it.solution, 1, &rw);
            assert_true(rw.correct && rw.value[2] == 1);
            sum += len;
            longest = len > longest ? len : longest;
        }
        printf("%s at the defaults: mean completion %.1f tokens, longest %d (bound %d)\n",
               names[k], sum / n, longest, t->max_completion_chars);
        if (k == 0) assert_true(sum / n >= 48);
        t->destroy(t);
    }
}

static void test_deterministic_under_seed(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    Task *a = make_task("arith_cot", &p, 42), *b = make_task("arith_cot", &p, 42);
    Task *c = make_task("arith_cot", &p, 43);
    Rng ra, rb;
    rng_seed(&ra, 1, 1);
    rng_seed(&rb, 1, 1);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        TaskItem x, y, z;
        a->sample(a, SPLIT_TRAIN, 3, (uint64_t)i, &x);
        b->sample(b, SPLIT_TRAIN, 3, (uint64_t)i, &y);
        c->sample(c, SPLIT_TRAIN, 3, (uint64_t)i, &z);
        assert_memory_equal(&x, &y, sizeof x);
        differ += strcmp(x.prompt, z.prompt) != 0;
        char dx[TASK_MAX_TEXT], dy[TASK_MAX_TEXT];
        a->demonstrate(a, &x, &ra, dx, sizeof dx);
        b->demonstrate(b, &y, &rb, dy, sizeof dy);
        assert_string_equal(dx, dy);
    }
    assert_true(differ > 150);
    a->destroy(a);
    b->destroy(b);
    c->destroy(c);
}

static void test_countdown_cot(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    Task *t = make_task("countdown_cot", &p, 5), *plain = make_task("countdown", &p, 5);
    for (int i = 0; i < 200; i++) {
        TaskItem it, ref;
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
        assert_int_equal(plain->sample(plain, SPLIT_TRAIN, 0, (uint64_t)i, &ref), 0);
        assert_string_equal(it.prompt, ref.prompt); /* the same items as countdown */
        char want[TASK_MAX_TEXT + 32];
        snprintf(want, sizeof want, "</think><answer>%s</answer>", ref.solution);
        assert_non_null(strstr(it.solution, want));
        Reward rw;
        t->verify(t, &it, it.solution, 1, &rw);
        assert_true(rw.correct && rw.value[1] == 1 && rw.value[2] == 1);
    }
    TaskItem it;
    item_of("3,7,25,2>46=", "25*2-7+3", &it);
    Rng r;
    rng_seed(&r, 1, 1);
    Reward rw;
    const char *good = "<think>25*2=50 50-7=43 43+3=46</think><answer>25*2-7+3</answer>";
    t->verify(t, &it, good, 1, &rw);
    assert_true(rw.correct && rw.total == 1.0f);
    /* any correct expression; the answer part alone decides */
    t->verify(t, &it, "<think>x=46</think><answer>(7-3)*2+25+13-12</answer>", 1, &rw);
    assert_true(rw.value[0] == 0);
    t->verify(t, &it, "<think>2*25=50 50+3=53 53-7=46</think><answer>2*25+3-7</answer>", 1, &rw);
    assert_true(rw.correct);
    t->verify(t, &it, "<think>25*2-7+3=46</think><answer>46</answer>", 1, &rw);
    assert_true(rw.value[0] == 0 && rw.value[1] == 1 && rw.total == 0);
    t->verify(t, &it, "<think>25*2=50 50-7=43 43+3=46</think><answer>25*2-7+3</answer>.", 1,
              &rw);
    assert_true(rw.value[0] == 1 && rw.value[1] == 0 && rw.total == 0);
    t->destroy(t);
    plain->destroy(plain);
}

/* x - y worked smaller-from-larger, computed here independently: the two
 * numbers as right-aligned digit strings, each column |dx - dy|. */
static long long smaller_from_larger(long long x, long long y) {
    char a[32], b[32], r[32];
    int na = snprintf(a, sizeof a, "%lld", x), nb = snprintf(b, sizeof b, "%lld", y);
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int da = i < na ? a[na - 1 - i] - '0' : 0, db = i < nb ? b[nb - 1 - i] - '0' : 0;
        r[n - 1 - i] = (char)('0' + abs(da - db));
    }
    r[n] = '\0';
    return atoll(r);
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* Checks a flawed countdown_cot demonstration step by step: every step
 * takes two values from the pool (the prompt's numbers, then earlier
 * results) and returns its result to it; exactly one step is a
 * subtraction worked smaller-from-larger (and so wrong), every other step
 * is right, the pool ends as the target alone, and the answer uses the
 * prompt's numbers exactly once. */
static void check_flawed_countdown(const TaskItem *it, const char *demo) {
    long long pool[16], nums[8];
    int np = 0;
    const char *p = it->prompt;
    for (;;) {
        char *end;
        pool[np++] = strtoll(p, &end, 10);
        p = end;
        if (*p++ == '>') break;
    }
    const long long target = atoll(p);
    memcpy(nums, pool, sizeof(long long) * (size_t)np);
    const int n = np;
    const char *q = strstr(demo, "<think>"), *close = strstr(demo, "</think>");
    assert_non_null(q);
    assert_non_null(close);
    q += 7;
    int wrong = 0;
    while (q < close) {
        long long x, y, v;
        char op;
        int used = 0;
        if (sscanf(q, "%lld%c%lld=%lld%n", &x, &op, &y, &v, &used) != 4)
            fail_msg("step '%.20s' of '%s' unreadable", q, demo);
        for (int k = 0; k < 2; k++) {
            long long want = k ? y : x;
            int at = -1;
            for (int m = 0; m < np && at < 0; m++)
                if (pool[m] == want) at = m;
            if (at < 0) fail_msg("'%s': %lld is neither a number left nor a result", demo, want);
            pool[at] = pool[--np];
        }
        pool[np++] = v;
        long long truth = op == '+' ? x + y : op == '-' ? x - y : op == '*' ? x * y : x / y;
        if (op == '/') assert_true(y != 0 && x % y == 0);
        if (v != truth) {
            if (op != '-' || v != smaller_from_larger(x, y))
                fail_msg("'%s': step %lld%c%lld=%lld is not smaller-from-larger", demo, x, op, y,
                         v);
            wrong++;
        }
        q += used;
        if (*q == ' ') q++;
    }
    assert_int_equal(wrong, 1);
    assert_int_equal(np, 1);
    assert_true(pool[0] == target);
    /* the answer's numbers are the prompt's, each once */
    const char *a = strstr(demo, "<answer>");
    assert_non_null(a);
    long long lits[16];
    int nl = 0;
    for (a += 8; *a && *a != '<';) {
        if (*a >= '0' && *a <= '9') {
            char *end;
            assert_true(nl < 16);
            lits[nl++] = strtoll(a, &end, 10);
            a = end;
        } else
            a++;
    }
    assert_int_equal(nl, n);
    qsort(lits, (size_t)nl, sizeof *lits, cmp_ll);
    qsort(nums, (size_t)n, sizeof *nums, cmp_ll);
    assert_memory_equal(lits, nums, sizeof(long long) * (size_t)n);
}

static void test_countdown_cot_smaller_from_larger(void **st) {
    (void)st;
    assert_true(smaller_from_larger(50, 7) == 57);
    assert_true(smaller_from_larger(43, 18) == 35);
    assert_true(smaller_from_larger(30, 3) == 33);
    assert_true(smaller_from_larger(46, 13) == 33); /* no borrow: right */
    TaskParams p;
    task_params_default(&p);
    p.cot_demo_error = 1;
    Task *t = make_task("countdown_cot", &p, 1);
    TaskItem it;
    /* 5*6-3 is 27; with 30-3 worked smaller-from-larger it reaches 33, the
     * only flawed plan that does */
    item_of("3,5,6>33=", "5*6+3", &it);
    Rng r;
    rng_seed(&r, 1, 1);
    char demo[TASK_MAX_TEXT];
    assert_int_equal(t->demonstrate(t, &it, &r, demo, sizeof demo), 0);
    if (strcmp(demo, "<think>5*6=30 30-3=33</think><answer>5*6-3</answer>") != 0)
        assert_string_equal(demo, "<think>6*5=30 30-3=33</think><answer>6*5-3</answer>");
    check_flawed_countdown(&it, demo);
    /* 1,2,3 > 6: no subtraction borrows, so nothing to flaw */
    item_of("1,2,3>6=", "1+2+3", &it);
    snprintf(it.solution, sizeof it.solution, "<think>1+2=3 3+3=6</think><answer>1+2+3</answer>");
    assert_int_equal(t->demonstrate(t, &it, &r, demo, sizeof demo), 0);
    assert_string_equal(demo, it.solution);
    t->destroy(t);
}

/* countdown_cot's demonstrator at cot_demo_error 0.3 against the same
 * demonstrator at 1 with the same rng: at 1 every item that can be flawed
 * is, so that run finds the items; at 0.3 a share of them near 0.3 is. */
static void test_countdown_cot_flawed_demonstrator(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    p.cot_demo_error = 0.3f;
    Task *a = make_task("countdown_cot", &p, 5);
    p.cot_demo_error = 1;
    Task *all = make_task("countdown_cot", &p, 5);
    Rng ra, rall;
    rng_seed(&ra, 3, 4);
    rng_seed(&rall, 3, 4);
    const int n = 2000;
    int flawable = 0, wrong = 0;
    for (int i = 0; i < n; i++) {
        TaskItem it;
        assert_int_equal(a->sample(a, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
        char da[TASK_MAX_TEXT], dall[TASK_MAX_TEXT];
        assert_int_equal(a->demonstrate(a, &it, &ra, da, sizeof da), 0);
        assert_int_equal(all->demonstrate(all, &it, &rall, dall, sizeof dall), 0);
        /* the rng advances the same whether or not the demonstrator errs */
        assert_memory_equal(&ra, &rall, sizeof ra);
        Reward r;
        all->verify(all, &it, dall, 1, &r);
        assert_true(r.value[1] == 1 && r.value[2] == 1);
        assert_int_equal(r.value[0] == 0, strcmp(dall, it.solution) != 0);
        assert_true((int)strlen(dall) <= all->max_completion_chars);
        if (r.value[0] == 0) {
            check_flawed_countdown(&it, dall);
            flawable++;
        }
        a->verify(a, &it, da, 1, &r);
        assert_true(r.value[1] == 1 && r.value[2] == 1);
        if (strcmp(da, it.solution) != 0) {
            assert_string_equal(da, dall); /* the same flawed plan */
            assert_true(r.value[0] == 0 && r.total == 0);
            wrong++;
        } else
            assert_true(r.value[0] == 1 && r.total == 1);
    }
    double rate = (double)wrong / flawable, sd = sqrt(0.3 * 0.7 / flawable);
    printf("countdown_cot demonstrator: %d of %d items can be flawed (%.3f); %d of them "
           "demonstrated wrong (%.3f, cot_demo_error 0.3)\n",
           flawable, n, (double)flawable / n, wrong, rate);
    assert_true(flawable > 300);
    assert_true(fabs(rate - 0.3) < 5 * sd);
    a->destroy(a);
    all->destroy(all);
}

/* At cot_demo_error 0 the demonstrator is the reference, always right;
 * at the most numbers and largest values it still fits its bound. */
static void test_countdown_cot_demo_bounds(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    p.cot_demo_error = 0;
    Task *t = make_task("countdown_cot", &p, 8);
    Rng r;
    rng_seed(&r, 1, 2);
    for (int i = 0; i < 2000; i++) {
        TaskItem it;
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
        char demo[TASK_MAX_TEXT];
        assert_int_equal(t->demonstrate(t, &it, &r, demo, sizeof demo), 0);
        assert_string_equal(demo, it.solution);
        Reward rw;
        t->verify(t, &it, demo, 1, &rw);
        assert_true(rw.correct && rw.value[1] == 1 && rw.value[2] == 1 && rw.total == 1);
    }
    t->destroy(t);

    task_params_default(&p);
    p.cot_demo_error = 1;
    p.cd_n_min = 5;
    p.cd_n_max = 6;
    p.cd_max_number = 1000;
    t = make_task("countdown_cot", &p, 8);
    int flawed = 0;
    for (int i = 0; i < 100; i++) {
        TaskItem it;
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 0, (uint64_t)i, &it), 0);
        char demo[TASK_MAX_TEXT];
        assert_int_equal(t->demonstrate(t, &it, &r, demo, sizeof demo), 0);
        assert_true((int)strlen(demo) <= t->max_completion_chars);
        Reward rw;
        t->verify(t, &it, demo, 1, &rw);
        assert_true(rw.value[1] == 1 && rw.value[2] == 1);
        if (rw.value[0] == 0) {
            check_flawed_countdown(&it, demo);
            flawed++;
        }
    }
    assert_true(flawed > 10);
    t->destroy(t);
}

/* The same task seed and demonstrator rng give the same demonstrations; a
 * different rng flaws other items. */
static void test_countdown_cot_deterministic(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    p.cot_demo_error = 0.5f;
    Task *a = make_task("countdown_cot", &p, 42), *b = make_task("countdown_cot", &p, 42);
    Rng ra, rb, rc;
    rng_seed(&ra, 1, 1);
    rng_seed(&rb, 1, 1);
    rng_seed(&rc, 2, 1);
    int flawed = 0, differ = 0;
    for (int i = 0; i < 400; i++) {
        TaskItem x, y;
        a->sample(a, SPLIT_TRAIN, 3, (uint64_t)i, &x);
        b->sample(b, SPLIT_TRAIN, 3, (uint64_t)i, &y);
        assert_memory_equal(&x, &y, sizeof x);
        char dx[TASK_MAX_TEXT], dy[TASK_MAX_TEXT], dz[TASK_MAX_TEXT];
        assert_int_equal(a->demonstrate(a, &x, &ra, dx, sizeof dx), 0);
        assert_int_equal(b->demonstrate(b, &y, &rb, dy, sizeof dy), 0);
        assert_int_equal(a->demonstrate(a, &x, &rc, dz, sizeof dz), 0);
        assert_string_equal(dx, dy);
        flawed += strcmp(dx, x.solution) != 0;
        differ += strcmp(dx, dz) != 0;
    }
    assert_true(flawed > 20);
    assert_true(differ > 20);
    a->destroy(a);
    b->destroy(b);
}

static void expect_create_error(const char *name, const TaskParams *p, const char *needle) {
    char err[512] = "";
    Task *t = task_create(name, p, 1, err, sizeof err);
    if (t) {
        t->destroy(t);
        fail_msg("%s was accepted, expected an error with '%s'", name, needle);
    }
    if (!strstr(err, needle)) fail_msg("error '%s' does not name '%s'", err, needle);
}

static void test_bad_settings_and_fit(void **st) {
    (void)st;
    TaskParams p;
    task_params_default(&p);
    p.cot_digits = 9;
    p.cot_mul_digits = 9;
    expect_create_error("arith_cot", &p, "cot_mul_digits = 9");
    task_params_default(&p);
    p.think_open[0] = '\0';
    expect_create_error("arith_cot", &p, "think_open is empty");
    task_params_default(&p);
    strcpy(p.answer_open, "think>");
    expect_create_error("countdown_cot", &p, "answer_open = 'think>' occurs inside think_open");
    task_params_default(&p);
    strcpy(p.think_close, "</th\tink>");
    expect_create_error("arith_cot", &p, "think_close");
    task_params_default(&p);
    p.cd_n_max = 6;
    p.cd_max_number = 1000;
    strcpy(p.think_open, "<reasoning-goes-here-please...>");
    strcpy(p.think_close, "</reasoning-goes-here-please..>");
    strcpy(p.answer_open, "<final-answer-goes-here-please>");
    strcpy(p.answer_close, "</final-answer-goes-here-pleas>");
    expect_create_error("countdown_cot", &p, "countdown_max = 6");
    task_params_default(&p);
    p.cot_demo_error = 1.5f;
    expect_create_error("countdown_cot", &p, "[task] cot_demo_error = 1.5");

    task_params_default(&p);
    Task *t = make_task("arith_cot", &p, 1);
    char err[512] = "";
    /* the [model] and [sampler] defaults (32, 8) cannot hold a worked product */
    assert_int_equal(task_check_fits(t, 32, 8, err, sizeof err), -1);
    assert_non_null(strstr(err, "[model] max_seq_len >= "));
    assert_non_null(strstr(err, "[sampler] max_new_tokens >= "));
    int need_seq = 1 + t->max_prompt_chars + t->max_completion_chars + 1;
    int need_new = t->max_completion_chars + 1;
    assert_int_equal(task_check_fits(t, need_seq, need_new, err, sizeof err), 0);
    assert_int_equal(task_check_fits(t, need_seq - 1, need_new, err, sizeof err), -1);
    assert_int_equal(task_check_fits(t, need_seq, need_new - 1, err, sizeof err), -1);
    printf("arith_cot defaults need max_seq_len >= %d, max_new_tokens >= %d\n", need_seq,
           need_new);
    t->destroy(t);
    /* the existing tasks do not declare lengths: unchanged behaviour */
    t = make_task("arith", &p, 1);
    assert_int_equal(task_check_fits(t, 32, 8, err, sizeof err), 0);
    t->destroy(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scratchpad_text),
        cmocka_unit_test(test_verifier_cases),
        cmocka_unit_test(test_verifier_direct),
        cmocka_unit_test(test_gate_keeps_accuracy_dominant),
        cmocka_unit_test(test_demonstrator_drops_one_carry),
        cmocka_unit_test(test_demonstrator_drops_first_carry),
        cmocka_unit_test(test_demonstrator_mul_sub_consistent),
        cmocka_unit_test(test_direct_demonstrations),
        cmocka_unit_test(test_mean_length_and_tokenizer),
        cmocka_unit_test(test_deterministic_under_seed),
        cmocka_unit_test(test_countdown_cot),
        cmocka_unit_test(test_countdown_cot_smaller_from_larger),
        cmocka_unit_test(test_countdown_cot_flawed_demonstrator),
        cmocka_unit_test(test_countdown_cot_demo_bounds),
        cmocka_unit_test(test_countdown_cot_deterministic),
        cmocka_unit_test(test_bad_settings_and_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
