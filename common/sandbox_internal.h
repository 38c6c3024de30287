/* sandbox_internal.h: what the sandbox's parent side (sandbox.c) hands to
 * the code that runs in the child between fork and exec (sandbox_child.c)
 * and the seccomp filter they share (sandbox_seccomp.c). Not for callers:
 * they use sandbox.h. */
#ifndef COMMON_SANDBOX_INTERNAL_H
#define COMMON_SANDBOX_INTERNAL_H

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "sandbox.h"

/* The program's working directory, cwd and HOME inside the sandbox. */
#define SANDBOX_DIR "/sandbox"

/* Uids: SANDBOX_UID_BASE + getpid() * SANDBOX_SLOTS + slot, gid the same.
 * One uid per concurrent sandbox of a process, so RLIMIT_NPROC (counted
 * per uid) counts that sandbox's processes only, and the pid in the
 * formula keeps two processes of the machine (two actors) apart. 2^30 is
 * above the usual /etc/subuid ranges; with pid_max at its largest (2^22)
 * the highest uid is 2^30 + 2^28, below 2^31. */
#define SANDBOX_UID_BASE 0x40000000u
#define SANDBOX_SLOTS 64
/* The program's uid and gid inside its user namespace when not root. */
#define SANDBOX_USERNS_ID 1000

/* Records the child side writes to the report pipe, each one write()
 * smaller than PIPE_BUF, so records from init and the program never
 * interleave. */
enum { REPORT_SETUP = 1, REPORT_EXECED = 2, REPORT_STATUS = 3 };
typedef struct {
    int kind;
    int wstatus;      /* REPORT_STATUS: the program's wait status */
    int err;          /* REPORT_SETUP: errno of the failed step */
    long cpu_usec;    /* REPORT_STATUS: the program's user+system CPU time */
    int file_full;    /* REPORT_STATUS: a file in its directory reached RLIMIT_FSIZE */
    const char *step; /* REPORT_SETUP: a string literal; the child is a fork
                       * of this very image, so the parent can read it */
} SandboxReport;

/* Everything the child needs, prepared by the parent before fork so that
 * the child allocates nothing and formats nothing. */
typedef struct {
    int in_fd, out_fd, err_fd, rep_fd, kill_fd; /* the child's ends; dup'd to 0..4 */
    const char *const *argv;
    const SandboxFile *files;
    int n_files;
    const char *const *ro_paths; /* NULL-terminated absolute paths, or NULL */
    uid_t uid; /* the program's uid and gid inside */
    gid_t gid;
    /* Not root: a user namespace maps SANDBOX_USERNS_ID inside to the
     * caller's uid and gid (the only ids it may map); the program keeps
     * that id and drops the capabilities the namespace gave. */
    int userns;
    char uid_map[32], gid_map[32];
    char dir_opts[160]; /* tmpfs options of the working directory */
    struct rlimit rl_cpu, rl_as, rl_fsize, rl_nproc, rl_nofile;
    int limit_cpu;      /* 0: no RLIMIT_CPU (sandbox_spawn, cpu_seconds 0) */
    const struct sock_fprog *filter;
    pid_t caller;       /* getpid() of the caller, to notice it died */
} SandboxPlan;

/* Runs in the child of fork(): builds the sandbox and execs the program;
 * never returns. Only async-signal-safe calls. */
void sandbox_child(const SandboxPlan *p) __attribute__((noreturn));

/* The child side's reports (sandbox_report.c): sandbox_report_to sets
 * the pipe's fd in this process; a record to it; sandbox_fail also
 * exits, naming step and errno; sandbox_must fails if rc < 0. */
void sandbox_report_to(int fd);
void sandbox_report_record(const SandboxReport *r);
void sandbox_report(int kind, const char *step, int err, int wstatus, long cpu_usec);
void sandbox_fail(const char *step) __attribute__((noreturn));
void sandbox_must(long rc, const char *step);
/* Builds the new root in init and pivots into it (sandbox_root.c). */
void sandbox_build_root(const SandboxPlan *p);

/* Shared by sandbox_run_many and sandbox_spawn (sandbox.c). */
int sandbox_slot_claim(void); /* a free slot of this process, or -1 */
void sandbox_slot_release(int slot);
double sandbox_now(void);     /* CLOCK_MONOTONIC, s */
/* r->end = SANDBOX_SETUP_FAILED, r->setup_error = fmt with what and
 * strerror(err) ("" if err is 0) */
void sandbox_set_error(SandboxResult *r, const char *fmt, const char *what, int err);
/* The plan of a run in slot under lim (argv, files, ro_paths: the caller's). */
void sandbox_plan_init(SandboxPlan *p, const SandboxLimits *lim, int slot, const struct sock_fprog *filter);
/* Forks the keeper with child_in as its stdin and new pipes for stdout,
 * stderr, the report and the kill pipe; fds[0] gets the kill pipe's write
 * end (a byte on it, or closing it, ends the run), fds[1..3] the read ends
 * of the others. The pid, or -1 with r's setup_error set. */
pid_t sandbox_start(SandboxPlan *p, int child_in, int fds[4], SandboxResult *r);

/* The seccomp filter, built once (thread-safe); NULL with why if libseccomp
 * failed. */
const struct sock_fprog *sandbox_filter(char *why, size_t whylen);

#endif
