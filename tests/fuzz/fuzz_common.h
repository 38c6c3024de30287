/* fuzz_common.h: helpers shared by the libFuzzer targets (tests/fuzz).
 *
 * A target that finds a broken property calls FUZZ_REQUIRE, which prints
 * the property and aborts: libFuzzer then saves the input as a crash
 * reproducer. Scratch files live in one directory under /tmp only. */
#ifndef TESTS_FUZZ_COMMON_H
#define TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Aborts (a libFuzzer crash) if cond is false, naming the property. */
#define FUZZ_REQUIRE(cond)                                                          \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                         \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* Path of this process's scratch file with the given suffix, in $TMPDIR
 * when that lies under /tmp, else in /tmp (never anywhere else). Returns a
 * static buffer, fixed for the life of the process. */
static char fuzz_scratch_buf[512];
static inline void fuzz_scratch_unlink(void) { unlink(fuzz_scratch_buf); }
static inline const char *fuzz_scratch_path(const char *suffix) {
    char *path = fuzz_scratch_buf;
    if (!path[0]) {
        const char *d = getenv("TMPDIR");
        if (!d || strncmp(d, "/tmp/", 5) != 0 || strstr(d, "..") || strlen(d) > 400) d = "/tmp";
        snprintf(path, sizeof fuzz_scratch_buf, "%s/grpo_fuzz.%ld%s", d, (long)getpid(),
                 suffix);
        atexit(fuzz_scratch_unlink);
    }
    return path;
}

/* Writes the n bytes at data to the scratch file; aborts if it cannot (a
 * broken harness, not a finding). */
static inline const char *fuzz_write_scratch(const char *suffix, const void *data, size_t n) {
    const char *path = fuzz_scratch_path(suffix);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* 1 if err holds a non-empty, NUL-terminated message within errlen bytes. */
static inline int fuzz_err_ok(const char *err, size_t errlen) {
    return err[0] != '\0' && memchr(err, '\0', errlen) != NULL;
}

#endif
