/* sandbox_spawn.c: a long-lived sandboxed child with pipes to it (an
 * external verifier): the same sandbox as sandbox_run_many, without CPU
 * or wall limits, with the caller's read-only paths bound inside. */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_RO_PATHS = 16, MAX_PATH_LEN = 1024, SPAWN_SETUP_MS = 30000 };

static int under(const char *p, const char *dir) {
    size_t n = strlen(dir);
    return !strncmp(p, dir, n) && (p[n] == 0 || p[n] == '/');
}

/* Copies the ro_paths to bind into keep (NULL-terminated), leaving out
 * /usr and below (already there, read-only). -1 with err naming the path
 * if one is not absolute, has a ".." component, or would hide the
 * sandbox's own /proc, /dev or working directory. */
static int pick_ro_paths(const char *const ro[], const char *keep[MAX_RO_PATHS + 1], char *err,
                         size_t errlen) {
    int n = 0;
    for (int i = 0; ro && ro[i]; i++) {
        const char *p = ro[i];
        const char *why = NULL;
        if (p[0] != '/' || !p[1]) why = "is not an absolute path below /";
        else if (strlen(p) >= MAX_PATH_LEN) why = "is too long";
        else if (strstr(p, "/../") || (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")))
            why = "has a '..' component";
        else if (under(p, "/proc") || under(p, "/dev") || under(p, SANDBOX_DIR))
            why = "would cover the sandbox's own /proc, /dev or " SANDBOX_DIR;
        else if (n == MAX_RO_PATHS) why = "is one more than the 16 read-only paths allowed";
        if (why) return snprintf(err, errlen, "sandbox_spawn: read-only path '%s' %s", p, why), -1;
        if (!under(p, "/usr")) keep[n++] = p;
    }
    keep[n] = NULL;
    return 0;
}

/* Blocks until the child execs (REPORT_EXECED) or fails (REPORT_SETUP). */
static int wait_exec(int rep, char *err, size_t errlen) {
    SandboxReport rec;
    size_t have = 0;
    double t0 = sandbox_now();
    for (;;) {
        int left = SPAWN_SETUP_MS - (int)((sandbox_now() - t0) * 1000);
        struct pollfd pf = {.fd = rep, .events = POLLIN};
        if (left <= 0 || poll(&pf, 1, left) == 0)
            return snprintf(err, errlen, "sandbox_spawn: the sandbox was not built within %d s",
                            SPAWN_SETUP_MS / 1000),
                   -1;
        ssize_t n = read(rep, (char *)&rec + have, sizeof rec - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return snprintf(err, errlen, "sandbox_spawn: the sandbox ended while being built"), -1;
        if ((have += (size_t)n) < sizeof rec) continue;
        have = 0;
        if (rec.kind == REPORT_SETUP)
            return snprintf(err, errlen, "sandbox_spawn: %s: %s", rec.step,
                            rec.err ? strerror(rec.err) : "failed"),
                   -1;
        if (rec.kind == REPORT_EXECED) return 0;
    }
}

int sandbox_spawn(const SandboxLimits *lim, const char *const argv[], const char *const ro_paths[],
                  ChildProc *out, char *err, size_t errlen) {
    const char *keep[MAX_RO_PATHS + 1];
    if (!argv || !argv[0] || !argv[0][0])
        return snprintf(err, errlen, "sandbox_spawn: argv is empty"), -1;
    if (pick_ro_paths(ro_paths, keep, err, errlen) < 0) return -1;
    char why[200];
    const struct sock_fprog *filter = sandbox_filter(why, sizeof why);
    if (!filter) return snprintf(err, errlen, "sandbox_spawn: %s", why), -1;
    /* The slot (its uid) stays taken for the life of the process: we do
     * not learn when the caller reaps the child. */
    int slot = sandbox_slot_claim();
    if (slot < 0)
        return snprintf(err, errlen,
                        "sandbox_spawn: all %d sandbox uids of this process are in use",
                        SANDBOX_SLOTS),
               -1;
    SandboxPlan plan;
    sandbox_plan_init(&plan, lim, slot, filter);
    plan.limit_cpu = 0; /* a verifier lives for the whole run */
    plan.argv = argv;
    plan.ro_paths = keep;
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0) {
        sandbox_slot_release(slot);
        return snprintf(err, errlen, "sandbox_spawn: pipe2: %s", strerror(errno)), -1;
    }
    SandboxResult r;
    memset(&r, 0, sizeof r);
    int fds[4];
    pid_t pid = sandbox_start(&plan, in[0], fds, &r);
    close(in[0]);
    if (pid < 0) {
        close(in[1]);
        sandbox_slot_release(slot);
        return snprintf(err, errlen, "sandbox_spawn: %s", r.setup_error), -1;
    }
    int rc = wait_exec(fds[3], err, errlen);
    close(fds[3]);
    if (rc < 0) {
        close(fds[0]); /* the keeper kills init and ends */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        close(in[1]);
        close(fds[1]);
        close(fds[2]);
        sandbox_slot_release(slot);
        return -1;
    }
    *out = (ChildProc){
        .pid = pid, .in_fd = in[1], .out_fd = fds[1], .err_fd = fds[2], .ctl_fd = fds[0]};
    return 0;
}
