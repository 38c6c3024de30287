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

#include "config.h"
#include "rng.h"
#include "sandbox.h"
#include "tokenizer.h"

/* TASK_MAX_COMPONENTS bounds what a verifier reports (and what held-out
 * evaluation carries); REWARD_MAX_COMPONENTS bounds a rollout's reward,
 * the verifier's components followed by one per extra scorer
 * (reward_mix.h). */
enum {
    TASK_MAX_TEXT = 256,
    TASK_MAX_COMPONENTS = 4,
    REWARD_MAX_COMPONENTS = 8,
    TASK_MAX_PATH = 256,
    TASK_MAX_TAG = 32
};

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
    float weights[TASK_MAX_COMPONENTS]; /* [1.0 accuracy, 0.1 format, 0 consistency] */
    /* chain-of-thought tasks (arith_cot, countdown_cot; task_cot.h): the
     * R1 template's tags ["<think>", "</think>", "<answer>", "</answer>"],
     * arith_cot operands of exactly cot_digits digits [3] (a*b: a of
     * cot_digits, b of cot_mul_digits [2]), and the demonstrator's chance
     * of one flawed step in a demonstration [0.6]: arith_cot drops the
     * first carry (or borrow) that a later column needed, countdown_cot
     * works one subtraction smaller-from-larger (50-7=57). */
    char think_open[TASK_MAX_TAG], think_close[TASK_MAX_TAG];
    char answer_open[TASK_MAX_TAG], answer_close[TASK_MAX_TAG];
    int cot_digits, cot_mul_digits;
    float cot_demo_error;
    /* 1: the completion shows the reasoning [1]; 0 (arith_cot only): the
     * answer alone, "<answer>857</answer>", for a baseline that trains on
     * the same items and the same flawed demonstrator without the think
     * part (task_cot.h) */
    int cot_think;
    /* code (task_code.c): programs of 1..code_max_steps list operations
     * [3], each checked on code_tests hidden inputs [5]; the
     * demonstrator writes "last N" as x[N:] with probability
     * code_demo_error [0.6]; the "syntax" component weighs code_w_syntax
     * [0.1] */
    int code_max_steps, code_tests;
    float code_demo_error, code_w_syntax;
    /* review (task_review.c): the demonstrator writes 1..review_demo_words
     * words [6]; the hidden "preference" component weighs
     * review_w_preference [0]: reported, not trained on */
    int review_demo_words;
    float review_w_preference;
    /* the limits of every program a task runs in the sandbox (the code
     * task's tests): the [sandbox] section, set by task_from_config */
    SandboxLimits sandbox;
    /* external verifier (task_external.c, where the protocol is): the
     * program that scores completions instead of the task's own verifier,
     * run as /bin/sh -c 'exec COMMAND' [""]: empty = the built-in one;
     * seconds a reply may take [10], processes per actor [2], requests in
     * flight per process [8], failures in a row that stop the run [20],
     * the components it reports, comma-separated ["accuracy"; accuracy is
     * always first], 1: run it in the sandbox [0] with these
     * colon-separated paths bound read-only inside [""] */
    char verifier[CFG_STR_MAX];
    float verifier_timeout;
    /* seconds a freshly started process may take for its first reply,
     * its start included (loading a model) [30], if more than
     * verifier_timeout */
    float verifier_start_timeout;
    int verifier_procs, verifier_pipeline, verifier_max_failures;
    char verifier_components[CFG_STR_MAX];
    int verifier_sandbox;
    char verifier_sandbox_paths[CFG_STR_MAX];
} TaskParams;

/* The [task] section (task_config.c): which task, and its settings. */
typedef struct {
    char name[64];
    TaskParams p;
} TaskSettings;
extern const CfgSection task_section;
static inline const TaskSettings *task_settings(const Config *c) {
    return config_get(c, &task_section);
}

typedef enum { SPLIT_TRAIN = 0, SPLIT_EVAL = 1 } TaskSplit;

typedef struct {
    uint64_t id;                  /* stable id of the item (hash of prompt) */
    char prompt[TASK_MAX_TEXT];   /* text the model is conditioned on */
    char answer[TASK_MAX_TEXT];   /* reference answer, canonical form */
    char solution[TASK_MAX_TEXT]; /* a correct completion text, for SFT */
} TaskItem;

/* Why a completion's reward is what it is, when the verifier could not
 * score it normally: an external verifier program that failed on it, or
 * untrusted code the sandbox had to stop. Every status but REWARD_OK
 * comes with reward 0 (all components 0); the learner counts them per
 * step by name (metrics.jsonl "reward_status"). Travels on the wire as
 * one byte per completion: append new values, never renumber. */
typedef enum {
    REWARD_OK = 0,
    /* external verifier (task_external.c): the program ... */
    REWARD_VERIFIER_CRASH = 1,     /* exited or closed its stdout before replying */
    REWARD_VERIFIER_TIMEOUT = 2,   /* did not reply within [task] verifier_timeout */
    REWARD_VERIFIER_MALFORMED = 3, /* replied with a line that is not a valid reply */
    REWARD_VERIFIER_WRONG_ID = 4,  /* replied for another id than the one asked */
    /* sandboxed code (sandbox.h): the program was stopped by ... */
    REWARD_SANDBOX_CPU = 5,        /* its CPU-time limit */
    REWARD_SANDBOX_TIMEOUT = 6,    /* its wall-time limit */
    REWARD_SANDBOX_MEMORY = 7,     /* its address-space limit (allocation failed) */
    REWARD_SANDBOX_OUTPUT = 8,     /* printing more than its output limit */
    REWARD_SANDBOX_FILE_SIZE = 9,  /* writing a file over its file-size limit */
    REWARD_SANDBOX_SIGNAL = 10,    /* a signal (it crashed, or killed itself) */
    REWARD_SANDBOX_ERROR = 11,     /* raising an error on a test (it ran, but failed) */
    REWARD_SANDBOX_SETUP = 12,     /* the sandbox could not be built for it */
    REWARD_STATUS_COUNT = 13
} RewardStatus;

/* "verifier_timeout", "sandbox_cpu", ...: the metrics key of a status;
 * "unknown" out of range. */
const char *reward_status_name(int status);

/* verify() fills the task's n_components; reward_mix_score may append
 * the extra scorers' values after them. */
typedef struct {
    int n;                                  /* components in use */
    float value[REWARD_MAX_COMPONENTS];     /* each in [0, 1] */
    float total;                            /* sum weight[i] * value[i] */
    int correct;                            /* the accuracy component passed */
    int status;                             /* RewardStatus */
} Reward;

/* One completion to verify, for verify_batch. */
typedef struct {
    const TaskItem *item;
    const char *completion; /* without EOS, cut at the stop string */
    int finished;           /* as verify() */
} VerifyJob;

typedef struct Task Task;
struct Task {
    const char *name;
    int n_components;
    const char *component_names[TASK_MAX_COMPONENTS]; /* [0] is "accuracy" */
    float weights[TASK_MAX_COMPONENTS];               /* set from config */

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
    /* Optional: scores jobs[0..n) into out[0..n), as n verify() calls
     * would, but free to work on several at once (an external verifier's
     * processes, parallel sandboxes). NULL: verify() one by one. Callers
     * go through task_verify_batch. */
    void (*verify_batch)(const Task *t, const VerifyJob *jobs, int n, Reward *out);

    /* Optional: lists the eval split exactly. Sets *keys to a malloc'd
     * array of one key (for eval_item) per distinct prompt of the split,
     * shuffled by the task seed, and returns the count (0: empty split);
     * or returns -1 if the split is too large to list, and task_eval_set
     * samples it instead. NULL: always sampled. */
    int (*eval_split)(const Task *t, uint64_t **keys);
    /* Fills the item of a key from eval_split; 0, or -1 for a key that
     * eval_split cannot have produced. */
    int (*eval_item)(const Task *t, uint64_t key, TaskItem *out);

    /* Optional: 0 if tok can encode every prompt and answer the task can
     * produce, else -1 with err naming the first that it cannot (file and
     * line for a data set). NULL: the task writes only digits and
     * + - * , > =, which every tokenizer here has. */
    int (*check_tokenizer)(const Task *t, const Tokenizer *tok, char *err, size_t errlen);

    void (*destroy)(Task *t);
    void *state;

    /* Longest prompt and completion text the task can produce, in
     * characters (one token each with the character tokenizer), or 0 if
     * unbounded/unknown: task_check_fits compares them with the model. */
    int max_prompt_chars, max_completion_chars;
};

/* Scores n completions: t->verify_batch, or verify() one by one. */
void task_verify_batch(const Task *t, const VerifyJob *jobs, int n, Reward *out);

/* Fills p with the defaults listed in TaskParams. */
void task_params_default(TaskParams *p);

/* Creates the task called name ("arith", "countdown", "jsonl",
 * "arith_cot", "countdown_cot", "code", "review") with
 * settings p and item seed; with p->verifier set, its completions are
 * scored by that program instead (task_external_create). Returns a task the caller frees with
 * t->destroy(t), or NULL with err naming the bad setting (or file:line). */
Task *task_create(const char *name, const TaskParams *p, uint64_t seed, char *err, size_t errlen);

/* The task a config names: [task] name and settings, with the [sandbox]
 * limits; as task_create. */
Task *task_from_config(const Config *cfg, uint64_t seed, char *err, size_t errlen);

/* Checks, before any prompt is encoded, that tok has every character of
 * the task's prompts and answers (t->check_tokenizer): 0, or -1 with err
 * such as "data.jsonl line 3: prompt has character 'é' (0xc3 0xa9) that
 * the tokenizer does not have". Every program that encodes a task's
 * prompts calls it first, so bad data stops the run at startup. */
int task_check_tokenizer(const Task *t, const Tokenizer *tok, char *err, size_t errlen);

/* 0 if BOS + the longest prompt + the longest completion + EOS fit
 * max_seq_len and the completion + EOS fits max_new_tokens; else -1 with
 * err naming [model] max_seq_len / [sampler] max_new_tokens and the
 * values they need. A task that does not know its lengths passes. Called
 * at start by sft, train and eval, so a reasoning task whose completions
 * cannot fit is refused before any step, not cut off silently. */
int task_check_fits(const Task *t, int max_seq_len, int max_new_tokens, char *err, size_t errlen);

/* ---- the held-out evaluation set ----
 * Evaluation uses distinct prompts of the eval split, never draws with
 * replacement: the whole split when it has at most `asked` distinct
 * prompts, else `asked` of them. The set depends only on the task (its
 * settings and seed) and asked, so ranks that build it independently agree
 * on item i and can each evaluate a disjoint share [lo, hi) of 0..n-1.
 *
 * A split the task can list (t->eval_split: jsonl always, arith while its
 * item space is small) is used as listed: a subset is then a uniform
 * choice among the split's distinct prompts, fixed by the task seed, and
 * the set for a smaller `asked` is a prefix of the set for a larger one.
 * Any other split is sampled: sample(SPLIT_EVAL, 0, k) for k = 0, 1, ...,
 * keeping each prompt's first occurrence (so the items follow the task's
 * own distribution); it counts as exhausted, the whole split, once
 * 1000 + 20 x (prompts found) draws in a row bring no new prompt. */
typedef struct {
    int n;           /* items in the set: min(asked, distinct prompts of the split) */
    int asked;       /* what the caller asked for */
    int whole_split; /* 1: the set holds every distinct prompt of the split */
    int listed;      /* 1: key[i] is an eval_item key; 0: a sample() index */
    uint64_t *key;   /* (n) */
} TaskEvalSet;

/* Builds the held-out set for asked >= 1 prompts; 0, or -1 with err if
 * asked < 1 or the split is empty. Free with task_eval_set_free. */
int task_eval_set(const Task *t, int asked, TaskEvalSet *out, char *err, size_t errlen);
/* Held-out item i of s (0 <= i < s->n); 0, or -1 (a set not built from t). */
int task_eval_item(const Task *t, const TaskEvalSet *s, int i, TaskItem *out);
void task_eval_set_free(TaskEvalSet *s);

/* Runs the demonstrator on the held-out set for n prompts (task_eval_set:
 * the same distinct prompts the model is evaluated on) and verifies each
 * (finished = 1); returns the fraction verified correct, or -1 if the task
 * has no eval items or no demonstrator, or its verifier is an external
 * program (the learner calls this, and starts no verifier processes). */
double task_demo_accuracy(const Task *t, int n, uint64_t seed);

/* Sets out->total from the components and t->weights. */
void reward_finish(const Task *t, Reward *out);

/* Checks the arithmetic tasks' operation shares p_add, p_sub, p_mul: each
 * >= 0, not all 0. 0, or -1 with err naming the key. */
int task_check_op_shares(const TaskParams *p, char *err, size_t errlen);

/* Draws an operation ('+', '-' or '*') by the shares p_add, p_sub, p_mul,
 * with one rng_uniform. */
char task_draw_op(const TaskParams *p, Rng *r);

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
/* Shuffles keys[0..n) (Fisher-Yates) with an Rng fixed by seed: the order
 * a listing eval_split returns. */
void task_shuffle_keys(uint64_t *keys, int n, uint64_t seed);
/* Seeds r from (seed, hash(split, stream, index)). */
void task_item_rng(Rng *r, uint64_t seed, TaskSplit split, uint64_t stream, uint64_t index);

/* Constructors behind task_create; each validates the settings it uses. */
Task *task_arith_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen);
Task *task_countdown_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen);
Task *task_jsonl_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen);
Task *task_arith_cot_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen);
Task *task_countdown_cot_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen);
Task *task_code_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen);
Task *task_review_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen);
/* Wraps inner (owned: destroyed on error too) so that p->verifier scores
 * its completions (task_external.c); the program starts at the first
 * verify. NULL with err naming the bad [task] verifier_* setting. */
Task *task_external_create(Task *inner, const TaskParams *p, char *err, size_t errlen);
/* 1 if t's completions are scored by an external program. */
int task_verifier_is_external(const Task *t);
/* The external verifier's judgement of one reply line (len bytes, no
 * newline) to the request with this id, on an external task t: 0 (a valid
 * reply: *out filled, status REWARD_OK), else the failure
 * (VerifierOutcome, verifier_pool.h: malformed or wrong id) with *out
 * untouched. Exposed for the fuzzer. */
int task_external_parse_reply(const Task *t, uint64_t id, const char *line, size_t len,
                              Reward *out);

#endif
