#include "run_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "util.h"

/* The whole-file write is shared with the actors' outputs, so it lives on
 * the ground floor (common/atomic_file.c). */
int run_file_write(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    return atomic_file_write(path, data, len, err, errlen);
}

int run_file_set_aside(const char *path, const char *suffix, char *out, size_t cap, char *err,
                       size_t errlen) {
    /* check, then rename: safe because the caller holds run.dir's lock, so
     * nothing else creates names there; and unlike link + unlink it works
     * on file systems without hard links */
    for (long i = 0;; i++) {
        int n = i == 0 ? snprintf(out, cap, "%s%s", path, suffix)
                       : snprintf(out, cap, "%s%s.%ld", path, suffix, i);
        if (n < 0 || (size_t)n >= cap) {
            set_err(err, errlen, "cannot move %s aside: name too long", path);
            return -1;
        }
        if (access(out, F_OK) != 0 && errno == ENOENT) break;
    }
    if (rename(path, out) != 0) {
        set_err(err, errlen, "cannot move %s aside to %s: %s", path, out, strerror(errno));
        return -1;
    }
    return 0;
}

/* Where the last complete line of fd (size bytes) ends: just after its
 * last '\n', or 0. Returns -1 on a read error. */
static off_t last_line_end(int fd, off_t size) {
    char buf[4096];
    off_t pos = size;
    while (pos > 0) {
        size_t n = pos < (off_t)sizeof buf ? (size_t)pos : sizeof buf;
        ssize_t r = pread(fd, buf, n, pos - (off_t)n);
        if (r != (ssize_t)n) return -1;
        for (size_t i = n; i > 0; i--)
            if (buf[i - 1] == '\n') return pos - (off_t)n + (off_t)i;
        pos -= (off_t)n;
    }
    return 0;
}

int linefile_open(LineFile *f, const char *path, int append, char *err, size_t errlen) {
    f->fd = -1;
    f->end = 0;
    f->path = xmalloc(strlen(path) + 1);
    strcpy(f->path, path);
    /* read access too when appending: the last line is checked */
    int fd = open(path, O_CREAT | O_CLOEXEC | (append ? O_RDWR : O_WRONLY | O_TRUNC), 0644);
    if (fd < 0) {
        set_err(err, errlen, "cannot open %s for writing: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        set_err(err, errlen, "cannot stat %s: %s", path, strerror(errno));
        close(fd);
        goto fail;
    }
    off_t end = st.st_size;
    if (append && end > 0) {
        end = last_line_end(fd, st.st_size);
        if (end < 0 || (end < st.st_size && ftruncate(fd, end) != 0)) {
            set_err(err, errlen, "cannot repair the incomplete last line of %s: %s", path,
                    strerror(errno));
            close(fd);
            goto fail;
        }
        if (end < st.st_size)
            fprintf(stderr, "warning: %s ended in an incomplete line (%lld bytes, from an "
                            "interrupted write); cut it off\n",
                    path, (long long)(st.st_size - end));
    }
    f->fd = fd;
    f->end = end;
    return 0;
fail:
    xfree(f->path);
    f->path = NULL;
    return -1;
}

int linefile_append(LineFile *f, const void *line, size_t len, char *err, size_t errlen) {
    /* one write(2) for the whole line: a reader (or a crash) never sees a
     * part of it unless the disk refuses the rest, and then it is cut */
    if (lseek(f->fd, f->end, SEEK_SET) < 0 || write_all_fd(f->fd, line, len) != 0) {
        int e = errno;
        if (ftruncate(f->fd, f->end) != 0)
            set_err(err, errlen,
                    "cannot append to %s: %s (and cutting the partial line back failed: %s)",
                    f->path, strerror(e), strerror(errno));
        else
            set_err(err, errlen, "cannot append to %s: %s (the file is cut back to its last "
                                 "complete line)",
                    f->path, strerror(e));
        return -1;
    }
    f->end += (off_t)len;
    return 0;
}

int linefile_sync(LineFile *f, char *err, size_t errlen) {
    if (f->fd >= 0 && fsync(f->fd) != 0) {
        set_err(err, errlen, "cannot write %s: fsync failed: %s", f->path, strerror(errno));
        return -1;
    }
    return 0;
}

int linefile_close(LineFile *f, char *err, size_t errlen) {
    if (f->fd < 0) return 0;
    int rc = linefile_sync(f, err, errlen);
    if (close(f->fd) != 0 && rc == 0) {
        set_err(err, errlen, "cannot write %s: close failed: %s", f->path, strerror(errno));
        rc = -1;
    }
    f->fd = -1;
    xfree(f->path);
    f->path = NULL;
    return rc;
}
