/* bench_learner_dp_mpi.c: the data-parallel learner step (grpo_step.h:
 * LearnerPeers, learner_peer.h: learner_join) against the number of
 * learners K on the same batch. Launch with
 *   mpirun --oversubscribe -np N build/tests/bench_learner_dp_mpi
 * For K = 1, 2, 4, ... up to N, and K = N (the colocated layout's learner
 * step: every rank learns; its sampling is not run here), every rank builds
 * the learner benchmarks' batch and model (bench_common.h: 16 prompts x G = 8, completions 60-180 tokens, the 107k model, beta 0.04,
 * default [grpo]: 1 minibatch, 1 inner epoch, micro_batches 4), ranks < K
 * form the learners' group and run learner_step on the whole batch (each
 * runs its share and joins the gradient allreduce), the other ranks wait in
 * a sleeping barrier. One warm-up step, then REPS timed steps, each right
 * after one sgemm on every learner (as bench_model.c: the machine is shared,
 * so a step's wall time times the sgemm rate just before it cancels drift,
 * and the slow-down of cores working at once; shown for K <= cores only,
 * since ranks sharing a core slow the sgemm by the sharing itself).
 * Prints per K rank 0's medians: wall and thread-CPU seconds per step (and
 * the largest learner's CPU median), t_allreduce (the gradient sum, waiting
 * for the slowest learner included) and its share of the wall step, a bare
 * allreduce of the same gradient buffer after a barrier (the transfer
 * alone), the speedups against K = 1, and whether the K learners hold
 * bit-identical weights afterwards (hash64 of the params, gathered), with
 * rank 0's largest weight difference from the K = 1 run (the gradient sum's
 * order differs). One BLAS thread per rank; timings are never asserted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "blas_setup.h"
#include "comm.h"
#include "config.h"
#include "grpo_step.h"
#include "learner_peer.h"
#include "model.h"
#include "rng.h"
#include "sections.h"
#include "util.h"

#include "bench_common.h"
#include "wire.h"

enum { REPS = 5, SGEMM_N = 1024 };
#define IDLE_POLL_S 1e-3 /* how often a waiting rank checks its barrier */

#define PLAN(c) ((TrainPlan *)config_get_mut((c), &plan_section))
#define GRPO(c) ((GrpoSettings *)config_get_mut((c), &grpo_section))
#define SAMP(c) ((SamplingSettings *)config_get_mut((c), &sampling_section))


/* The machine's reference: one SGEMM_N^3 product, GFLOP/s by wall clock. */
static float *sg_a, *sg_c;
static double sgemm_rate(void) {
    const int n = SGEMM_N;
    const double t0 = now_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, sg_a, n, sg_a, n, 0.0f,
                sg_c, n);
    return 2.0 * n * n * (double)n * 1e-9 / (now_seconds() - t0);
}

static void group_sync(const CommGroup *g) {
    double x = 0;
    comm_group_sum_doubles(g, &x, 1);
}

/* Per K, rank 0's medians. */
typedef struct {
    double wall, cpu, cpu_max, allreduce, bare, sgemm, norm; /* norm: wall x sgemm GFLOP/s */
    long positions; /* the forwards' rows x padded length, summed over the learners */
} Row;

/* Runs this rank's learner, one of group g's K (ranks < K), and fills *row;
 * returns this rank's weight hash. On rank 0, w1 holds the K = 1 weights
 * (saved there when save_w1) and *diff gets the largest difference. */
static uint64_t run_k(CommGroup *g, const ModelConfig *mc, const Group *batch, Row *row,
                      float *w1, int save_w1, double *diff) {
    Config *cfg = grpo_config_new();
    PLAN(cfg)->prompts_per_step = BENCH_NP;
    PLAN(cfg)->group_size = BENCH_G;
    PLAN(cfg)->steps = 100;
    SAMP(cfg)->max_new_tokens = BENCH_MAXC;
    GRPO(cfg)->beta = 0.04f;
    Model policy, ref;
    model_init(&policy, mc);
    model_init_weights(&policy, 1);
    model_init(&ref, mc);
    model_init_weights(&ref, 1);
    model_alloc_grads(&policy);
    Learner L;
    learner_init(&L, &policy, &ref, cfg);
    learner_join(&L, g);
    StepMetrics m;
    double wall[REPS], cpu[REPS], ar[REPS], bare[REPS], sg[REPS], norm[REPS];
    group_sync(g);
    learner_step(&L, batch, BENCH_NP, 0, &m); /* warm-up */
    for (int rep = 0; rep < REPS; rep++) {
        group_sync(g);
        sg[rep] = sgemm_rate();
        group_sync(g);
        const double w0 = now_seconds(), c0 = cpu_seconds();
        learner_step(&L, batch, BENCH_NP, 0, &m);
        wall[rep] = now_seconds() - w0;
        cpu[rep] = cpu_seconds() - c0;
        ar[rep] = m.t_allreduce;
        norm[rep] = wall[rep] * sg[rep];
    }
    /* the transfer alone, on a copy of the gradient buffer */
    float *buf = xmalloc(sizeof(float) * policy.n_params);
    for (int rep = 0; rep < REPS; rep++) {
        memcpy(buf, policy.grads, sizeof(float) * policy.n_params);
        group_sync(g);
        const double t0 = now_seconds();
        if (comm_group_size(g) > 1) comm_group_sum_floats(g, buf, policy.n_params);
        bare[rep] = now_seconds() - t0;
    }
    xfree(buf);
    row->wall = median(wall, REPS);
    row->cpu = row->cpu_max = median(cpu, REPS);
    comm_group_max_doubles(g, &row->cpu_max, 1);
    row->allreduce = median(ar, REPS);
    row->bare = median(bare, REPS);
    row->sgemm = median(sg, REPS);
    row->norm = median(norm, REPS);
    row->positions = m.learner_tokens;
    const uint64_t h = hash64(policy.params, sizeof(float) * policy.n_params);
    if (comm_group_rank(g) == 0) {
        if (save_w1) memcpy(w1, policy.params, sizeof(float) * policy.n_params);
        *diff = 0;
        for (size_t i = 0; i < policy.n_params; i++) {
            const double d = fabs((double)policy.params[i] - w1[i]);
            if (d > *diff) *diff = d;
        }
    }
    learner_free(&L);
    model_free(&policy);
    model_free(&ref);
    config_free(cfg);
    return h;
}

static void print_machine(int nranks, long cores) {
    char name[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
                snprintf(name, sizeof name, "%s", strchr(line, ':') + 2);
                name[strcspn(name, "\n")] = 0;
                break;
            }
        fclose(f);
    }
    __builtin_cpu_init();
    const char *ct = getenv("OPENBLAS_CORETYPE"), *nt = getenv("OPENBLAS_NUM_THREADS");
    printf("CPU %s, %ld cores online; features:%s%s%s%s\n", name, cores,
           __builtin_cpu_supports("avx2") ? " avx2" : "", __builtin_cpu_supports("fma") ? " fma" : "",
           __builtin_cpu_supports("avx512f") ? " avx512f" : "",
           __builtin_cpu_supports("avx512bw") ? " avx512bw" : "");
    printf("OpenBLAS core %s (openblas_get_corename), OPENBLAS_CORETYPE=%s, OPENBLAS_NUM_THREADS=%s, "
           "1 BLAS thread per rank (openblas_set_num_threads); %d ranks\n",
           blas_corename(), ct ? ct : "(unset)", nt ? nt : "(unset)", nranks);
}

int main(int argc, char **argv) {
    blas_set_threads(1);
    Comm comm;
    comm_init(&comm, &argc, &argv);
    const int N = comm.size, me = comm.rank;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const ModelConfig mc = bench_reasoning_model();
    Group batch[BENCH_NP];
    bench_reasoning_batch(batch);
    sg_a = xcalloc((size_t)SGEMM_N * SGEMM_N, sizeof(float));
    sg_c = xcalloc((size_t)SGEMM_N * SGEMM_N, sizeof(float));
    for (long i = 0; i < (long)SGEMM_N * SGEMM_N; i++) sg_a[i] = (float)(i % 7) - 3.0f;
    Model probe;
    model_init(&probe, &mc);
    const size_t n_params = probe.n_params;
    model_free(&probe);
    float *w1 = xmalloc(sizeof(float) * n_params);
    uint64_t *hashes = xmalloc(sizeof(uint64_t) * N);

    if (me == 0) {
        print_machine(N, cores);
        printf("learner_step: %d prompts x G=%d, completions 60-180 tokens, dim %d, %d layers, "
               "%zu params, beta 0.04, [grpo] defaults (1 minibatch, 1 inner epoch, "
               "micro_batches 4): 1 gradient allreduce of %zu bytes per step\n",
               BENCH_NP, BENCH_G, mc.dim, mc.n_layers, n_params, n_params * sizeof(float));
        printf("medians of %d steps after 1 warm-up; wall/cpu: rank 0, cpu max: largest learner; "
               "allreduce: t_allreduce (incl. waiting for the slowest learner), share of wall; "
               "bare: the same allreduce after a barrier; positions: the forwards' padded rows x length, all learners; speedup vs K=1 by wall, by cpu (K=1 cpu / cpu max), "
               "by wall x sgemm GFLOP/s (at equal per-core sgemm speed: corrects drift and the cores slowing each other; K <= cores only)\n", REPS);
        printf("   K   wall s   cpu s  cpu max  allreduce s (share)  bare ms  sgemm GF/s  "
               "speedup wall  cpu  x sgemm  positions  weights\n");
    }
    Row row1 = {0};
    int ks[16], nk = 0;
    for (int k = 1; k <= N; k *= 2) ks[nk++] = k;
    if (ks[nk - 1] != N) ks[nk++] = N;
    for (int q = 0; q < nk; q++) {
        const int K = ks[q];
        CommGroup *g = comm_group_first(&comm, K);
        Row row = {0};
        double diff = 0;
        uint64_t h = g ? run_k(g, &mc, batch, &row, w1, K == 1, &diff) : 0;
        comm_barrier_idle(IDLE_POLL_S);
        comm_gather_u64(&comm, h, hashes);
        comm_group_free(g);
        if (me != 0) continue;
        if (K == 1) row1 = row;
        int same = 1;
        for (int r = 1; r < K; r++) same &= hashes[r] == hashes[0];
        char norm[16] = "      -"; /* sharing cores, the sgemm measures contention too */
        if (K <= cores) snprintf(norm, sizeof norm, "%7.2f", row1.norm / row.norm);
        printf("  %2d  %7.3f  %6.3f  %7.3f  %7.3f  (%5.1f%%)  %7.2f  %10.1f  %12.2f  %4.2f  %s  %9ld  "
               "%s, max |w - w(K=1)| %.1e%s%s\n",
               K, row.wall, row.cpu, row.cpu_max, row.allreduce, 100.0 * row.allreduce / row.wall,
               1e3 * row.bare, row.sgemm, row1.wall / row.wall, row1.cpu / row.cpu_max, norm,
               row.positions, K == 1 ? "1 learner" : same ? "bit-identical" : "DIFFER", diff,
               K == N && K > 1 ? "; colocated shape (every rank learns)" : "",
               K > cores ? "; OVERSUBSCRIBED: K > cores, wall measures contention, cpu is the "
                           "fair figure" : "");
        fflush(stdout);
    }
    for (int i = 0; i < BENCH_NP; i++) group_free(&batch[i]);
    xfree(w1);
    xfree(hashes);
    xfree(sg_a);
    xfree(sg_c);
    comm_finalize();
    return 0;
}
