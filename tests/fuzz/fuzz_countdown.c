/* fuzz_countdown.c: the countdown verifier's expression parser, through
 * the task's verify function.
 *
 * Input: byte 0 picks the item; if its top bit is set, the item's prompt is
 * the input up to the first '\n' (so the prompt parser is fuzzed too) and
 * the completion the rest; otherwise the item is one of a few generated
 * ones and the completion is the rest of the input. Properties: components
 * are 0 or 1; correct implies well-formed and finished; the generator's
 * own solution verifies as correct. */
#include "fuzz_common.h"
#include "task.h"

enum { N_ITEMS = 8 };

static Task *task;
static TaskItem items[N_ITEMS];

static void setup(void) {
    TaskParams p;
    task_params_default(&p);
    p.cd_n_min = 2;
    p.cd_n_max = 6;
    p.cd_max_number = 1000;
    char err[256];
    task = task_create("countdown", &p, 42, err, sizeof err);
    if (!task) {
        fprintf(stderr, "countdown: %s\n", err);
        abort();
    }
    for (int i = 0; i < N_ITEMS; i++) {
        if (task->sample(task, SPLIT_TRAIN, 0, (uint64_t)i, &items[i]) != 0) abort();
        Reward r;
        task->verify(task, &items[i], items[i].solution, 1, &r);
        FUZZ_REQUIRE(r.correct);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!task) setup();
    if (size == 0) return 0;
    TaskItem item = items[data[0] % N_ITEMS];
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    if (data[0] & 0x80) {
        const uint8_t *nl = memchr(rest, '\n', n);
        size_t k = nl ? (size_t)(nl - rest) : n;
        const size_t keep = k < sizeof item.prompt - 1 ? k : sizeof item.prompt - 1;
        memcpy(item.prompt, rest, keep);
        item.prompt[keep] = '\0';
        if (nl) k++;
        rest += k;
        n -= k;
    }
    char *completion = malloc(n + 1);
    if (!completion) abort();
    memcpy(completion, rest, n);
    completion[n] = '\0';
    for (int finished = 0; finished < 2; finished++) {
        Reward r;
        task->verify(task, &item, completion, finished, &r);
        FUZZ_REQUIRE(r.n == 2);
        FUZZ_REQUIRE(r.value[0] == 0.0f || r.value[0] == 1.0f);
        FUZZ_REQUIRE(r.value[1] == 0.0f || r.value[1] == 1.0f);
        FUZZ_REQUIRE(r.correct == (r.value[0] == 1.0f));
        if (r.correct) FUZZ_REQUIRE(r.value[1] == 1.0f && finished);
    }
    free(completion);
    return 0;
}
