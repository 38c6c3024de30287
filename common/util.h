/* util.h: setup-error checks, timing, checksums, BLAS thread control.
 *
 * Two error policies (STYLE.md): setup errors (files, allocation, config)
 * stop the program through die()/the x* wrappers with a message naming what
 * failed and where; anything decoded from disk or another rank returns an
 * error code instead, so the caller can count and drop it. */
#ifndef COMMON_UTIL_H
#define COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Prints "file:line: message" to stderr and exits with status 1. */
void die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define die(...) die_at(__FILE__, __LINE__, __VA_ARGS__)

/* die() that leaves through _exit(1) after flushing stdio, skipping atexit
 * handlers and library destructors: for failures while an OpenBLAS pool
 * thread may be stuck retrying a failed buffer mmap, which OpenBLAS's
 * destructor would wait for forever. */
void die_now_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define die_now(...) die_now_at(__FILE__, __LINE__, __VA_ARGS__)

/* Always-on invariant check (internal bugs, not user errors). */
#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) die("internal invariant failed: %s", #cond);          \
    } while (0)

/* Allocation that never returns NULL (dies naming the caller's line).
 * Memory is 64-byte aligned so BLAS and vector loops get aligned rows. */
void *xmalloc_at(size_t n, const char *file, int line);
void *xcalloc_at(size_t count, size_t size, const char *file, int line);
#define xmalloc(n) xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(c, s) xcalloc_at((c), (s), __FILE__, __LINE__)
/* Frees memory from xmalloc/xcalloc (plain free() works too). */
void xfree(void *p);

/* fopen that dies with the path and strerror on failure. */
FILE *xfopen(const char *path, const char *mode);
/* Creates dir and its parents (mkdir -p); dies naming the path. */
void make_dirs_or_die(const char *dir);

/* Monotonic wall-clock seconds. */
double now_seconds(void);
/* This process's peak resident set so far (getrusage ru_maxrss), MiB. */
double peak_rss_mib(void);

/* CRC-32 (IEEE, reflected, as zlib) continued from crc (start with 0). */
uint32_t crc32_update(uint32_t crc, const void *data, size_t n);

/* 64-bit content hash (XXH3) of a byte range: the weight checksum. */
uint64_t hash64(const void *data, size_t n);

/* snprintf into a fixed error buffer; safe with err == NULL. */
/* Maps the regular file path read-only (model files are read in place, a
 * multi-GB one is not copied): 0 with *map (NULL for an empty file) and
 * *len, or -1 with err naming the path ("cannot open: ...", "not a
 * regular file", "cannot mmap N bytes: ..."). Release with file_unmap. */
int file_map(const char *path, void **map, size_t *len, char *err, size_t errlen);
void file_unmap(void *map, size_t len);

void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
