/* fuzz_jsonl.c: the JSON-lines task loader (task_create("jsonl")) and its
 * verifier's answer normalisation.
 *
 * The input is the data file (written to a scratch file under /tmp).
 * Properties: a reject names the file; an accepted file yields items of
 * both splits (or -1 for an empty split) whose texts fit TaskItem; the
 * demonstrator's completion (the reference answer) verifies as correct,
 * as does the answer with extra surrounding whitespace; any completion's
 * reward components are 0 or 1. Each task is destroyed per input. */
#include "fuzz_common.h"
#include "task.h"

/* Verifies completion for item and checks the reward's shape. */
static Reward verify(const Task *t, const TaskItem *item, const char *completion, int finished) {
    Reward r;
    t->verify(t, item, completion, finished, &r);
    FUZZ_REQUIRE(r.n == t->n_components);
    for (int i = 0; i < r.n; i++) FUZZ_REQUIRE(r.value[i] == 0.0f || r.value[i] == 1.0f);
    FUZZ_REQUIRE(r.correct == (r.value[0] == 1.0f));
    if (!finished) FUZZ_REQUIRE(!r.correct);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_scratch(".jsonl", data, size);
    TaskParams p;
    task_params_default(&p);
    snprintf(p.jsonl_path, sizeof p.jsonl_path, "%s", path);
    p.eval_permille = 500; /* both splits likely non-empty */
    char err[512] = "";
    Task *t = task_create("jsonl", &p, 7, err, sizeof err);
    if (!t) {
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err) && strstr(err, path) != NULL);
        return 0;
    }
    for (int split = 0; split < 2; split++)
        for (uint64_t i = 0; i < 4; i++) {
            TaskItem item;
            if (t->sample(t, (TaskSplit)split, 0, i, &item) != 0) break;
            FUZZ_REQUIRE(memchr(item.prompt, 0, sizeof item.prompt) &&
                         memchr(item.answer, 0, sizeof item.answer));
            FUZZ_REQUIRE(item.prompt[0] && item.answer[0]);
            FUZZ_REQUIRE(task_id_is_eval(item.id, p.eval_permille) == split);
            char demo[TASK_MAX_TEXT + 8];
            FUZZ_REQUIRE(t->demonstrate(t, &item, NULL, demo, sizeof demo) == 0);
            FUZZ_REQUIRE(verify(t, &item, demo, 1).correct);
            char padded[TASK_MAX_TEXT + 8];
            snprintf(padded, sizeof padded, " %s\t", item.answer);
            FUZZ_REQUIRE(verify(t, &item, padded, 1).correct);
            verify(t, &item, demo, 0);
            verify(t, &item, item.prompt, 1);
        }
    /* the input itself as a completion, against the first train item */
    TaskItem item;
    if (t->sample(t, SPLIT_TRAIN, 0, 0, &item) == 0 || t->sample(t, SPLIT_EVAL, 0, 0, &item) == 0) {
        char *text = malloc(size + 1);
        if (!text) abort();
        memcpy(text, data, size);
        text[size] = '\0';
        verify(t, &item, text, 1);
        free(text);
    }
    t->destroy(t);
    return 0;
}
