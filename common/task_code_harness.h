/* task_code_harness.h: the code task's verifier (task_code_harness.c):
 * the programs of a batch run in the sandbox on their hidden tests. */
#ifndef COMMON_TASK_CODE_HARNESS_H
#define COMMON_TASK_CODE_HARNESS_H

#include <stdint.h>

#include "task.h"

/* The verifier (task_code_harness.c): Task.verify and Task.verify_batch.
 * The task's state starts with these settings. */
typedef struct {
    TaskParams p;
    uint64_t seed;
} CodeState;
void code_verify(const Task *t, const TaskItem *item, const char *completion, int finished,
                 Reward *out);
void code_verify_batch(const Task *t, const VerifyJob *jobs, int n, Reward *out);

#endif
