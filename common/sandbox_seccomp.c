/* sandbox_seccomp.c: the seccomp filter of every sandboxed program, built
 * once with libseccomp in the parent and exported as BPF, so that the
 * child (between fork and exec, where it may not allocate) only passes it
 * to prctl(PR_SET_SECCOMP).
 *
 * Default allow; the calls below fail with EPERM. They are the ones that
 * reach past the namespaces and limits (kernel state, other processes'
 * memory, new namespaces, filesystems, the network), so a hole in another
 * layer still leaves these closed. Calls of another ABI (32-bit int 0x80,
 * x32) kill the process: libseccomp's default for a foreign arch. */
#include "sandbox_internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const denied[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    /* filesystems and namespaces */
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "fsopen", "fsconfig", "fsmount",
    "fspick", "move_mount", "open_tree", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
    /* the kernel itself */
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
    "perf_event_open", "keyctl", "add_key", "request_key", "reboot", "swapon", "swapoff",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "acct", "quotactl",
    "quotactl_fd", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "iopl", "ioperm", "syslog", "vhangup", "lookup_dcookie", "fanotify_init", "personality",
};

/* clone() flags that would make new namespaces (a user namespace would
 * give the program capabilities over it). clone3 passes its flags in
 * memory seccomp cannot read: it fails with ENOSYS, and glibc falls back
 * to clone. */
static const unsigned long new_ns_flags[] = {CLONE_NEWNS,    CLONE_NEWUSER, CLONE_NEWPID,
                                             CLONE_NEWNET,   CLONE_NEWIPC,  CLONE_NEWUTS,
                                             CLONE_NEWCGROUP};

static struct sock_fprog prog;
static char build_error[160];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int add_rules(scmp_filter_ctx ctx) {
    for (size_t i = 0; i < sizeof denied / sizeof *denied; i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr == __NR_SCMP_ERROR) continue; /* not on this architecture */
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) < 0)
            return snprintf(build_error, sizeof build_error, "seccomp rule for %s", denied[i]), -1;
    }
    /* sockets: AF_UNIX only, so no network even if the network namespace
     * were missing */
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
                         SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0)) < 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socketpair), 1,
                         SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0)) < 0)
        return snprintf(build_error, sizeof build_error, "seccomp rule for socket"), -1;
    for (size_t i = 0; i < sizeof new_ns_flags / sizeof *new_ns_flags; i++)
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, new_ns_flags[i], new_ns_flags[i])) < 0)
            return snprintf(build_error, sizeof build_error, "seccomp rule for clone"), -1;
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0)
        return snprintf(build_error, sizeof build_error, "seccomp rule for clone3"), -1;
    return 0;
}

/* Exports ctx as BPF through a memfd and reads it back into prog. */
static int export_bpf(scmp_filter_ctx ctx) {
    int fd = memfd_create("sandbox-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return snprintf(build_error, sizeof build_error, "memfd_create: %s", strerror(errno)), -1;
    struct stat st;
    int rc = -1;
    if (seccomp_export_bpf(ctx, fd) < 0) {
        snprintf(build_error, sizeof build_error, "seccomp_export_bpf failed");
    } else if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter)) {
        snprintf(build_error, sizeof build_error, "seccomp_export_bpf wrote %lld bytes",
                 (long long)st.st_size);
    } else {
        struct sock_filter *f = malloc((size_t)st.st_size);
        if (f && pread(fd, f, (size_t)st.st_size, 0) == st.st_size) {
            prog.len = (unsigned short)(st.st_size / sizeof *f);
            prog.filter = f; /* kept for the life of the process */
            rc = 0;
        } else {
            free(f);
            snprintf(build_error, sizeof build_error,
                     "reading back the exported seccomp filter failed");
        }
    }
    close(fd);
    return rc;
}

static void build(void) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        snprintf(build_error, sizeof build_error, "seccomp_init failed");
        return;
    }
    /* the child sets PR_SET_NO_NEW_PRIVS itself, after dropping its uid */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (add_rules(ctx) == 0) export_bpf(ctx);
    seccomp_release(ctx);
}

const struct sock_fprog *sandbox_filter(char *why, size_t whylen) {
    pthread_once(&once, build);
    if (prog.filter) return &prog;
    snprintf(why, whylen, "cannot build the seccomp filter: %s", build_error);
    return NULL;
}
