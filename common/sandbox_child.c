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
 *   init    pid 1 of the new PID namespace: builds the root filesystem,
 *           forks the program, reaps every orphan, reports the program's
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
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_RO = 16, PATH_CAP = 1100 };

static int report_fd = -1; /* this process's copy of the report pipe */

static void report(int kind, const char *step, int err, int wstatus, long cpu_usec) {
    SandboxReport r = {.kind = kind, .step = step, .err = err, .wstatus = wstatus, .cpu_usec = cpu_usec};
    ssize_t w;
    do w = write(report_fd, &r, sizeof r);
    while (w < 0 && errno == EINTR);
}

__attribute__((noreturn)) static void fail(const char *step) {
    report(REPORT_SETUP, step, errno, 0, 0);
    _exit(127);
}

static void must(long rc, const char *step) {
    if (rc < 0) fail(step);
}

/* "/proc/self/fd/<fd>": a mount source that names what fd was opened on,
 * because the staging tmpfs on /tmp hides paths below /tmp. */
static void fd_path(char out[32], int fd) {
    char digits[12];
    int n = 0;
    do digits[n++] = (char)('0' + fd % 10);
    while ((fd /= 10) > 0);
    memcpy(out, "/proc/self/fd/", 14);
    for (int i = 0; i < n; i++) out[14 + i] = digits[n - 1 - i];
    out[14 + n] = 0;
}

/* Binds what fd names onto target and makes the bind read-only (a bind
 * mount takes its flags only from the remount). */
static void bind_ro(int fd, const char *target, unsigned long flags, const char *step) {
    char src[32];
    fd_path(src, fd);
    must(mount(src, target, NULL, MS_BIND, NULL), step);
    must(mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | flags, NULL), step);
}

/* The mount point of a ro_path inside the staging root: its parents as
 * directories, then a directory or an empty file like the source. */
static void make_mount_point(char *rel, int src_fd) {
    for (char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        if (mkdir(rel, 0755) < 0 && errno != EEXIST) fail("mkdir for a read-only path");
        *s = '/';
    }
    struct stat st;
    must(fstat(src_fd, &st), "stat a read-only path");
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(rel, 0755) < 0 && errno != EEXIST) fail("mkdir for a read-only path");
    } else {
        int f = open(rel, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        must(f, "create the mount point of a read-only file");
        close(f);
    }
}

static void write_files(const SandboxPlan *p) {
    for (int i = 0; i < p->n_files; i++) {
        char path[PATH_CAP];
        size_t dl = strlen("sandbox/"), nl = strlen(p->files[i].name);
        memcpy(path, "sandbox/", dl);
        memcpy(path + dl, p->files[i].name, nl + 1); /* the parent checked nl < 256 */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        must(fd, "create a file in the working directory");
        for (size_t off = 0; off < p->files[i].len;) {
            ssize_t w = write(fd, p->files[i].data + off, p->files[i].len - off);
            if (w < 0 && errno == EINTR) continue;
            must(w, "write a file in the working directory (over dir_mb?)");
            off += (size_t)w;
        }
        must(fchown(fd, p->uid, p->gid), "chown a file in the working directory");
        close(fd);
    }
}

/* The new root: a tmpfs holding /usr (read-only), the merged-usr symlinks,
 * a minimal /dev, this namespace's /proc, the ro_paths and the working
 * directory; then pivot_root into it, detach the old root, and make the
 * root itself read-only. */
static void build_root(const SandboxPlan *p) {
    static const char *const dev_src[] = {"/dev/null", "/dev/zero", "/dev/urandom"};
    static const char *const dev_dst[] = {"dev/null", "dev/zero", "dev/urandom"};
    int usr = open("/usr", O_PATH | O_DIRECTORY | O_CLOEXEC);
    must(usr, "open /usr");
    int devs[3], ro[MAX_RO], n_ro = 0;
    for (int i = 0; i < 3; i++) must(devs[i] = open(dev_src[i], O_PATH | O_CLOEXEC), "open a /dev node");
    for (; p->ro_paths && p->ro_paths[n_ro]; n_ro++)
        must(ro[n_ro] = open(p->ro_paths[n_ro], O_PATH | O_CLOEXEC), "open a read-only path");

    /* nothing mounted below propagates back to the host */
    must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make / private");
    must(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=0755"),
         "mount the staging root tmpfs on /tmp");
    must(chdir("/tmp"), "chdir into the staging root");

    must(mkdir("usr", 0755), "mkdir /usr");
    bind_ro(usr, "usr", MS_NOSUID | MS_NODEV, "bind /usr read-only");
    must(symlink("usr/bin", "bin"), "symlink /bin");
    must(symlink("usr/sbin", "sbin"), "symlink /sbin");
    must(symlink("usr/lib", "lib"), "symlink /lib");
    must(symlink("usr/lib64", "lib64"), "symlink /lib64");

    must(mkdir("dev", 0755), "mkdir /dev");
    must(mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755"),
         "mount tmpfs on /dev");
    for (int i = 0; i < 3; i++) {
        int f = open(dev_dst[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        must(f, "create a /dev mount point");
        close(f);
        bind_ro(devs[i], dev_dst[i], MS_NOSUID | MS_NOEXEC, "bind a /dev node");
    }
    must(symlink("/proc/self/fd", "dev/fd"), "symlink /dev/fd");
    must(symlink("/proc/self/fd/0", "dev/stdin"), "symlink /dev/stdin");
    must(symlink("/proc/self/fd/1", "dev/stdout"), "symlink /dev/stdout");
    must(symlink("/proc/self/fd/2", "dev/stderr"), "symlink /dev/stderr");
    must(mount(NULL, "dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL),
         "remount /dev read-only");

    must(mkdir("proc", 0555), "mkdir /proc");
    must(mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mount /proc");

    for (int i = 0; i < n_ro; i++) {
        char rel[PATH_CAP];
        memcpy(rel, p->ro_paths[i] + 1, strlen(p->ro_paths[i])); /* without the leading '/' */
        make_mount_point(rel, ro[i]);
        bind_ro(ro[i], rel, MS_NOSUID | MS_NODEV, "bind a read-only path");
    }

    must(mkdir("sandbox", 0755), "mkdir " SANDBOX_DIR);
    must(mount("tmpfs", "sandbox", "tmpfs", MS_NOSUID | MS_NODEV, p->dir_opts),
         "mount the working directory tmpfs");
    write_files(p);

    /* no descriptor of the host's filesystem survives into the program */
    close(usr);
    for (int i = 0; i < 3; i++) close(devs[i]);
    for (int i = 0; i < n_ro; i++) close(ro[i]);

    must(syscall(SYS_pivot_root, ".", "."), "pivot_root");
    must(umount2(".", MNT_DETACH), "detach the old root");
    must(chdir("/"), "chdir /");
    must(mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL),
         "remount / read-only");
    must(sethostname("sandbox", 7), "sethostname");
}

static void set_limit(int res, const struct rlimit *rl, const char *step) {
    must(setrlimit(res, rl), step);
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
        fail("execve the program");
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
    fail("execve the program (searched /usr/bin:/bin)");
}

/* fds on entry: 0,1,2, 3 (report, close-on-exec), exec_w (close-on-exec:
 * init waits for it to close, i.e. for exec to have happened). */
__attribute__((noreturn)) static void run_program(const SandboxPlan *p, int exec_w) {
    if (exec_w != 4) {
        must(dup3(exec_w, 4, O_CLOEXEC), "dup the exec pipe");
    }
    must(close_range(5, ~0U, 0), "close_range");
    must(fcntl(3, F_SETFD, FD_CLOEXEC), "set close-on-exec on the report pipe");
    must(setsid(), "setsid");
    /* signals ignored or blocked by the caller (MPI's) stay so across exec */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL); /* EINVAL for KILL, STOP, glibc's own */
    sigset_t none;
    sigemptyset(&none);
    must(sigprocmask(SIG_SETMASK, &none, NULL), "unblock signals");
    must(chdir(SANDBOX_DIR), "chdir " SANDBOX_DIR);

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
    must(syscall(SYS_setgroups, 0, NULL), "setgroups(0)");
    must(syscall(SYS_setresgid, p->gid, p->gid, p->gid), "setresgid");
    must(syscall(SYS_setresuid, p->uid, p->uid, p->uid), "setresuid"); /* clears all capabilities */
    must(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS");
    must(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p->filter, 0, 0), "install the seccomp filter");
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
    must(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "PR_SET_PDEATHSIG (init)");
    struct pollfd pf = {.fd = alive_r, .events = POLLIN};
    if (poll(&pf, 1, 0) > 0) _exit(0); /* hung up: the keeper died before the prctl */
    close(alive_r); /* SIGPIPE stays ignored, as the keeper set it */

    build_root(p);

    int ep[2];
    must(pipe2(ep, O_CLOEXEC), "pipe2 (exec)");
    pid_t prog = fork();
    must(prog, "fork the program");
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
    report(REPORT_EXECED, NULL, 0, 0, 0);
    close(0);
    close(1);
    close(2);
    for (;;) { /* reap orphans until the program itself ends */
        int st;
        struct rusage ru;
        pid_t w = wait4(-1, &st, 0, &ru);
        if (w < 0 && errno == EINTR) continue;
        must(w, "wait4 (init)");
        if (w == prog) {
            long cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec +
                       ru.ru_stime.tv_usec;
            int dirfd = open(SANDBOX_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            int full = dirfd >= 0 && dir_has_full_file(dirfd, (off_t)p->rl_fsize.rlim_cur, 0);
            SandboxReport rec = {.kind = REPORT_STATUS, .wstatus = st, .cpu_usec = cpu, .file_full = full};
            ssize_t wr;
            do wr = write(report_fd, &rec, sizeof rec);
            while (wr < 0 && errno == EINTR);
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
    int pidfd = (int)syscall(SYS_pidfd_open, init, 0); /* init is our unreaped child: no pid reuse */
    if (pidfd < 0) {
        kill(init, SIGKILL);
        fail("pidfd_open (keeper)");
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
        report(REPORT_SETUP, "sandbox init was killed", 0, st, 0);
    }
    _exit(0);
}

void sandbox_child(const SandboxPlan *p) {
    report_fd = p->rep_fd;
    /* Move the five ends to 0..4 through fds >= 10 (any of them may
     * already sit at 0..4), then close everything else the caller had. */
    int src[5] = {p->in_fd, p->out_fd, p->err_fd, p->rep_fd, p->kill_fd}, tmp[5];
    for (int i = 0; i < 5; i++) must(tmp[i] = fcntl(src[i], F_DUPFD, 10), "dup the pipes");
    for (int i = 0; i < 5; i++) must(dup2(tmp[i], i), "dup2 the pipes");
    report_fd = 3;
    must(close_range(5, ~0U, 0), "close_range");

    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, NULL); /* the caller's SIG_IGN would make wait4 fail */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, NULL); /* sandbox_spawn's caller closes the report pipe */

    must(unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS),
         "unshare the namespaces");
    int alive[2];
    must(pipe2(alive, O_CLOEXEC), "pipe2 (keeper)");
    pid_t init = fork();
    must(init, "fork init");
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
