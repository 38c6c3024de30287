/* bench_perf_two_cores_mpi.c: issue 12's "both cores" rows. The training
 * and GRPO-step rows of bench_perf_targets.c (~1M and ~4M models, V = 98,
 * untied head, max_seq_len 256; train+adamw at T = 64 B = 32 and T = 256
 * B = 8; the learner step on 4 prompts x G = 8, prompt 32 + completion 96),
 * each timed three ways in the same run, reps interleaved so that drift in
 * the machine's background load hits all three alike:
 *   1 thread:       rank 0 alone, one BLAS thread (rank 1 sleeps in a
 *                   polling barrier, so it takes no core);
 *   2 BLAS threads: rank 0 alone, openblas_set_num_threads(2);
 *   2 ranks:        both ranks, one BLAS thread each, data-parallel:
 *                   training: each rank half the batch's rows, the
 *                   gradients summed by one allreduce of the flat gradient
 *                   buffer (as the learner does), then AdamW on each rank;
 *                   the GRPO step: learner_step with K = 2 learners
 *                   (learner_peer.h: learner_join), each its share of the
 *                   groups.
 * Launch with exactly two ranks (tests/run_bench.sh does):
 *   mpirun --bind-to none -np 2 build/tests/bench_perf_two_cores_mpi
 * (--bind-to none: Open MPI binds each of 2 ranks to one core, which would
 * put rank 0's two BLAS threads on one core.)
 * First the machine's own ceiling: one sgemm alone against two at once (one
 * per rank) and against one on 2 BLAS threads; then each row's tokens/s by
 * mode and the speedups over 1 thread (medians of the per-rep ratios),
 * each also as a share of the machine's own speedup in that mode at that
 * moment (every step runs right after a 1024^3 sgemm in its mode: alone,
 * two at once, on 2 threads; other jobs on the machine slow both alike),
 * and for 2 ranks by thread CPU time too (1 thread's over the busier
 * rank's: CPU time stops while another job holds the core, cache and
 * memory sharing still show), the
 * 2-rank step split into compute (forward + backward), gradient allreduce
 * (waiting for the slower rank included), a bare allreduce of the same
 * buffer after a barrier (the transfer alone), and the rest (AdamW, the
 * step's serial work); the ranks' compute imbalance; and the first step's
 * consistency: the two ranks' weights (hash64) and, against the 1-thread
 * run from the same start, the summed gradient's relative 2-norm
 * difference and the largest weight difference. Each rank's thread setup
 * (blas_setup.h: blas_describe_threads) is printed first.
 * BENCH_REPS (default 5, at most 15), BENCH_ONLY=substring of a row label
 * (e.g. "~1M train T=64"), BENCH_SGEMM_N (default 2048). Timings are never
 * asserted. */
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
#include "optim.h"
#include "rng.h"
#include "sections.h"
#include "util.h"
#include "wire.h"

#include "bench_common.h"
#include "bench_step_batch.h"

enum { MAX_REPS = 15 };
#define IDLE_POLL_S 1e-3    /* how often a rank waiting in a barrier checks it */
#define POOL_SETTLE_S 0.25  /* OpenBLAS's pool threads spin ~0.13 s after a call */

#define PLAN(c) ((TrainPlan *)config_get_mut((c), &plan_section))
#define SAMP(c) ((SamplingSettings *)config_get_mut((c), &sampling_section))

typedef enum { ONE_THREAD, TWO_RANKS, TWO_THREADS, N_MODES } Mode;
static const char *const MODE_NAME[N_MODES] = {"1 thread", "2 ranks", "2 BLAS threads"};

static Comm comm;
static CommGroup *pair; /* both ranks */

static void pair_sync(void) {
    double x = 0;
    comm_group_sum_doubles(pair, &x, 1);
}

/* ---- environment ---------------------------------------------------------- */

static int env_int(const char *name, int def, int lo, int hi) {
    const char *s = getenv(name);
    if (!s || !*s) return def;
    char *end;
    long n = strtol(s, &end, 10);
    if (*end || n < lo || n > hi)
        die("bench_perf_two_cores_mpi.c: %s=%s: want an integer in %d..%d", name, s, lo, hi);
    return (int)n;
}

static int row_selected(const char *label) {
    const char *only = getenv("BENCH_ONLY");
    return !only || !*only || strstr(label, only) != NULL;
}

/* ---- one step, in any mode -------------------------------------------------- */

/* Where a 2-rank step's time went on this rank. */
typedef struct {
    double compute, allreduce, rest;
} Split;

/* A benchmarked row: step() runs one step of mode on this rank (TWO_RANKS:
 * on both, collectively; else on rank 0 only) and, for TWO_RANKS, fills
 * *sp; check() runs once on both ranks after the warm-up steps of
 * ONE_THREAD and TWO_RANKS, from the same start; bare() times one
 * allreduce of the gradient buffer, collectively. */
typedef struct {
    void (*step)(void *ctx, Mode mode, Split *sp);
    void (*check)(void *ctx);
    double (*bare)(void *ctx);
    void *ctx;
    double tokens; /* counted per step */
} Row;

static void set_blas_threads(int n) {
    openblas_set_num_threads(n);
}

/* GFLOP/s of one n^3 sgemm on this rank, by wall clock; *cpu (if not
 * NULL) gets it by this thread's CPU time. */
static double sgemm_gflops(int n, const float *a, float *c, double *cpu) {
    const double t0 = now_seconds(), c0 = cpu_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, a, n, 0.0f, c, n);
    const double f = 2.0 * n * n * (double)n * 1e-9;
    if (cpu) *cpu = f / (cpu_seconds() - c0);
    return f / (now_seconds() - t0);
}

/* One n^3 sgemm (a and c: n x n) in mode: on rank 0 alone with 1 or 2
 * BLAS threads, or one on each rank at once; returns (on rank 0) the
 * GFLOP/s, summed over the ranks for TWO_RANKS, and *cpu (if not NULL)
 * the same by thread CPU time (0 for TWO_THREADS). Collective. */
static double mode_sgemm(Mode md, int n, const float *a, float *c, double *cpu) {
    double r[2] = {0, 0};
    if (md == TWO_RANKS) {
        pair_sync();
        r[0] = sgemm_gflops(n, a, c, &r[1]);
        comm_group_sum_doubles(pair, r, 2);
    } else if (comm.rank == 0) {
        if (md == TWO_THREADS) set_blas_threads(2);
        r[0] = sgemm_gflops(n, a, c, &r[1]);
        if (md == TWO_THREADS) {
            set_blas_threads(1);
            nanosleep(&(struct timespec){0, (long)(POOL_SETTLE_S * 1e9)}, NULL);
        }
    }
    comm_barrier_idle(IDLE_POLL_S);
    if (cpu) *cpu = md == TWO_THREADS ? 0 : r[1]; /* 2 threads: not one thread's */
    return r[0];
}

/* The reference each rep's steps run just after, in their own mode. */
enum { REF_N = 1024 };
static float *ref_a, *ref_c;

/* What check() found, printed under the row. */
static char consistency[512];

/* Times reps steps per mode after one warm-up each, interleaved, each
 * right after a REF_N^3 sgemm in the same mode; prints the row on rank 0:
 * tok/s, speedups over 1 thread, and the speedups as a share of the
 * machine's (the sgemm's speedup in that mode, the same rep). */
static void time_row(const char *label, const Row *row, int reps) {
    double t[N_MODES][MAX_REPS], speed[N_MODES][MAX_REPS], cpu[N_MODES][MAX_REPS];
    double cpu_speed[MAX_REPS], ceil[N_MODES][MAX_REPS], share[N_MODES][MAX_REPS], comp[MAX_REPS], ar[MAX_REPS], rest[MAX_REPS], bare[MAX_REPS];
    for (int k = -1; k < reps; k++) {
        for (int md = 0; md < N_MODES; md++) {
            double dt = 0, dc = 0;
            Split sp = {0};
            const double sg = mode_sgemm(md, REF_N, ref_a, ref_c, NULL);
            if (md == TWO_RANKS) {
                pair_sync();
                const double t0 = now_seconds(), c0 = cpu_seconds();
                row->step(row->ctx, md, &sp);
                dt = now_seconds() - t0;
                dc = cpu_seconds() - c0;
                comm_group_max_doubles(pair, &dc, 1); /* the busier rank's */
            } else if (comm.rank == 0) {
                if (md == TWO_THREADS) set_blas_threads(2);
                const double t0 = now_seconds(), c0 = cpu_seconds();
                row->step(row->ctx, md, &sp);
                dt = now_seconds() - t0;
                dc = cpu_seconds() - c0;
                if (md == TWO_THREADS) {
                    set_blas_threads(1);
                    nanosleep(&(struct timespec){0, (long)(POOL_SETTLE_S * 1e9)}, NULL);
                }
            }
            comm_barrier_idle(IDLE_POLL_S);
            if (k < 0 && md == TWO_RANKS) row->check(row->ctx);
            if (k < 0) continue;
            t[md][k] = dt;
            cpu[md][k] = dc;
            ceil[md][k] = sg;
            if (md == TWO_RANKS) {
                comp[k] = sp.compute;
                ar[k] = sp.allreduce;
                rest[k] = sp.rest;
            }
        }
        if (k >= 0) {
            pair_sync();
            bare[k] = row->bare(row->ctx);
        }
    }
    for (int k = 0; k < reps; k++) {
        for (int md = 0; md < N_MODES; md++) {
            speed[md][k] = t[ONE_THREAD][k] / t[md][k];
            share[md][k] = speed[md][k] / (ceil[md][k] / ceil[ONE_THREAD][k]);
        }
        cpu_speed[k] = cpu[ONE_THREAD][k] / cpu[TWO_RANKS][k];
    }
    double med[N_MODES], sp[N_MODES], sh[N_MODES];
    for (int md = 0; md < N_MODES; md++) {
        med[md] = median(t[md], reps);
        sp[md] = median(speed[md], reps);
        sh[md] = median(share[md], reps);
    }
    /* compute on each rank: the imbalance is the slower over the faster */
    double c_me = median(comp, reps), c_max = c_me, c_min = -c_me;
    comm_group_max_doubles(pair, &c_max, 1);
    comm_group_max_doubles(pair, &c_min, 1);
    c_min = -c_min;
    const double a = median(ar, reps), r = median(rest, reps), b = median(bare, reps);
    if (comm.rank != 0) return;
    printf("  %-22s", label);
    for (int md = 0; md < N_MODES; md++) printf("  %8.0f", row->tokens / med[md]);
    printf("   %5.2fx (%3.0f%%)  %5.2fx (%3.0f%%, cpu %4.2fx)\n", sp[TWO_THREADS],
           100 * sh[TWO_THREADS], sp[TWO_RANKS], 100 * sh[TWO_RANKS], median(cpu_speed, reps));
    printf("  %-22s  2 ranks: step %.1f ms = compute %.1f + gradient sum %.1f (bare %.1f) + "
           "rest %.1f; compute imbalance %.3f\n", "", 1e3 * med[TWO_RANKS], 1e3 * c_me, 1e3 * a,
           1e3 * b, 1e3 * r, c_max / c_min);
    printf("%s", consistency);
    fflush(stdout);
}

/* Prints, on rank 0, the first step's consistency: bit-identity of the two
 * ranks' weights, and the 2-rank gradient and weights against 1 thread's
 * (g1, w1: valid on rank 0). */
static void print_consistency(const float *g2, const float *w2, const float *g1,
                              const float *w1, size_t n) {
    uint64_t h[2], mine = hash64(w2, sizeof(float) * n);
    comm_gather_bytes(&comm, &mine, sizeof mine, h);
    if (comm.rank != 0) return;
    double d2 = 0, n2 = 0, wmax = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)g2[i] - g1[i];
        d2 += d * d;
        n2 += (double)g1[i] * g1[i];
        const double dw = fabs((double)w2[i] - w1[i]);
        if (dw > wmax) wmax = dw;
    }
    snprintf(consistency, sizeof consistency, "  %-22s  first step: the 2 ranks' weights %s; "
             "vs 1 thread: gradient |g2 - g1| / |g1| %.1e, max |w2 - w1| %.1e\n", "",
             h[0] == h[1] ? "bit-identical" : "DIFFER", n2 > 0 ? sqrt(d2 / n2) : 0.0, wmax);
}

/* ---- training rows ----------------------------------------------------------- */

typedef struct {
    Model one, two;      /* 1 thread and 2 BLAS threads: one (rank 0); 2 ranks: two */
    AdamW opt_one, opt_two;
    ForwardState *fs_all, *fs_half;
    int B, T, *tok, *tgt;
    float *w, *logp, *buf;
} Train;

static void train_on(Model *m, AdamW *opt, ForwardState *s, const Train *tr, int b0, int nb,
                     Split *sp, int allreduce) {
    const int T = tr->T;
    const double t0 = now_seconds();
    model_zero_grads(m);
    model_forward(m, s, tr->tok + (size_t)b0 * T, tr->tgt + (size_t)b0 * T, nb, T, 1.0f, tr->logp,
                  NULL);
    model_backward(m, s, tr->w + (size_t)b0 * T);
    const double t1 = now_seconds();
    if (allreduce) comm_group_sum_floats(pair, m->grads, m->n_params);
    const double t2 = now_seconds();
    AdamWConfig ac = {.beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.1f};
    ParamGroup pg = {0, m->n_params, 1};
    adamw_step(opt, &ac, m->params, m->grads, &pg, 1, 1e-4f);
    *sp = (Split){t1 - t0, t2 - t1, now_seconds() - t2};
}

static void train_step(void *ctx, Mode mode, Split *sp) {
    Train *tr = ctx;
    if (mode == TWO_RANKS) {
        const int half = tr->B / 2;
        train_on(&tr->two, &tr->opt_two, tr->fs_half, tr, comm.rank * half, half, sp, 1);
    } else {
        train_on(&tr->one, &tr->opt_one, tr->fs_all, tr, 0, tr->B, sp, 0);
    }
}

static void train_check(void *ctx) {
    Train *tr = ctx;
    print_consistency(tr->two.grads, tr->two.params, tr->one.grads, tr->one.params,
                      tr->two.n_params);
}

static double train_bare(void *ctx) {
    Train *tr = ctx;
    memcpy(tr->buf, tr->two.grads, sizeof(float) * tr->two.n_params);
    pair_sync();
    const double t0 = now_seconds();
    comm_group_sum_floats(pair, tr->buf, tr->two.n_params);
    return now_seconds() - t0;
}

static void bench_train_row(const char *label, const ModelConfig *c, int B, int T, int reps) {
    Train tr = {.B = B, .T = T};
    const int N = B * T, V = c->vocab_size;
    CHECK(B % 2 == 0);
    Model *ms[2] = {&tr.one, &tr.two};
    for (int i = 0; i < 2; i++) {
        model_init(ms[i], c);
        model_init_weights(ms[i], 1);
        model_alloc_grads(ms[i]);
    }
    adamw_init(&tr.opt_one, tr.one.n_params);
    adamw_init(&tr.opt_two, tr.two.n_params);
    tr.fs_all = forward_state_new(c, B, T);
    tr.fs_half = forward_state_new(c, B / 2, T);
    tr.tok = xmalloc(sizeof(int) * N);
    tr.tgt = xmalloc(sizeof(int) * N);
    tr.w = xmalloc(sizeof(float) * N);
    tr.logp = xmalloc(sizeof(float) * N);
    tr.buf = xmalloc(sizeof(float) * tr.two.n_params);
    Rng r;
    rng_seed(&r, 2, 0); /* bench_model_common.h: bench_train's batch */
    for (int i = 0; i < N; i++) {
        tr.tok[i] = (int)rng_below(&r, V);
        tr.tgt[i] = (int)rng_below(&r, V);
        tr.w[i] = 1.0f / N;
    }
    Row row = {train_step, train_check, train_bare, &tr, (double)N};
    time_row(label, &row, reps);
    for (int i = 0; i < 2; i++) model_free(ms[i]);
    adamw_free(&tr.opt_one);
    adamw_free(&tr.opt_two);
    forward_state_free(tr.fs_all);
    forward_state_free(tr.fs_half);
    xfree(tr.tok); xfree(tr.tgt); xfree(tr.w); xfree(tr.logp); xfree(tr.buf);
}

/* ---- the GRPO step ------------------------------------------------------------- */

typedef struct {
    Config *cfg;
    Model one, two, ref;
    Learner L_one, L_two;
    Group g[STEP_NP];
    float *g_one, *g_two, *buf;
} Step;

static void grpo_step(void *ctx, Mode mode, Split *sp) {
    Step *s = ctx;
    StepMetrics m;
    learner_step(mode == TWO_RANKS ? &s->L_two : &s->L_one, s->g, STEP_NP, 0, &m);
    *sp = (Split){m.t_forward + m.t_backward, m.t_allreduce, m.t_optim - m.t_allreduce};
}

static void grpo_check(void *ctx) {
    Step *s = ctx;
    print_consistency(s->g_two, s->two.params, s->g_one, s->one.params, s->two.n_params);
}

static double grpo_bare(void *ctx) {
    Step *s = ctx;
    memcpy(s->buf, s->two.grads, sizeof(float) * s->two.n_params);
    pair_sync();
    const double t0 = now_seconds();
    comm_group_sum_floats(pair, s->buf, s->two.n_params);
    return now_seconds() - t0;
}

static void bench_grpo_row(const char *label, const ModelConfig *c, int reps) {
    Step *s = xcalloc(1, sizeof *s);
    s->cfg = grpo_config_new();
    PLAN(s->cfg)->prompts_per_step = STEP_NP;
    PLAN(s->cfg)->group_size = STEP_G;
    PLAN(s->cfg)->steps = 100;
    SAMP(s->cfg)->max_new_tokens = STEP_CLEN;
    Model *ms[3] = {&s->one, &s->two, &s->ref};
    for (int i = 0; i < 3; i++) {
        model_init(ms[i], c);
        model_init_weights(ms[i], 1);
    }
    model_alloc_grads(&s->one);
    model_alloc_grads(&s->two);
    learner_init(&s->L_one, &s->one, &s->ref, s->cfg);
    learner_init(&s->L_two, &s->two, &s->ref, s->cfg);
    learner_join(&s->L_two, pair);
    step_batch(s->g, c->vocab_size);
    const size_t n = s->two.n_params;
    s->g_one = xmalloc(sizeof(float) * n);
    s->g_two = xmalloc(sizeof(float) * n);
    s->buf = xmalloc(sizeof(float) * n);
    s->L_one.grad_out = s->g_one; /* the warm-up's gradients, for grpo_check */
    s->L_two.grad_out = s->g_two;
    Row row = {grpo_step, grpo_check, grpo_bare, s, (double)STEP_NP * STEP_G * STEP_CLEN};
    time_row(label, &row, reps);
    for (int i = 0; i < STEP_NP; i++) group_free(&s->g[i]);
    learner_free(&s->L_one);
    learner_free(&s->L_two);
    for (int i = 0; i < 3; i++) model_free(ms[i]);
    config_free(s->cfg);
    xfree(s->g_one); xfree(s->g_two); xfree(s->buf);
    xfree(s);
}

/* ---- the machine's ceiling ------------------------------------------------------ */

/* One sgemm alone (1 thread), two at once (one per rank: their summed
 * rate) and one on 2 BLAS threads, interleaved, reps times; prints the
 * medians and the ratios over one alone. */
static void bench_ceiling(int n, int reps) {
    float *a = xmalloc(sizeof(float) * n * n), *c = xmalloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = (float)(i % 7) - 3.0f;
    double g[N_MODES][MAX_REPS], ratio[N_MODES][MAX_REPS], gc[N_MODES][MAX_REPS], cratio[MAX_REPS];
    for (int k = -1; k < reps; k++)
        for (int md = 0; md < N_MODES; md++) {
            double cpu;
            const double r = mode_sgemm(md, n, a, c, &cpu);
            if (k >= 0) {
                g[md][k] = r;
                gc[md][k] = cpu;
            }
        }
    for (int k = 0; k < reps; k++) {
        for (int md = 0; md < N_MODES; md++) ratio[md][k] = g[md][k] / g[ONE_THREAD][k];
        cratio[k] = gc[TWO_RANKS][k] / gc[ONE_THREAD][k];
    }
    if (comm.rank == 0) {
        double m[N_MODES], q[N_MODES];
        for (int md = 0; md < N_MODES; md++) {
            m[md] = median(g[md], reps);
            q[md] = median(ratio[md], reps);
        }
        printf("machine ceiling, sgemm %d^3 (medians of %d, interleaved): one alone %.1f GFLOP/s; "
               "two at once (one per rank) %.1f GFLOP/s together = %.2fx; one on 2 BLAS threads "
               "%.1f GFLOP/s = %.2fx; by thread CPU time two at once %.2fx (the cores slowing "
               "each other through shared cache, memory and clock, not other jobs' time "
               "slices)\n", n, reps, m[ONE_THREAD], m[TWO_RANKS], q[TWO_RANKS], m[TWO_THREADS],
               q[TWO_THREADS], median(cratio, reps));
    }
    xfree(a);
    xfree(c);
}

/* Distinct (physical id, core id) pairs in /proc/cpuinfo: whether the
 * vCPUs are separate cores or hyperthreads of one. */
static int physical_cores(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return -1;
    char line[512];
    int phys = 0, n = 0, seen[256][2];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "physical id", 11) && strchr(line, ':')) phys = atoi(strchr(line, ':') + 1);
        if (!strncmp(line, "core id", 7) && strchr(line, ':')) {
            int core = atoi(strchr(line, ':') + 1), dup = 0;
            for (int i = 0; i < n; i++) dup |= seen[i][0] == phys && seen[i][1] == core;
            if (!dup && n < 256) {
                seen[n][0] = phys;
                seen[n++][1] = core;
            }
        }
    }
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    blas_set_threads(1);
    comm_init(&comm, &argc, &argv);
    if (comm.size != 2) {
        if (comm.rank == 0)
            fprintf(stderr, "bench_perf_two_cores_mpi.c: run with exactly 2 ranks (mpirun -np 2), "
                    "not %d\n", comm.size);
        comm_finalize();
        return 2;
    }
    pair = comm_group_first(&comm, 2);
    const int reps = env_int("BENCH_REPS", 5, 1, MAX_REPS), sn = env_int("BENCH_SGEMM_N", 2048, 16, 8192);
    char desc[2][512];
    blas_describe_threads(desc[comm.rank], sizeof desc[0]);
    comm_gather_bytes(&comm, desc[comm.rank], sizeof desc[0], desc);
    if (comm.rank == 0) {
        printf("%ld CPUs online, %d physical cores (/proc/cpuinfo core ids)\n",
               sysconf(_SC_NPROCESSORS_ONLN), physical_cores());
        char kern[256];
        blas_describe(kern, sizeof kern);
        printf("%s\n", kern);
        for (int r = 0; r < 2; r++) printf("rank %d: %s\n", r, desc[r]);
    }
    bench_ceiling(sn, reps);
    ref_a = xmalloc(sizeof(float) * REF_N * REF_N);
    ref_c = xmalloc(sizeof(float) * REF_N * REF_N);
    for (long i = 0; i < (long)REF_N * REF_N; i++) ref_a[i] = (float)(i % 7) - 3.0f;
    if (comm.rank == 0)
        printf("tok/s by mode (medians of %d, interleaved), speedups over 1 thread (medians of the "
               "per-rep ratios; in brackets as a share of the same rep's %d^3 sgemm speedup in "
               "that mode, and for 2 ranks by thread CPU time)\n  %-22s  %8s  %8s  %8s   %-14s  "
               "%s\n", reps, REF_N, "row", MODE_NAME[0], MODE_NAME[1], "2 BLAS", "2 BLAS threads",
               "2 ranks");
    struct { const char *name; int D, L, NH, HF; } sizes[2] = {
        {"~1M", 128, 4, 4, 352}, {"~4M", 256, 4, 8, 688}}; /* bench_perf_targets.c's */
    const struct { int B, T; } train[2] = {{32, 64}, {8, 256}};
    for (int i = 0; i < 2; i++) {
        ModelConfig c = {.vocab_size = 98, .dim = sizes[i].D, .n_layers = sizes[i].L,
                         .n_heads = sizes[i].NH, .n_kv_heads = sizes[i].NH,
                         .hidden_dim = sizes[i].HF, .max_seq_len = 256, .tied_embeddings = 0,
                         .rope_theta = 10000.0f, .norm_eps = 1e-5f};
        char label[64];
        for (int j = 0; j < 2; j++) {
            snprintf(label, sizeof label, "%s train T=%d B=%d", sizes[i].name, train[j].T, train[j].B);
            if (row_selected(label)) bench_train_row(label, &c, train[j].B, train[j].T, reps);
        }
        snprintf(label, sizeof label, "%s grpo step", sizes[i].name);
        if (row_selected(label)) bench_grpo_row(label, &c, reps);
    }
    xfree(ref_a);
    xfree(ref_c);
    if (comm.rank == 0) printf("peak RSS at exit, rank 0: %.0f MiB\n", peak_rss_mib());
    comm_group_free(pair);
    comm_finalize();
    return 0;
}
