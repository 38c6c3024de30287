/* sandbox.c: the parent side of the sandbox (sandbox.h): prepares each
 * run, forks it (sandbox_child.c builds the sandbox and execs), and runs
 * one poll loop over every running job's pipes, enforcing the wall time
 * and the output cap.
 *
 * Which layer stops what:
 *   escape                          stopped by
 *   infinite loop                   RLIMIT_CPU (SIGXCPU, SIGKILL 1 s later); the wall time
 *   sleeping / blocking forever     the wall time: SIGKILL to the keeper kills the namespace
 *   fork bomb                       RLIMIT_NPROC of the run's own uid; the PID namespace
 *                                   (init's end kills every process of the run)
 *   memory bomb                     RLIMIT_AS (allocations fail: MemoryError)
 *   huge file                       RLIMIT_FSIZE (SIGXFSZ); the working tmpfs's size (dir_mb)
 *   printing gigabytes              the parent: stdout or stderr over output_kb kills the run
 *   writing outside its directory   read-only root and /usr, no host path but /usr mounted
 *   reading host files              mount namespace + pivot_root: /etc, /root, /work, /tmp
 *                                   of the host are not there
 *   network                         network namespace (no interface) and seccomp (only
 *                                   AF_UNIX sockets)
 *   signalling or tracing us        PID namespace (our pids do not exist there), its own
 *                                   uid, setsid, seccomp (ptrace, process_vm_*)
 *   privilege (setuid binaries,     setresuid to an unprivileged uid, no capabilities
 *   capabilities, kernel calls)     (bounding set dropped too), NO_NEW_PRIVS, nosuid
 *                                   mounts, seccomp (mount, unshare, bpf, modules, ...)
 *   inherited descriptors, env      close_range, execve with a fixed environment
 * kill/tkill/tgkill are left to the PID namespace and the distinct uid. */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_RO_PATHS = 16, MAX_PATH_LEN = 1024 };

/* Slots 0..SANDBOX_SLOTS-1 of this process in use (one bit each). */
static atomic_ullong slots_used;

static int slot_claim(void) {
    unsigned long long cur = atomic_load(&slots_used);
    for (;;) {
        if (cur == ~0ULL) return -1;
        int s = __builtin_ctzll(~cur);
        if (atomic_compare_exchange_weak(&slots_used, &cur, cur | (1ULL << s))) return s;
    }
}

static void slot_release(int s) { atomic_fetch_and(&slots_used, ~(1ULL << s)); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void set_error(SandboxResult *r, const char *fmt, const char *what, int err) {
    r->end = SANDBOX_SETUP_FAILED;
    snprintf(r->setup_error, sizeof r->setup_error, fmt, what, err ? strerror(err) : "");
}

static int check_job(const SandboxJob *j, SandboxResult *r) {
    if (!j->argv || !j->argv[0] || !j->argv[0][0])
        return set_error(r, "%s%s", "SandboxJob.argv is empty", 0), -1;
    for (int i = 0; i < j->n_files; i++) {
        const char *nm = j->files[i].name;
        if (!nm || !nm[0] || strchr(nm, '/') || !strcmp(nm, ".") || !strcmp(nm, "..") || strlen(nm) > 255)
            return set_error(r, "SandboxFile name '%s' is not a plain file name%s", nm ? nm : "(null)", 0),
                   -1;
    }
    return 0;
}

/* Everything the child needs, formatted here where allocating is fine. */
static void plan_init(SandboxPlan *p, const SandboxLimits *lim, int slot, const struct sock_fprog *filter) {
    memset(p, 0, sizeof *p);
    p->uid = SANDBOX_UID_BASE + (uid_t)getpid() * SANDBOX_SLOTS + (uid_t)slot;
    p->gid = p->uid;
    snprintf(p->dir_opts, sizeof p->dir_opts, "size=%dm,nr_inodes=4096,mode=0700,uid=%u,gid=%u", lim->dir_mb,
             (unsigned)p->uid, (unsigned)p->gid);
    /* RLIMIT_CPU counts whole seconds: a fraction rounds up */
    rlim_t cpu = (rlim_t)ceil(lim->cpu_seconds);
    p->limit_cpu = lim->cpu_seconds > 0;
    p->rl_cpu = (struct rlimit){cpu, cpu + 1};
    p->rl_as = (struct rlimit){(rlim_t)lim->memory_mb << 20, (rlim_t)lim->memory_mb << 20};
    p->rl_fsize = (struct rlimit){(rlim_t)lim->file_kb << 10, (rlim_t)lim->file_kb << 10};
    p->rl_nproc = (struct rlimit){(rlim_t)lim->max_procs, (rlim_t)lim->max_procs};
    p->rl_nofile = (struct rlimit){(rlim_t)lim->max_files, (rlim_t)lim->max_files};
    p->filter = filter;
    p->caller = getpid();
}

/* stdin as a sealed-size memfd: the program reads it like a file, and the
 * parent never blocks writing a pipe. */
static int stdin_fd(const SandboxJob *j) {
    int fd = memfd_create("sandbox-stdin", MFD_CLOEXEC);
    if (fd < 0) return -1;
    for (size_t off = 0; off < j->stdin_len;) {
        ssize_t w = write(fd, j->stdin_data + off, j->stdin_len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return close(fd), -1;
        off += (size_t)w;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* Forks the keeper with the child ends of the pipes; *fds gets the
 * parent's ends (stdin write or -1, stdout, stderr, report). */
static pid_t start(SandboxPlan *p, int child_in, int fds[4], SandboxResult *r) {
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, pr[2] = {-1, -1};
    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 || pipe2(pr, O_CLOEXEC) < 0) {
        set_error(r, "%s: %s", "pipe2", errno);
        int all[6] = {po[0], po[1], pe[0], pe[1], pr[0], pr[1]};
        for (int i = 0; i < 6; i++)
            if (all[i] >= 0) close(all[i]);
        return -1;
    }
    p->in_fd = child_in, p->out_fd = po[1], p->err_fd = pe[1], p->rep_fd = pr[1];
    pid_t pid = fork();
    if (pid == 0) sandbox_child(p);
    int err = errno;
    close(po[1]);
    close(pe[1]);
    close(pr[1]);
    fds[1] = po[0], fds[2] = pe[0], fds[3] = pr[0];
    if (pid < 0) {
        set_error(r, "%s: %s", "fork", err);
        for (int i = 1; i < 4; i++) close(fds[i]);
    }
    return pid;
}

/* A running job of sandbox_run_many. */
typedef struct {
    pid_t pid; /* the keeper; 0: not running */
    int fd[3]; /* stdout, stderr, report; -1 once at EOF */
    int slot;
    double t0;
    size_t out_cap, err_total;
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
    kill(run->pid, SIGKILL);
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
            size_t keep = r->out_len + (size_t)n > run->out_cap ? run->out_cap - r->out_len : (size_t)n;
            memcpy(r->out + r->out_len, buf, keep);
            r->out_len += keep;
            if (keep < (size_t)n) kill_run(run, SANDBOX_KILLED_OUTPUT);
        } else if (k == 1) {
            run->err_total += (size_t)n;
            for (ssize_t i = 0; i < n; i++) run->tail[run->tail_pos++ % (sizeof run->tail - 1)] = buf[i];
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
            snprintf(r->setup_error, sizeof r->setup_error, "%s: %s", run->setup.step, strerror(run->setup.err));
        else
            snprintf(r->setup_error, sizeof r->setup_error, "%s (wait status %d)", run->setup.step,
                     run->setup.wstatus);
    } else if (!run->have_status) {
        set_error(r, "%s%s", "the sandbox ended without reporting how its program ended", 0);
    } else if (WIFEXITED(run->status.wstatus)) {
        r->end = SANDBOX_EXITED;
        r->exit_code = WEXITSTATUS(run->status.wstatus);
    } else {
        int sig = WTERMSIG(run->status.wstatus);
        double cpu = run->status.cpu_usec * 1e-6;
        r->signal = sig;
        if (sig == SIGXCPU || (sig == SIGKILL && lim->cpu_seconds > 0 && cpu >= ceil(lim->cpu_seconds) - 0.01))
            r->end = SANDBOX_KILLED_CPU;
        else if (sig == SIGXFSZ)
            r->end = SANDBOX_KILLED_FILE_SIZE;
        else
            r->end = SANDBOX_SIGNALED;
    }
    /* the ring, oldest byte first */
    size_t cap = sizeof run->tail - 1, len = run->tail_pos < cap ? run->tail_pos : cap;
    for (size_t i = 0; i < len; i++) r->err_tail[i] = run->tail[(run->tail_pos - len + i) % cap];
    r->err_tail[len] = 0;
    r->out[r->out_len] = 0;
}

static void launch(const SandboxLimits *lim, const SandboxJob *j, const struct sock_fprog *filter, int slot,
                   Run *run, SandboxResult *r) {
    memset(run, 0, sizeof *run);
    run->slot = slot;
    run->out_cap = (size_t)lim->output_kb << 10;
    run->t0 = now_s();
    SandboxPlan plan;
    plan_init(&plan, lim, slot, filter);
    plan.argv = j->argv;
    plan.files = j->files;
    plan.n_files = j->n_files;
    int in = stdin_fd(j);
    if (in < 0) {
        set_error(r, "%s: %s", "memfd_create (stdin)", errno);
        return;
    }
    int fds[4];
    pid_t pid = start(&plan, in, fds, r);
    close(in);
    if (pid < 0) return;
    run->pid = pid;
    for (int k = 0; k < 3; k++) {
        run->fd[k] = fds[k + 1];
        fcntl(run->fd[k], F_SETFL, O_NONBLOCK);
    }
}

static void finish(const SandboxLimits *lim, Run *run, SandboxResult *r) {
    int st;
    while (waitpid(run->pid, &st, 0) < 0 && errno == EINTR) {
    }
    map_end(lim, run, r);
    r->wall_seconds = now_s() - run->t0;
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
        out[i].out = malloc(((size_t)lim->output_kb << 10) + 1);
        if (out[i].out) out[i].out[0] = 0;
    }
    int next = 0, running = 0;
    while (next < n || running > 0) {
        /* start jobs into free run slots while uids are available */
        for (int s = 0; s < conc && next < n; s++) {
            if (runs[s].pid) continue;
            SandboxResult *r = &out[next];
            int slot = -1;
            if (!runs || !job_of || !pfd || !r->out) {
                set_error(r, "%s%s", "out of memory", 0);
            } else if (!filter) {
                set_error(r, "%s%s", why, 0);
            } else if (check_job(&jobs[next], r) == 0 && (slot = slot_claim()) < 0) {
                if (running) break; /* wait for one of ours to end */
                set_error(r, "all %s sandbox uids of this process are in use%s", "64", 0);
            } else if (slot >= 0) {
                launch(lim, &jobs[next], filter, slot, &runs[s], r);
                if (runs[s].pid) {
                    job_of[s] = next++;
                    running++;
                    continue;
                }
                slot_release(slot);
            }
            next++;
        }
        if (!running) continue;
        int np = 0, timeout = -1;
        double t = now_s();
        for (int s = 0; s < conc; s++) {
            if (!runs[s].pid) continue;
            for (int k = 0; k < 3; k++)
                if (runs[s].fd[k] >= 0) pfd[np++] = (struct pollfd){.fd = runs[s].fd[k], .events = POLLIN};
            if (lim->wall_seconds > 0 && runs[s].killed == SANDBOX_EXITED) {
                int ms = (int)ceil((runs[s].t0 + lim->wall_seconds - t) * 1000);
                if (ms < 0) ms = 0;
                if (timeout < 0 || ms < timeout) timeout = ms;
            }
        }
        if (np) poll(pfd, (nfds_t)np, timeout);
        t = now_s();
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
                slot_release(run->slot);
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
        const char *who = geteuid() == 0 ? ""
                                         : "not root (the sandbox's unprivileged user-namespace path is not "
                                           "implemented); ";
        if (r.end == SANDBOX_SETUP_FAILED)
            snprintf(probe_why, sizeof probe_why, "%s/bin/true in a sandbox: %s", who, r.setup_error);
        else
            snprintf(probe_why, sizeof probe_why, "%s/bin/true in a sandbox ended %d (exit code %d, signal %d)",
                     who, (int)r.end, r.exit_code, r.signal);
    }
    sandbox_result_free(&r);
}

int sandbox_available(char *why, size_t whylen) {
    pthread_once(&probe_once, probe);
    if (why && whylen) snprintf(why, whylen, "%s", probe_why);
    return probe_ok;
}
