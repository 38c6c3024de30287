/* task_code_prog.h: the programs of the code task (task_code_prog.c),
 * which the task (task_code.c), its verifier (task_code_harness.c) and the
 * tests share: the program of an item as a list of steps, its reference
 * semantics in C, and its hidden test inputs. Not for callers outside the
 * task: they use task.h.
 *
 * A prompt names 1..3 list operations, comma separated, ending in ':'
 * ("sort,last 2,double:"); the completion is the body of lambda x: ...,
 * one Python expression ("[v*2 for v in sorted(x)[-2:]]"). */
#ifndef COMMON_TASK_CODE_PROG_H
#define COMMON_TASK_CODE_PROG_H

#include <stddef.h>
#include <stdint.h>

#include "task.h"

enum {
    CODE_MAX_STEPS = 3,
    CODE_MAX_TESTS = 8,
    CODE_MAX_LIST = 8,     /* longest test input list */
    CODE_MIN_LIST = 5,     /* shortest: longer than any slice bound (3) */
    CODE_MAX_SOLUTION = 44 /* longer canonical solutions are not in the item space */
};

/* The operations, list -> list then list -> int (terminal: only last). */
typedef enum {
    CODE_SORT, CODE_REVERSE, CODE_FIRST, CODE_LAST, CODE_DROP, CODE_ADD, CODE_DOUBLE,
    CODE_EVENS, CODE_ODDS,
    CODE_SUM, CODE_MAX, CODE_MIN, CODE_LEN,
    CODE_N_OPS
} CodeOp;
#define CODE_N_LIST_OPS CODE_SUM

typedef struct {
    int op; /* CodeOp */
    int n;  /* first/last/drop: 1..3; add: 1..9; else 0 */
} CodeStep;

typedef struct {
    int n_steps;
    CodeStep step[CODE_MAX_STEPS];
} CodeProg;

/* One hidden test input: a list of small ints. */
typedef struct {
    int len;
    int v[CODE_MAX_LIST];
} CodeInput;

/* The largest N of op's argument (first/last/drop 3, add 9), 0 if it has none. */
int code_op_n_max(int op);
/* 1 if prog is in the item space (every rule in task_code.c's comment). */
int code_prog_valid(const CodeProg *prog);
/* Writes the prompt of prog ("sort,last 2,double:"). */
void code_prog_prompt(const CodeProg *prog, char *out, size_t cap);
/* Parses a prompt back into its program: 0, or -1 if it is not one. */
int code_prog_parse(const char *prompt, CodeProg *prog);
/* Writes prog as a Python expression in x; trap = 1 writes the
 * demonstrator's mistake (every "last N" as x[N:], the slice of drop N).
 * Returns the length. */
int code_prog_expr(const CodeProg *prog, int trap, char *out, size_t cap);
/* 1 if prog has the operation the demonstrator gets wrong (last N). */
int code_prog_has_trap(const CodeProg *prog);

/* The k hidden test inputs of the item with this id (deterministic). */
void code_test_inputs(uint64_t id, int k, CodeInput *in);
/* Runs prog on in by the reference semantics and writes Python's repr of
 * the result ("[4, 6]", "7"): what the harness prints for a correct
 * program. */
void code_reference_repr(const CodeProg *prog, const CodeInput *in, char *out, size_t cap);

#endif
