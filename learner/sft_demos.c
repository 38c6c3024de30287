/* sft_demos.c: `grpo demos` (sft_demos.h). */
#include "sft_demos.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "learner.h"
#include "run_settings.h"
#include "sft.h"
#include "json_line.h"
#include "util.h"

/* Item ids seen so far: open addressing, 0 marks a free slot (an id of 0
 * is kept apart in has_zero). */
typedef struct {
    uint64_t *slot;
    size_t cap;
    int has_zero;
} IdSet;

/* 1 if id was new (and is now in s). */
static int idset_add(IdSet *s, uint64_t id) {
    if (id == 0) {
        int added = !s->has_zero;
        s->has_zero = 1;
        return added;
    }
    size_t i = (size_t)(id * 0x9E3779B97F4A7C15ull) & (s->cap - 1);
    while (s->slot[i]) {
        if (s->slot[i] == id) return 0;
        i = (i + 1) & (s->cap - 1);
    }
    s->slot[i] = id;
    return 1;
}

char *sft_demos_jsonl(const Task *t, int n, uint64_t seed, size_t *len, SftDemosStats *st) {
    memset(st, 0, sizeof *st);
    IdSet ids = {NULL, 64, 0};
    while (ids.cap < 2 * (size_t)n) ids.cap *= 2; /* at most half full */
    ids.slot = xcalloc(ids.cap, sizeof *ids.slot);
    Rng rng;
    rng_seed(&rng, seed, SFT_DEMOS_RNG_STREAM);
    size_t used = 0, cap = 4096;
    char *out = xmalloc(cap);
    out[0] = 0;
    char demo[TASK_MAX_TEXT];
    /* the rule task_eval_set uses for a split it cannot list: it counts as
     * exhausted once this many draws in a row bring no new prompt */
    long misses = 0;
    for (uint64_t k = 0; st->n < n; k++) {
        TaskItem it;
        if (t->sample(t, SPLIT_TRAIN, SFT_DEMOS_STREAM, k, &it) != 0)
            die("demos: task %s has no training items", t->name);
        if (!idset_add(&ids, it.id)) {
            if (++misses > 1000 + 20L * st->n) {
                st->exhausted = 1;
                break;
            }
            continue;
        }
        misses = 0;
        if (t->demonstrate(t, &it, &rng, demo, sizeof demo) != 0)
            die("demos: task %s has no demonstrator (item %llu, prompt '%s')", t->name,
                (unsigned long long)k, it.prompt);
        Reward r;
        t->verify(t, &it, demo, 1, &r);
        st->wrong += !r.correct;
        json_t *o = json_object(), *p = json_string(it.prompt), *c = json_string(demo);
        /* jansson refuses text that is not UTF-8: say which item */
        if (!p || !c)
            die("demos: task %s item %llu (prompt '%s') is not UTF-8 text", t->name,
                (unsigned long long)k, it.prompt);
        json_object_set_new(o, "prompt", p);
        json_object_set_new(o, "completion", c);
        json_object_set_new(o, "source", json_string("demonstrator"));
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!line) die("demos: item %llu cannot be written as JSON", (unsigned long long)k);
        json_line_append(&out, &used, &cap, line);
        free(line);
        st->n++;
    }
    xfree(ids.slot);
    *len = used;
    return out;
}

/* 1 if argv has a -n option (a value of another option is skipped). */
static int has_n_option(const CliArgs *a) {
    for (int i = 2; i < a->argc; i++) {
        if (!strcmp(a->argv[i], "-n")) return 1;
        if (a->argv[i][0] == '-' && a->argv[i][1] == '-') i++;
    }
    return 0;
}

int demos_command(Config *cfg, const CliArgs *a) {
    if (!a->out) {
        fprintf(stderr, "error: grpo demos: --out FILE.jsonl is required (where the "
                        "demonstrations go)\n");
        return EXIT_USAGE;
    }
    const SftSettings *ss = config_get(cfg, &sft_section);
    int n = has_n_option(a) ? a->n : ss->demos;
    uint64_t seed = run_settings(cfg)->seed;
    char err[1000];
    Task *task = task_from_config(cfg, seed, err, sizeof err);
    if (!task) die("%s", err);
    double t0 = now_seconds();
    SftDemosStats st;
    size_t len;
    char *text = sft_demos_jsonl(task, n, seed, &len, &st);
    int rc = 0;
    if (st.n == 0) {
        fprintf(stderr, "error: demos: task %s gave no training item\n", task->name);
        rc = 1;
    } else if (atomic_file_write(a->out, text, len, err, sizeof err) != 0) {
        fprintf(stderr, "error: demos: %s\n", err);
        rc = EXIT_RUN_DIR;
    } else {
        if (st.exhausted)
            fprintf(stderr, "warning: demos: the training split of task %s has only %d distinct "
                            "prompts; %d were asked ([sft] demos or -n)\n",
                    task->name, st.n, n);
        printf("demos: wrote %s: %d demonstrations of task %s on distinct training prompts "
               "(run.seed %llu) in %.1f s; the demonstrator is wrong on %d of them (%.3f)\n",
               a->out, st.n, task->name, (unsigned long long)seed, now_seconds() - t0, st.wrong,
               (double)st.wrong / st.n);
    }
    xfree(text);
    task->destroy(task);
    return rc;
}
