/* task_countdown.c: reach a target with the given numbers, each used once.
 *
 * Prompt: the numbers separated by ',', then '>', the target, and '=':
 * "3,7,25,2>46=" reads "make 46 from 3, 7, 25 and 2". The completion is an
 * expression over + - * / and parentheses using every number exactly once,
 * with no spaces, e.g. "25*2-7+3" (any correct expression is accepted).
 *
 * Items are solvable by construction: a random expression tree over the
 * drawn numbers, keeping every intermediate a non-negative integer and every
 * division exact; its value (kept in 1..CD_MAX_TARGET) is the target, its
 * text (minimal parentheses) the solution. TaskItem.answer holds the same
 * reference expression.
 *
 * The verifier has its own recursive-descent parser (never eval): integer
 * arithmetic with 64-bit overflow checks, where division by zero or an
 * inexact division makes the expression wrong (not rational arithmetic:
 * "3/2*2" is rejected). Components: "format" = the whole completion parses
 * (digits without leading zeros, at most CD_MAX_LITERAL_DIGITS each, + - * /,
 * parentheses nested at most CD_MAX_DEPTH deep, at most CD_MAX_LITERALS
 * numbers) and finished; "accuracy" = format, the arithmetic is defined,
 * the value equals the target and the numbers used are exactly the given
 * multiset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "util.h"

enum {
    CD_MAX_N = 6,              /* numbers per item */
    CD_MAX_NUMBER = 1000,
    CD_MAX_TARGET = 999,
    CD_MAX_DEPTH = 32,         /* parenthesis nesting the parser accepts */
    CD_MAX_LITERALS = 32,
    CD_MAX_LITERAL_DIGITS = 9,
    CD_EXPR_MAX = 128,         /* expression text built by the generator */
    CD_TREE_TRIES = 64,        /* random trees per drawn number set */
};

typedef struct {
    TaskParams p;
    uint64_t seed;
} CdState;

/* A partial expression during generation: value, text, precedence
 * (1 for + -, 2 for * /, 3 for a number). */
typedef struct {
    long long v;
    char s[CD_EXPR_MAX];
    int prec;
} CdNode;

/* Builds a op b into out; returns 0, or -1 if op is not allowed (negative
 * result, zero or inexact division, value over the bound). */
static int cd_combine(const CdNode *a, const CdNode *b, char op, CdNode *out) {
    long long v;
    switch (op) {
    case '+': v = a->v + b->v; break;
    case '-': v = a->v - b->v; break;
    case '*': v = a->v * b->v; break;
    default:
        if (b->v == 0 || a->v % b->v != 0) return -1;
        v = a->v / b->v;
    }
    if (v < 0 || v > 1000000) return -1;
    int p = (op == '+' || op == '-') ? 1 : 2;
    /* Left operand in parentheses if it binds looser; right operand also at
     * equal precedence after - or / (a-(b+c), a/(b*c)). */
    int pl = a->prec < p, pr = b->prec < p || (b->prec == p && (op == '-' || op == '/'));
    int n = snprintf(out->s, sizeof out->s, "%s%s%s%c%s%s%s", pl ? "(" : "", a->s, pl ? ")" : "",
                     op, pr ? "(" : "", b->s, pr ? ")" : "");
    if (n < 0 || n >= (int)sizeof out->s) return -1;
    out->v = v;
    out->prec = p;
    return 0;
}

/* One random tree over nums[0..n-1]: repeatedly joins two random nodes with
 * a random allowed operator. Returns 0 with the root in *out, or -1. */
static int cd_random_tree(const int *nums, int n, Rng *r, CdNode *out) {
    CdNode nodes[CD_MAX_N];
    for (int i = 0; i < n; i++) {
        nodes[i].v = nums[i];
        nodes[i].prec = 3;
        snprintf(nodes[i].s, sizeof nodes[i].s, "%d", nums[i]);
    }
    static const char ops[4] = {'+', '-', '*', '/'};
    while (n > 1) {
        int i = (int)rng_below(r, (uint32_t)n), j = (int)rng_below(r, (uint32_t)n - 1);
        if (j >= i) j++;
        CdNode joined;
        int done = 0;
        for (int tries = 0; tries < 8 && !done; tries++) {
            char op = ops[rng_below(r, 4)];
            /* Larger value first for - and /, so the result stays natural. */
            const CdNode *a = &nodes[i], *b = &nodes[j];
            if ((op == '-' || op == '/') && a->v < b->v) {
                const CdNode *tmp = a;
                a = b;
                b = tmp;
            }
            done = cd_combine(a, b, op, &joined) == 0;
        }
        if (!done && cd_combine(&nodes[i], &nodes[j], '+', &joined) != 0) return -1;
        int lo = i < j ? i : j, hi = i < j ? j : i;
        nodes[lo] = joined;
        nodes[hi] = nodes[n - 1];
        n--;
    }
    *out = nodes[0];
    return 0;
}

/* Draws one candidate item (TaskGenFn). */
static void cd_gen(const Task *t, Rng *r, TaskItem *out) {
    const TaskParams *p = &((const CdState *)t->state)->p;
    for (;;) {
        int n = p->cd_n_min + (int)rng_below(r, (uint32_t)(p->cd_n_max - p->cd_n_min + 1));
        int nums[CD_MAX_N];
        for (int i = 0; i < n; i++) nums[i] = 1 + (int)rng_below(r, (uint32_t)p->cd_max_number);
        for (int tries = 0; tries < CD_TREE_TRIES; tries++) {
            CdNode root;
            if (cd_random_tree(nums, n, r, &root) != 0) continue;
            if (root.v < 1 || root.v > CD_MAX_TARGET) continue;
            int len = 0;
            for (int i = 0; i < n; i++)
                len += snprintf(out->prompt + len, sizeof out->prompt - (size_t)len, "%s%d",
                                i ? "," : "", nums[i]);
            snprintf(out->prompt + len, sizeof out->prompt - (size_t)len, ">%lld=", root.v);
            snprintf(out->answer, sizeof out->answer, "%s", root.s);
            snprintf(out->solution, sizeof out->solution, "%s", root.s);
            return;
        }
    }
}

/* Task.sample: generated items, split by prompt hash. */
static int cd_sample(const Task *t, TaskSplit split, uint64_t stream, uint64_t index,
                     TaskItem *out) {
    const CdState *s = t->state;
    return task_sample_generated(t, cd_gen, s->seed, s->p.eval_permille, split, stream, index,
                                 out);
}

/* The demonstrator writes the generator's own solution (no mistakes). */
static int cd_demonstrate(const Task *t, const TaskItem *item, Rng *rng, char *out, size_t cap) {
    if (strlen(item->solution) + 1 > cap) return -1;
    strcpy(out, item->solution);
    return 0;
}

/* ---- the verifier's parser ---- */

typedef struct {
    const char *s;            /* cursor */
    int depth;
    int syntax_bad;           /* not a well-formed expression */
    int math_bad;             /* zero/inexact division or 64-bit overflow */
    int n_lits;
    long long lits[CD_MAX_LITERALS];
} CdParser;

static long long cd_expr(CdParser *ps);

/* Applies op to a and b, flagging undefined or overflowing arithmetic. */
static long long cd_apply(CdParser *ps, long long a, char op, long long b) {
    long long v = 0;
    int bad = 0;
    switch (op) {
    case '+': bad = __builtin_add_overflow(a, b, &v); break;
    case '-': bad = __builtin_sub_overflow(a, b, &v); break;
    case '*': bad = __builtin_mul_overflow(a, b, &v); break;
    default:
        bad = b == 0 || (b == -1 && a == INT64_MIN) || a % b != 0;
        if (!bad) v = a / b;
    }
    if (bad) ps->math_bad = 1;
    return bad ? 0 : v;
}

/* factor := number | '(' expr ')' */
static long long cd_factor(CdParser *ps) {
    if (ps->syntax_bad) return 0;
    if (*ps->s == '(') {
        if (++ps->depth > CD_MAX_DEPTH) {
            ps->syntax_bad = 1;
            return 0;
        }
        ps->s++;
        long long v = cd_expr(ps);
        if (*ps->s != ')') ps->syntax_bad = 1;
        else ps->s++;
        ps->depth--;
        return v;
    }
    const char *start = ps->s;
    long long v = 0;
    while (*ps->s >= '0' && *ps->s <= '9') {
        if (ps->s - start < CD_MAX_LITERAL_DIGITS) v = v * 10 + (*ps->s - '0'); /* no overflow */
        ps->s++;
    }
    int len = (int)(ps->s - start);
    if (len == 0 || len > CD_MAX_LITERAL_DIGITS || (len > 1 && *start == '0') ||
        ps->n_lits >= CD_MAX_LITERALS) {
        ps->syntax_bad = 1;
        return 0;
    }
    ps->lits[ps->n_lits++] = v;
    return v;
}

/* term := factor (('*' | '/') factor)* */
static long long cd_term(CdParser *ps) {
    long long v = cd_factor(ps);
    while (!ps->syntax_bad && (*ps->s == '*' || *ps->s == '/')) {
        char op = *ps->s++;
        v = cd_apply(ps, v, op, cd_factor(ps));
    }
    return v;
}

/* expr := term (('+' | '-') term)* */
static long long cd_expr(CdParser *ps) {
    long long v = cd_term(ps);
    while (!ps->syntax_bad && (*ps->s == '+' || *ps->s == '-')) {
        char op = *ps->s++;
        v = cd_apply(ps, v, op, cd_term(ps));
    }
    return v;
}

/* Reads "n1,n2,...>target=" into nums/target; returns the count or -1. */
static int cd_parse_prompt(const char *prompt, long long *nums, long long *target) {
    int n = 0;
    const char *p = prompt;
    for (;;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || n >= CD_MAX_N) return -1;
        nums[n++] = v;
        p = end;
        if (*p == ',') p++;
        else if (*p == '>') break;
        else return -1;
    }
    char *end;
    *target = strtoll(p + 1, &end, 10);
    if (end == p + 1 || *end != '=' || end[1] != '\0') return -1;
    return n;
}

/* qsort order for long long. */
static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* Task.verify: parse, evaluate, compare value and numbers with the prompt. */
static void cd_verify(const Task *t, const TaskItem *item, const char *completion, int finished,
                      Reward *out) {
    memset(out, 0, sizeof *out);
    out->n = 2;
    CdParser ps = {.s = completion};
    long long v = cd_expr(&ps);
    if (*ps.s != '\0') ps.syntax_bad = 1; /* trailing text or a stray ')' */
    int ok_form = !ps.syntax_bad && finished;
    int ok_acc = 0;
    long long nums[CD_MAX_N], target;
    int n = cd_parse_prompt(item->prompt, nums, &target);
    if (ok_form && !ps.math_bad && n > 0 && v == target && ps.n_lits == n) {
        qsort(nums, (size_t)n, sizeof nums[0], cmp_ll);
        qsort(ps.lits, (size_t)n, sizeof ps.lits[0], cmp_ll);
        ok_acc = memcmp(nums, ps.lits, sizeof nums[0] * (size_t)n) == 0;
    }
    out->value[0] = (float)ok_acc;
    out->value[1] = (float)ok_form;
    out->correct = ok_acc;
    reward_finish(t, out);
}

/* Task.destroy: frees the state and the task. */
static void cd_destroy(Task *t) {
    if (!t) return;
    xfree(t->state);
    xfree(t);
}

Task *task_countdown_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen) {
    if (p->cd_n_min < 2 || p->cd_n_min > CD_MAX_N) {
        set_err(err, errlen, "[task] countdown_min = %d: expected 2..%d", p->cd_n_min, CD_MAX_N);
        return NULL;
    }
    if (p->cd_n_max < p->cd_n_min || p->cd_n_max > CD_MAX_N) {
        set_err(err, errlen, "[task] countdown_max = %d: expected countdown_min (%d)..%d",
                p->cd_n_max, p->cd_n_min, CD_MAX_N);
        return NULL;
    }
    if (p->cd_max_number < 1 || p->cd_max_number > CD_MAX_NUMBER) {
        set_err(err, errlen, "[task] countdown_max_number = %d: expected 1..%d",
                p->cd_max_number, CD_MAX_NUMBER);
        return NULL;
    }
    CdState *s = xcalloc(1, sizeof *s);
    s->p = *p;
    s->seed = seed;
    Task *t = xcalloc(1, sizeof *t);
    t->name = "countdown";
    t->n_components = 2;
    t->component_names[0] = "accuracy";
    t->component_names[1] = "format";
    t->weights[0] = p->weights[0];
    t->weights[1] = p->weights[1];
    t->sample = cd_sample;
    t->demonstrate = cd_demonstrate;
    t->verify = cd_verify;
    t->destroy = cd_destroy;
    t->state = s;
    return t;
}
