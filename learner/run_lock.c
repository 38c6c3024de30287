#include "run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "learner.h"
#include "util.h"

/* Describes the holder recorded in the lock file into out. */
static void describe_holder(int fd, char *out, size_t cap) {
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    long pid = 0;
    char host[256];
    if (sscanf(buf, "pid %ld host %255s", &pid, host) == 2)
        snprintf(out, cap, "pid %ld on host %s", pid, host);
    else /* the holder has locked but not yet written its name */
        snprintf(out, cap, "another process");
}

int run_lock_acquire(RunLock *l, const char *dir, char *err, size_t errlen) {
    char path[4096];
    l->fd = -1;
    if (snprintf(path, sizeof path, "%s/.lock", dir) >= (int)sizeof path) {
        set_err(err, errlen, "run.dir %s: path too long for its lock file", dir);
        return RUN_LOCK_ERROR;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        set_err(err, errlen, "run.dir %s: cannot create the lock file %s: %s", dir, path,
                strerror(errno));
        return RUN_LOCK_ERROR;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            char who[320];
            describe_holder(fd, who, sizeof who);
            set_err(err, errlen, "run.dir %s is in use by %s (lock file %s); use another run.dir",
                    dir, who, path);
            close(fd);
            return RUN_LOCK_BUSY;
        }
        set_err(err, errlen, "run.dir %s: cannot lock %s: %s", dir, path, strerror(e));
        close(fd);
        return RUN_LOCK_ERROR;
    }
    char host[256] = "unknown", line[320];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = 0;
    int n = snprintf(line, sizeof line, "pid %ld host %s\n", (long)getpid(), host);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n) {
        set_err(err, errlen, "run.dir %s: cannot write the lock file %s: %s", dir, path,
                strerror(errno));
        close(fd);
        return RUN_LOCK_ERROR;
    }
    l->fd = fd;
    return RUN_LOCK_OK;
}

void run_lock_release(RunLock *l) {
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
}

int run_lock_take(RunLock *l, const char *dir) {
    char err[1000];
    int lk = run_lock_acquire(l, dir, err, sizeof err);
    if (lk == RUN_LOCK_OK) return 0;
    fprintf(stderr, "error: %s\n", err);
    return lk == RUN_LOCK_BUSY ? EXIT_USAGE : EXIT_RUN_DIR;
}
