/* test_files.h: whole files in and out, and checkpoint weights compared,
 * for the tests (include it after cmocka.h). */
#ifndef TESTS_TEST_FILES_H
#define TESTS_TEST_FILES_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "util.h"

/* The whole file at path, malloc'd and NUL-terminated (so text can be
 * searched); *n (if n) its size. The test fails if it cannot be read. */
static inline void *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = xmalloc((size_t)sz + 1);
    assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
    b[sz] = '\0';
    fclose(f);
    if (n) *n = (size_t)sz;
    return b;
}

/* Writes n bytes of b as the file at path (created or truncated). */
static inline void spit(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot create %s: %s", path, strerror(errno));
    if (n) assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* 1 if the checkpoints at a and b hold byte-identical PARM sections. */
static inline int same_weights(const char *a, const char *b) {
    Checkpoint x, y;
    char err[600];
    if (ckpt_read(&x, a, err, sizeof err) != 0) fail_msg("%s", err);
    if (ckpt_read(&y, b, err, sizeof err) != 0) fail_msg("%s", err);
    const CkptSection *p = ckpt_get(&x, "PARM"), *q = ckpt_get(&y, "PARM");
    assert_non_null(p);
    assert_non_null(q);
    int same = p->len == q->len && memcmp(p->data, q->data, p->len) == 0;
    ckpt_free(&x);
    ckpt_free(&y);
    return same;
}

#endif
