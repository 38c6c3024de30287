/* task_arith_cot.c: arithmetic with a worked scratchpad in the R1 template
 * (task name "arith_cot").
 *
 * Prompt as arith: "472+385=", "903-267=", "472*38=": a + b and a - b with
 * operands of exactly cot_digits digits (a >= b for a - b), a * b with a of
 * cot_digits and b of cot_mul_digits digits; op shares p_add, p_sub, p_mul.
 * The answer is ordinary decimal ("857"). The reasoning is one line per
 * column, least significant first, separated by spaces, each of fixed
 * width so a character model can learn where every digit comes from:
 *   a+b  "2+5+0=07 7+8+0=15 4+3+1=08 =857": digit of a, of b, carry in,
 *        then the two-digit column sum (its first digit is the next carry);
 *   a-b  "13-7-0=6 10-6-1=3 09-2-1=6 =636": borrow out and digit of a as
 *        two digits, digit of b, borrow in, result digit;
 *   a*b  one partial product per digit of b ("472*8:2*8+0=16 7*8+1=57
 *        4*8+5=37 =3776"), then the running sum of the shifted partial
 *        products as column additions ("3776+14160:6+0+0=06 ... =17936").
 * Every "=N" closes a sub-computation with its value, the last one the
 * result; the answer repeats it.
 *
 * Rewards: task_cot.h (accuracy = the answer part is exactly the decimal
 * result; consistency = it equals the reasoning's last "=N").
 *
 * The demonstrator works the same scratchpad and, with probability
 * cot_demo_error, drops the first carry (or borrow) that a later column
 * needed: that column's line shows carry 0, and every later value and the
 * answer follow from the flawed line. An item with no carry to drop is
 * always demonstrated right. The flaw is systematic on purpose, one habit
 * at one place: above 0.5 it is the demonstrator's most likely line, so
 * greedy decoding of an imitator reproduces it (imitation has a ceiling),
 * while sampling still writes the right carry often enough for RL to find
 * it. A flaw spread uniformly over the carries would instead put a little
 * doubt at every carry, which greedy decoding ignores and sampling pays
 * for everywhere.
 *
 * [task] cot_think = 0 is the direct baseline: the same prompts, items,
 * split and demonstrator rng, but the completion is "<answer>857</answer>"
 * alone. The demonstrator still works the scratchpad (unwritten) and
 * answers what its flawed line reaches, so both variants imitate the same
 * habit and differ only in whether the model sees and writes the
 * reasoning. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "task.h"
#include "task_cot.h"
#include "util.h"

enum { ACOT_MAX_DIGITS = 9, ACOT_COLS = 24 };

typedef struct {
    TaskParams p;
    uint64_t seed;
} ACotState;

/* The scratchpad being written: text, the carries met so far that a later
 * column uses, and which of them (by order met) to drop (-1: none). */
typedef struct {
    char s[TASK_MAX_TEXT];
    size_t len;
    int overflow;
    int n_carries;
    int drop;
} Pad;

static void pad_put(Pad *pd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = pd->len < sizeof pd->s ? vsnprintf(pd->s + pd->len, sizeof pd->s - pd->len, fmt, ap)
                                   : -1;
    va_end(ap);
    if (k < 0 || pd->len + (size_t)k >= sizeof pd->s) pd->overflow = 1;
    else pd->len += (size_t)k;
}

/* A carry out of a column that the next column takes in: returns it, or 0
 * if the demonstrator drops this one. */
static int pad_carry(Pad *pd, int carry) {
    if (!carry) return 0;
    return pd->n_carries++ == pd->drop ? 0 : carry;
}

static int digits_of(unsigned long long v, int *d) {
    int n = 0;
    do {
        d[n++] = (int)(v % 10);
        v /= 10;
    } while (v);
    return n;
}

/* Column lines of x + y, then "=x+y" (as the lines computed it). */
static unsigned long long pad_add(Pad *pd, unsigned long long x, unsigned long long y) {
    int dx[ACOT_COLS] = {0}, dy[ACOT_COLS] = {0};
    int nx = digits_of(x, dx), ny = digits_of(y, dy), cols = nx > ny ? nx : ny;
    unsigned long long v = 0, place = 1;
    int c = 0;
    for (int i = 0; i < cols; i++, place *= 10) {
        int s = dx[i] + dy[i] + c;
        pad_put(pd, "%d+%d+%d=%d%d ", dx[i], dy[i], c, s / 10, s % 10);
        v += (unsigned long long)(s % 10) * place;
        c = i + 1 < cols ? pad_carry(pd, s / 10) : s / 10;
    }
    v += (unsigned long long)c * place;
    pad_put(pd, "=%llu", v);
    return v;
}

/* Column lines of x - y (x >= y), then "=x-y". A dropped borrow only makes
 * later columns larger, so the top column never borrows. */
static unsigned long long pad_sub(Pad *pd, unsigned long long x, unsigned long long y) {
    int dx[ACOT_COLS] = {0}, dy[ACOT_COLS] = {0};
    int cols = digits_of(x, dx);
    digits_of(y, dy);
    unsigned long long v = 0, place = 1;
    int b = 0;
    for (int i = 0; i < cols; i++, place *= 10) {
        int d = dx[i] - dy[i] - b, out = d < 0;
        if (out) d += 10;
        pad_put(pd, "%d%d-%d-%d=%d ", out, dx[i], dy[i], b, d);
        v += (unsigned long long)d * place;
        b = i + 1 < cols ? pad_carry(pd, out) : 0;
    }
    pad_put(pd, "=%llu", v);
    return v;
}

/* "x*d:" then column lines of x times the digit d, then "=x*d". */
static unsigned long long pad_mul1(Pad *pd, unsigned long long x, int d) {
    int dx[ACOT_COLS] = {0};
    int cols = digits_of(x, dx);
    pad_put(pd, "%llu*%d:", x, d);
    unsigned long long v = 0, place = 1;
    int c = 0;
    for (int i = 0; i < cols; i++, place *= 10) {
        int s = dx[i] * d + c;
        pad_put(pd, "%d*%d+%d=%d%d ", dx[i], d, c, s / 10, s % 10);
        v += (unsigned long long)(s % 10) * place;
        c = i + 1 < cols ? pad_carry(pd, s / 10) : s / 10;
    }
    v += (unsigned long long)c * place;
    pad_put(pd, "=%llu", v);
    return v;
}

/* The whole scratchpad of a op b into pd; returns the result it reaches. */
static unsigned long long pad_solve(Pad *pd, char op, unsigned long long a, unsigned long long b) {
    if (op == '+') return pad_add(pd, a, b);
    if (op == '-') return pad_sub(pd, a, b);
    int db[ACOT_COLS] = {0};
    int nb = digits_of(b, db);
    unsigned long long acc = pad_mul1(pd, a, db[0]), shift = 1;
    for (int j = 1; j < nb; j++) {
        shift *= 10;
        pad_put(pd, " ");
        unsigned long long part = pad_mul1(pd, a, db[j]) * shift;
        pad_put(pd, " %llu+%llu:", acc, part);
        acc = pad_add(pd, acc, part);
    }
    return acc;
}

/* The completion for a op b with carry number drop dropped (-1: none) into
 * out; returns its length, or -1 if it does not fit. *n_carries gets the
 * count of droppable carries. */
static int acot_completion(const TaskParams *p, char op, unsigned long long a,
                           unsigned long long b, int drop, char *out, size_t cap,
                           int *n_carries) {
    Pad pd = {.drop = drop};
    unsigned long long v = pad_solve(&pd, op, a, b);
    if (n_carries) *n_carries = pd.n_carries;
    if (pd.overflow) return -1;
    char ans[24];
    snprintf(ans, sizeof ans, "%llu", v);
    return cot_write(p, pd.s, ans, out, cap);
}

/* Smallest and largest operand of exactly k digits (k = 1: 0..9). */
static unsigned long long lo_of(int k) {
    unsigned long long lo = 1;
    for (int i = 1; i < k; i++) lo *= 10;
    return k == 1 ? 0 : lo;
}
static unsigned long long hi_of(int k) {
    unsigned long long hi = 1;
    for (int i = 0; i < k; i++) hi *= 10;
    return hi - 1;
}

static unsigned long long draw(Rng *r, int k) {
    unsigned long long lo = lo_of(k), hi = hi_of(k);
    return lo + rng_below(r, (uint32_t)(hi - lo + 1));
}

static void acot_make(const TaskParams *p, char op, unsigned long long a, unsigned long long b,
                      TaskItem *out) {
    unsigned long long v = op == '+' ? a + b : op == '-' ? a - b : a * b;
    snprintf(out->prompt, sizeof out->prompt, "%llu%c%llu=", a, op, b);
    snprintf(out->answer, sizeof out->answer, "%llu", v);
    /* fits: task_arith_cot_create checked the longest case */
    acot_completion(p, op, a, b, -1, out->solution, sizeof out->solution, NULL);
}

/* Draws one candidate item (TaskGenFn). */
static void acot_gen(const Task *t, Rng *r, TaskItem *out) {
    const TaskParams *p = &((const ACotState *)t->state)->p;
    char op = task_draw_op(p, r);
    unsigned long long a = draw(r, p->cot_digits);
    unsigned long long b = draw(r, op == '*' ? p->cot_mul_digits : p->cot_digits);
    if (op == '-' && a < b) {
        unsigned long long tmp = a;
        a = b;
        b = tmp;
    }
    acot_make(p, op, a, b, out);
}

static int acot_sample(const Task *t, TaskSplit split, uint64_t stream, uint64_t index,
                       TaskItem *out) {
    const ACotState *s = t->state;
    return task_sample_generated(t, acot_gen, s->seed, s->p.eval_permille, split, stream, index,
                                 out);
}

static int acot_parse_prompt(const char *prompt, char *op, unsigned long long *a,
                             unsigned long long *b) {
    int used = 0;
    if (sscanf(prompt, "%llu%c%llu=%n", a, op, b, &used) != 3 || prompt[used] != '\0') return -1;
    return *op == '+' || *op == '-' || *op == '*' ? 0 : -1;
}

/* Task.demonstrate: the scratchpad, its first carry dropped with
 * probability cot_demo_error (see the file comment). */
static int acot_demonstrate(const Task *t, const TaskItem *item, Rng *rng, char *out,
                            size_t cap) {
    const TaskParams *p = &((const ACotState *)t->state)->p;
    unsigned long long a, b;
    char op;
    if (acot_parse_prompt(item->prompt, &op, &a, &b) != 0 || (op == '-' && a < b)) return -1;
    int n = 0;
    if (acot_completion(p, op, a, b, -1, out, cap, &n) < 0) return -1;
    /* Always draw, so the rng advances the same whether or not it errs. */
    float u = rng_uniform(rng);
    if (n == 0 || u >= p->cot_demo_error) return 0;
    return acot_completion(p, op, a, b, 0, out, cap, NULL) < 0 ? -1 : 0;
}

/* Task.verify: the answer part alone is the decimal result (accuracy), the
 * template (format), the answer equals the reasoning's last "=N" (with
 * cot_think = 0 there is none: consistency = format, task_cot.h). */
static void acot_verify(const Task *t, const TaskItem *item, const char *completion,
                        int finished, Reward *out) {
    const TaskParams *p = &((const ACotState *)t->state)->p;
    CotParse cp;
    cot_parse(p, completion, finished, &cp);
    int acc = cp.has_answer && cp.answer_len == strlen(item->answer) &&
              memcmp(cp.answer, item->answer, cp.answer_len) == 0;
    int cons = p->cot_think ? 0 : cp.format;
    if (p->cot_think && cp.has_answer && cp.think && cp.answer_len > 0) {
        const char *eq = NULL;
        for (size_t i = 0; i < cp.think_len; i++)
            if (cp.think[i] == '=') eq = cp.think + i;
        size_t k = eq ? (size_t)(cp.think + cp.think_len - eq - 1) : 0;
        cons = eq && k == cp.answer_len && memcmp(eq + 1, cp.answer, k) == 0;
    }
    cot_reward(t, acc, cp.format, cons, out);
}

static void acot_destroy(Task *t) {
    if (!t) return;
    xfree(t->state);
    xfree(t);
}

Task *task_arith_cot_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen) {
    if (p->cot_think != 0 && p->cot_think != 1) {
        set_err(err, errlen, "[task] cot_think = %d: expected 1 (worked) or 0 (answer alone)",
                p->cot_think);
        return NULL;
    }
    if (cot_check_tags(p, err, errlen) != 0) return NULL;
    if (p->cot_digits < 1 || p->cot_digits > ACOT_MAX_DIGITS) {
        set_err(err, errlen, "[task] cot_digits = %d: expected 1..%d", p->cot_digits,
                ACOT_MAX_DIGITS);
        return NULL;
    }
    if (p->cot_mul_digits < 1 || p->cot_mul_digits > ACOT_MAX_DIGITS) {
        set_err(err, errlen, "[task] cot_mul_digits = %d: expected 1..%d", p->cot_mul_digits,
                ACOT_MAX_DIGITS);
        return NULL;
    }
    if (task_check_op_shares(p, err, errlen) != 0) return NULL;
    if (!(p->cot_demo_error >= 0 && p->cot_demo_error <= 1)) {
        set_err(err, errlen, "[task] cot_demo_error = %g: expected a probability in 0..1",
                p->cot_demo_error);
        return NULL;
    }
    /* The longest completion: all-nines operands give the most columns and
     * the longest values (a - b: the largest result, top minus smallest). */
    const unsigned long long top = hi_of(p->cot_digits);
    const struct { char op; unsigned long long a, b; float share; } worst[3] = {
        {'+', top, top, p->p_add},
        {'-', top, lo_of(p->cot_digits), p->p_sub},
        {'*', top, hi_of(p->cot_mul_digits), p->p_mul},
    };
    int max_c = 0, max_p = 0;
    for (int i = 0; i < 3; i++) {
        if (!(worst[i].share > 0)) continue;
        char buf[TASK_MAX_TEXT];
        int len = acot_completion(p, worst[i].op, worst[i].a, worst[i].b, -1, buf, sizeof buf,
                                  NULL);
        if (len < 0) {
            set_err(err, errlen,
                    "[task] cot_digits = %d, cot_mul_digits = %d: the worked %c completion is "
                    "longer than %d characters; lower them (or set its share to 0)",
                    p->cot_digits, p->cot_mul_digits, worst[i].op, TASK_MAX_TEXT - 1);
            return NULL;
        }
        int plen = snprintf(buf, sizeof buf, "%llu%c%llu=", worst[i].a, worst[i].op, worst[i].b);
        if (len > max_c) max_c = len;
        if (plen > max_p) max_p = plen;
    }
    ACotState *s = xcalloc(1, sizeof *s);
    s->p = *p;
    s->seed = seed;
    Task *t = xcalloc(1, sizeof *t);
    cot_task_init(t, "arith_cot", p);
    t->sample = acot_sample;
    t->demonstrate = acot_demonstrate;
    t->verify = acot_verify;
    t->destroy = acot_destroy;
    t->state = s;
    t->max_prompt_chars = max_p;
    t->max_completion_chars = max_c;
    return t;
}
