#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int write_all_fd(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int atomic_file_write(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    size_t tn = strlen(path) + 32;
    char *tmp = xmalloc(tn);
    snprintf(tmp, tn, "%s.tmp.%ld", path, (long)getpid());
    const char *step = "open";
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) goto fail;
    step = "write";
    if (write_all_fd(fd, data, len)) goto fail;
    step = "fsync";
    if (fsync(fd)) goto fail;
    step = "close";
    int rc = close(fd);
    fd = -1;
    if (rc) goto fail;
    step = "rename";
    if (rename(tmp, path)) goto fail;
    xfree(tmp);
    return 0;
fail:;
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    set_err(err, errlen, "cannot write %s: %s of %s failed: %s", path, step, tmp, strerror(e));
    xfree(tmp);
    return -1;
}

/* ---- streamed writes ---- */

static int stream_fail(AtomicStream *s, const char *step, char *err, size_t errlen) {
    int e = errno;
    set_err(err, errlen, "cannot write %s: %s of %s failed: %s", s->path, step, s->tmp,
            strerror(e));
    atomic_stream_abort(s);
    return -1;
}

int atomic_stream_open(AtomicStream *s, const char *path, char *err, size_t errlen) {
    size_t n = strlen(path) + 1, tn = n + 32;
    s->path = xmalloc(n);
    memcpy(s->path, path, n);
    s->tmp = xmalloc(tn);
    snprintf(s->tmp, tn, "%s.tmp.%ld", path, (long)getpid());
    s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s->fd < 0) return stream_fail(s, "open", err, errlen);
    return 0;
}

int atomic_stream_write(AtomicStream *s, const void *data, size_t len, char *err, size_t errlen) {
    if (write_all_fd(s->fd, data, len)) return stream_fail(s, "write", err, errlen);
    return 0;
}

int atomic_stream_commit(AtomicStream *s, char *err, size_t errlen) {
    if (fsync(s->fd)) return stream_fail(s, "fsync", err, errlen);
    int rc = close(s->fd);
    s->fd = -1;
    if (rc) return stream_fail(s, "close", err, errlen);
    if (rename(s->tmp, s->path)) return stream_fail(s, "rename", err, errlen);
    xfree(s->path);
    xfree(s->tmp);
    s->path = s->tmp = NULL;
    return 0;
}

void atomic_stream_abort(AtomicStream *s) {
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    if (s->tmp) unlink(s->tmp);
    xfree(s->path);
    xfree(s->tmp);
    s->path = s->tmp = NULL;
}
