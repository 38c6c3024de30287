/* pipeline_child.c: a stage's child process (pipeline_child.h). */
#include "pipeline_child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "util.h"

extern char **environ;

static volatile sig_atomic_t stop_signal, stop_count;

static void on_stop(int sig) {
    stop_signal = sig;
    stop_count++;
}

void pipeline_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    /* a closed terminal (a pipe into head, a lost ssh session) must not
     * kill the driver while a stage runs: the log still gets everything */
    signal(SIGPIPE, SIG_IGN);
}

int pipeline_stop_signal(void) { return (int)stop_signal; }

/* Copies a chunk of child output to the log and to stdout, the prefix at
 * the start of every terminal line. */
static void relay(const char *buf, size_t n, int log_fd, const char *prefix, int *at_line_start) {
    if (log_fd >= 0 && write_all_fd(log_fd, buf, n) != 0) {
        fprintf(stderr, "warning: pipeline: cannot append to the stage log: %s\n", strerror(errno));
    }
    for (size_t i = 0; i < n; i++) {
        if (*at_line_start) fputs(prefix, stdout);
        fputc(buf[i], stdout);
        *at_line_start = buf[i] == '\n';
    }
    fflush(stdout);
}

/* Reads what the pipe holds now; 0 at end of file, 1 otherwise. */
static int drain(int fd, int log_fd, const char *prefix, int *at_line_start) {
    char buf[8192];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
            relay(buf, (size_t)r, log_fd, prefix, at_line_start);
            continue;
        }
        if (r == 0) return 0;
        return 1; /* EAGAIN or EINTR: nothing more for now */
    }
}

int pipeline_child_run(char *const argv[], int launcher, const char *log_path,
                       const char *prefix, double *seconds) {
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "error: pipeline: cannot open %s: %s\n", log_path, strerror(errno));
        return 127;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) die("pipeline: pipe failed: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t mask, def;
    sigemptyset(&mask);
    if (launcher) sigaddset(&mask, SIGTERM);
    sigemptyset(&def);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGUSR1);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigmask(&at, &mask);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    pid_t pid;
    fflush(NULL);
    double t0 = now_seconds();
    int e = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[1]);
    if (e != 0) {
        fprintf(stderr, "error: pipeline: cannot start %s: %s\n", argv[0], strerror(e));
        close(p[0]);
        close(log_fd);
        return 127;
    }
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    const int forward = launcher ? SIGUSR1 : SIGTERM;
    /* from 0: the driver starts no child after a stop signal, so any signal
     * counted now came after that check (perhaps before the spawn) */
    int forwarded = 0, at_line_start = 1, status = 0, open_pipe = 1;
    for (;;) {
        if (forwarded != (int)stop_count) {
            forwarded = (int)stop_count;
            fprintf(stderr, "pipeline: signal %d: passing signal %d to pid %d (%s)\n",
                    (int)stop_signal, forward, (int)pid, argv[0]);
            kill(pid, forward);
        }
        if (open_pipe) {
            struct pollfd pf = {p[0], POLLIN, 0};
            int r = poll(&pf, 1, 200);
            if (r > 0) open_pipe = drain(p[0], log_fd, prefix, &at_line_start);
        } else {
            usleep(50000);
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) die("pipeline: waitpid(%d) failed: %s", (int)pid, strerror(errno));
    }
    *seconds = now_seconds() - t0;
    /* what the child wrote before it exited; a grandchild still holding the
     * pipe (none should) must not keep the pipeline waiting */
    if (open_pipe) drain(p[0], log_fd, prefix, &at_line_start);
    if (!at_line_start) relay("\n", 1, log_fd, prefix, &at_line_start);
    close(p[0]);
    close(log_fd);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 128;
}
