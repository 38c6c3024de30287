#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>


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

double peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return ru.ru_maxrss / 1024.0; /* kB on Linux */
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

int file_map(const char *path, void **map, size_t *len, char *err, size_t errlen) {
    *map = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    void *m = NULL;
    if (n > 0 && (m = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        set_err(err, errlen, "%s: cannot mmap %zu bytes: %s", path, n, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    *map = m;
    *len = n;
    return 0;
}

void file_unmap(void *map, size_t len) {
    if (map) munmap(map, len);
}
