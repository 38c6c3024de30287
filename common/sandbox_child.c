/* sandbox_child.c: the child side of one sandbox, from fork to exec.
 *
 * The caller is multithreaded (MPI, OpenBLAS), so after fork only
 * async-signal-safe calls are made here: no malloc, no stdio; every string
 * was prepared by the parent (SandboxPlan). Three processes:
 *
 *   keeper  the fork of the caller, in the caller's PID namespace: unshares
 *           the namespaces, forks init, waits for it, and kills it when the
 *           caller writes to (or closes) the kill pipe. It is what the
 *           caller tracks and reaps; SIGKILL to it kills init too
 *           (PR_SET_PDEATHSIG), and init's death kills everything in the
 *           PID namespace (fork bombs too).
 *   init    pid 1 of the new PID namespace: builds the root filesystem
 *           (sandbox_root.c), forks the program, reaps every orphan, reports the program's
 *           wait status and exits with it (which ends the namespace).
 *   program drops every privilege, sets the limits, execs.
 *
 * Every failure writes a REPORT_SETUP record (the step and errno) to fd 3,
 * the report pipe, and exits: the parent turns it into SANDBOX_SETUP_FAILED.
 * Identity changes use raw syscalls: glibc's setresuid() would try to
 * signal the caller's other threads, which do not exist in a fork. */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { PATH_CAP = 1100 };

static void set_limit(int res, const struct rlimit *rl, const char *step) {
    sandbox_must(setrlimit(res, rl), step);
}

__attribute__((noreturn)) static void exec_program(const SandboxPlan *p) {
    static char *const env[] = {
        "PATH=/usr/bin:/bin",
        "HOME=" SANDBOX_DIR,
        "LANG=C.UTF-8",
        "PYTHONDONTWRITEBYTECODE=1", /* the root is read-only: no __pycache__ attempts */
        "PYTHONHASHSEED=0",          /* set and dict order, hence output, is deterministic */
        NULL,
    };
    const char *prog = p->argv[0];
    char *const *argv = (char *const *)p->argv;
    if (strchr(prog, '/')) {
        execve(prog, argv, env);
        sandbox_fail("execve the program");
    }
    static const char *const dirs[] = {"/usr/bin/", "/bin/"};
    for (int i = 0; i < 2; i++) {
        char path[PATH_CAP];
        size_t dl = strlen(dirs[i]), pl = strlen(prog);
        if (dl + pl >= sizeof path) break;
        memcpy(path, dirs[i], dl);
        memcpy(path + dl, prog, pl + 1);
        execve(path, argv, env);
    }
    sandbox_fail("execve the program (searched /usr/bin:/bin)");
}

/* fds on entry: 0,1,2, 3 (report, close-on-exec), exec_w (close-on-exec:
 * init waits for it to close, i.e. for exec to have happened). */
__attribute__((noreturn)) static void run_program(const SandboxPlan *p, int exec_w) {
    if (exec_w != 4) {
        sandbox_must(dup3(exec_w, 4, O_CLOEXEC), "dup the exec pipe");
    }
    sandbox_must(close_range(5, ~0U, 0), "close_range");
    sandbox_must(fcntl(3, F_SETFD, FD_CLOEXEC), "set close-on-exec on the report pipe");
    sandbox_must(setsid(), "setsid");
    /* signals ignored or blocked by the caller (MPI's) stay so across exec */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL); /* EINVAL for KILL, STOP, glibc's own */
    sigset_t none;
    sigemptyset(&none);
    sandbox_must(sigprocmask(SIG_SETMASK, &none, NULL), "unblock signals");
    sandbox_must(chdir(SANDBOX_DIR), "chdir " SANDBOX_DIR);

    /* Limits while still root (raising a hard limit needs the privilege),
     * after everything that allocates. */
    struct rlimit zero = {0, 0};
    set_limit(RLIMIT_CORE, &zero, "setrlimit RLIMIT_CORE");
    if (p->limit_cpu) set_limit(RLIMIT_CPU, &p->rl_cpu, "setrlimit RLIMIT_CPU");
    set_limit(RLIMIT_AS, &p->rl_as, "setrlimit RLIMIT_AS");
    set_limit(RLIMIT_FSIZE, &p->rl_fsize, "setrlimit RLIMIT_FSIZE");
    set_limit(RLIMIT_NPROC, &p->rl_nproc, "setrlimit RLIMIT_NPROC");
    set_limit(RLIMIT_NOFILE, &p->rl_nofile, "setrlimit RLIMIT_NOFILE");

    /* the bounding set too, so that no exec can regain a capability */
    for (int c = 0; c < 64; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno == EINVAL) break;
    if (p->userns) {
        /* already its uid; the capabilities its namespace gave go */
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2];
        memset(d, 0, sizeof d);
        sandbox_must(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0),
                     "clear ambient capabilities");
        sandbox_must(syscall(SYS_capset, &h, d), "capset (drop all)");
    } else {
        sandbox_must(syscall(SYS_setgroups, 0, NULL), "setgroups(0)");
        sandbox_must(syscall(SYS_setresgid, p->gid, p->gid, p->gid), "setresgid");
        sandbox_must(syscall(SYS_setresuid, p->uid, p->uid, p->uid),
                     "setresuid"); /* clears all capabilities */
    }
    sandbox_must(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS");
    sandbox_must(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p->filter, 0, 0),
                 "install the seccomp filter");
    exec_program(p);
}

/* Python ignores SIGXFSZ, so a program over RLIMIT_FSIZE usually ends with
 * an OSError instead: after it ends, init looks for a file that reached
 * the limit in the working directory (and 3 levels below). */
static int dir_has_full_file(int dirfd, off_t limit, int depth) {
    char buf[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, dirfd, buf, sizeof buf);
        if (n <= 0) return 0;
        for (long off = 0; off < n;) {
            struct {
                unsigned long long ino;
                long long off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(buf + off);
            off += d->reclen;
            if (d->name[0] == '.' && (!d->name[1] || (d->name[1] == '.' && !d->name[2]))) continue;
            struct stat st;
            if (fstatat(dirfd, d->name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
            if (S_ISREG(st.st_mode) && st.st_size >= limit) return 1;
            if (S_ISDIR(st.st_mode) && depth < 3) {
                int sub = openat(dirfd, d->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0) continue;
                int full = dir_has_full_file(sub, limit, depth + 1);
                close(sub);
                if (full) return 1;
            }
        }
    }
}

__attribute__((noreturn)) static void run_init(const SandboxPlan *p, int alive_r) {
    /* the keeper's death (the caller's SIGKILL) kills init, hence all */
    sandbox_must(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "PR_SET_PDEATHSIG (init)");
    struct pollfd pf = {.fd = alive_r, .events = POLLIN};
    if (poll(&pf, 1, 0) > 0) _exit(0); /* hung up: the keeper died before the prctl */
    close(alive_r); /* SIGPIPE stays ignored, as the keeper set it */

    sandbox_build_root(p);

    int ep[2];
    sandbox_must(pipe2(ep, O_CLOEXEC), "pipe2 (exec)");
    pid_t prog = fork();
    sandbox_must(prog, "fork the program");
    if (prog == 0) {
        close(ep[0]);
        run_program(p, ep[1]);
    }
    close(ep[1]);
    char c;
    ssize_t r;
    do r = read(ep[0], &c, 1);
    while (r < 0 && errno == EINTR);
    close(ep[0]);
    sandbox_report(REPORT_EXECED, NULL, 0, 0, 0);
    close(0);
    close(1);
    close(2);
    for (;;) { /* reap orphans until the program itself ends */
        int st;
        struct rusage ru;
        pid_t w = wait4(-1, &st, 0, &ru);
        if (w < 0 && errno == EINTR) continue;
        sandbox_must(w, "wait4 (init)");
        if (w == prog) {
            long cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec +
                       ru.ru_stime.tv_usec;
            int dirfd = open(SANDBOX_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            int full = dirfd >= 0 && dir_has_full_file(dirfd, (off_t)p->rl_fsize.rlim_cur, 0);
            SandboxReport rec = {
                .kind = REPORT_STATUS, .wstatus = st, .cpu_usec = cpu, .file_full = full};
            sandbox_report_record(&rec);
            _exit(0); /* the kernel kills what is left in the namespace */
        }
    }
}

/* Waits for init while watching the kill pipe (fd 4): a byte on it, or
 * its hang-up (the caller exited), makes the keeper SIGKILL init. The
 * keeper outlives init, and init's exit completes only once every process
 * of its namespace is gone, so the caller reaping the keeper knows the run
 * left nothing behind. */
__attribute__((noreturn)) static void keep(pid_t init) {
    int pidfd =
        (int)syscall(SYS_pidfd_open, init, 0); /* init is our unreaped child: no pid reuse */
    if (pidfd < 0) {
        kill(init, SIGKILL);
        sandbox_fail("pidfd_open (keeper)");
    }
    struct pollfd pf[2] = {{.fd = 4, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
    int killed = 0;
    while (!killed) {
        if (poll(pf, 2, -1) < 0) continue; /* EINTR */
        if (pf[1].revents) break;
        if (pf[0].revents) kill(init, SIGKILL), killed = 1;
    }
    int st;
    pid_t w;
    do w = waitpid(init, &st, 0);
    while (w < 0 && errno == EINTR);
    if (w == init && WIFSIGNALED(st) && !killed) {
        errno = 0;
        sandbox_report(REPORT_SETUP, "sandbox init was killed", 0, st, 0);
    }
    _exit(0);
}

static void write_file(const char *path, const char *text, const char *step) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    sandbox_must(fd, step);
    size_t n = strlen(text);
    sandbox_must(write(fd, text, n) == (ssize_t)n ? 0 : -1, step);
    close(fd);
}

void sandbox_child(const SandboxPlan *p) {
    sandbox_report_to(p->rep_fd);
    /* Move the five ends to 0..4 through fds >= 10 (any of them may
     * already sit at 0..4), then close everything else the caller had. */
    int src[5] = {p->in_fd, p->out_fd, p->err_fd, p->rep_fd, p->kill_fd}, tmp[5];
    for (int i = 0; i < 5; i++) sandbox_must(tmp[i] = fcntl(src[i], F_DUPFD, 10), "dup the pipes");
    for (int i = 0; i < 5; i++) sandbox_must(dup2(tmp[i], i), "dup2 the pipes");
    sandbox_report_to(3);
    sandbox_must(close_range(5, ~0U, 0), "close_range");

    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, NULL); /* the caller's SIG_IGN would make wait4 fail */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, NULL); /* sandbox_spawn's caller closes the report pipe */

    sandbox_must(unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                         (p->userns ? CLONE_NEWUSER : 0)),
                 "unshare the namespaces");
    if (p->userns) {
        write_file("/proc/self/setgroups", "deny\n", "write /proc/self/setgroups");
        write_file("/proc/self/uid_map", p->uid_map, "write /proc/self/uid_map");
        write_file("/proc/self/gid_map", p->gid_map, "write /proc/self/gid_map");
    }
    int alive[2];
    sandbox_must(pipe2(alive, O_CLOEXEC), "pipe2 (keeper)");
    pid_t init = fork();
    sandbox_must(init, "fork init");
    if (init == 0) {
        close(alive[1]);
        close(4); /* the kill pipe is the keeper's */
        run_init(p, alive[0]);
    }
    close(alive[0]);
    close(0);
    close(1);
    close(2);
    keep(init);
}
