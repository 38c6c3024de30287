/* task.c: what every task shares: item ids and splits, reward totals, the
 * generated-item sample loop, the factory and the tokenizer check (the
 * held-out set and the demonstrator report: task_eval.c). */
#include "task.h"

#include <string.h>

#include "util.h"

/* Candidate draws before a split is declared empty. At eval_permille = 1
 * one candidate in 1000 lands in eval, so this bound fails only for item
 * spaces too small to hold the split. */
enum { TASK_MAX_ATTEMPTS = 200000 };

void task_params_default(TaskParams *p) {
    memset(p, 0, sizeof *p);
    p->max_digits = 2;
    p->p_add = 0.6f;
    p->p_sub = 0.2f;
    p->p_mul = 0.2f;
    p->mul_max = 9;
    p->allow_negative = 0;
    p->demo_error = 0.6f;
    p->cd_n_min = 3;
    p->cd_n_max = 4;
    p->cd_max_number = 25;
    p->eval_permille = 20;
    p->weights[0] = 1.0f;
    p->weights[1] = 0.1f;
    p->weights[2] = 0.0f;
    strcpy(p->think_open, "<think>");
    strcpy(p->think_close, "</think>");
    strcpy(p->answer_open, "<answer>");
    strcpy(p->answer_close, "</answer>");
    p->cot_digits = 3;
    p->cot_mul_digits = 2;
    p->cot_demo_error = 0.6f;
    p->cot_think = 1;
    p->code_max_steps = 3;
    p->code_tests = 5;
    p->code_demo_error = 0.6f;
    p->code_w_syntax = 0.1f;
    p->review_demo_words = 6;
    p->review_w_preference = 0.0f;
    sandbox_limits_default(&p->sandbox);
    p->verifier[0] = '\0';
    p->verifier_timeout = 10;
    p->verifier_start_timeout = 30;
    p->verifier_procs = 2;
    p->verifier_pipeline = 8;
    p->verifier_max_failures = 20;
    strcpy(p->verifier_components, "accuracy");
    p->verifier_sandbox = 0;
    p->verifier_sandbox_paths[0] = '\0';
}

void reward_finish(const Task *t, Reward *out) {
    float total = 0;
    for (int i = 0; i < out->n; i++) total += t->weights[i] * out->value[i];
    out->total = total;
}

const char *reward_status_name(int status) {
    static const char *const names[REWARD_STATUS_COUNT] = {
        "ok",
        "verifier_crash",
        "verifier_timeout",
        "verifier_malformed",
        "verifier_wrong_id",
        "sandbox_cpu",
        "sandbox_timeout",
        "sandbox_memory",
        "sandbox_output",
        "sandbox_file_size",
        "sandbox_signal",
        "sandbox_error",
        "sandbox_setup",
    };
    return status >= 0 && status < REWARD_STATUS_COUNT ? names[status] : "unknown";
}

void task_verify_batch(const Task *t, const VerifyJob *jobs, int n, Reward *out) {
    memset(out, 0, sizeof *out * (size_t)(n > 0 ? n : 0));
    if (t->verify_batch) {
        t->verify_batch(t, jobs, n, out);
        return;
    }
    for (int i = 0; i < n; i++) t->verify(t, jobs[i].item, jobs[i].completion, jobs[i].finished, &out[i]);
}

uint64_t task_item_id(const char *prompt) { return hash64(prompt, strlen(prompt)); }

int task_id_is_eval(uint64_t id, int eval_permille) {
    /* The high bits: XXH3 mixes them as well as the low ones, and they are
     * independent of anything a caller might do with id % n. */
    return (int)((id >> 32) % 1000) < eval_permille;
}

void task_item_rng(Rng *r, uint64_t seed, TaskSplit split, uint64_t stream, uint64_t index) {
    uint64_t key[3] = {(uint64_t)split, stream, index};
    rng_seed(r, seed, hash64(key, sizeof key));
}

int task_sample_generated(const Task *t, TaskGenFn gen, uint64_t seed, int eval_permille,
                          TaskSplit split, uint64_t stream, uint64_t index, TaskItem *out) {
    int want_eval = split == SPLIT_EVAL;
    if ((want_eval && eval_permille <= 0) || (!want_eval && eval_permille >= 1000)) return -1;
    Rng r;
    task_item_rng(&r, seed, split, stream, index);
    for (int attempt = 0; attempt < TASK_MAX_ATTEMPTS; attempt++) {
        memset(out, 0, sizeof *out);
        gen(t, &r, out);
        out->id = task_item_id(out->prompt);
        if (task_id_is_eval(out->id, eval_permille) == want_eval) return 0;
    }
    return -1;
}

int task_check_tokenizer(const Task *t, const Tokenizer *tok, char *err, size_t errlen) {
    return t->check_tokenizer ? t->check_tokenizer(t, tok, err, errlen) : 0;
}

int task_check_fits(const Task *t, int max_seq_len, int max_new_tokens, char *err, size_t errlen) {
    if (t->max_prompt_chars <= 0 || t->max_completion_chars <= 0) return 0;
    const int need_seq = 1 + t->max_prompt_chars + t->max_completion_chars + 1; /* BOS, EOS */
    const int need_new = t->max_completion_chars + 1;
    if (max_seq_len >= need_seq && max_new_tokens >= need_new) return 0;
    set_err(err, errlen,
            "task %s: its longest prompt (%d tokens) and completion (%d tokens), with BOS and "
            "EOS, need [model] max_seq_len >= %d (have %d) and [sampler] max_new_tokens >= %d "
            "(have %d): raise them, or shorten the task ([task] cot_digits, cot_mul_digits)",
            t->name, t->max_prompt_chars, t->max_completion_chars, need_seq, max_seq_len,
            need_new, max_new_tokens);
    return -1;
}

int task_check_op_shares(const TaskParams *p, char *err, size_t errlen) {
    const char *pn[3] = {"p_add", "p_sub", "p_mul"};
    const float pv[3] = {p->p_add, p->p_sub, p->p_mul};
    for (int i = 0; i < 3; i++)
        if (!(pv[i] >= 0 && pv[i] <= 1e6f)) {
            set_err(err, errlen, "[task] %s = %g: expected a share >= 0", pn[i], pv[i]);
            return -1;
        }
    if (!(pv[0] + pv[1] + pv[2] > 0)) {
        set_err(err, errlen, "[task] p_add + p_sub + p_mul = 0: at least one must be > 0");
        return -1;
    }
    return 0;
}

char task_draw_op(const TaskParams *p, Rng *r) {
    float u = rng_uniform(r) * (p->p_add + p->p_sub + p->p_mul);
    if (u < p->p_add) return '+';
    if (u < p->p_add + p->p_sub) return '-';
    return p->p_mul > 0 ? '*' : p->p_sub > 0 ? '-' : '+'; /* float rounding at the top */
}
