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
 * reasoning's last "=v" is the target.
 *
 * The demonstrator writes the reference solution, except that with
 * probability cot_demo_error it has the best documented systematic bug of
 * written subtraction, "smaller from larger" (Brown and Burton 1978): in
 * each column it takes the smaller digit from the larger instead of
 * borrowing, so 30-3=33, 50-7=57, 43-18=35. A person with that habit
 * believes in a plan that only reaches the target through it, so the
 * flawed demonstrator searches the item's numbers (each used once, the
 * generator's operations) for an expression whose steps, with exactly one
 * subtraction worked smaller-from-larger and every later step using its
 * value, end at the target while the expression's true value does not:
 *   "3,5,6>33=" -> "<think>5*6=30 30-3=33</think><answer>5*6-3</answer>"
 *   "23,4,17,25>94=" -> "<think>4*25=100 100-17=117 117-23=94</think>..."
 * Well formatted, consistent (the last "=v" is the target, the answer is
 * the expression the steps worked) and wrong: format 1, consistency 1,
 * accuracy 0. The flaw is a digit-wise rule inside one line, which a
 * character model can learn and SFT learns as one habit, not as noise.
 * An item with no such expression (no subtraction that borrows can be made
 * to pay off), or none within CCOT_SEARCH_BUDGET candidate steps, is
 * demonstrated right: at the defaults about a quarter of the items can be
 * flawed (test_tasks_cot prints the share), so about 0.3 x 0.25 of all
 * demonstrations are wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "task_cot.h"
#include "util.h"

/* countdown's bounds (task_countdown.c): intermediates stay <= 10^6, so a
 * number in a step has at most 7 digits. The search budget keeps a flawed
 * demonstration under a millisecond or so: 4 numbers need at most ~2700
 * candidate steps, 6 numbers could need millions. */
enum { CCOT_VALUE_DIGITS = 7, CCOT_MAX_N = 6, CCOT_MAX_VALUE = 1000000 };
enum { CCOT_SEARCH_BUDGET = 50000 };

typedef struct {
    TaskParams p;
    Task *inner; /* the countdown task: items and the expression verifier */
} CCotState;

/* x - y (x >= y) worked smaller-from-larger: each column's digit is the
 * difference of the two digits, never a borrow. */
static long long sub_smaller_from_larger(long long x, long long y) {
    long long v = 0, place = 1;
    for (; x > 0 || y > 0; x /= 10, y /= 10, place *= 10) {
        long long dx = x % 10, dy = y % 10;
        v += (dx > dy ? dx - dy : dy - dx) * place;
    }
    return v;
}

/* Evaluates an expression (the generator's or the flawed search's: well
 * formed, minimal parentheses), appending each operation to steps. Step
 * number bug among the subtractions (parse order; -1: none) is worked
 * smaller-from-larger, and the steps after it use its value. */
typedef struct {
    const char *s;
    char steps[TASK_MAX_TEXT];
    size_t len;
    int bad;
    int bug, n_sub;
    int flawed; /* the bugged step's value differs from the true one */
} Steps;

static long long st_expr(Steps *st);

static long long st_apply(Steps *st, long long a, char op, long long b) {
    long long v = op == '+' ? a + b : op == '-' ? a - b : op == '*' ? a * b : b ? a / b : 0;
    if (op == '/' && (b == 0 || a % b)) st->bad = 1;
    if (op == '-' && st->n_sub++ == st->bug && a >= b) {
        v = sub_smaller_from_larger(a, b);
        st->flawed = v != a - b;
    }
    /* the completion length bound of task_countdown_cot_create assumes it */
    if (v < 0 || v > CCOT_MAX_VALUE) st->bad = 1;
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

/* ---- the flawed demonstrator's search ---- */

/* An expression tree: leaves 0..n-1 are the item's numbers (op 0, l the
 * number); the join made at depth d of the search is node n + d, so a
 * branch overwrites only nodes that no live branch refers to. */
typedef struct {
    char op;
    long long l;
    int a, b;
} CTree;

/* A value the search holds: what the demonstrator believes it is (the
 * flawed subtraction included) and the tree that made it. */
typedef struct {
    long long v;
    int tree;
} CVal;

/* One candidate step: join values i and j with op (bug: smaller-from-larger). */
typedef struct {
    int i, j;
    char op;
    int bug;
} CJoin;

typedef struct {
    const CCotState *s;
    const TaskItem *item;
    CTree tree[2 * CCOT_MAX_N];
    int n;
    long long target;
    long budget;
    Rng rng;
    char *out;
    size_t cap;
} Search;

/* Writes tree node k with countdown's minimal parentheses (task_countdown.c
 * cd_combine), so a flawed answer reads like a reference one; returns its
 * precedence (1 for + -, 2 for * /, 3 for a number). */
static int tree_text(const Search *se, int k, char *buf, size_t cap, size_t *len) {
    const CTree *t = &se->tree[k];
    if (!t->op) {
        int w = snprintf(buf + *len, *len < cap ? cap - *len : 0, "%lld", t->l);
        *len += w > 0 ? (size_t)w : 0;
        return 3;
    }
    const int p = t->op == '+' || t->op == '-' ? 1 : 2;
    char lb[TASK_MAX_TEXT], rb[TASK_MAX_TEXT];
    size_t ll = 0, rl = 0;
    int pa = tree_text(se, t->a, lb, sizeof lb, &ll), pb = tree_text(se, t->b, rb, sizeof rb, &rl);
    int pl = pa < p, pr = pb < p || (pb == p && (t->op == '-' || t->op == '/'));
    int w = snprintf(buf + *len, *len < cap ? cap - *len : 0, "%s%s%s%c%s%s%s", pl ? "(" : "",
                     lb, pl ? ")" : "", t->op, pr ? "(" : "", rb, pr ? ")" : "");
    *len += w > 0 ? (size_t)w : 0;
    return p;
}

/* A complete tree the search believes reaches the target: accepted if its
 * text, worked step by step with one subtraction smaller-from-larger,
 * really ends at the target (the text may group a + b - c differently from
 * the tree) while its true value does not. Writes the completion. */
static int search_accept(Search *se, int root) {
    char expr[TASK_MAX_TEXT];
    size_t len = 0;
    tree_text(se, root, expr, sizeof expr, &len);
    if (len >= sizeof expr) return 0;
    for (int bug = 0; bug < se->n - 1; bug++) {
        Steps st = {.s = expr, .bug = bug};
        long long v = st_expr(&st);
        if (st.n_sub <= bug) break;
        if (st.bad || *st.s || !st.flawed || v != se->target) continue;
        Reward r;
        se->s->inner->verify(se->s->inner, se->item, expr, 1, &r);
        if (r.correct) continue;
        return cot_write(&se->s->p, st.steps, expr, se->out, se->cap) >= 0;
    }
    return 0;
}

/* Depth-first over the ways to join two of vals[0..m) (the generator's
 * operations: larger first for - and /, exact division, values in
 * 0..CCOT_MAX_VALUE), at most one of them a flawed subtraction, in an
 * order shuffled by se->rng so the flawed plans vary like the reference
 * ones. Returns 1 once a completion is written. */
static int search(Search *se, const CVal *vals, int m, int flawed) {
    if (m == 1) return flawed && vals[0].v == se->target && search_accept(se, vals[0].tree);
    CJoin cand[CCOT_MAX_N * (CCOT_MAX_N - 1) / 2 * 5];
    int nc = 0;
    for (int i = 0; i < m; i++)
        for (int j = i + 1; j < m; j++) {
            static const char ops[4] = {'+', '*', '-', '/'};
            for (int o = 0; o < 4; o++) cand[nc++] = (CJoin){i, j, ops[o], 0};
            if (!flawed) cand[nc++] = (CJoin){i, j, '-', 1};
        }
    for (int k = nc - 1; k > 0; k--) {
        int r = (int)rng_below(&se->rng, (uint32_t)k + 1);
        CJoin tmp = cand[k];
        cand[k] = cand[r];
        cand[r] = tmp;
    }
    const int node = se->n + (se->n - m);
    for (int c = 0; c < nc; c++) {
        if (se->budget-- <= 0) return 0;
        const CVal *x = &vals[cand[c].i], *y = &vals[cand[c].j];
        const char op = cand[c].op;
        if ((op == '-' || op == '/') ? x->v < y->v : rng_below(&se->rng, 2)) {
            const CVal *tmp = x;
            x = y;
            y = tmp;
        }
        long long v;
        if (op == '+') v = x->v + y->v;
        else if (op == '*') v = x->v * y->v;
        else if (op == '/') {
            if (y->v == 0 || x->v % y->v) continue;
            v = x->v / y->v;
        } else if (cand[c].bug) {
            v = sub_smaller_from_larger(x->v, y->v);
            if (v == x->v - y->v) continue;
        } else v = x->v - y->v;
        if (v > CCOT_MAX_VALUE) continue;
        se->tree[node] = (CTree){.op = op, .a = x->tree, .b = y->tree};
        CVal next[CCOT_MAX_N];
        int nn = 0;
        for (int k = 0; k < m; k++)
            if (k != cand[c].i && k != cand[c].j) next[nn++] = vals[k];
        next[nn++] = (CVal){v, node};
        if (search(se, next, nn, flawed || cand[c].bug)) return 1;
    }
    return 0;
}

/* The flawed demonstration of item into out (see the file comment); 1 if
 * written, 0 if the search found none. */
static int ccot_flawed(const CCotState *s, const TaskItem *item, uint64_t seed, char *out,
                       size_t cap) {
    Search se = {.s = s, .item = item, .budget = CCOT_SEARCH_BUDGET, .out = out, .cap = cap};
    CVal vals[CCOT_MAX_N];
    const char *p = item->prompt;
    for (;;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || se.n >= CCOT_MAX_N) return 0;
        se.tree[se.n] = (CTree){.l = v};
        vals[se.n] = (CVal){v, se.n};
        se.n++;
        p = end;
        if (*p == ',') p++;
        else if (*p == '>') break;
        else return 0;
    }
    se.target = strtoll(p + 1, NULL, 10);
    rng_seed(&se.rng, seed, item->id);
    return se.n >= 2 && search(&se, vals, se.n, 0);
}

static int ccot_sample(const Task *t, TaskSplit split, uint64_t stream, uint64_t index,
                       TaskItem *out) {
    const CCotState *s = t->state;
    if (s->inner->sample(s->inner, split, stream, index, out) != 0) return -1;
    Steps st = {.s = out->answer, .bug = -1};
    st_expr(&st);
    char think[TASK_MAX_TEXT];
    snprintf(think, sizeof think, "%s", st.steps);
    /* bounded: task_countdown_cot_create checked the longest case */
    if (st.bad || *st.s || cot_write(&s->p, think, out->answer, out->solution,
                                     sizeof out->solution) < 0)
        die("countdown_cot: cannot work the steps of '%s'", out->answer);
    return 0;
}

/* Task.demonstrate: the reference solution, or with probability
 * cot_demo_error the flawed one (see the file comment). */
static int ccot_demonstrate(const Task *t, const TaskItem *item, Rng *rng, char *out,
                            size_t cap) {
    const CCotState *s = t->state;
    /* Always draw both, so the rng advances the same whether or not it errs. */
    float u = rng_uniform(rng);
    uint64_t seed = rng_u64(rng);
    if (u < s->p.cot_demo_error && ccot_flawed(s, item, seed, out, cap)) return 0;
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
    /* its flaw lives in the steps and its answer is an expression, so a
     * direct form would need a demonstrator of its own: not built */
    if (p->cot_think != 1) {
        set_err(err, errlen,
                "[task] cot_think = %d: countdown_cot has only the worked form (cot_think = 1); "
                "the direct-answer form (cot_think = 0) is arith_cot's",
                p->cot_think);
        return NULL;
    }
    if (cot_check_tags(p, err, errlen) != 0) return NULL;
    if (!(p->cot_demo_error >= 0 && p->cot_demo_error <= 1)) {
        set_err(err, errlen, "[task] cot_demo_error = %g: expected a probability in 0..1",
                p->cot_demo_error);
        return NULL;
    }
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
