#include "util.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

#include "memory_limits.h"

static void print_error(const char *file, int line, const char *fmt, va_list ap) {
    fprintf(stderr, "error (%s:%d): ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void die_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_error(file, line, fmt, ap);
    va_end(ap);
    exit(1);
}

void die_now_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_error(file, line, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    _exit(1);
}

void *xmalloc_at(size_t n, const char *file, int line) {
    void *p = NULL;
    if (n == 0) n = 1;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded) != 0 || p == NULL)
        die_at(file, line, "out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc_at(size_t count, size_t size, const char *file, int line) {
    if (size != 0 && count > SIZE_MAX / size)
        die_at(file, line, "allocation overflow: %zu x %zu", count, size);
    void *p = xmalloc_at(count * size, file, line);
    memset(p, 0, count * size);
    return p;
}

void xfree(void *p) { free(p); }

FILE *xfopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f) {
        fprintf(stderr, "error: cannot open '%s' (mode %s): %s\n", path, mode,
                strerror(errno));
        exit(1);
    }
    return f;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* zlib's CRC-32 (the IEEE polynomial, as the checkpoint format records):
 * the same values as a table-driven loop, several times faster on large
 * buffers, and no table of our own to initialise. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = data;
    uLong c = crc;
    while (n > 0) { /* zlib takes a uInt length */
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

uint64_t hash64(const void *data, size_t n) { return XXH3_64bits(data, n); }

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
    if (grew > BLAS_BUFFER_BYTES + 16 * MiB)
        fprintf(stderr, "warning: OpenBLAS mapped %.0f MiB on its first call, more than the %.0f MiB "
                "buffer the start-up check assumes: under a tight ulimit -v it may spin\n",
                grew / MiB, BLAS_BUFFER_BYTES / MiB);
}

void blas_set_threads(int n) {
    n = n < 1 ? 1 : n;
    openblas_set_num_threads(n);
    blas_reserve_or_die(n);
}

const char *blas_corename(void) { return openblas_get_corename(); }

void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void make_dirs_or_die(const char *dir) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) die("path too long: %s", dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                die("cannot create directory '%s': %s", path, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
}
