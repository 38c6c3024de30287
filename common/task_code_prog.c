/* task_code_prog.c: the programs of the code task (task_code_prog.h):
 * an item's steps, its prompt and canonical Python expression (and the
 * demonstrator's flawed one), the item space's rules (task_code.c's
 * comment), the hidden test inputs and the reference semantics in C whose
 * Python repr the verifier compares with what a program printed. */
#include "task_code_prog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

static const char *const OP_NAME[CODE_N_OPS] = {
    "sort", "reverse", "first", "last", "drop", "add", "double",
    "evens", "odds", "sum", "max", "min", "len",
};

/* Largest N of an operation with a parameter, 0 for one without. */
int code_op_n_max(int op) {
    if (op == CODE_ADD) return 9;
    if (op == CODE_FIRST || op == CODE_LAST || op == CODE_DROP) return 3;
    return 0;
}

static int prog_has(const CodeProg *p, int op, int before) {
    for (int i = 0; i < before; i++)
        if (p->step[i].op == op) return 1;
    return 0;
}

int code_prog_valid(const CodeProg *p) {
    if (p->n_steps < 1 || p->n_steps > CODE_MAX_STEPS) return 0;
    for (int i = 0; i < p->n_steps; i++) {
        const int op = p->step[i].op, n = p->step[i].n;
        if (op < 0 || op >= CODE_N_OPS) return 0;
        if (code_op_n_max(op) ? n < 1 || n > code_op_n_max(op) : n != 0) return 0;
        if (op >= CODE_N_LIST_OPS && i != p->n_steps - 1) return 0; /* terminal inside */
        if (prog_has(p, op, i)) return 0;                           /* repeated */
        if ((op == CODE_EVENS && prog_has(p, CODE_ODDS, i)) ||
            (op == CODE_ODDS && (prog_has(p, CODE_EVENS, i) || prog_has(p, CODE_DOUBLE, i))))
            return 0;
        if ((op == CODE_MAX || op == CODE_MIN) &&
            (prog_has(p, CODE_EVENS, i) || prog_has(p, CODE_ODDS, i)))
            return 0;
        if (op == CODE_LEN && (prog_has(p, CODE_FIRST, i) || prog_has(p, CODE_LAST, i))) return 0;
    }
    char buf[TASK_MAX_TEXT];
    return code_prog_expr(p, 0, buf, sizeof buf) <= CODE_MAX_SOLUTION;
}

void code_prog_prompt(const CodeProg *p, char *out, size_t cap) {
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < p->n_steps && k < cap; i++) {
        const CodeStep *s = &p->step[i];
        int w = code_op_n_max(s->op) ? snprintf(out + k, cap - k, "%s%s %d", i ? "," : "",
                                           OP_NAME[s->op], s->n)
                                : snprintf(out + k, cap - k, "%s%s", i ? "," : "", OP_NAME[s->op]);
        k += (size_t)w;
    }
    if (k + 1 < cap) {
        out[k++] = ':';
        out[k] = '\0';
    }
}

int code_prog_parse(const char *prompt, CodeProg *p) {
    memset(p, 0, sizeof *p);
    const char *s = prompt;
    for (;;) {
        if (p->n_steps == CODE_MAX_STEPS) return -1;
        int op = -1;
        size_t len = 0;
        for (int o = 0; o < CODE_N_OPS; o++) {
            size_t l = strlen(OP_NAME[o]);
            if (strncmp(s, OP_NAME[o], l) == 0 && l > len) op = o, len = l;
        }
        if (op < 0) return -1;
        s += len;
        CodeStep *st = &p->step[p->n_steps++];
        st->op = op;
        if (code_op_n_max(op)) {
            if (s[0] != ' ' || s[1] < '1' || s[1] > '9') return -1;
            st->n = s[1] - '0';
            s += 2;
        }
        if (*s == ',') {
            s++;
            continue;
        }
        if (s[0] == ':' && s[1] == '\0') break;
        return -1;
    }
    return code_prog_valid(p) ? 0 : -1;
}

/* Writes pre + in + post into o (cap bytes), cut to fit. */
static void wrap(char *o, size_t cap, const char *pre, const char *in, const char *post) {
    size_t k = 0;
    const char *part[3] = {pre, in, post};
    for (int i = 0; i < 3; i++)
        for (const char *c = part[i]; *c && k + 1 < cap; c++) o[k++] = *c;
    o[k] = '\0';
}

int code_prog_expr(const CodeProg *p, int trap, char *out, size_t cap) {
    char ea[TASK_MAX_TEXT] = "x", eb[TASK_MAX_TEXT];
    char *in = ea, *o = eb;
    for (int i = 0; i < p->n_steps; i++) {
        char pre[24] = "", post[24] = "";
        const int n = p->step[i].n;
        switch (p->step[i].op) {
        case CODE_SORT: strcpy(pre, "sorted("), strcpy(post, ")"); break;
        case CODE_REVERSE: strcpy(post, "[::-1]"); break;
        case CODE_FIRST: snprintf(post, sizeof post, "[:%d]", n); break;
        case CODE_LAST: snprintf(post, sizeof post, trap ? "[%d:]" : "[-%d:]", n); break;
        case CODE_DROP: snprintf(post, sizeof post, "[%d:]", n); break;
        case CODE_ADD: snprintf(pre, sizeof pre, "[v+%d for v in ", n), strcpy(post, "]"); break;
        case CODE_DOUBLE: strcpy(pre, "[v*2 for v in "), strcpy(post, "]"); break;
        case CODE_EVENS: strcpy(pre, "[v for v in "), strcpy(post, " if v%2==0]"); break;
        case CODE_ODDS: strcpy(pre, "[v for v in "), strcpy(post, " if v%2]"); break;
        case CODE_SUM: strcpy(pre, "sum("), strcpy(post, ")"); break;
        case CODE_MAX: strcpy(pre, "max("), strcpy(post, ")"); break;
        case CODE_MIN: strcpy(pre, "min("), strcpy(post, ")"); break;
        case CODE_LEN: strcpy(pre, "len("), strcpy(post, ")"); break;
        default: CHECK(0);
        }
        wrap(o, sizeof ea, pre, in, post);
        char *tmp = in;
        in = o;
        o = tmp;
    }
    snprintf(out, cap, "%s", in);
    return (int)strlen(in);
}

int code_prog_has_trap(const CodeProg *p) { return prog_has(p, CODE_LAST, p->n_steps); }

void code_test_inputs(uint64_t id, int k, CodeInput *in) {
    Rng r;
    rng_seed(&r, id, 0x7e575ull);
    for (int t = 0; t < k; t++) {
        in[t].len = CODE_MIN_LIST + (int)rng_below(&r, CODE_MAX_LIST - CODE_MIN_LIST + 1);
        for (int i = 0; i < in[t].len; i++) in[t].v[i] = (int)rng_below(&r, 10);
    }
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void code_reference_repr(const CodeProg *p, const CodeInput *in, char *out, size_t cap) {
    int v[CODE_MAX_LIST], n = in->len, w[CODE_MAX_LIST];
    memcpy(v, in->v, sizeof v);
    for (int i = 0; i < p->n_steps; i++) {
        const int k = p->step[i].n < n ? p->step[i].n : n, m = n;
        switch (p->step[i].op) {
        case CODE_SORT: qsort(v, (size_t)n, sizeof v[0], cmp_int); break;
        case CODE_REVERSE:
            for (int j = 0; j < n; j++) w[j] = v[n - 1 - j];
            memcpy(v, w, sizeof w);
            break;
        case CODE_FIRST: n = k; break;
        case CODE_LAST: memmove(v, v + (n - k), sizeof v[0] * (size_t)k), n = k; break;
        case CODE_DROP: memmove(v, v + k, sizeof v[0] * (size_t)(n - k)), n -= k; break;
        case CODE_ADD:
            for (int j = 0; j < n; j++) v[j] += p->step[i].n;
            break;
        case CODE_DOUBLE:
            for (int j = 0; j < n; j++) v[j] *= 2;
            break;
        case CODE_EVENS:
        case CODE_ODDS:
            n = 0; /* values are >= 0: v % 2 is Python's */
            for (int j = 0; j < m; j++)
                if ((v[j] % 2 == 1) == (p->step[i].op == CODE_ODDS)) v[n++] = v[j];
            break;
        default: { /* terminal (valid programs: max/min of a non-empty list) */
            long r = p->step[i].op == CODE_LEN ? n : p->step[i].op == CODE_SUM ? 0 : v[0];
            for (int j = 0; j < n && p->step[i].op != CODE_LEN; j++)
                r = p->step[i].op == CODE_SUM ? r + v[j]
                    : p->step[i].op == CODE_MAX ? (v[j] > r ? v[j] : r)
                                                : (v[j] < r ? v[j] : r);
            snprintf(out, cap, "%ld", r);
            return;
        }
        }
    }
    size_t k = (size_t)snprintf(out, cap, "[");
    for (int j = 0; j < n && k < cap; j++)
        k += (size_t)snprintf(out + k, cap - k, "%s%d", j ? ", " : "", v[j]);
    if (k < cap) snprintf(out + k, cap - k, "]");
}

