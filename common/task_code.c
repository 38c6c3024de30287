/* task_code.c: the code task. The model writes a short Python program
 * from a specification; the program runs in the sandbox on hidden tests
 * (the verifier: task_code_harness.c).
 *
 * Prompt: 1..code_max_steps [3] operations on a list x of small ints,
 * applied left to right, comma separated, ending in ':':
 *   list -> list: sort, reverse, first N, last N, drop N (N in 1..3),
 *                 add N (N in 1..9), double, evens, odds
 *   list -> int:  sum, max, min, len (only as the last step)
 * Completion: one Python expression in x, the body of `lambda x: ...`.
 * The canonical solution nests one fragment per step around x, the last
 * step outermost, so the model writes the steps in reverse order:
 *   "sort,last 2,double:" -> "[v*2 for v in sorted(x)[-2:]]"
 * TaskItem.answer and .solution are both that canonical expression.
 *
 * The item space (what code_prog_valid accepts): each operation at most
 * once; not both evens and odds, no odds after double (always []); no
 * max/min after a filter (it may be empty: ValueError) and no len after
 * first/last (a constant); canonical solution at most CODE_MAX_SOLUTION
 * characters. About 7000 programs, 141 of them in the eval split at
 * eval_permille 20: the split is listed, and held-out prompts are
 * combinations of steps never seen together in training, so passing
 * them takes composing the steps' code, not recalling whole answers.
 *
 * The demonstrator's mistake is systematic, as arith's dropped carry:
 * with probability code_demo_error [0.6] an item with "last N" gets
 * x[N:] (drop N's slice: "last" confused with "drop") instead of x[-N:].
 * Over 0.5 the wrong slice is the demonstrations' majority for "last",
 * so an SFT model's greedy completion inherits it while the right one is
 * still sampled about 40% of the time; GRPO's verified reward can
 * promote it. "last" is drawn twice as often as each other list
 * operation so that the ceiling is clearly below 1. */
#include "task_code_harness.h"
#include "task_code_prog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"
#include "util.h"

/* ---- items ---- */

static void make_item(const CodeProg *p, TaskItem *out) {
    code_prog_prompt(p, out->prompt, sizeof out->prompt);
    code_prog_expr(p, 0, out->solution, sizeof out->solution);
    strcpy(out->answer, out->solution);
}

/* A list operation, "last" with weight 2 (the file comment says why). */
static int draw_list_op(Rng *r) {
    int u = (int)rng_below(r, CODE_N_LIST_OPS + 1);
    return u == CODE_N_LIST_OPS ? CODE_LAST : u;
}

/* Draws one candidate item (TaskGenFn): 1..max_steps steps, the last one
 * terminal with probability 0.3, redrawn until valid. */
static void code_gen(const Task *t, Rng *r, TaskItem *out) {
    const CodeState *s = t->state;
    CodeProg p;
    do {
        memset(&p, 0, sizeof p);
        p.n_steps = 1 + (int)rng_below(r, (uint32_t)s->p.code_max_steps);
        for (int i = 0; i < p.n_steps; i++) {
            CodeStep *st = &p.step[i];
            st->op = i == p.n_steps - 1 && rng_uniform(r) < 0.3f
                         ? CODE_SUM + (int)rng_below(r, CODE_N_OPS - CODE_SUM)
                         : draw_list_op(r);
            st->n = code_op_n_max(st->op) ? 1 + (int)rng_below(r, (uint32_t)code_op_n_max(st->op)) : 0;
        }
    } while (!code_prog_valid(&p));
    make_item(&p, out);
}

static int code_sample(const Task *t, TaskSplit split, uint64_t stream, uint64_t index,
                       TaskItem *out) {
    const CodeState *s = t->state;
    return task_sample_generated(t, code_gen, s->seed, s->p.eval_permille, split, stream, index,
                                 out);
}

/* Eval keys: n_steps | variant of step i << (4 + 8 i), a variant being
 * op * 10 + n (n <= 9, so a variant < 256). */
static uint64_t prog_key(const CodeProg *p) {
    uint64_t k = (uint64_t)p->n_steps;
    for (int i = 0; i < p->n_steps; i++)
        k |= (uint64_t)(p->step[i].op * 10 + p->step[i].n) << (4 + 8 * i);
    return k;
}

static int key_prog(uint64_t k, CodeProg *p) {
    memset(p, 0, sizeof *p);
    p->n_steps = (int)(k & 15);
    if (p->n_steps < 1 || p->n_steps > CODE_MAX_STEPS) return -1;
    for (int i = 0; i < p->n_steps; i++) {
        int v = (int)((k >> (4 + 8 * i)) & 255);
        p->step[i].op = v / 10;
        p->step[i].n = v % 10;
    }
    return code_prog_valid(p) ? 0 : -1;
}

/* Calls fn on every valid program of at most max_steps steps (about
 * 20000 candidates: each step one of the 27 (op, n) variants). */
static void for_each_prog(int max_steps, void (*fn)(const CodeProg *, void *), void *ctx) {
    CodeStep var[CODE_N_OPS * 10];
    int nv = 0;
    for (int op = 0; op < CODE_N_OPS; op++)
        for (int n = code_op_n_max(op) ? 1 : 0; n <= code_op_n_max(op); n++) var[nv++] = (CodeStep){op, n};
    for (int n = 1; n <= max_steps; n++) {
        int total = 1;
        for (int i = 0; i < n; i++) total *= nv;
        for (int c = 0; c < total; c++) {
            CodeProg p = {.n_steps = n};
            int rest = c;
            for (int i = 0; i < n; i++, rest /= nv) p.step[i] = var[rest % nv];
            if (code_prog_valid(&p)) fn(&p, ctx);
        }
    }
}

/* for_each_prog's context: the longest prompt and solution, and (list = 1)
 * the eval split's keys. */
typedef struct {
    int list, eval_permille, n, cap, max_prompt, max_solution;
    uint64_t *keys;
} ListCtx;

static void list_one(const CodeProg *p, void *vctx) {
    ListCtx *c = vctx;
    TaskItem it;
    make_item(p, &it);
    int lp = (int)strlen(it.prompt), ls = (int)strlen(it.solution);
    if (lp > c->max_prompt) c->max_prompt = lp;
    if (ls > c->max_solution) c->max_solution = ls;
    if (!c->list || !task_id_is_eval(task_item_id(it.prompt), c->eval_permille)) return;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 256;
        uint64_t *grown = xmalloc(sizeof(uint64_t) * (size_t)c->cap);
        if (c->n) memcpy(grown, c->keys, sizeof(uint64_t) * (size_t)c->n);
        xfree(c->keys);
        c->keys = grown;
    }
    c->keys[c->n++] = prog_key(p);
}

static int code_eval_split(const Task *t, uint64_t **keys) {
    const CodeState *s = t->state;
    ListCtx c = {.list = 1, .eval_permille = s->p.eval_permille};
    for_each_prog(s->p.code_max_steps, list_one, &c);
    task_shuffle_keys(c.keys, c.n, s->seed);
    *keys = c.keys;
    return c.n;
}

static int code_eval_item(const Task *t, uint64_t key, TaskItem *out) {
    CodeProg p;
    if (key_prog(key, &p) != 0 || p.n_steps > ((const CodeState *)t->state)->p.code_max_steps)
        return -1;
    memset(out, 0, sizeof *out);
    make_item(&p, out);
    out->id = task_item_id(out->prompt);
    return 0;
}

/* The demonstrator: correct but for the systematic "last" slip. */
static int code_demonstrate(const Task *t, const TaskItem *item, Rng *rng, char *out,
                            size_t cap) {
    const CodeState *s = t->state;
    CodeProg p;
    if (code_prog_parse(item->prompt, &p) != 0) return -1;
    int trap = code_prog_has_trap(&p) && rng_uniform(rng) < s->p.code_demo_error;
    char buf[TASK_MAX_TEXT];
    if ((size_t)code_prog_expr(&p, trap, buf, sizeof buf) + 1 > cap) return -1;
    strcpy(out, buf);
    return 0;
}

/* Every character a prompt or a canonical solution can contain. */
static const char CODE_CHARS[] = "abcdefghijklmnopqrstuvwxyz0123456789 ,:()[]+-*%=";

static int code_check_tokenizer(const Task *t, const Tokenizer *tok, char *err, size_t errlen) {
    int ids[sizeof CODE_CHARS], bad = -1;
    if (tokenizer_encode(tok, CODE_CHARS, ids, (int)sizeof ids, &bad) >= 0) return 0;
    char what[32] = "?";
    if (bad >= 0) tokenizer_describe_char(CODE_CHARS, bad, what, sizeof what);
    set_err(err, errlen, "task code: the tokenizer has no character %s, which prompts and "
            "solutions use", what);
    return -1;
}

static void code_destroy(Task *t) {
    if (!t) return;
    xfree(t->state);
    xfree(t);
}

/* Runs the canonical solution of one item through the verifier: a
 * sandbox that starts but cannot run python (no /usr/bin/python3, limits
 * too low for it to start) would otherwise score every program 0. */
static int self_check(const Task *t, char *err, size_t errlen) {
    TaskItem it;
    if (t->sample(t, SPLIT_TRAIN, 0, 0, &it) != 0) {
        set_err(err, errlen, "task code: no training items ([task] eval_permille = 1000?)");
        return -1;
    }
    Reward r;
    code_verify(t, &it, it.solution, 1, &r);
    if (r.correct) return 0;
    set_err(err, errlen,
            "task code: the sandbox could not run the reference solution '%s' of '%s' "
            "(status %s): check that /usr/bin/python3 exists and that the [sandbox] limits "
            "(cpu_seconds, wall_seconds, memory_mb) let python start",
            it.solution, it.prompt, reward_status_name(r.status));
    return -1;
}

Task *task_code_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen) {
    if (!(p->code_demo_error >= 0 && p->code_demo_error <= 1)) {
        set_err(err, errlen, "[task] code_demo_error = %g: expected a probability in 0..1",
                p->code_demo_error);
        return NULL;
    }
    if (p->code_max_steps < 1 || p->code_max_steps > CODE_MAX_STEPS) {
        set_err(err, errlen, "[task] code_max_steps = %d: expected 1..%d", p->code_max_steps,
                CODE_MAX_STEPS);
        return NULL;
    }
    if (p->code_tests < 1 || p->code_tests > CODE_MAX_TESTS) {
        set_err(err, errlen, "[task] code_tests = %d: expected 1..%d", p->code_tests,
                CODE_MAX_TESTS);
        return NULL;
    }
    /* last: a bad setting is named even where no sandbox can be built */
    char why[256] = "";
    if (!sandbox_available(why, sizeof why)) {
        set_err(err, errlen,
                "task code runs model-written programs only inside the sandbox, and this "
                "process cannot build one: %s",
                why);
        return NULL;
    }
    CodeState *s = xcalloc(1, sizeof *s);
    s->p = *p;
    s->seed = seed;
    Task *t = xcalloc(1, sizeof *t);
    t->name = "code";
    t->n_components = 3;
    t->component_names[0] = "accuracy";
    t->component_names[1] = "format";
    t->component_names[2] = "syntax";
    t->weights[0] = p->weights[0];
    t->weights[1] = p->weights[1];
    t->weights[2] = p->code_w_syntax;
    t->sample = code_sample;
    t->demonstrate = code_demonstrate;
    t->verify = code_verify;
    t->verify_batch = code_verify_batch;
    t->eval_split = code_eval_split;
    t->eval_item = code_eval_item;
    t->check_tokenizer = code_check_tokenizer;
    t->destroy = code_destroy;
    t->state = s;
    ListCtx c = {0};
    for_each_prog(p->code_max_steps, list_one, &c);
    t->max_prompt_chars = c.max_prompt;
    t->max_completion_chars = c.max_solution;
    if (self_check(t, err, errlen) != 0) {
        code_destroy(t);
        return NULL;
    }
    return t;
}
