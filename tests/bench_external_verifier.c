/* bench_external_verifier.c: what an external verifier costs per
 * completion, against the built-in arith verifier: 2000 arith items with
 * demonstrator completions, scored by the built-in verify() and by
 * deploy/verifiers/exact_match.py --reverse (the same rewards) with
 * verifier_procs 1 and 2, in batches of 2000 (a whole step's worth), 8
 * (one GRPO group) and 1 (verify() one by one). Wall time, median of 3
 * runs each, and the CPU time of the calling thread (what the actor
 * itself spends: encoding, decoding, the poll loop); the processes are started by a warm-up batch first, so the
 * figures are the steady state, not python's start. Run from the
 * repository root (make bench). Timings are never asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "task.h"
#include "util.h"

enum { N = 2000, RUNS = 3 };

static TaskItem items[N];
static char comps[N][TASK_MAX_TEXT];
static VerifyJob jobs[N];
static Reward out[N];

/* Wall seconds to score all N in batches of `batch`, median of RUNS;
 * *cpu gets the calling thread's CPU seconds, median too. */
static double time_batches(const Task *t, int batch, double *cpu) {
    double s[RUNS], c[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_seconds(), c0 = cpu_seconds();
        for (int i = 0; i < N; i += batch)
            task_verify_batch(t, jobs + i, i + batch <= N ? batch : N - i, out + i);
        s[r] = now_seconds() - t0;
        c[r] = cpu_seconds() - c0;
    }
    *cpu = median(c, RUNS);
    return median(s, RUNS);
}

int main(void) {
    const char *tests = getenv("GRPO_TESTS_DIR");
    char script[600];
    snprintf(script, sizeof script, "%s/../deploy/verifiers/exact_match.py", tests ? tests : "tests");
    TaskParams p;
    task_params_default(&p);
    char err[512];
    Task *arith = task_create("arith", &p, 3, err, sizeof err);
    if (!arith) die("%s", err);
    Rng rng;
    rng_seed(&rng, 3, 0);
    for (int i = 0; i < N; i++) {
        if (arith->sample(arith, SPLIT_TRAIN, 0, (uint64_t)i, &items[i]) != 0 ||
            arith->demonstrate(arith, &items[i], &rng, comps[i], TASK_MAX_TEXT) != 0)
            die("arith: no item %d", i);
        jobs[i] = (VerifyJob){&items[i], comps[i], 1};
    }
    double cpu;
    double base = time_batches(arith, 1, &cpu);
    printf("built-in arith verifier: %.3f us per completion\n", 1e6 * base / N);
    Reward want[N];
    memcpy(want, out, sizeof want);

    const int batches[] = {N, 8, 1};
    for (int procs = 1; procs <= 2; procs++) {
        TaskParams q = p;
        snprintf(q.verifier, sizeof q.verifier, "python3 %.200s --reverse", script);
        strcpy(q.verifier_components, "accuracy,format");
        q.verifier_procs = procs;
        Task *t = task_create("arith", &q, 3, err, sizeof err);
        if (!t) die("%s", err);
        task_verify_batch(t, jobs, 2 * procs, out); /* warm-up: start the processes */
        for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
            double s = time_batches(t, batches[b], &cpu);
            int same = 1;
            for (int i = 0; i < N; i++)
                same &= out[i].status == REWARD_OK && out[i].total == want[i].total;
            printf("exact_match.py, verifier_procs %d, pipeline 8, batches of %4d: %7.2f us per "
                   "completion (%.0f x built-in), the actor's CPU %5.2f us%s\n",
                   procs, batches[b], 1e6 * s / N, s / base, 1e6 * cpu / N,
                   same ? "" : "  REWARDS DIFFER FROM THE BUILT-IN");
        }
        t->destroy(t);
    }
    arith->destroy(arith);
    return 0;
}
