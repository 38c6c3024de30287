/* sandbox.h: running programs we do not trust (model-written code for the
 * code task, a user's verifier when [task] verifier_sandbox = 1) so that
 * they cannot harm the run, the machine or each other.
 *
 * Each program runs in a fresh set of Linux namespaces (mount, PID,
 * network, IPC, UTS), as an unprivileged uid of its own, with only /usr
 * read-only, a private empty tmpfs as its working directory (the only
 * place it can write), no network, a clean environment, resource limits
 * and a seccomp filter. Which layer stops what is listed in sandbox.c and
 * in the README's sandbox table. When the program ends, or the run is
 * killed, every process it started dies with it (its PID namespace goes
 * away), and by the time sandbox_run_many returns none is left.
 *
 * Inside: / is a read-only tmpfs with /usr bound read-only (and the
 * /bin /sbin /lib /lib64 symlinks into it), /dev with null, zero and
 * urandom, /proc of its own PID namespace, and /sandbox: its working
 * directory, cwd and HOME, a tmpfs of dir_mb owned by its uid, the only
 * place it can write. Its environment is PATH=/usr/bin:/bin,
 * HOME=/sandbox, LANG=C.UTF-8, PYTHONDONTWRITEBYTECODE=1 and
 * PYTHONHASHSEED=0 (so that a program's output does not depend on the
 * run). It runs as uid = gid = 2^30 + getpid() * 64 + slot, a uid of its
 * own per concurrent sandbox of this process (SandboxResult.uid).
 *
 * Needs root (CI runs as root: the sandbox still drops to an unprivileged
 * uid); a path through an unprivileged user namespace is not implemented
 * yet. sandbox_available says whether it works here, and why not. */
#ifndef COMMON_SANDBOX_H
#define COMMON_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* Limits of one program run. Defaults in brackets (the [sandbox] section). */
typedef struct {
    float cpu_seconds;   /* RLIMIT_CPU of each process [2], rounded up to whole
                          * seconds (SIGXCPU, SIGKILL a second later); 0: none */
    float wall_seconds;  /* the whole run, then every process of it is killed [5]; 0: none */
    int memory_mb;       /* RLIMIT_AS of each process [512] */
    int file_kb;         /* RLIMIT_FSIZE: largest file it may write [1024] */
    int output_kb;       /* stdout kept; printing more kills the run [64]; more
                          * than this much on stderr kills it too (the last
                          * bytes of stderr are kept: err_tail) */
    int max_procs;       /* RLIMIT_NPROC of its uid: processes and threads [32] */
    int max_files;       /* RLIMIT_NOFILE [64] */
    int dir_mb;          /* size of its tmpfs working directory [16] */
    int jobs;            /* programs sandbox_run_many runs at once [1] */
} SandboxLimits;

/* The [sandbox] section. */
typedef struct {
    SandboxLimits limits;
} SandboxSettings;
extern const CfgSection sandbox_section;
static inline const SandboxSettings *sandbox_settings(const Config *c) {
    return config_get(c, &sandbox_section);
}

void sandbox_limits_default(SandboxLimits *l);

/* A file written into the program's working directory before it starts
 * (the program text, a test harness). name: a plain file name, no '/'. */
typedef struct {
    const char *name;
    const char *data;
    size_t len;
} SandboxFile;

/* One program run. argv[0] is an absolute path as seen inside the sandbox
 * (/usr/bin/python3); the program starts in its working directory. */
typedef struct {
    const char *const *argv; /* NULL-terminated */
    const SandboxFile *files;
    int n_files;
    const char *stdin_data; /* may be NULL: stdin is then empty (EOF) */
    size_t stdin_len;
} SandboxJob;

/* How a run ended. */
typedef enum {
    SANDBOX_EXITED = 0,      /* exit_code holds its status */
    SANDBOX_KILLED_CPU,      /* over cpu_seconds (SIGXCPU / SIGKILL at the hard limit) */
    SANDBOX_KILLED_WALL,     /* over wall_seconds: killed by us */
    SANDBOX_KILLED_OUTPUT,   /* printed more than output_kb: killed by us */
    SANDBOX_KILLED_FILE_SIZE,/* wrote a file over file_kb: SIGXFSZ, or (Python ignores
                              * SIGXFSZ) failed after a file of its reached file_kb */
    SANDBOX_SIGNALED,        /* ended by another signal (signal holds it) */
    SANDBOX_SETUP_FAILED,    /* the sandbox could not be built: setup_error says why */
} SandboxEnd;

typedef struct {
    SandboxEnd end;
    int exit_code;         /* SANDBOX_EXITED */
    int signal;            /* the signal that ended it, else 0 */
    char *out;             /* stdout, malloc'd, NUL-terminated (at most output_kb) */
    size_t out_len;
    char err_tail[1024];   /* the last bytes of stderr, NUL-terminated */
    double wall_seconds;
    char setup_error[256]; /* SANDBOX_SETUP_FAILED */
    unsigned uid;          /* the uid it ran as (its processes', in /proc) */
} SandboxResult;

/* 1 if this process can build sandboxes; else 0 with why ("not root and
 * unprivileged user namespaces are disabled (kernel.unprivileged_userns_
 * clone = 0)", ...). Probes once by running /bin/true inside one. */
int sandbox_available(char *why, size_t whylen);

/* Runs jobs[0..n), at most lim->jobs at a time (at most 64), each in its
 * own sandbox, and fills out[0..n) in job order. Never fails as a whole: a
 * job whose sandbox cannot be built ends SANDBOX_SETUP_FAILED. Safe to
 * call from a multithreaded (MPI, OpenBLAS) process, and from several
 * threads at once: the child does only async-signal-safe work between
 * fork and exec. It reaps its own children by pid: a thread of the caller
 * calling waitpid(-1) could steal them. */
void sandbox_run_many(const SandboxLimits *lim, const SandboxJob *jobs, int n, SandboxResult *out);
/* Frees out->out. */
void sandbox_result_free(SandboxResult *r);

/* A long-lived child with pipes to it (an external verifier). */
typedef struct {
    pid_t pid;  /* kill(pid, SIGKILL) ends it and everything it started */
    int in_fd;  /* write end of its stdin */
    int out_fd; /* read end of its stdout */
    int err_fd; /* read end of its stderr */
    int ctl_fd; /* closing it also ends it (and so does this process's exit):
                 * close it after waitpid(pid) */
} ChildProc;

/* Starts argv (argv[0] found through PATH=/usr/bin:/bin inside) in a
 * sandbox with lim (cpu_seconds and wall_seconds not applied: a verifier
 * lives for the whole run; its caller times each request), with the
 * paths of ro_paths (NULL-terminated, may be NULL) bound read-only at the
 * same place inside, so that it can read its own script (they must be
 * readable by others: it runs as an unprivileged uid; paths under /usr
 * are there already; /proc, /dev and /sandbox are refused; at most 16).
 * 0, or -1 with err. Reap with waitpid(out->pid), then close the fds.
 * Its uid stays reserved for the life of this process (64 per process,
 * shared with sandbox_run_many's concurrent jobs). */
int sandbox_spawn(const SandboxLimits *lim, const char *const argv[], const char *const ro_paths[],
                  ChildProc *out, char *err, size_t errlen);

#endif
