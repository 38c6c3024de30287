/* task_countdown_cot.c: countdown with its steps worked in the R1 template
 * (task name "countdown_cot"), as TinyZero trains it.
 *
 * Prompt, items and the reference expression are countdown's (an inner
 * countdown task generates them, so the two tasks agree item for item).
 * The reasoning lists the operations of the reference expression in the
 * order they are evaluated, one "x op y=v" per step separated by spaces,
 * the last reaching the target; the answer is the expression:
 *   "3,7,25,2>46=" -> "<think>25*2=50 50-7=43 43+3=46</think><answer>25*2-7+3</answer>"
 *
 * Rewards: task_cot.h; accuracy is countdown's own verifier run on the
 * answer part alone (any correct expression counts), consistency = the
 * reasoning's last "=v" is the target. The demonstrator writes the
 * reference solution without mistakes (cot_demo_error is arith_cot's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "task_cot.h"
#include "util.h"

/* countdown's bounds (task_countdown.c): intermediates stay <= 10^6, so a
 * number in a step has at most 7 digits. */
enum { CCOT_VALUE_DIGITS = 7, CCOT_MAX_N = 6 };

typedef struct {
    TaskParams p;
    Task *inner; /* the countdown task: items and the expression verifier */
} CCotState;

/* Evaluates the reference expression (countdown's generator wrote it: well
 * formed, exact, non-negative), appending each operation to steps. */
typedef struct {
    const char *s;
    char steps[TASK_MAX_TEXT];
    size_t len;
    int bad;
} Steps;

static long long st_expr(Steps *st);

static long long st_apply(Steps *st, long long a, char op, long long b) {
    long long v = op == '+' ? a + b : op == '-' ? a - b : op == '*' ? a * b : b ? a / b : 0;
    if (op == '/' && (b == 0 || a % b)) st->bad = 1;
    int k = snprintf(st->steps + st->len, sizeof st->steps - st->len, "%s%lld%c%lld=%lld",
                     st->len ? " " : "", a, op, b, v);
    if (k < 0 || st->len + (size_t)k >= sizeof st->steps) st->bad = 1;
    else st->len += (size_t)k;
    return v;
}

static long long st_factor(Steps *st) {
    if (*st->s == '(') {
        st->s++;
        long long v = st_expr(st);
        if (*st->s == ')') st->s++;
        else st->bad = 1;
        return v;
    }
    char *end;
    long long v = strtoll(st->s, &end, 10);
    if (end == st->s) st->bad = 1;
    st->s = end;
    return v;
}

static long long st_term(Steps *st) {
    long long v = st_factor(st);
    while (!st->bad && (*st->s == '*' || *st->s == '/')) {
        char op = *st->s++;
        v = st_apply(st, v, op, st_factor(st));
    }
    return v;
}

static long long st_expr(Steps *st) {
    long long v = st_term(st);
    while (!st->bad && (*st->s == '+' || *st->s == '-')) {
        char op = *st->s++;
        v = st_apply(st, v, op, st_term(st));
    }
    return v;
}

static int ccot_sample(const Task *t, TaskSplit split, uint64_t stream, uint64_t index,
                       TaskItem *out) {
    const CCotState *s = t->state;
    if (s->inner->sample(s->inner, split, stream, index, out) != 0) return -1;
    Steps st = {.s = out->answer};
    st_expr(&st);
    char think[TASK_MAX_TEXT];
    snprintf(think, sizeof think, "%s", st.steps);
    /* bounded: task_countdown_cot_create checked the longest case */
    if (st.bad || *st.s || cot_write(&s->p, think, out->answer, out->solution,
                                     sizeof out->solution) < 0)
        die("countdown_cot: cannot work the steps of '%s'", out->answer);
    return 0;
}

static int ccot_demonstrate(const Task *t, const TaskItem *item, Rng *rng, char *out,
                            size_t cap) {
    (void)t;
    (void)rng;
    if (strlen(item->solution) + 1 > cap) return -1;
    strcpy(out, item->solution);
    return 0;
}

static void ccot_verify(const Task *t, const TaskItem *item, const char *completion,
                        int finished, Reward *out) {
    const CCotState *s = t->state;
    CotParse cp;
    cot_parse(&s->p, completion, finished, &cp);
    int acc = 0, cons = 0;
    if (cp.has_answer) {
        char ans[TASK_MAX_TEXT];
        if (cp.answer_len < sizeof ans) {
            memcpy(ans, cp.answer, cp.answer_len);
            ans[cp.answer_len] = '\0';
            Reward inner;
            s->inner->verify(s->inner, item, ans, 1, &inner);
            acc = inner.correct;
        }
    }
    const char *gt = strchr(item->prompt, '>');
    if (cp.think && gt) {
        const char *eq = NULL;
        for (size_t i = 0; i < cp.think_len; i++)
            if (cp.think[i] == '=') eq = cp.think + i;
        size_t k = eq ? (size_t)(cp.think + cp.think_len - eq - 1) : 0;
        const size_t tk = strlen(gt + 1) - 1; /* the target, without the final '=' */
        cons = eq && k == tk && memcmp(eq + 1, gt + 1, k) == 0;
    }
    cot_reward(t, acc, cp.format, cons, out);
}

static void ccot_destroy(Task *t) {
    if (!t) return;
    CCotState *s = t->state;
    s->inner->destroy(s->inner);
    xfree(s);
    xfree(t);
}

static int decimal_len(int v) {
    int n = 1;
    while (v >= 10) v /= 10, n++;
    return n;
}

Task *task_countdown_cot_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen) {
    if (cot_check_tags(p, err, errlen) != 0) return NULL;
    Task *inner = task_countdown_create(p, seed, err, errlen);
    if (!inner) return NULL;
    /* Longest case: n numbers of the most digits, n - 1 steps of three
     * 7-digit numbers, an expression with n - 1 operators and at most
     * 2 (n - 1) parenthesis pairs (each join may bracket both sides). */
    const int n = p->cd_n_max, dig = decimal_len(p->cd_max_number);
    const int steps = (n - 1) * (3 * CCOT_VALUE_DIGITS + 2) + (n - 2);
    const int expr = n * dig + (n - 1) + 4 * (n - 1);
    const int max_c = cot_tags_len(p) + steps + expr;
    if (max_c > TASK_MAX_TEXT - 1 || n > CCOT_MAX_N) {
        set_err(err, errlen,
                "[task] countdown_max = %d, countdown_max_number = %d: a worked completion may "
                "need %d characters, more than %d; lower them",
                p->cd_n_max, p->cd_max_number, max_c, TASK_MAX_TEXT - 1);
        inner->destroy(inner);
        return NULL;
    }
    CCotState *s = xcalloc(1, sizeof *s);
    s->p = *p;
    s->inner = inner;
    Task *t = xcalloc(1, sizeof *t);
    cot_task_init(t, "countdown_cot", p);
    t->sample = ccot_sample;
    t->demonstrate = ccot_demonstrate;
    t->verify = ccot_verify;
    t->destroy = ccot_destroy;
    t->state = s;
    t->max_prompt_chars = n * dig + (n - 1) + 1 + 3 + 1; /* "a,b,...>target=", target <= 999 */
    t->max_completion_chars = max_c;
    return t;
}
