/* sandbox_report.c: how the child side of a sandbox (sandbox_child.c,
 * sandbox_root.c) tells the caller what happened: fixed-size records on
 * the report pipe, written with one write() each (async-signal-safe, no
 * allocation), read by sandbox_run.c. */
#include "sandbox_internal.h"

#include <errno.h>
#include <unistd.h>

static int report_fd = -1; /* this process's copy of the report pipe */

void sandbox_report_to(int fd) { report_fd = fd; }

void sandbox_report_record(const SandboxReport *r) {
    ssize_t w;
    do w = write(report_fd, r, sizeof *r);
    while (w < 0 && errno == EINTR);
}

void sandbox_report(int kind, const char *step, int err, int wstatus, long cpu_usec) {
    SandboxReport r = {.kind = kind, .step = step, .err = err, .wstatus = wstatus, .cpu_usec = cpu_usec};
    sandbox_report_record(&r);
}

void sandbox_fail(const char *step) {
    sandbox_report(REPORT_SETUP, step, errno, 0, 0);
    _exit(127);
}

void sandbox_must(long rc, const char *step) {
    if (rc < 0) sandbox_fail(step);
}
