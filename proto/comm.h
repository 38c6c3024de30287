/* comm.h: the only module that calls MPI. Thin typed wrappers so the actor
 * and learner logic reads as plain C and can be driven in one process by
 * tests. Rank 0 is the learner; ranks 1..size-1 are actors. */
#ifndef PROTO_COMM_H
#define PROTO_COMM_H

#include <stddef.h>
#include <stdint.h>

typedef struct Comm Comm;

/* Called when a wait runs past the deadline (comm_set_deadline), or is
 * interrupted (comm_set_interrupt). */
typedef void (*CommTimeoutFn)(const char *what, void *ctx);

/* A rank's view of the job, and how long its waits may last. */
struct Comm {
    int rank, size;
    double deadline_s;        /* every blocking call below gives up after this */
    CommTimeoutFn on_timeout; /* then calls this (NULL: print and abort) */
    void *timeout_ctx;
    int (*stop_requested)(void); /* comm_set_interrupt; NULL: never */
    double grace_s;
    CommTimeoutFn on_interrupt;
    void *interrupt_ctx;
};

/* MPI_Init; dies if MPI cannot start. */
void comm_init(Comm *c, int *argc, char ***argv);
void comm_finalize(void);
/* Aborts every rank with status code (after printing the reason). */
void comm_abort(int code) __attribute__((noreturn));

/* Deadlines on every wait. Each blocking call below runs as a nonblocking
 * operation polled until `seconds` have passed; then on_timeout(what, ctx)
 * is called (it must not return: print what was waited for, checkpoint if
 * it can, and comm_abort). Default: 600 s, print and abort. */
void comm_set_deadline(Comm *c, double seconds, CommTimeoutFn on_timeout, void *ctx);
/* A wait of the caller's own ran past c's deadline: hands what to c's
 * handler, else prints it and aborts. Does not return. */
void comm_timed_out(const Comm *c, const char *what) __attribute__((noreturn));

/* Interruptible waits: when stop_requested() has been true for grace_s
 * seconds while a blocking call below (or a caller's own loop, through
 * comm_check_interrupt) is still waiting, on_interrupt(what, ctx) is
 * called; it must not return. A wait that completes within the grace
 * returns as usual, so a signal is normally acted on by the caller at its
 * next safe point; the grace covers the case where the wait cannot end: a
 * rank died, and the launcher is about to kill the others. */
void comm_set_interrupt(Comm *c, int (*stop_requested)(void), double grace_s,
                        CommTimeoutFn on_interrupt, void *ctx);
/* For a caller's own wait loop: calls on_interrupt as above (first_seen:
 * the caller's variable, 0 before the first call of the wait). */
void comm_check_interrupt(const Comm *c, double *first_seen, const char *what);

/* Sends len bytes (< 2^31) to dest with tag; blocking. */
void comm_send(const Comm *c, const void *buf, size_t len, int dest, int tag);

/* Waits for the next message with tag from any rank, growing *buf (malloc'd,
 * capacity *cap) to fit it: a matched probe then receive, so the size is
 * known before the receive and no other thread can steal the message.
 * Returns the byte count; *src is the sender. */
size_t comm_recv_any(void **buf, size_t *cap, int tag, int *src);

/* Broadcasts len bytes from rank 0. */
void comm_bcast_bytes(const Comm *c, void *buf, size_t len);
/* Broadcasts n floats from rank 0 in chunks of at most chunk_elems floats
 * (each chunk below 2^31 bytes, MPI's int count limit). */
void comm_bcast_floats(const Comm *c, float *buf, size_t n, size_t chunk_elems);

/* Gathers one u64 from every rank at rank 0 into out (size entries, rank
 * order); out is ignored on other ranks. */
void comm_gather_u64(const Comm *c, uint64_t value, uint64_t *out);
/* Gathers n doubles from every rank at rank 0 into out (size * n). */
void comm_gather_doubles(const Comm *c, const double *vals, int n, double *out);

/* Gathers len bytes from every rank at rank 0 into out (size * len). */
void comm_gather_bytes(const Comm *c, const void *in, size_t len, void *out);

/* The largest of every rank's value, on every rank (an allreduce): how
 * ranks that poll a local flag agree to act on it at the same point. */
int comm_max_int(const Comm *c, int value);

/* ---- the learners' communicator ----------------------------------------

 * Ranks 0..k-1 of the world, the data-parallel learners: the gradient sum
 * and the batch relay run among them only, while the actors wait. Every
 * call below is collective over the group, polled under the deadline of
 * the Comm it was made from. */
typedef struct CommGroup CommGroup;

/* Collective over every rank of c: ranks below k get the group of ranks
 * 0..k-1 (rank order kept), the others NULL. */
CommGroup *comm_group_first(const Comm *c, int k);
void comm_group_free(CommGroup *g);
int comm_group_rank(const CommGroup *g);
int comm_group_size(const CommGroup *g);
/* In place: buf becomes the element-wise sum over the group. Two ranks:
 * each sums one half and the halves are swapped (point-to-point, through
 * a scratch half kept in g); each element is the same two numbers added,
 * so both ranks get the same bits. More: one allreduce per chunk of at
 * most 2^28 floats (below MPI's 2^31-byte int count limit), whose
 * reduction order is fixed for a given group size and message size (run
 * to run reproducible). */
void comm_group_sum_floats(CommGroup *g, float *buf, size_t n);
void comm_group_sum_doubles(const CommGroup *g, double *buf, int n);
void comm_group_max_doubles(const CommGroup *g, double *buf, int n);
/* From the group's rank 0 (the world's rank 0) to the others. */
void comm_group_bcast_bytes(const CommGroup *g, void *buf, size_t len);
void comm_group_bcast_floats(const CommGroup *g, float *buf, size_t n);

void comm_barrier(void);
/* Barrier that sleeps poll_seconds between completion checks instead of
 * spinning, so ranks waiting on it leave the cores to the ranks still
 * working (oversubscribed runs: benchmarks timing one rank alone). */
void comm_barrier_idle(double poll_seconds);

/* ---- nonblocking operations, for the asynchronous mode and deadlines ---- */

/* An in-flight operation (possibly several MPI requests, one per chunk). */
typedef struct CommReq CommReq;

/* Like comm_recv_any but returns at once: 1 and the message if one with
 * tag is waiting (*len set), 0 if none. */
int comm_try_recv(void **buf, size_t *cap, int tag, int *src, size_t *len);
/* Posts a send of len bytes (< 2^31); buf must stay untouched until done. */
CommReq *comm_isend(const void *buf, size_t len, int dest, int tag);
/* Posts a broadcast from rank 0 of len bytes / n floats in chunks (as the
 * blocking versions); every rank posts the same sequence. */
CommReq *comm_ibcast_bytes(void *buf, size_t len);
CommReq *comm_ibcast_floats(float *buf, size_t n, size_t chunk_elems);
/* 1 if the operation has completed (then *r is freed and set to NULL), 0
 * if still in flight. Drives MPI progress. NULL counts as completed. */
int comm_test(CommReq **r);
/* Waits for completion, yielding the core between tests, until the
 * absolute deadline (now_seconds() clock). Returns 0, or -1 on time-out
 * (the operation is still in flight). */
int comm_wait_until(CommReq **r, double deadline);
/* Learner, after a timeout: pings every actor and waits up to wait_s for
 * answers; writes the ranks that did not answer to silent (up to max) and
 * returns their count. Actors answer from every wait loop (comm_idle). */
int comm_find_silent(int *silent, int max, double wait_s);

/* Sleeps briefly: the polite idle step of a polling loop, so oversubscribed
 * ranks leave the core to the ranks doing work. On actors it also answers
 * the learner's liveness pings. */
void comm_idle(void);

#endif
