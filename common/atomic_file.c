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
