/* task_factory.c: task_create, the one place that knows every task kind.
 * Apart from task.c so that the tasks, which use task.c's shared helpers,
 * and the factory, which uses the tasks, do not include one another. */
#include <math.h>
#include <string.h>

#include "task.h"
#include "util.h"

/* Checks the settings every task shares; 0 or -1 with err. */
static int check_common(const TaskParams *p, char *err, size_t errlen) {
    if (p->eval_permille < 0 || p->eval_permille > 1000) {
        set_err(err, errlen, "[task] eval_permille = %d: expected 0..1000", p->eval_permille);
        return -1;
    }
    for (int i = 0; i < TASK_MAX_COMPONENTS; i++)
        if (!isfinite(p->weights[i])) {
            set_err(err, errlen, "[task] reward weight %d is not a finite number", i);
            return -1;
        }
    return 0;
}

/* The task called name, with its own verifier. */
static Task *create_builtin(const char *name, const TaskParams *p, uint64_t seed, char *err,
                            size_t errlen) {
    if (strcmp(name, "arith") == 0) return task_arith_create(p, seed, err, errlen);
    if (strcmp(name, "countdown") == 0) return task_countdown_create(p, seed, err, errlen);
    if (strcmp(name, "jsonl") == 0) return task_jsonl_create(p, seed, err, errlen);
    if (strcmp(name, "arith_cot") == 0) return task_arith_cot_create(p, seed, err, errlen);
    if (strcmp(name, "countdown_cot") == 0) return task_countdown_cot_create(p, seed, err, errlen);
    if (strcmp(name, "code") == 0) return task_code_create(p, seed, err, errlen);
    if (strcmp(name, "review") == 0) return task_review_create(p, seed, err, errlen);
    set_err(err, errlen,
            "[task] name = '%s': unknown task (arith | countdown | jsonl | arith_cot | "
            "countdown_cot | code | review)",
            name);
    return NULL;
}

Task *task_create(const char *name, const TaskParams *p, uint64_t seed, char *err, size_t errlen) {
    if (check_common(p, err, errlen) != 0) return NULL;
    Task *t = create_builtin(name, p, seed, err, errlen);
    if (t && p->verifier[0]) return task_external_create(t, p, err, errlen);
    return t;
}


Task *task_from_config(const Config *cfg, uint64_t seed, char *err, size_t errlen) {
    const TaskSettings *ts = task_settings(cfg);
    TaskParams p = ts->p;
    p.sandbox = sandbox_settings(cfg)->limits;
    return task_create(ts->name, &p, seed, err, errlen);
}
