/* test_shell.h: for the end-to-end tests that drive build/grpo, mpirun and
 * SLURM through the shell (include it after cmocka.h). */
#ifndef TESTS_TEST_SHELL_H
#define TESTS_TEST_SHELL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Runs a printf-formatted shell command; returns its exit status (128 if it
 * did not exit normally). */
static inline int __attribute__((format(printf, 1, 2))) run(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* $GRPO_BIN, or build/grpo. */
static inline const char *grpo_bin(void) {
    const char *b = getenv("GRPO_BIN");
    return b ? b : "build/grpo";
}

/* Makes the scratch directory /tmp/grpo_test_<name>_<pid> (its path in
 * dir, cap bytes) and trains in dir/a the tiny SFT model a test starts
 * from: `grpo sft` with args, then model (the model's keys), its output in
 * dir/sft.log. 0, or the exit status of the command that failed. */
static inline int make_sft_fixture(char *dir, size_t cap, const char *name, const char *bin,
                                   const char *args, const char *model) {
    snprintf(dir, cap, "/tmp/grpo_test_%s_%d", name, (int)getpid());
    int rc = run("mkdir -p %s", dir);
    if (rc != 0) return rc;
    return run("%s sft run.dir=%s/a %s %s > %s/sft.log 2>&1", bin, dir, args, model, dir);
}

/* Deletes the scratch directory dir (if made) unless KEEP_TEST_DIRS is set. */
static inline void remove_test_dir(const char *dir) {
    if (dir[0] && !getenv("KEEP_TEST_DIRS")) run("rm -rf %s", dir);
}

/* Starts `sh -c cmd` in a child and returns its pid (stdio flushed first,
 * so the child does not write the parent's buffered output again). */
static inline pid_t start_sh(const char *cmd) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits for pid to end: its exit status, or 128 + the signal that ended it. */
static inline int wait_status(pid_t pid) {
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Waits (at most 60 s) for path to exist while pid runs; 1 if it exists.
 * Fails the test if pid (named `what`) exits first. */
static inline int wait_for_file(const char *path, pid_t pid, const char *what) {
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 60000; i++) {
        if (access(path, F_OK) == 0) return 1;
        if (waitpid(pid, NULL, WNOHANG) == pid) fail_msg("%s exited before writing %s", what, path);
        nanosleep(&ms, NULL);
    }
    return 0;
}

/* Training steps logged so far in dir/metrics.jsonl (0 while there is none). */
static inline int steps_logged(const char *dir) {
    char path[600], line[16384];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    while (fgets(line, sizeof line, f)) n += strstr(line, "\"version\"") != NULL;
    fclose(f);
    return n;
}

#endif
