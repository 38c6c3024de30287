/* task_eval.c: the held-out evaluation set (task.h): distinct eval-split
 * prompts, listed by the task or sampled without repeats, and the
 * demonstrator's accuracy on the same prompts. */
#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "util.h"

/* A sampled split counts as exhausted after this many draws in a row with
 * no new prompt, plus EVAL_MISSES_PER_FOUND per prompt found so far: with
 * k equally likely prompts, one of them is missed by 20 k draws with
 * probability about e^-20. */
enum { EVAL_MISSES_BASE = 1000, EVAL_MISSES_PER_FOUND = 20 };

void task_shuffle_keys(uint64_t *keys, int n, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed, 0xE7A15E7);
    for (int i = n - 1; i > 0; i--) {
        const int j = (int)rng_below(&r, (uint32_t)i + 1);
        const uint64_t tmp = keys[i];
        keys[i] = keys[j];
        keys[j] = tmp;
    }
}

/* Open-addressing set of prompt ids, for the sampled split. Ids are 64-bit
 * hashes of the prompt text, so two distinct prompts of one split share an
 * id with negligible probability (about n^2 / 2^65). */
typedef struct {
    uint64_t *id;
    uint8_t *used;
    size_t cap, n; /* cap a power of two, n <= cap / 2 */
} IdSet;

static void idset_init(IdSet *s, size_t cap) {
    s->cap = cap;
    s->n = 0;
    s->id = xcalloc(cap, sizeof *s->id);
    s->used = xcalloc(cap, 1);
}

static void idset_free(IdSet *s) {
    xfree(s->id);
    xfree(s->used);
    memset(s, 0, sizeof *s);
}

/* Adds id; returns 1 if it was new, 0 if already present. */
static int idset_add(IdSet *s, uint64_t id) {
    if (2 * (s->n + 1) > s->cap) {
        IdSet big;
        idset_init(&big, 2 * s->cap);
        for (size_t i = 0; i < s->cap; i++)
            if (s->used[i]) idset_add(&big, s->id[i]);
        idset_free(s);
        *s = big;
    }
    size_t i = (size_t)(id ^ (id >> 29)) & (s->cap - 1);
    while (s->used[i]) {
        if (s->id[i] == id) return 0;
        i = (i + 1) & (s->cap - 1);
    }
    s->used[i] = 1;
    s->id[i] = id;
    s->n++;
    return 1;
}

/* Appends v to *keys (*n used of *cap), growing it. */
static void push_key(uint64_t **keys, int *n, int *cap, uint64_t v) {
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        uint64_t *k = xmalloc(sizeof(uint64_t) * (size_t)*cap);
        if (*n) memcpy(k, *keys, sizeof(uint64_t) * (size_t)*n);
        xfree(*keys);
        *keys = k;
    }
    (*keys)[(*n)++] = v;
}

/* The sampled set: first occurrences in the eval stream (task.h). */
static void eval_set_sampled(const Task *t, int asked, TaskEvalSet *out) {
    IdSet seen;
    idset_init(&seen, 64);
    int cap = 0;
    long misses = 0;
    out->whole_split = 0;
    for (uint64_t k = 0; out->n < asked; k++) {
        TaskItem it;
        /* sample() fails only when its candidate draws all miss the split:
         * an empty or vanishingly small split, nothing more to find */
        if (t->sample(t, SPLIT_EVAL, 0, k, &it) != 0) {
            out->whole_split = 1;
            break;
        }
        if (idset_add(&seen, it.id)) {
            push_key(&out->key, &out->n, &cap, k);
            misses = 0;
        } else if (++misses >= EVAL_MISSES_BASE + (long)EVAL_MISSES_PER_FOUND * out->n) {
            out->whole_split = 1;
            break;
        }
    }
    idset_free(&seen);
}

int task_eval_set(const Task *t, int asked, TaskEvalSet *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (asked < 1) {
        set_err(err, errlen, "held-out evaluation of %d prompts: expected at least 1", asked);
        return -1;
    }
    out->asked = asked;
    uint64_t *keys = NULL;
    const int n_split = t->eval_split ? t->eval_split(t, &keys) : -1;
    if (n_split >= 0) {
        out->listed = 1;
        out->whole_split = n_split <= asked;
        out->n = n_split < asked ? n_split : asked;
        out->key = keys;
    } else {
        eval_set_sampled(t, asked, out);
    }
    if (out->n == 0) {
        task_eval_set_free(out);
        set_err(err, errlen, "task %s: the held-out split is empty ([task] eval_permille, or a "
                "data set with no line in the eval split)", t->name);
        return -1;
    }
    return 0;
}

int task_eval_item(const Task *t, const TaskEvalSet *s, int i, TaskItem *out) {
    CHECK(i >= 0 && i < s->n);
    if (s->listed) return t->eval_item ? t->eval_item(t, s->key[i], out) : -1;
    return t->sample(t, SPLIT_EVAL, 0, s->key[i], out);
}

void task_eval_set_free(TaskEvalSet *s) {
    xfree(s->key);
    memset(s, 0, sizeof *s);
}

double task_demo_accuracy(const Task *t, int n, uint64_t seed) {
    if (task_verifier_is_external(t)) return -1;
    TaskEvalSet set;
    char err[256];
    if (task_eval_set(t, n, &set, err, sizeof err) != 0) return -1;
    Rng rng;
    rng_seed(&rng, seed, 0xDE40);
    int ok = 0;
    double acc = -1;
    /* every demonstration first, then one batch: a verifier that works on
     * several at once (the code task's sandboxes) does so here too */
    TaskItem *items = xmalloc(sizeof *items * (size_t)set.n);
    char *demos = xmalloc((size_t)set.n * TASK_MAX_TEXT);
    VerifyJob *jobs = xmalloc(sizeof *jobs * (size_t)set.n);
    Reward *rewards = xmalloc(sizeof *rewards * (size_t)set.n);
    for (int i = 0; i < set.n; i++) {
        char *demo = demos + (size_t)i * TASK_MAX_TEXT;
        if (task_eval_item(t, &set, i, &items[i]) != 0) goto out;
        if (t->demonstrate(t, &items[i], &rng, demo, TASK_MAX_TEXT) != 0) goto out;
        jobs[i] = (VerifyJob){&items[i], demo, 1};
    }
    task_verify_batch(t, jobs, set.n, rewards);
    for (int i = 0; i < set.n; i++) ok += rewards[i].correct;
    acc = (double)ok / set.n;
out:
    xfree(items);
    xfree(demos);
    xfree(jobs);
    xfree(rewards);
    task_eval_set_free(&set);
    return acc;
}
