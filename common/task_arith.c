/* task_arith.c: integer arithmetic, the default task.
 *
 * Prompt: "123+45=", "7-9=", "6*11=" (operands non-negative decimal, no
 * spaces). Answer written after '=': the decimal digits of the result
 * LEAST-SIGNIFICANT FIRST, then '-' if negative: 123+45=168 is "861",
 * 7-9=-2 is "2-". Written this way a character model produces each digit
 * after the digits its carry depends on (minGPT's adder does the same).
 * TaskItem.answer is the true result in ordinary decimal ("168");
 * TaskItem.solution is the completion text ("861").
 *
 * Reward components, both strict (no credit for a number buried in other
 * text): "accuracy" = the completion is exactly the reference answer in the
 * answer format and the model stopped by itself (a completion cut at the
 * length limit might have gone on to write more digits); "format" = one or
 * more digits with no superfluous leading zero of the number (the written
 * string does not end in '0' unless it is "0"), an optional final '-' (not
 * after "0"), nothing else, and finished. */
#include <stdio.h>
#include <string.h>

#include "task.h"
#include "util.h"

enum { ARITH_MAX_DIGITS = 9, ARITH_MUL_MAX = 99999, ARITH_COLS = 24 };

/* The eval split is listed (every possible prompt hashed once) while the
 * item space has at most this many prompts: 15131 at the defaults, 1.5
 * million at max_digits = 3 (about 0.05 s). Larger spaces are sampled. */
#define ARITH_LIST_MAX (1ull << 22)

typedef struct {
    TaskParams p;
    uint64_t seed;
} ArithState;

/* Writes v in the answer format (digits least-significant first, then '-'
 * if negative) into out (at least 24 bytes). */
static void arith_format(long long v, char *out) {
    int neg = v < 0, n = 0;
    unsigned long long u = neg ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        out[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg) out[n++] = '-';
    out[n] = '\0';
}

/* Uniform operand: length uniform in 1..max_digits, then a value of exactly
 * that many digits (one digit includes 0). */
static long long arith_operand(Rng *r, int max_digits) {
    int len = 1 + (int)rng_below(r, (uint32_t)max_digits);
    if (len == 1) return rng_below(r, 10);
    uint32_t lo = 1;
    for (int i = 1; i < len; i++) lo *= 10;
    return (long long)lo + rng_below(r, 9 * lo);
}

/* Writes the item "a op b=" (prompt, answer, solution; not the id). */
static void arith_make(char op, long long a, long long b, TaskItem *out) {
    long long v = op == '*' ? a * b : op == '+' ? a + b : a - b;
    snprintf(out->prompt, sizeof out->prompt, "%lld%c%lld=", a, op, b);
    snprintf(out->answer, sizeof out->answer, "%lld", v);
    arith_format(v, out->solution);
}

/* Draws one candidate item (TaskGenFn). */
static void arith_gen(const Task *t, Rng *r, TaskItem *out) {
    const TaskParams *p = &((const ArithState *)t->state)->p;
    char op = task_draw_op(p, r);
    long long a, b;
    if (op == '*') {
        a = 1 + rng_below(r, (uint32_t)p->mul_max);
        b = 1 + rng_below(r, (uint32_t)p->mul_max);
    } else {
        a = arith_operand(r, p->max_digits);
        b = arith_operand(r, p->max_digits);
        if (op == '-' && !p->allow_negative && a < b) {
            long long tmp = a;
            a = b;
            b = tmp;
        }
    }
    arith_make(op, a, b, out);
}

/* Writes the decimal digits of v >= 0 at out; returns the end. */
static char *put_decimal(char *out, unsigned long long v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *out++ = tmp[--n];
    return out;
}

/* The prompt arith_make writes, without snprintf: the listing hashes
 * millions of them. */
static void arith_prompt(char op, unsigned long long a, unsigned long long b, char *out) {
    char *p = put_decimal(out, a);
    *p++ = op;
    p = put_decimal(p, b);
    *p++ = '=';
    *p = '\0';
}

/* Eval keys: op index << 60 | a << 30 | b (operands < 10^9 < 2^30). */
static const char ARITH_OPS[3] = {'+', '-', '*'};

static uint64_t arith_key(int op, uint64_t a, uint64_t b) {
    return (uint64_t)op << 60 | a << 30 | b;
}

/* Task.eval_split: every prompt the generator can write, in the eval
 * split, if there are at most ARITH_LIST_MAX prompts: a + b and a - b with
 * operands in 0..10^max_digits - 1 (a >= b unless allow_negative), a * b
 * with factors in 1..mul_max, for each operation of positive share.
 * Distinct by construction: (op, a, b) determines the prompt. */
static int arith_eval_split(const Task *t, uint64_t **keys) {
    const ArithState *s = t->state;
    const TaskParams *p = &s->p;
    uint64_t B = 1;
    for (int i = 0; i < p->max_digits; i++) B *= 10;
    const uint64_t M = (uint64_t)p->mul_max;
    const uint64_t n_add = p->p_add > 0 ? B * B : 0;
    const uint64_t n_sub = p->p_sub > 0 ? (p->allow_negative ? B * B : B * (B + 1) / 2) : 0;
    const uint64_t n_mul = p->p_mul > 0 ? M * M : 0;
    if (n_add + n_sub + n_mul > ARITH_LIST_MAX) return -1;
    int n = 0, cap = 0;
    uint64_t *k = NULL;
    char prompt[48];
    for (int op = 0; op < 3; op++) {
        const float share = op == 0 ? p->p_add : op == 1 ? p->p_sub : p->p_mul;
        if (!(share > 0)) continue;
        const uint64_t lo = op == 2 ? 1 : 0, hi = op == 2 ? M : B - 1;
        for (uint64_t a = lo; a <= hi; a++)
            for (uint64_t b = lo; b <= (op == 1 && !p->allow_negative ? a : hi); b++) {
                arith_prompt(ARITH_OPS[op], a, b, prompt);
                if (!task_id_is_eval(task_item_id(prompt), p->eval_permille)) continue;
                if (n == cap) {
                    cap = cap ? 2 * cap : 256;
                    uint64_t *grown = xmalloc(sizeof(uint64_t) * (size_t)cap);
                    if (n) memcpy(grown, k, sizeof(uint64_t) * (size_t)n);
                    xfree(k);
                    k = grown;
                }
                k[n++] = arith_key(op, a, b);
            }
    }
    task_shuffle_keys(k, n, s->seed);
    *keys = k;
    return n;
}

/* Task.eval_item: the item of an arith_eval_split key. */
static int arith_eval_item(const Task *t, uint64_t key, TaskItem *out) {
    const int op = (int)(key >> 60);
    const uint64_t a = (key >> 30) & ((1u << 30) - 1), b = key & ((1u << 30) - 1);
    if (op > 2) return -1;
    memset(out, 0, sizeof *out);
    arith_make(ARITH_OPS[op], (long long)a, (long long)b, out);
    out->id = task_item_id(out->prompt);
    return 0;
}

/* Task.sample: generated items, split by prompt hash. */
static int arith_sample(const Task *t, TaskSplit split, uint64_t stream, uint64_t index,
                        TaskItem *out) {
    const ArithState *s = t->state;
    return task_sample_generated(t, arith_gen, s->seed, s->p.eval_permille, split, stream, index,
                                 out);
}

/* Splits v >= 0 into decimal digits, least significant first; returns count. */
static int arith_digits(long long v, int *d) {
    int n = 0;
    do {
        d[n++] = (int)(v % 10);
        v /= 10;
    } while (v);
    return n;
}

/* Column sum a+b (a, b >= 0) that drops each needed carry with probability
 * err: the carry is just not added to the next column (or, at the top, the
 * leading 1 is not written). */
static long long demo_add(long long a, long long b, float err, Rng *rng) {
    int da[ARITH_COLS] = {0}, db[ARITH_COLS] = {0};
    int na = arith_digits(a, da), nb = arith_digits(b, db), cols = na > nb ? na : nb;
    long long v = 0, place = 1;
    int carry = 0;
    for (int i = 0; i < cols || carry; i++, place *= 10) {
        int s = da[i] + db[i] + carry;
        carry = 0;
        if (s >= 10) {
            s -= 10;
            carry = rng_uniform(rng) >= err;
        }
        v += s * place;
    }
    return v;
}

/* Column difference a-b (a >= b >= 0) that drops each needed borrow with
 * probability err (the next column is not reduced). Dropping only ever
 * lowers later borrows, so the top column never needs one. */
static long long demo_sub(long long a, long long b, float err, Rng *rng) {
    int da[ARITH_COLS] = {0}, db[ARITH_COLS] = {0};
    int na = arith_digits(a, da);
    arith_digits(b, db);
    long long v = 0, place = 1;
    int borrow = 0;
    for (int i = 0; i < na; i++, place *= 10) {
        int d = da[i] - db[i] - borrow;
        borrow = 0;
        if (d < 0) {
            d += 10;
            borrow = rng_uniform(rng) >= err;
        }
        v += d * place;
    }
    return v;
}

/* The demonstrator: a person who works column by column and forgets a
 * carry or borrow with probability demo_error each time one is needed;
 * products (small times tables) are always right. Its errors are a
 * consistent habit, not noise: with demo_error > 0.5 forgetting is the
 * majority behaviour at every carry column, so a model fitted to these
 * demonstrations puts its mode on the forgotten-carry digit (greedy
 * decoding reproduces the mistake) while the right digit keeps probability
 * about 1 - demo_error under sampling. Imitation is capped at the
 * demonstrator's accuracy, yet the right answer is reachable by sampling,
 * which is exactly what a verifier-rewarded policy gradient can amplify. */
static int arith_demonstrate(const Task *t, const TaskItem *item, Rng *rng, char *out,
                             size_t cap) {
    const ArithState *s = t->state;
    long long a, b, v;
    char op;
    if (sscanf(item->prompt, "%lld%c%lld=", &a, &op, &b) != 3 || a < 0 || b < 0) return -1;
    float err = s->p.demo_error;
    if (op == '+') v = demo_add(a, b, err, rng);
    else if (op == '-') v = a >= b ? demo_sub(a, b, err, rng) : -demo_sub(b, a, err, rng);
    else if (op == '*') v = a * b;
    else return -1;
    char buf[32];
    arith_format(v, buf);
    if (strlen(buf) + 1 > cap) return -1;
    strcpy(out, buf);
    return 0;
}

/* 1 if c is a well-formed answer (see the file comment, finished aside). */
static int arith_well_formed(const char *c) {
    size_t n = strlen(c), k = n;
    int neg = n > 0 && c[n - 1] == '-';
    if (neg) k--;
    if (k == 0) return 0;
    for (size_t i = 0; i < k; i++)
        if (c[i] < '0' || c[i] > '9') return 0;
    if (k > 1 && c[k - 1] == '0') return 0; /* leading zero of the number */
    if (neg && k == 1 && c[0] == '0') return 0; /* "-0" */
    return 1;
}

/* Task.verify: strict accuracy and format (see the file comment). */
static void arith_verify(const Task *t, const TaskItem *item, const char *completion, int finished,
                         Reward *out) {
    memset(out, 0, sizeof *out);
    out->n = 2;
    int ok_form = arith_well_formed(completion) && finished;
    int ok_acc = 0;
    if (ok_form) {
        /* Back to ordinary decimal, then compare with the canonical answer. */
        char normal[TASK_MAX_TEXT];
        size_t n = strlen(completion), k = n, j = 0;
        if (n + 1 > sizeof normal) goto done;
        if (completion[n - 1] == '-') {
            normal[j++] = '-';
            k--;
        }
        for (size_t i = 0; i < k; i++) normal[j++] = completion[k - 1 - i];
        normal[j] = '\0';
        ok_acc = strcmp(normal, item->answer) == 0;
    }
done:
    out->value[0] = (float)ok_acc;
    out->value[1] = (float)ok_form;
    out->correct = ok_acc;
    reward_finish(t, out);
}

/* Task.destroy: frees the state and the task. */
static void arith_destroy(Task *t) {
    if (!t) return;
    xfree(t->state);
    xfree(t);
}

Task *task_arith_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen) {
    if (p->max_digits < 1 || p->max_digits > ARITH_MAX_DIGITS) {
        set_err(err, errlen, "[task] max_digits = %d: expected 1..%d", p->max_digits,
                ARITH_MAX_DIGITS);
        return NULL;
    }
    if (task_check_op_shares(p, err, errlen) != 0) return NULL;
    if (p->mul_max < 1 || p->mul_max > ARITH_MUL_MAX) {
        set_err(err, errlen, "[task] mul_max = %d: expected 1..%d", p->mul_max, ARITH_MUL_MAX);
        return NULL;
    }
    if (p->allow_negative != 0 && p->allow_negative != 1) {
        set_err(err, errlen, "[task] allow_negative = %d: expected 0 or 1", p->allow_negative);
        return NULL;
    }
    if (!(p->demo_error >= 0 && p->demo_error <= 1)) {
        set_err(err, errlen, "[task] demo_error = %g: expected a probability in 0..1",
                p->demo_error);
        return NULL;
    }
    ArithState *s = xcalloc(1, sizeof *s);
    s->p = *p;
    s->seed = seed;
    Task *t = xcalloc(1, sizeof *t);
    t->name = "arith";
    t->n_components = 2;
    t->component_names[0] = "accuracy";
    t->component_names[1] = "format";
    t->weights[0] = p->weights[0];
    t->weights[1] = p->weights[1];
    t->sample = arith_sample;
    t->demonstrate = arith_demonstrate;
    t->verify = arith_verify;
    t->eval_split = arith_eval_split;
    t->eval_item = arith_eval_item;
    t->destroy = arith_destroy;
    t->state = s;
    return t;
}
