/* sandbox_run.c: sandbox_run_many, one poll loop over the pipes of every
 * running job: it collects stdout and the stderr tail, kills a run over
 * its wall time or output cap, and maps how each ended (SandboxEnd);
 * and sandbox_available, which runs one. */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { OUT_START = 4096 }; /* stdout buffer before it grows (output_kb may be large) */

static int check_job(const SandboxJob *j, SandboxResult *r) {
    if (!j->argv || !j->argv[0] || !j->argv[0][0])
        return sandbox_set_error(r, "%s%s", "SandboxJob.argv is empty", 0), -1;
    for (int i = 0; i < j->n_files; i++) {
        const char *nm = j->files[i].name;
        if (!nm || !nm[0] || strchr(nm, '/') || !strcmp(nm, ".") || !strcmp(nm, "..") ||
            strlen(nm) > 255)
            return sandbox_set_error(r, "SandboxFile name '%s' is not a plain file name%s",
                                     nm ? nm : "(null)", 0),
                   -1;
    }
    return 0;
}

/* stdin as a memfd: the program reads it like a file (EOF at its end),
 * and the parent never blocks writing a pipe. */
static int stdin_fd(const SandboxJob *j) {
    int fd = memfd_create("sandbox-stdin", MFD_CLOEXEC);
    if (fd < 0) return -1;
    for (size_t off = 0; j->stdin_data && off < j->stdin_len;) {
        ssize_t w = write(fd, j->stdin_data + off, j->stdin_len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return close(fd), -1;
        off += (size_t)w;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* A running job of sandbox_run_many. */
typedef struct {
    pid_t pid; /* the keeper; 0: not running */
    int fd[3]; /* stdout, stderr, report; -1 once at EOF */
    int kill_fd; /* closing it makes the keeper kill the run; -1 once closed */
    int slot;
    double t0;
    size_t out_cap, out_alloc, err_total; /* out_alloc: r->out holds out_alloc + 1 bytes */
    SandboxEnd killed; /* SANDBOX_KILLED_WALL / _OUTPUT, or SANDBOX_EXITED */
    int have_setup, have_status;
    SandboxReport setup, status;
    unsigned char rep[sizeof(SandboxReport)];
    size_t rep_len;
    char tail[sizeof ((SandboxResult *)0)->err_tail]; /* ring of the last stderr bytes */
    size_t tail_pos;
} Run;

static void kill_run(Run *run, SandboxEnd why) {
    if (run->killed == SANDBOX_EXITED) run->killed = why;
    if (run->kill_fd >= 0) close(run->kill_fd); /* closing, not writing: no SIGPIPE if it is gone */
    run->kill_fd = -1;
}

static void on_report(Run *run) {
    SandboxReport rec;
    memcpy(&rec, run->rep, sizeof rec);
    if (rec.kind == REPORT_SETUP && !run->have_setup) run->setup = rec, run->have_setup = 1;
    if (rec.kind == REPORT_STATUS) run->status = rec, run->have_status = 1;
}

/* Reads what fd k of run has; closes it at EOF. */
static void drain(Run *run, int k, SandboxResult *r) {
    char buf[16384];
    for (;;) {
        ssize_t n = read(run->fd[k], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return; /* EAGAIN */
        if (n == 0) {
            close(run->fd[k]);
            run->fd[k] = -1;
            return;
        }
        if (k == 0) {
            size_t keep =
                r->out_len + (size_t)n > run->out_cap ? run->out_cap - r->out_len : (size_t)n;
            if (r->out_len + keep > run->out_alloc) { /* grow by doubling up to the cap */
                size_t a =
                    run->out_alloc * 2 > r->out_len + keep ? run->out_alloc * 2 : r->out_len + keep;
                if (a > run->out_cap) a = run->out_cap;
                char *grown = realloc(r->out, a + 1);
                if (!grown) {
                    kill_run(run, SANDBOX_KILLED_OUTPUT); /* what it printed cannot be kept */
                    continue;
                }
                r->out = grown;
                run->out_alloc = a;
            }
            memcpy(r->out + r->out_len, buf, keep);
            r->out_len += keep;
            if (keep < (size_t)n) kill_run(run, SANDBOX_KILLED_OUTPUT);
        } else if (k == 1) {
            run->err_total += (size_t)n;
            for (ssize_t i = 0; i < n; i++)
                run->tail[run->tail_pos++ % (sizeof run->tail - 1)] = buf[i];
            if (run->err_total > run->out_cap) kill_run(run, SANDBOX_KILLED_OUTPUT);
        } else {
            for (ssize_t i = 0; i < n; i++) {
                run->rep[run->rep_len++] = (unsigned char)buf[i];
                if (run->rep_len == sizeof run->rep) on_report(run), run->rep_len = 0;
            }
        }
    }
}

static void map_end(const SandboxLimits *lim, Run *run, SandboxResult *r) {
    if (run->killed == SANDBOX_KILLED_OUTPUT || (run->killed && !run->have_status)) {
        r->end = run->killed;
        r->signal = SIGKILL;
    } else if (run->have_setup) {
        r->end = SANDBOX_SETUP_FAILED;
        if (run->setup.err)
            snprintf(r->setup_error, sizeof r->setup_error, "%s: %s", run->setup.step,
                     strerror(run->setup.err));
        else
            snprintf(r->setup_error, sizeof r->setup_error, "%s (wait status %d)", run->setup.step,
                     run->setup.wstatus);
    } else if (!run->have_status) {
        sandbox_set_error(r, "%s%s", "the sandbox ended without reporting how its program ended",
                          0);
    } else if (WIFEXITED(run->status.wstatus)) {
        r->end = SANDBOX_EXITED;
        r->exit_code = WEXITSTATUS(run->status.wstatus);
    } else {
        int sig = WTERMSIG(run->status.wstatus);
        double cpu = run->status.cpu_usec * 1e-6;
        r->signal = sig;
        if (sig == SIGXCPU ||
            (sig == SIGKILL && lim->cpu_seconds > 0 && cpu >= ceil(lim->cpu_seconds) - 0.01))
            r->end = SANDBOX_KILLED_CPU;
        else if (sig == SIGXFSZ || run->status.file_full)
            r->end = SANDBOX_KILLED_FILE_SIZE;
        else
            r->end = SANDBOX_SIGNALED;
    }
    /* Python ignores SIGXFSZ: a failed program that filled a file to the
     * limit was stopped by it all the same */
    if (r->end == SANDBOX_EXITED && r->exit_code != 0 && run->status.file_full)
        r->end = SANDBOX_KILLED_FILE_SIZE;
    /* the ring, oldest byte first */
    size_t cap = sizeof run->tail - 1, len = run->tail_pos < cap ? run->tail_pos : cap;
    for (size_t i = 0; i < len; i++) r->err_tail[i] = run->tail[(run->tail_pos - len + i) % cap];
    r->err_tail[len] = 0;
    r->out[r->out_len] = 0;
}

static void launch(const SandboxLimits *lim, const SandboxJob *j, const struct sock_fprog *filter,
                   int slot, Run *run, SandboxResult *r) {
    memset(run, 0, sizeof *run);
    run->kill_fd = -1;
    run->slot = slot;
    run->out_cap = (size_t)lim->output_kb << 10;
    run->out_alloc = OUT_START;
    run->t0 = sandbox_now();
    SandboxPlan plan;
    sandbox_plan_init(&plan, lim, slot, filter);
    plan.argv = j->argv;
    plan.files = j->files;
    plan.n_files = j->n_files;
    int in = stdin_fd(j);
    if (in < 0) {
        sandbox_set_error(r, "%s: %s", "memfd_create (stdin)", errno);
        return;
    }
    int fds[4];
    pid_t pid = sandbox_start(&plan, in, fds, r);
    close(in);
    if (pid < 0) return;
    run->pid = pid;
    run->kill_fd = fds[0];
    r->uid = plan.userns ? (unsigned)geteuid() : (unsigned)plan.uid; /* as /proc shows it */
    for (int k = 0; k < 3; k++) {
        run->fd[k] = fds[k + 1];
        fcntl(run->fd[k], F_SETFL, O_NONBLOCK);
    }
}

static void finish(const SandboxLimits *lim, Run *run, SandboxResult *r) {
    int st;
    while (waitpid(run->pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (run->kill_fd >= 0) close(run->kill_fd);
    run->kill_fd = -1;
    map_end(lim, run, r);
    r->wall_seconds = sandbox_now() - run->t0;
    run->pid = 0;
}

void sandbox_run_many(const SandboxLimits *lim, const SandboxJob *jobs, int n, SandboxResult *out) {
    char why[200];
    const struct sock_fprog *filter = sandbox_filter(why, sizeof why);
    int conc = lim->jobs < 1 ? 1 : lim->jobs > SANDBOX_SLOTS ? SANDBOX_SLOTS : lim->jobs;
    Run *runs = calloc((size_t)conc, sizeof *runs);
    int *job_of = calloc((size_t)conc, sizeof *job_of);
    struct pollfd *pfd = calloc((size_t)conc * 3, sizeof *pfd);
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].out = malloc(OUT_START + 1);
        if (out[i].out) out[i].out[0] = 0;
        if (!runs || !job_of || !pfd || !out[i].out)
            sandbox_set_error(&out[i], "%s%s", "out of memory", 0);
    }
    if (!runs || !job_of || !pfd) n = 0; /* every job failed above */
    int next = 0, running = 0;
    while (next < n || running > 0) {
        /* start jobs into free run slots while uids are available */
        for (int s = 0; s < conc && next < n; s++) {
            if (runs[s].pid) continue;
            SandboxResult *r = &out[next];
            int slot = -1;
            if (!r->out) {
                /* out of memory: said above */
            } else if (!filter) {
                sandbox_set_error(r, "%s%s", why, 0);
            } else if (check_job(&jobs[next], r) == 0 && (slot = sandbox_slot_claim()) < 0) {
                if (running) break; /* wait for one of ours to end */
                r->end = SANDBOX_SETUP_FAILED;
                snprintf(r->setup_error, sizeof r->setup_error,
                         "all %d sandbox uids of this process are in use (by sandbox_spawn "
                         "children or other "
                         "threads' runs)",
                         SANDBOX_SLOTS);
            } else if (slot >= 0) {
                launch(lim, &jobs[next], filter, slot, &runs[s], r);
                if (runs[s].pid) {
                    job_of[s] = next++;
                    running++;
                    continue;
                }
                sandbox_slot_release(slot);
            }
            next++;
        }
        if (!running) continue;
        int np = 0, timeout = -1;
        double t = sandbox_now();
        for (int s = 0; s < conc; s++) {
            if (!runs[s].pid) continue;
            for (int k = 0; k < 3; k++)
                if (runs[s].fd[k] >= 0)
                    pfd[np++] = (struct pollfd){.fd = runs[s].fd[k], .events = POLLIN};
            if (lim->wall_seconds > 0 && runs[s].killed == SANDBOX_EXITED && !runs[s].have_status) {
                int ms = (int)ceil((runs[s].t0 + lim->wall_seconds - t) * 1000);
                if (ms < 0) ms = 0;
                if (timeout < 0 || ms < timeout) timeout = ms;
            }
        }
        if (np) poll(pfd, (nfds_t)np, timeout);
        t = sandbox_now();
        for (int s = 0; s < conc; s++) {
            Run *run = &runs[s];
            if (!run->pid) continue;
            SandboxResult *r = &out[job_of[s]];
            for (int k = 0; k < 3; k++)
                if (run->fd[k] >= 0) drain(run, k, r);
            if (lim->wall_seconds > 0 && !run->have_status && t - run->t0 >= lim->wall_seconds)
                kill_run(run, SANDBOX_KILLED_WALL);
            if (run->fd[0] < 0 && run->fd[1] < 0 && run->fd[2] < 0) {
                finish(lim, run, r); /* every writer gone: the keeper is ending */
                sandbox_slot_release(run->slot);
                running--;
            }
        }
    }
    free(runs);
    free(job_of);
    free(pfd);
}

void sandbox_result_free(SandboxResult *r) {
    free(r->out);
    r->out = NULL;
    r->out_len = 0;
}

/* ---- sandbox_available: one real run, once per process ---- */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_ok;
static char probe_why[400];

static void probe(void) {
    SandboxLimits lim;
    sandbox_limits_default(&lim);
    static const char *const argv[] = {"/bin/true", NULL};
    SandboxJob job = {.argv = argv};
    SandboxResult r;
    sandbox_run_many(&lim, &job, 1, &r);
    probe_ok = r.end == SANDBOX_EXITED && r.exit_code == 0;
    if (probe_ok) {
        snprintf(probe_why, sizeof probe_why, "ok");
    } else {
        const char *who = geteuid() == 0
                              ? ""
                              : "not root, so it needs unprivileged user namespaces "
                                "(user.max_user_namespaces, kernel.unprivileged_userns_clone); ";
        if (r.end == SANDBOX_SETUP_FAILED)
            snprintf(probe_why, sizeof probe_why, "%s/bin/true in a sandbox: %s", who,
                     r.setup_error);
        else
            snprintf(probe_why, sizeof probe_why,
                     "%s/bin/true in a sandbox ended %d (exit code %d, signal %d)", who, (int)r.end,
                     r.exit_code, r.signal);
    }
    sandbox_result_free(&r);
}

int sandbox_available(char *why, size_t whylen) {
    pthread_once(&probe_once, probe);
    if (why && whylen) snprintf(why, whylen, "%s", probe_why);
    return probe_ok;
}
