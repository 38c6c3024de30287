/* verifier_pool.h: a pool of long-lived helper processes that answer
 * one-line requests with one-line replies, in request order per process
 * (the external verifier, task_external.c). The pool knows nothing of
 * tasks or JSON: it moves lines, times them, and restarts a process that
 * fails; its caller judges each reply line.
 *
 * A reply is due `timeout` seconds after its request became the oldest
 * in flight on its process; the first reply of a freshly started process
 * may take start_timeout instead, if longer (a program that loads a
 * model before it reads its first request).
 *
 * Requests are spread over the processes, up to `pipeline` in flight on
 * each, with one poll() loop over every pipe. A process that exits, hangs
 * or answers wrongly fails the request it owed (the oldest in flight on
 * it), is killed and reaped, and a fresh one is started and sent the
 * requests that were queued behind the failed one: those are re-sent,
 * not failed. After max_failures failures in a row (a success resets the
 * count) the pool stops the program with die(), naming the command, the
 * reasons and the last lines the program wrote on stderr.
 *
 * Processes start lazily, on the first request: a pool that is built but
 * never used (the learner builds the task only for its component names)
 * starts nothing. Each child gets only its three pipes (every pipe is
 * O_CLOEXEC, and the child closes every other inherited fd before exec);
 * a plain child leads its own process group, so that killing it also
 * kills what it started. SIGPIPE is blocked for the calling thread while
 * verifier_pool_run runs (and one a dead child raised is consumed before
 * it returns), so writing to a dead child gives EPIPE, never kills the
 * caller; the process-wide disposition is left alone.
 *
 * Not thread-safe: one pool is used by one thread at a time. */
#ifndef COMMON_VERIFIER_POOL_H
#define COMMON_VERIFIER_POOL_H

#include <stddef.h>

#include "sandbox.h"

/* How one request ended. */
typedef enum {
    VERIFIER_OK = 0,
    VERIFIER_CRASH,     /* the process exited or closed stdout before replying */
    VERIFIER_TIMEOUT,   /* no reply within timeout of becoming the oldest in flight */
    VERIFIER_MALFORMED, /* the reply line was refused by the caller, or too long */
    VERIFIER_WRONG_ID,  /* the reply was for another request (the caller said so) */
    VERIFIER_FAILURE_KINDS
} VerifierOutcome;

/* Longest reply line accepted, newline excluded: longer is malformed. */
enum { VERIFIER_MAX_LINE = 64 * 1024 };

typedef struct {
    const char *command;  /* run as /bin/sh -c 'exec COMMAND' */
    const char *setting;  /* names it in messages: "[task] verifier" */
    int procs;            /* processes */
    int pipeline;         /* requests in flight per process */
    double timeout;       /* seconds a reply may take once its request is the oldest */
    double start_timeout; /* ... the first reply of a fresh process, if longer */
    int max_failures;     /* failures in a row before die() */
    int sandbox;          /* 1: start each process with sandbox_spawn */
    SandboxLimits limits; /* sandbox: its limits */
    const char *ro_paths; /* sandbox: colon-separated paths bound read-only, or "" */
} VerifierPoolConfig;

typedef struct VerifierPool VerifierPool;

/* Judges the reply line (without its newline, NUL-terminated) to request
 * i: VERIFIER_OK (the caller keeps the result), VERIFIER_MALFORMED or
 * VERIFIER_WRONG_ID. */
typedef VerifierOutcome (*VerifierReplyFn)(void *ctx, int i, const char *line, size_t len);

/* Copies cfg (the strings too); starts nothing. */
VerifierPool *verifier_pool_create(const VerifierPoolConfig *cfg);

/* Sends requests[0..n) (each one line ending in '\n') and hands each reply
 * to judge; outcome[i] gets how request i ended. Returns when every
 * request has an outcome. Dies after max_failures failures in a row. */
void verifier_pool_run(VerifierPool *p, const char *const *requests, int n, VerifierReplyFn judge,
                       void *ctx, VerifierOutcome *outcome);

/* Restarts so far (for tests and the closing summary). */
long verifier_pool_restarts(const VerifierPool *p);

/* Closes each process's stdin, gives it 0.1 s to exit, then kills (its
 * process group too) and reaps it; frees the pool. NULL is fine. */
void verifier_pool_destroy(VerifierPool *p);

/* "crash", "timeout", ...: the name of an outcome. */
const char *verifier_outcome_name(VerifierOutcome o);

#endif
