/* verifier_pool.c: the helper processes behind an external verifier:
 * spawn, pipes, one poll() loop, timeouts, restarts and the failure
 * streak that stops the run (the contract: verifier_pool.h). */
#include "verifier_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

enum {
    ERR_LINES = 10,     /* stderr lines kept for the message that stops the run */
    ERR_LINE_MAX = 240, /* each cut to this many bytes */
    WARN_RESTARTS = 3,  /* restarts warned about one by one; later ones only counted */
    MAX_RO_PATHS = 32
};

/* Swappable so that a build without the real sandbox still links (the
 * stub's sandbox_spawn fails with a message, which fails the request). */
typedef int (*SpawnFn)(const SandboxLimits *lim, const char *const argv[],
                       const char *const ro_paths[], ChildProc *out, char *err, size_t errlen);
static const SpawnFn sandboxed_spawn = sandbox_spawn;

typedef struct {
    int index;      /* for messages: process 0, 1, ... */
    ChildProc cp;
    int alive;      /* cp is a child we started and have not reaped */
    int own_group;  /* plain spawn: the child leads a process group, kill all of it */
    int in_open;    /* its stdin still takes writes (no EPIPE yet) */
    int replied;    /* it has replied since it started: its start is over */
    int *queue;     /* request indices in flight, oldest first: a ring of `pipeline` */
    int head, count;
    int sent;       /* queue entries written in full */
    size_t woff;    /* bytes written of entry `sent` */
    double since;   /* when the oldest in flight became the oldest */
    char *line;     /* stdout bytes not yet judged: VERIFIER_MAX_LINE + 1 */
    size_t len;
    char errpart[ERR_LINE_MAX]; /* the stderr line being read */
    size_t errlen;
    short rev_in, rev_out, rev_err; /* this poll round's events */
} Worker;

struct VerifierPool {
    VerifierPoolConfig cfg;
    char *command, *setting, *shell_cmd, *ro_buf;
    const char *ro_list[MAX_RO_PATHS + 1];
    Worker *w;
    char err_ring[ERR_LINES][ERR_LINE_MAX]; /* the program's last stderr lines */
    int err_next, err_count;
    int streak;                             /* failures in a row */
    int streak_by[VERIFIER_FAILURE_KINDS];  /* ... by kind */
    char last_failure[512];
    long restarts;
};

const char *verifier_outcome_name(VerifierOutcome o) {
    static const char *const names[VERIFIER_FAILURE_KINDS] = {"ok", "crash", "timeout",
                                                              "malformed", "wrong_id"};
    return o >= 0 && o < VERIFIER_FAILURE_KINDS ? names[o] : "unknown";
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s ? s : "") + 1;
    char *d = xmalloc(n);
    memcpy(d, s ? s : "", n);
    return d;
}

VerifierPool *verifier_pool_create(const VerifierPoolConfig *cfg) {
    CHECK(cfg->procs >= 1 && cfg->pipeline >= 1 && cfg->max_failures >= 1);
    VerifierPool *p = xcalloc(1, sizeof *p);
    p->cfg = *cfg;
    p->command = xstrdup(cfg->command);
    p->setting = xstrdup(cfg->setting ? cfg->setting : "verifier");
    p->cfg.command = p->command;
    p->cfg.setting = p->setting;
    /* exec: the shell becomes the program, so its pid is the program's */
    size_t n = strlen(p->command) + 6;
    p->shell_cmd = xmalloc(n);
    snprintf(p->shell_cmd, n, "exec %s", p->command);
    p->ro_buf = xstrdup(cfg->ro_paths);
    p->cfg.ro_paths = NULL;
    int k = 0;
    for (char *save = NULL, *s = strtok_r(p->ro_buf, ":", &save); s && k < MAX_RO_PATHS;
         s = strtok_r(NULL, ":", &save))
        p->ro_list[k++] = s;
    p->ro_list[k] = NULL;
    p->w = xcalloc((size_t)cfg->procs, sizeof *p->w);
    for (int i = 0; i < cfg->procs; i++) {
        p->w[i].index = i;
        p->w[i].queue = xcalloc((size_t)cfg->pipeline, sizeof(int));
        p->w[i].line = xmalloc(VERIFIER_MAX_LINE + 1);
        p->w[i].cp.err_fd = -1;
    }
    return p;
}

long verifier_pool_restarts(const VerifierPool *p) { return p->restarts; }

/* Seconds w's oldest request may wait for its reply. */
static double reply_timeout(const VerifierPool *p, const Worker *w) {
    return !w->replied && p->cfg.start_timeout > p->cfg.timeout ? p->cfg.start_timeout
                                                                : p->cfg.timeout;
}

/* ---- starting and stopping one process ---- */

/* fork + exec /bin/sh -c 'exec COMMAND' with three O_CLOEXEC pipes. The
 * child does only async-signal-safe work (the caller may have threads). */
static int spawn_plain(const char *shell_cmd, ChildProc *cp, char *err, size_t errlen) {
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(er, O_CLOEXEC)) {
        set_err(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        set_err(err, errlen, "fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* the actor killed: its verifiers go too */
        if (getppid() != parent) _exit(127);
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(er[1], 2) < 0) _exit(127);
        close_range(3, ~0U, 0); /* MPI's and BLAS's fds are not the program's */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execl("/bin/sh", "sh", "-c", shell_cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid); /* also here: kill(-pid) must work before the child ran */
    close(in[0]);
    close(out[1]);
    close(er[1]);
    *cp = (ChildProc){.pid = pid, .in_fd = in[1], .out_fd = out[0], .err_fd = er[0]};
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) close(in[i]);
        if (out[i] >= 0) close(out[i]);
        if (er[i] >= 0) close(er[i]);
    }
    return -1;
}

static void set_nonblocking(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static int worker_start(VerifierPool *p, Worker *w, char *err, size_t errlen) {
    int rc;
    if (p->cfg.sandbox) {
        const char *argv[] = {"/bin/sh", "-c", p->shell_cmd, NULL};
        rc = sandboxed_spawn(&p->cfg.limits, argv, p->ro_list, &w->cp, err, errlen);
        w->own_group = 0; /* the sandbox's PID namespace dies with its pid */
    } else {
        rc = spawn_plain(p->shell_cmd, &w->cp, err, errlen);
        w->own_group = 1;
    }
    if (rc != 0) return -1;
    set_nonblocking(w->cp.in_fd);
    set_nonblocking(w->cp.out_fd);
    set_nonblocking(w->cp.err_fd);
    w->alive = 1;
    w->in_open = 1;
    w->replied = 0;
    w->sent = 0;
    w->woff = 0;
    w->len = 0;
    w->errlen = 0;
    w->since = now_seconds();
    return 0;
}

static void push_err_line(VerifierPool *p, const char *s, size_t n) {
    if (n >= ERR_LINE_MAX) n = ERR_LINE_MAX - 1;
    memcpy(p->err_ring[p->err_next], s, n);
    p->err_ring[p->err_next][n] = '\0';
    p->err_next = (p->err_next + 1) % ERR_LINES;
    if (p->err_count < ERR_LINES) p->err_count++;
}

/* Reads what the program wrote on stderr into the ring of its last lines. */
static void worker_read_err(VerifierPool *p, Worker *w) {
    char buf[4096];
    while (w->cp.err_fd >= 0) {
        ssize_t k = read(w->cp.err_fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (k <= 0) { /* EOF or error: nothing more will come */
            close(w->cp.err_fd);
            w->cp.err_fd = -1;
            break;
        }
        for (ssize_t i = 0; i < k; i++) {
            if (buf[i] == '\n') {
                push_err_line(p, w->errpart, w->errlen);
                w->errlen = 0;
            } else if (w->errlen < ERR_LINE_MAX - 1) {
                w->errpart[w->errlen++] = buf[i];
            }
        }
    }
    if (w->errlen) push_err_line(p, w->errpart, w->errlen);
    w->errlen = 0;
}

/* After the process was reaped: kills what it left in its group, closes
 * the pipes, keeping what it wrote on stderr before its death (a
 * traceback is complete by then). */
static void worker_release(VerifierPool *p, Worker *w) {
    if (w->own_group) kill(-w->cp.pid, SIGKILL);
    if (w->cp.in_fd >= 0) close(w->cp.in_fd);
    close(w->cp.out_fd);
    worker_read_err(p, w);
    if (w->cp.err_fd >= 0) close(w->cp.err_fd);
    w->cp.err_fd = -1;
    w->alive = 0;
}

/* Kills (unless it already exited) and reaps the process, keeping what
 * it wrote on stderr. *exited gets 1 and *status its wait status if it had
 * ended on its own within grace seconds. */
static void worker_stop(VerifierPool *p, Worker *w, double grace, int *exited, int *status) {
    *exited = 0;
    if (!w->alive) return;
    pid_t pid = w->cp.pid;
    int st = 0;
    double until = now_seconds() + grace;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            *exited = 1;
            *status = st;
            break;
        }
        if (r < 0 && errno != EINTR) break;
        if (now_seconds() >= until) break;
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    if (!*exited) {
        /* the group too: a shell script's sleep, a program's own children */
        kill(w->own_group ? -pid : pid, SIGKILL);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    worker_release(p, w);
}

/* ---- failures ---- */

static void die_streak(const VerifierPool *p) {
    char kinds[256] = "", tail[ERR_LINES * (ERR_LINE_MAX + 8) + 64] = "";
    size_t o = 0;
    for (int k = 1; k < VERIFIER_FAILURE_KINDS; k++)
        if (p->streak_by[k])
            o += (size_t)snprintf(kinds + o, sizeof kinds - o, "%s%s x%d", o ? ", " : "",
                                  verifier_outcome_name((VerifierOutcome)k), p->streak_by[k]);
    o = 0;
    for (int i = 0; i < p->err_count; i++) {
        int j = (p->err_next - p->err_count + i + ERR_LINES) % ERR_LINES;
        o += (size_t)snprintf(tail + o, sizeof tail - o, "\n  | %s", p->err_ring[j]);
    }
    if (!p->err_count) snprintf(tail, sizeof tail, " (none: it wrote nothing on stderr)");
    die("%s = '%s' failed on %d requests in a row ([task] verifier_max_failures = %d: %s; "
        "last: %s), so the run stops: fix the program, or run it by hand with a request "
        "line on its stdin (the protocol: README, \"External verifiers\"). Its last stderr lines:%s",
        p->setting, p->command, p->streak, p->cfg.max_failures, kinds, p->last_failure, tail);
}

/* Counts a restart of w's process and says why: one line each for the
 * first WARN_RESTARTS, then only at 10, 100, 1000 ... restarts, so that a
 * flaky program does not flood the log. */
static void note_restart(VerifierPool *p, const Worker *w, const char *why) {
    p->restarts++;
    if (p->restarts <= WARN_RESTARTS)
        fprintf(stderr, "warning: %s '%s' (process %d): %s; restarting it%s\n", p->setting,
                p->command, w->index, why,
                p->restarts == WARN_RESTARTS ? " (further restarts are only counted)" : "");
    else
        for (long k = 10; k <= p->restarts; k *= 10)
            if (k == p->restarts)
                fprintf(stderr, "warning: %s '%s': %ld restarts so far (last: %s)\n", p->setting,
                        p->command, p->restarts, why);
}

/* Request `head` of w ended as why: record it, stop the process (the next
 * loop round starts a fresh one for the requests behind it), and stop the
 * run after max_failures in a row. */
static void worker_fail(VerifierPool *p, Worker *w, VerifierOutcome why, const char *detail,
                        VerifierOutcome *outcome, int *remaining) {
    int exited = 0, status = 0;
    worker_stop(p, w, why == VERIFIER_CRASH ? 0.2 : 0, &exited, &status);
    char how[160] = "";
    if (why == VERIFIER_CRASH && w->count > 0) {
        if (exited && WIFEXITED(status))
            snprintf(how, sizeof how, " (exit status %d)", WEXITSTATUS(status));
        else if (exited && WIFSIGNALED(status))
            snprintf(how, sizeof how, " (killed by signal %d)", WTERMSIG(status));
    }
    snprintf(p->last_failure, sizeof p->last_failure, "%s: %s%s", verifier_outcome_name(why),
             detail, how);
    if (w->count > 0) {
        outcome[w->queue[w->head]] = why;
        w->head = (w->head + 1) % p->cfg.pipeline;
        w->count--;
        (*remaining)--;
    }
    w->sent = 0;
    w->woff = 0;
    w->len = 0;
    p->streak++;
    p->streak_by[why]++;
    note_restart(p, w, p->last_failure);
    if (p->streak >= p->cfg.max_failures) die_streak(p);
}

/* ---- the poll loop's steps ---- */

/* Writes what w owes its process. SIGPIPE is blocked for this thread
 * (verifier_pool_run): a dead child gives EPIPE here (then EOF on its
 * stdout: a crash), never kills us. */
static void worker_write(VerifierPool *p, Worker *w, const char *const *req, const size_t *len) {
    while (w->in_open && w->sent < w->count) {
        int i = w->queue[(w->head + w->sent) % p->cfg.pipeline];
        ssize_t k = write(w->cp.in_fd, req[i] + w->woff, len[i] - w->woff);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (k < 0) {
            w->in_open = 0;
            break;
        }
        w->woff += (size_t)k;
        if (w->woff == len[i]) {
            w->sent++;
            w->woff = 0;
        }
    }
}

/* Judges the complete lines read so far; 0, or -1 if the worker failed. */
static int judge_lines(VerifierPool *p, Worker *w, VerifierReplyFn judge, void *ctx,
                       VerifierOutcome *outcome, int *remaining) {
    size_t start = 0;
    while (w->sent > 0) {
        char *nl = memchr(w->line + start, '\n', w->len - start);
        if (!nl) break;
        size_t n = (size_t)(nl - (w->line + start));
        if (n > 0 && w->line[start + n - 1] == '\r') n--;
        w->line[start + n] = '\0';
        int i = w->queue[w->head];
        VerifierOutcome o = judge(ctx, i, w->line + start, n);
        if (o != VERIFIER_OK) {
            worker_fail(p, w, o,
                        o == VERIFIER_WRONG_ID ? "replied for another request than the oldest "
                                                 "in flight"
                                               : "replied with a line that is not a valid reply",
                        outcome, remaining);
            return -1;
        }
        outcome[i] = VERIFIER_OK;
        w->replied = 1;
        w->head = (w->head + 1) % p->cfg.pipeline;
        w->count--;
        w->sent--;
        (*remaining)--;
        p->streak = 0;
        memset(p->streak_by, 0, sizeof p->streak_by);
        w->since = now_seconds();
        start = (size_t)(nl - w->line) + 1;
    }
    memmove(w->line, w->line + start, w->len - start);
    w->len -= start;
    return 0;
}

static void worker_read(VerifierPool *p, Worker *w, VerifierReplyFn judge, void *ctx,
                        VerifierOutcome *outcome, int *remaining) {
    const size_t cap = VERIFIER_MAX_LINE + 1;
    for (;;) {
        if (w->len == cap) {
            worker_fail(p, w, VERIFIER_MALFORMED, "replied with a line longer than 64 KiB",
                        outcome, remaining);
            return;
        }
        ssize_t k = read(w->cp.out_fd, w->line + w->len, cap - w->len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (k <= 0) {
            if (judge_lines(p, w, judge, ctx, outcome, remaining) != 0) return;
            if (w->count > 0) {
                worker_fail(p, w, VERIFIER_CRASH, "exited or closed its stdout before replying",
                            outcome, remaining);
            } else { /* it answered all it owed, then left: no request failed */
                int exited, status;
                worker_stop(p, w, 0.2, &exited, &status);
                note_restart(p, w, "ended after its last reply (no request failed)");
            }
            return;
        }
        w->len += (size_t)k;
        if (judge_lines(p, w, judge, ctx, outcome, remaining) != 0) return;
        if ((size_t)k < cap - w->len) return; /* a short read: drained (poll says if more) */
    }
}

void verifier_pool_run(VerifierPool *p, const char *const *requests, int n, VerifierReplyFn judge,
                       void *ctx, VerifierOutcome *outcome) {
    if (n <= 0) return;
    const int procs = p->cfg.procs, pipeline = p->cfg.pipeline;
    size_t *len = xmalloc(sizeof *len * (size_t)n);
    for (int i = 0; i < n; i++) len[i] = strlen(requests[i]);
    struct pollfd *pfd = xmalloc(sizeof *pfd * (size_t)(3 * procs));
    /* SIGPIPE blocked while we write to children (once per call, not per
     * write); one raised by a dead child is consumed before unblocking */
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    int next = 0, remaining = n;
    /* A process that ended while it owed nothing (between batches) has
     * failed no request: reap it and start a fresh one, rather than blame
     * the first request of this batch. */
    for (int k = 0; k < procs; k++) {
        Worker *w = &p->w[k];
        int st;
        if (w->alive && w->count == 0 && waitpid(w->cp.pid, &st, WNOHANG) == w->cp.pid) {
            worker_release(p, w);
            note_restart(p, w, "ended between requests (no request failed)");
        }
    }
    while (remaining > 0) {
        /* one request to each process in turn, so a small batch uses them all */
        for (int more = 1; more && next < n;) {
            more = 0;
            for (int k = 0; k < procs && next < n; k++) {
                Worker *w = &p->w[k];
                if (w->count >= pipeline) continue;
                if (w->count == 0) w->since = now_seconds();
                w->queue[(w->head + w->count) % pipeline] = next++;
                w->count++;
                more = 1;
            }
        }
        int failed = 0;
        for (int k = 0; k < procs; k++) {
            Worker *w = &p->w[k];
            if (w->count == 0 || w->alive) continue;
            char err[256] = "";
            if (worker_start(p, w, err, sizeof err) != 0) {
                char why[300];
                snprintf(why, sizeof why, "could not be started: %s", err);
                worker_fail(p, w, VERIFIER_CRASH, why, outcome, &remaining);
                failed = 1;
            }
        }
        if (failed) continue;
        /* poll: stdout of busy processes, stdin while requests wait, stderr always */
        int np = 0;
        double wait = -1, now = now_seconds();
        for (int k = 0; k < procs; k++) {
            Worker *w = &p->w[k];
            w->rev_in = w->rev_out = w->rev_err = 0;
            if (!w->alive) continue;
            if (w->in_open && w->sent < w->count) worker_write(p, w, requests, len);
            if (w->count > 0) {
                pfd[np++] = (struct pollfd){.fd = w->cp.out_fd, .events = POLLIN};
                if (w->in_open && w->sent < w->count)
                    pfd[np++] = (struct pollfd){.fd = w->cp.in_fd, .events = POLLOUT};
                double left = w->since + reply_timeout(p, w) - now;
                if (wait < 0 || left < wait) wait = left < 0 ? 0 : left;
            }
            if (w->cp.err_fd >= 0) pfd[np++] = (struct pollfd){.fd = w->cp.err_fd, .events = POLLIN};
        }
        int ms = wait < 0 ? -1 : (int)ceil(wait * 1000);
        int r = poll(pfd, (nfds_t)np, ms);
        if (r < 0 && errno != EINTR) die("%s: poll: %s", p->setting, strerror(errno));
        for (int i = 0; r > 0 && i < np; i++)
            for (int k = 0; k < procs; k++) {
                Worker *w = &p->w[k];
                if (!w->alive) continue;
                if (pfd[i].fd == w->cp.out_fd) w->rev_out = pfd[i].revents;
                if (pfd[i].fd == w->cp.in_fd) w->rev_in = pfd[i].revents;
                if (pfd[i].fd == w->cp.err_fd) w->rev_err = pfd[i].revents;
            }
        now = now_seconds();
        for (int k = 0; k < procs; k++) {
            Worker *w = &p->w[k];
            if (w->alive && w->rev_err) worker_read_err(p, w);
            if (w->alive && w->rev_out) worker_read(p, w, judge, ctx, outcome, &remaining);
            if (w->alive && w->rev_in) worker_write(p, w, requests, len);
            if (w->alive && w->count > 0 && now_seconds() - w->since >= reply_timeout(p, w)) {
                char why[128];
                snprintf(why, sizeof why, "no reply within %g s ([task] %s)", reply_timeout(p, w),
                         w->replied || p->cfg.start_timeout <= p->cfg.timeout
                             ? "verifier_timeout"
                             : "verifier_start_timeout: its first reply");
                worker_fail(p, w, VERIFIER_TIMEOUT, why, outcome, &remaining);
            }
        }
    }
    sigset_t pend;
    while (sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE) &&
           sigtimedwait(&pipe_set, NULL, &(struct timespec){0, 0}) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    xfree(pfd);
    xfree(len);
}

void verifier_pool_destroy(VerifierPool *p) {
    if (!p) return;
    for (int k = 0; k < p->cfg.procs; k++) {
        int exited, status;
        if (p->w[k].alive) { /* EOF on its stdin: the run is over, a moment to leave */
            close(p->w[k].cp.in_fd);
            p->w[k].cp.in_fd = -1;
        }
        worker_stop(p, &p->w[k], 0.1, &exited, &status);
        xfree(p->w[k].queue);
        xfree(p->w[k].line);
    }
    if (p->restarts > WARN_RESTARTS)
        fprintf(stderr, "%s '%s': restarted %ld times in all\n", p->setting, p->command,
                p->restarts);
    xfree(p->w);
    xfree(p->command);
    xfree(p->setting);
    xfree(p->shell_cmd);
    xfree(p->ro_buf);
    xfree(p);
}
