/* test_shell.h: for the end-to-end tests that drive build/grpo, mpirun and
 * SLURM through the shell. */
#ifndef TESTS_TEST_SHELL_H
#define TESTS_TEST_SHELL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

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

#endif
