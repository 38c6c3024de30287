/* blas_setup.c: OpenBLAS's threads and buffers, set up before any work. */
#include "blas_setup.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kernel_dispatch.h"
#include "memory.h"
#include "memory_limits.h"
#include "util.h"

/* OpenBLAS maps one buffer of BUFFER_SIZE bytes for each thread that runs
 * its kernels: 32 << 22 = 128 MiB in Debian 12's 0.3.21 on x86_64 (measured:
 * VmSize grows by exactly that on the first sgemm). Its pool threads map
 * theirs when they start, at library load; the calling thread on its first
 * BLAS call. A failed mmap is retried forever (blas_memory_alloc in
 * driver/others/memory.c), and the exit-time destructor joins the pool
 * threads, so one stuck that way also hangs exit: under a tight RLIMIT_AS
 * the process spins at 100% CPU instead of failing. */
static const double BLAS_BUFFER_BYTES = 128.0 * (1 << 20);

/* How long pool threads may take to finish starting (mapping their buffers
 * and going idle, ~0.15 s unloaded) before the set-up assumes the worst. */
static const double BLAS_SETTLE_S = 10.0;

/* Threads of this process other than the caller (at start-up, before MPI,
 * these are OpenBLAS's pool); *running counts those not asleep, which
 * includes pool threads that may still have a buffer to map. */
static int other_threads(int *running) {
    int n = 0;
    *running = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    struct dirent *e;
    char path[300], stat[512];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == (int)gettid()) continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t got = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[got] = 0;
        const char *close = strrchr(stat, ')');
        n++;
        if (close && close[1] == ' ' && close[2] == 'R') (*running)++;
    }
    closedir(d);
    return n;
}

/* Makes sure every OpenBLAS buffer is mapped now, or stops with a message
 * naming RLIMIT_AS, before any work: exit through _exit (die_now) because a
 * pool thread may be stuck retrying already. */
static void blas_reserve_or_die(int n) {
    const double MiB = 1 << 20;
    double limit = memory_as_limit(), t0 = now_seconds();
    char hint[160] = "";
    /* With a finite limit, wait for the pool to finish starting, so that
     * VmSize (which the memory pre-flight reads) holds every buffer. */
    while (limit > 0) {
        int running, pool = other_threads(&running);
        double vm = memory_status_bytes("VmSize"), room = limit - vm;
        if (pool > n - 1)
            snprintf(hint, sizeof hint, ", or run with OPENBLAS_NUM_THREADS=%d ([run] blas_threads) "
                     "so that OpenBLAS starts fewer pool threads", n);
        if (room < BLAS_BUFFER_BYTES)
            die_now("OpenBLAS needs a %.0f MiB buffer for this thread, but RLIMIT_AS (ulimit -v) "
                    "allows %.0f MiB and %.0f MiB are mapped already (libraries, and the buffers "
                    "of OpenBLAS's %d pool thread(s)); raise ulimit -v well above %.0f MiB%s",
                    BLAS_BUFFER_BYTES / MiB, limit / MiB, vm / MiB, pool,
                    (vm + (running + 1) * BLAS_BUFFER_BYTES) / MiB, hint);
        if (running == 0) break;
        if (now_seconds() - t0 > BLAS_SETTLE_S) {
            if (room >= (running + 1) * BLAS_BUFFER_BYTES) break;
            die_now("OpenBLAS needs a %.0f MiB buffer per thread, but RLIMIT_AS (ulimit -v) "
                    "allows %.0f MiB, %.0f MiB are mapped already, and %d OpenBLAS pool "
                    "thread(s) have not finished starting after %.0f s; raise ulimit -v well "
                    "above %.0f MiB%s",
                    BLAS_BUFFER_BYTES / MiB, limit / MiB, vm / MiB, running, BLAS_SETTLE_S,
                    (vm + (running + 1) * BLAS_BUFFER_BYTES) / MiB, hint);
        }
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    /* the same mapping OpenBLAS asks for, so a failure for any other reason
     * (vm.overcommit_memory=2) is caught too */
    size_t bytes = (size_t)BLAS_BUFFER_BYTES;
    void *probe = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED)
        die_now("cannot map the %.0f MiB buffer OpenBLAS needs (%s); OpenBLAS would retry forever",
                BLAS_BUFFER_BYTES / MiB, strerror(errno));
    munmap(probe, bytes);
    /* 128^3 and beta = 1 in column-major order keep the call off the paths
     * that need no buffer (the small-matrix kernels, and SkylakeX's direct
     * sgemm for row-major alpha = 1, beta = 0 products), so it maps it */
    enum { W = 128 };
    float *a = xcalloc((size_t)3 * W * W, sizeof(float));
    double before = memory_status_bytes("VmSize");
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, W, W, W, 1.0f, a, W, a + W * W, W, 1.0f,
                a + 2 * W * W, W);
    double grew = memory_status_bytes("VmSize") - before;
    xfree(a);
    /* only under a limit: without one the pool was not waited for above,
     * and a pool thread still starting maps its buffer meanwhile (a false
     * alarm, seen as 256 MiB), while nothing can spin anyway */
    if (limit > 0 && grew > BLAS_BUFFER_BYTES + 16 * MiB)
        fprintf(stderr, "warning: OpenBLAS mapped %.0f MiB on its first call, more than the %.0f MiB "
                "buffer the start-up check assumes: under a tight ulimit -v it may spin\n",
                grew / MiB, BLAS_BUFFER_BYTES / MiB);
}

int blas_fit_threads(int wanted, int local_ranks, int online_cpus, int allowed_cpus) {
    const int ranks = local_ranks < 1 ? 1 : local_ranks;
    int fit = online_cpus / ranks;
    if (allowed_cpus >= 1 && allowed_cpus < fit) fit = allowed_cpus;
    if (fit < 1) fit = 1;
    if (wanted < 1) wanted = 1;
    return wanted < fit ? wanted : fit;
}

void blas_set_threads(int n) {
    n = n < 1 ? 1 : n;
    cpu_set_t set;
    const int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    const int online = (int)sysconf(_SC_NPROCESSORS_ONLN), ranks = memory_local_ranks();
    const int fit = blas_fit_threads(n, ranks, online > 0 ? online : 1, allowed);
    if (fit < n)
        fprintf(stderr, "note: [run] blas_threads=%d: %d rank(s) on this node share %d CPUs (this "
                "one may run on %d), so each rank runs %d OpenBLAS thread(s): more would put two "
                "thread pools spinning on one core\n", n, ranks, online, allowed, fit);
    n = fit;
    openblas_set_num_threads(n);
    blas_reserve_or_die(n);
}

const char *blas_corename(void) { return openblas_get_corename(); }

void blas_describe(char *buf, size_t n) {
    char kern[128];
    kernel_describe(kern, sizeof kern);
    const char *ct = getenv("OPENBLAS_CORETYPE");
    const int threads = openblas_get_num_threads();
    snprintf(buf, n, "%s, OpenBLAS %s, OPENBLAS_CORETYPE %s, %d BLAS thread%s per rank", kern,
             blas_corename(), ct && *ct ? ct : "unset", threads, threads == 1 ? "" : "s");
}

/* The CPUs this process may run on, as ranges ("0-1", "0,2-3"). */
static void allowed_cpus(char *out, size_t n) {
    cpu_set_t set;
    out[0] = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        snprintf(out, n, "? (sched_getaffinity: %s)", strerror(errno));
        return;
    }
    size_t len = 0;
    for (int c = 0; c < CPU_SETSIZE && len < n; c++) {
        if (!CPU_ISSET(c, &set)) continue;
        int e = c;
        while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &set)) e++;
        len += (size_t)snprintf(out + len, n - len, e > c ? "%s%d-%d" : "%s%d", len ? "," : "", c, e);
        c = e;
    }
}

void blas_describe_threads(char *out, size_t n) {
    static const char *kind[] = {"sequential", "pthreads", "OpenMP"};
    const int par = openblas_get_parallel();
    int running;
    const int threads = other_threads(&running) + 1;
    char cpus[128];
    allowed_cpus(cpus, sizeof cpus);
    const char *ont = getenv("OPENBLAS_NUM_THREADS"), *omp = getenv("OMP_NUM_THREADS");
    snprintf(out, n, "OpenBLAS %s (%s build), %d thread%s; %d threads in the process; CPUs %s; "
             "OPENBLAS_NUM_THREADS=%s OMP_NUM_THREADS=%s", openblas_get_corename(),
             par >= 0 && par <= 2 ? kind[par] : "unknown", openblas_get_num_threads(),
             openblas_get_num_threads() == 1 ? "" : "s", threads, cpus, ont ? ont : "(unset)",
             omp ? omp : "(unset)");
}
