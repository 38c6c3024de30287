/* task.h: the task interface. A task generates prompts from a seed, knows
 * the reference answer, can play an (imperfect) demonstrator for SFT, and
 * verifies a completion into reward components (accuracy, format, ...).
 *
 * Train and held-out splits are disjoint by construction: an item belongs
 * to the eval split iff a hash of its prompt text falls in the eval bucket,
 * and each split's generator only emits its own items. */
#ifndef COMMON_TASK_H
#define COMMON_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"
#include "tokenizer.h"

enum { TASK_MAX_TEXT = 256, REWARD_MAX_COMPONENTS = 4, TASK_MAX_PATH = 256 };

/* Every task setting (the [task] config section). Defaults in brackets. */
typedef struct {
    /* arith: a+b, a-b with operands of 1..max_digits digits [2] (lengths
     * uniform), a*b with factors in 1..mul_max [9]; op shares p_add [0.6],
     * p_sub [0.2], p_mul [0.2] (normalised by their sum). */
    int max_digits;
    float p_add, p_sub, p_mul;
    int mul_max;
    int allow_negative;  /* a-b may go below zero [0] */
    float demo_error;    /* demonstrator drops a needed carry/borrow [0.6] */
    /* countdown: cd_n_min..cd_n_max numbers [3..4], each in 1..cd_max_number [25] */
    int cd_n_min, cd_n_max, cd_max_number;
    /* jsonl: the data file, one {"prompt": ..., "answer": ...} per line */
    char jsonl_path[TASK_MAX_PATH];
    int eval_permille;   /* held-out share of item ids, per mille [20] */
    float weights[REWARD_MAX_COMPONENTS]; /* [1.0 accuracy, 0.1 format] */
} TaskParams;

typedef enum { SPLIT_TRAIN = 0, SPLIT_EVAL = 1 } TaskSplit;

typedef struct {
    uint64_t id;                  /* stable id of the item (hash of prompt) */
    char prompt[TASK_MAX_TEXT];   /* text the model is conditioned on */
    char answer[TASK_MAX_TEXT];   /* reference answer, canonical form */
    char solution[TASK_MAX_TEXT]; /* a correct completion text, for SFT */
} TaskItem;

typedef struct {
    int n;                                  /* components in use */
    float value[REWARD_MAX_COMPONENTS];     /* each in [0, 1] */
    float total;                            /* sum weight[i] * value[i] */
    int correct;                            /* the accuracy component passed */
} Reward;

typedef struct Task Task;
struct Task {
    const char *name;
    int n_components;
    const char *component_names[REWARD_MAX_COMPONENTS]; /* [0] is "accuracy" */
    float weights[REWARD_MAX_COMPONENTS];               /* set from config */

    /* Fills item index of (split, stream): deterministic in
     * (task seed, split, stream, index). Returns 0, or -1 if the split is
     * empty (a data set task with no eval lines, say). */
    int (*sample)(const Task *t, TaskSplit split, uint64_t stream, uint64_t index, TaskItem *out);

    /* Writes the imperfect demonstrator's completion for item (using rng for
     * its mistakes) into out; returns 0, or -1 if this task has none. */
    int (*demonstrate)(const Task *t, const TaskItem *item, Rng *rng, char *out, size_t cap);

    /* Scores completion (without EOS); finished is 1 if the model stopped on
     * its own (EOS or stop string), 0 if cut at the length limit. */
    void (*verify)(const Task *t, const TaskItem *item, const char *completion, int finished,
                   Reward *out);

    /* Optional: 0 if tok can encode every prompt and answer the task can
     * produce, else -1 with err naming the first that it cannot (file and
     * line for a data set). NULL: the task writes only digits and
     * + - * , > =, which every tokenizer here has. */
    int (*check_tokenizer)(const Task *t, const Tokenizer *tok, char *err, size_t errlen);

    void (*destroy)(Task *t);
    void *state;
};

/* Fills p with the defaults listed in TaskParams. */
void task_params_default(TaskParams *p);

/* Creates the task called name ("arith", "countdown", "jsonl") with
 * settings p and item seed. Returns a task the caller frees with
 * t->destroy(t), or NULL with err naming the bad setting (or file:line). */
Task *task_create(const char *name, const TaskParams *p, uint64_t seed, char *err, size_t errlen);

/* Checks, before any prompt is encoded, that tok has every character of
 * the task's prompts and answers (t->check_tokenizer): 0, or -1 with err
 * such as "data.jsonl line 3: prompt has character 'é' (0xc3 0xa9) that
 * the tokenizer does not have". Every program that encodes a task's
 * prompts calls it first, so bad data stops the run at startup. */
int task_check_tokenizer(const Task *t, const Tokenizer *tok, char *err, size_t errlen);

/* Runs the demonstrator on eval items 0..n-1 and verifies each (finished = 1);
 * returns the fraction verified correct, or -1 if the task has no eval items
 * or no demonstrator. */
double task_demo_accuracy(const Task *t, int n, uint64_t seed);

/* Sets out->total from the components and t->weights. */
void reward_finish(const Task *t, Reward *out);

/* Stable 64-bit id of a prompt text. */
uint64_t task_item_id(const char *prompt);
/* 1 if a prompt with this id belongs to the eval split (eval_permille of
 * all ids, 1000 = all). */
int task_id_is_eval(uint64_t id, int eval_permille);

/* ---- for task implementations (task_*.c) ---- */

/* Candidate generator: writes a prompt, answer and solution (not the id). */
typedef void (*TaskGenFn)(const Task *t, Rng *rng, TaskItem *out);
/* The sample() loop shared by generated tasks: draws candidates from an Rng
 * seeded by (seed, hash(split, stream, index)) until one lands in split.
 * Returns 0, or -1 if none did within a bound (split empty or tiny). */
int task_sample_generated(const Task *t, TaskGenFn gen, uint64_t seed, int eval_permille,
                          TaskSplit split, uint64_t stream, uint64_t index, TaskItem *out);
/* Seeds r from (seed, hash(split, stream, index)). */
void task_item_rng(Rng *r, uint64_t seed, TaskSplit split, uint64_t stream, uint64_t index);

/* Constructors behind task_create; each validates the settings it uses. */
Task *task_arith_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen);
Task *task_countdown_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen);
Task *task_jsonl_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen);

#endif
