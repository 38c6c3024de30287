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
 *   privilege (setuid binaries,     setresuid to an unprivileged uid (not root: a user
 *   capabilities, kernel calls)     namespace's uid 1000), no capabilities (bounding
 *                                   set dropped too), NO_NEW_PRIVS, nosuid
 *                                   mounts, seccomp (mount, unshare, bpf, modules, ...)
 *   inherited descriptors, env      close_range, execve with a fixed environment
 * kill/tkill/tgkill are left to the PID namespace and the distinct uid. */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Slots 0..SANDBOX_SLOTS-1 of this process in use (one bit each). */
static atomic_ullong slots_used;

int sandbox_slot_claim(void) {
    unsigned long long cur = atomic_load(&slots_used);
    for (;;) {
        if (cur == ~0ULL) return -1;
        int s = __builtin_ctzll(~cur);
        if (atomic_compare_exchange_weak(&slots_used, &cur, cur | (1ULL << s))) return s;
    }
}

void sandbox_slot_release(int s) { atomic_fetch_and(&slots_used, ~(1ULL << s)); }

double sandbox_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void sandbox_set_error(SandboxResult *r, const char *fmt, const char *what, int err) {
    r->end = SANDBOX_SETUP_FAILED;
    snprintf(r->setup_error, sizeof r->setup_error, fmt, what, err ? strerror(err) : "");
}

static void clamp_hard(int res, struct rlimit *want) {
    struct rlimit cur;
    if (getrlimit(res, &cur) < 0 || cur.rlim_max == RLIM_INFINITY) return;
    if (want->rlim_max > cur.rlim_max) want->rlim_max = cur.rlim_max;
    if (want->rlim_cur > want->rlim_max) want->rlim_cur = want->rlim_max;
}

/* Everything the child needs, formatted here where allocating is fine. */
void sandbox_plan_init(SandboxPlan *p, const SandboxLimits *lim, int slot,
                       const struct sock_fprog *filter) {
    memset(p, 0, sizeof *p);
    p->userns = geteuid() != 0;
    if (p->userns) {
        p->uid = p->gid = SANDBOX_USERNS_ID;
        snprintf(p->uid_map, sizeof p->uid_map, "%u %u 1\n", SANDBOX_USERNS_ID,
                 (unsigned)geteuid());
        snprintf(p->gid_map, sizeof p->gid_map, "%u %u 1\n", SANDBOX_USERNS_ID,
                 (unsigned)getegid());
    } else {
        p->uid = SANDBOX_UID_BASE + (uid_t)getpid() * SANDBOX_SLOTS + (uid_t)slot;
        p->gid = p->uid;
    }
    snprintf(p->dir_opts, sizeof p->dir_opts, "size=%dm,nr_inodes=4096,mode=0700,uid=%u,gid=%u",
             lim->dir_mb, (unsigned)p->uid, (unsigned)p->gid);
    /* RLIMIT_CPU counts whole seconds: a fraction rounds up */
    rlim_t cpu = (rlim_t)ceil(lim->cpu_seconds);
    p->limit_cpu = lim->cpu_seconds > 0;
    p->rl_cpu = (struct rlimit){cpu, cpu + 1};
    p->rl_as = (struct rlimit){(rlim_t)lim->memory_mb << 20, (rlim_t)lim->memory_mb << 20};
    p->rl_fsize = (struct rlimit){(rlim_t)lim->file_kb << 10, (rlim_t)lim->file_kb << 10};
    p->rl_nproc = (struct rlimit){(rlim_t)lim->max_procs, (rlim_t)lim->max_procs};
    p->rl_nofile = (struct rlimit){(rlim_t)lim->max_files, (rlim_t)lim->max_files};
    if (p->userns) { /* without CAP_SYS_RESOURCE no hard limit can be raised */
        clamp_hard(RLIMIT_CPU, &p->rl_cpu);
        clamp_hard(RLIMIT_AS, &p->rl_as);
        clamp_hard(RLIMIT_FSIZE, &p->rl_fsize);
        clamp_hard(RLIMIT_NPROC, &p->rl_nproc);
        clamp_hard(RLIMIT_NOFILE, &p->rl_nofile);
    }
    p->filter = filter;
    p->caller = getpid();
}

/* Forks the keeper with the child ends of the pipes; *fds gets the
 * parent's ends (stdin write or -1, stdout, stderr, report). */
pid_t sandbox_start(SandboxPlan *p, int child_in, int fds[4], SandboxResult *r) {
    int pp[4][2]; /* stdout, stderr, report: the child writes; kill: the child reads */
    int made = 0;
    for (; made < 4; made++)
        if (pipe2(pp[made], O_CLOEXEC) < 0) break;
    if (made < 4) {
        sandbox_set_error(r, "%s: %s", "pipe2", errno);
        for (int i = 0; i < made; i++) close(pp[i][0]), close(pp[i][1]);
        return -1;
    }
    p->in_fd = child_in, p->out_fd = pp[0][1], p->err_fd = pp[1][1], p->rep_fd = pp[2][1];
    p->kill_fd = pp[3][0];
    pid_t pid = fork();
    if (pid == 0) sandbox_child(p);
    int err = errno;
    for (int i = 0; i < 3; i++) close(pp[i][1]);
    close(pp[3][0]);
    fds[0] = pp[3][1], fds[1] = pp[0][0], fds[2] = pp[1][0], fds[3] = pp[2][0];
    if (pid < 0) {
        sandbox_set_error(r, "%s: %s", "fork", err);
        for (int i = 0; i < 4; i++) close(fds[i]);
    }
    return pid;
}

