#include "util.h"

#include <cblas.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

void die_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error (%s:%d): ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
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

static uint32_t crc_table[256];
static int crc_table_ready;

uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
    if (!crc_table_ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
        crc_table_ready = 1;
    }
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

uint64_t hash64(const void *data, size_t n) { return XXH3_64bits(data, n); }

void blas_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }

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
