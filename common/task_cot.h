/* task_cot.h: what the chain-of-thought tasks (task_arith_cot.c,
 * task_countdown_cot.c) share: the R1 template
 * "<think>REASONING</think><answer>ANSWER</answer>" (tag strings from
 * [task] think_open ... answer_close), its strict parse, and the reward.
 *
 * The reward, and why it keeps accuracy dominant. Components, each
 * reported: [0] accuracy (the answer part alone, parsed strictly, is
 * right), [1] format (the template exactly: each tag once, in order,
 * nothing before the first or after the last, a reasoning part that is not
 * blank, finished), [2] consistency (the answer agrees with the result the
 * reasoning wrote). The total is
 *     total = format ? accuracy * (w_accuracy + w_consistency * consistency) : 0
 * Format is a gate, not an added term: GRPO divides by the group's std, so
 * an added format term of any small weight would give a group whose answers
 * are all wrong but whose formats differ advantages of +-1, as large as a
 * group that differs in correctness. Under the gate a group with no correct
 * answer has equal totals (zero advantage), and a wrong completion never
 * outscores a right one. Consistency only ranks right answers. Reward.correct
 * is accuracy and format: what the total pays for.
 *
 * With [task] cot_think = 0 (arith_cot's direct baseline) the template is
 * "<answer>ANSWER</answer>" alone: format is that exactly (no think tag
 * anywhere, nothing around it, an answer that is not blank, finished), and
 * consistency, which has no reasoning to agree with, is reported equal to
 * format, so the gated total pays a right direct answer what it pays a
 * right consistent worked one and the two models' rewards compare. */
#ifndef COMMON_TASK_COT_H
#define COMMON_TASK_COT_H

#include <stddef.h>

#include "task.h"

typedef struct {
    int format;          /* the whole completion is the template, see above */
    int has_answer;      /* each answer tag exactly once, open before close */
    const char *think;   /* reasoning part (between the think tags), or NULL */
    size_t think_len;
    const char *answer;  /* answer part (between the answer tags), or NULL */
    size_t answer_len;
} CotParse;

/* Parses completion against p's tags (finished: the model stopped by
 * itself; a cut completion is never well formatted). */
void cot_parse(const TaskParams *p, const char *completion, int finished, CotParse *out);

/* Writes think_open THINK think_close answer_open ANSWER answer_close into
 * out (with cot_think = 0: answer_open ANSWER answer_close, THINK unused);
 * returns its length, or -1 if it does not fit cap (with the NUL). */
int cot_write(const TaskParams *p, const char *think, const char *answer, char *out, size_t cap);

/* Characters the template adds around the think and answer parts (the
 * answer's alone with cot_think = 0). */
int cot_tags_len(const TaskParams *p);

/* Checks the four tags: not empty, printable ASCII (the character
 * tokenizer has exactly 32..126), none inside another. 0 or -1 with err
 * naming the key. */
int cot_check_tags(const TaskParams *p, char *err, size_t errlen);

/* Fills out (3 components) and its gated total, as described above. */
void cot_reward(const Task *t, int accuracy, int format, int consistency, Reward *out);

/* Sets the name, components and weights of a chain-of-thought task. */
void cot_task_init(Task *t, const char *name, const TaskParams *p);

#endif
