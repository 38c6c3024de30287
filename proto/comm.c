#include "comm.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

struct CommReq {
    int n;
    MPI_Request req[];
};

static CommReq *req_new(int n);

void comm_init(Comm *c, int *argc, char ***argv) {
    if (MPI_Init(argc, argv) != MPI_SUCCESS) die("MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    c->deadline_s = 600;
    c->on_timeout = NULL;
    c->timeout_ctx = NULL;
    c->stop_requested = NULL;
    c->on_interrupt = NULL;
    c->interrupt_ctx = NULL;
    c->grace_s = 0;
}

void comm_finalize(void) { MPI_Finalize(); }

void comm_abort(int code) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code); /* not reached */
}

void comm_set_deadline(Comm *c, double seconds, CommTimeoutFn on_timeout, void *ctx) {
    c->deadline_s = seconds;
    c->on_timeout = on_timeout;
    c->timeout_ctx = ctx;
}

void comm_timed_out(const Comm *c, const char *what) {
    if (c->on_timeout) c->on_timeout(what, c->timeout_ctx);
    fprintf(stderr, "error: rank %d timed out: %s\n", c->rank, what);
    comm_abort(4);
}

void comm_set_interrupt(Comm *c, int (*stop_requested)(void), double grace_s,
                        CommTimeoutFn on_interrupt, void *ctx) {
    c->stop_requested = stop_requested;
    c->grace_s = grace_s;
    c->on_interrupt = on_interrupt;
    c->interrupt_ctx = ctx;
}

void comm_check_interrupt(const Comm *c, double *first_seen, const char *what) {
    if (!c->stop_requested || !c->on_interrupt || !c->stop_requested()) return;
    const double now = now_seconds();
    if (*first_seen == 0) *first_seen = now;
    if (now - *first_seen >= c->grace_s) c->on_interrupt(what, c->interrupt_ctx);
}

/* Polls r until it completes (0) or the absolute deadline passes (-1): a
 * tight loop of tests first (most operations finish within microseconds),
 * then polite sleeping polls; with c, each poll also checks c's interrupt. */
static int poll_until(CommReq **r, double deadline, const Comm *c, const char *what) {
    for (int i = 0; i < 2000; i++)
        if (comm_test(r)) return 0;
    double first_seen = 0;
    while (!comm_test(r)) {
        if (now_seconds() > deadline) return -1;
        if (c) comm_check_interrupt(c, &first_seen, what);
        comm_idle();
    }
    return 0;
}

/* Waits for r under c's deadline; on time-out hands over to its handler,
 * on an interrupt to that one. */
static void wait_or_timeout(const Comm *c, CommReq **r, const char *what) {
    if (poll_until(r, now_seconds() + c->deadline_s, c, what) == 0) return;
    char msg[256];
    snprintf(msg, sizeof msg, "%s (no progress for %.0f s)", what, c->deadline_s);
    comm_timed_out(c, msg);
}

void comm_send(const Comm *c, const void *buf, size_t len, int dest, int tag) {
    CommReq *r = comm_isend(buf, len, dest, tag);
    wait_or_timeout(c, &r, "sending to the learner");
}

size_t comm_recv_any(void **buf, size_t *cap, int tag, int *src) {
    MPI_Message msg;
    MPI_Status st;
    MPI_Mprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &msg, &st);
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    if ((size_t)count > *cap || *buf == NULL) {
        xfree(*buf);
        *cap = (size_t)count > 4096 ? (size_t)count : 4096;
        *buf = xmalloc(*cap);
    }
    MPI_Mrecv(*buf, count, MPI_BYTE, &msg, &st);
    *src = st.MPI_SOURCE;
    return (size_t)count;
}

void comm_bcast_bytes(const Comm *c, void *buf, size_t len) {
    CommReq *r = comm_ibcast_bytes(buf, len);
    wait_or_timeout(c, &r, "a broadcast from the learner");
}

void comm_bcast_floats(const Comm *c, float *buf, size_t n, size_t chunk_elems) {
    CommReq *r = comm_ibcast_floats(buf, n, chunk_elems);
    wait_or_timeout(c, &r, "the weight broadcast");
}

void comm_gather_u64(const Comm *c, uint64_t value, uint64_t *out) {
    CommReq *r = req_new(1);
    MPI_Igather(&value, 1, MPI_UINT64_T, out, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD, &r->req[0]);
    wait_or_timeout(c, &r, "the weight-checksum gather");
}

void comm_gather_doubles(const Comm *c, const double *vals, int n, double *out) {
    CommReq *r = req_new(1);
    MPI_Igather(vals, n, MPI_DOUBLE, out, n, MPI_DOUBLE, 0, MPI_COMM_WORLD, &r->req[0]);
    wait_or_timeout(c, &r, "the phase-timer gather");
}

void comm_gather_bytes(const Comm *c, const void *in, size_t len, void *out) {
    CHECK(len < (size_t)INT_MAX);
    CommReq *r = req_new(1);
    MPI_Igather(in, (int)len, MPI_BYTE, out, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD, &r->req[0]);
    wait_or_timeout(c, &r, "the actor-state gather");
}

int comm_max_int(const Comm *c, int value) {
    int out = 0;
    CommReq *r = req_new(1);
    MPI_Iallreduce(&value, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &r->req[0]);
    wait_or_timeout(c, &r, "the other ranks' stop vote");
    return out;
}

void comm_barrier(void) { MPI_Barrier(MPI_COMM_WORLD); }

static CommReq *req_new(int n) {
    CommReq *r = xmalloc(sizeof(CommReq) + sizeof(MPI_Request) * (size_t)n);
    r->n = n;
    return r;
}

int comm_try_recv(void **buf, size_t *cap, int tag, int *src, size_t *len) {
    MPI_Message msg;
    MPI_Status st;
    int flag = 0;
    MPI_Improbe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &flag, &msg, &st);
    if (!flag) return 0;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    if ((size_t)count > *cap || *buf == NULL) {
        xfree(*buf);
        *cap = (size_t)count > 4096 ? (size_t)count : 4096;
        *buf = xmalloc(*cap);
    }
    MPI_Mrecv(*buf, count, MPI_BYTE, &msg, &st);
    *src = st.MPI_SOURCE;
    *len = (size_t)count;
    return 1;
}

CommReq *comm_isend(const void *buf, size_t len, int dest, int tag) {
    CHECK(len < (size_t)INT_MAX);
    CommReq *r = req_new(1);
    MPI_Isend(buf, (int)len, MPI_BYTE, dest, tag, MPI_COMM_WORLD, &r->req[0]);
    return r;
}

CommReq *comm_ibcast_bytes(void *buf, size_t len) {
    CHECK(len < (size_t)INT_MAX);
    CommReq *r = req_new(1);
    MPI_Ibcast(buf, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD, &r->req[0]);
    return r;
}

CommReq *comm_ibcast_floats(float *buf, size_t n, size_t chunk_elems) {
    CHECK(chunk_elems > 0 && chunk_elems * sizeof(float) < (size_t)INT_MAX);
    int chunks = (int)((n + chunk_elems - 1) / chunk_elems);
    CommReq *r = req_new(chunks > 0 ? chunks : 1);
    r->n = chunks;
    for (int i = 0; i < chunks; i++) {
        size_t off = (size_t)i * chunk_elems;
        size_t cnt = n - off < chunk_elems ? n - off : chunk_elems;
        MPI_Ibcast(buf + off, (int)cnt, MPI_FLOAT, 0, MPI_COMM_WORLD, &r->req[i]);
    }
    return r;
}

int comm_test(CommReq **r) {
    if (!*r) return 1;
    int done = 0;
    MPI_Testall((*r)->n, (*r)->req, &done, MPI_STATUSES_IGNORE);
    if (!done) return 0;
    xfree(*r);
    *r = NULL;
    return 1;
}

/* Tags of the liveness probe (wire.h TAG_PING / TAG_PONG). */
enum { PING_TAG = 6, PONG_TAG = 7 };

void comm_idle(void) {
    int rank = 0, flag = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank != 0) {
        MPI_Message msg;
        MPI_Status st;
        MPI_Improbe(0, PING_TAG, MPI_COMM_WORLD, &flag, &msg, &st);
        if (flag) {
            MPI_Mrecv(NULL, 0, MPI_BYTE, &msg, &st);
            MPI_Request r;
            MPI_Isend(NULL, 0, MPI_BYTE, 0, PONG_TAG, MPI_COMM_WORLD, &r);
            MPI_Request_free(&r);
        }
    }
    struct timespec ts = {0, 200 * 1000}; /* 0.2 ms */
    nanosleep(&ts, NULL);
}

int comm_find_silent(int *silent, int max, double wait_s) {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int *answered = xcalloc((size_t)size, sizeof(int));
    for (int r = 1; r < size; r++) {
        MPI_Request req;
        MPI_Isend(NULL, 0, MPI_BYTE, r, PING_TAG, MPI_COMM_WORLD, &req);
        MPI_Request_free(&req);
    }
    double end = now_seconds() + wait_s;
    while (now_seconds() < end) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        MPI_Improbe(MPI_ANY_SOURCE, PONG_TAG, MPI_COMM_WORLD, &flag, &msg, &st);
        if (flag) {
            MPI_Mrecv(NULL, 0, MPI_BYTE, &msg, &st);
            answered[st.MPI_SOURCE] = 1;
        } else {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    int n = 0;
    for (int r = 1; r < size; r++)
        if (!answered[r] && n < max) silent[n++] = r;
    xfree(answered);
    return n;
}

int comm_wait_until(CommReq **r, double deadline) { return poll_until(r, deadline, NULL, NULL); }

void comm_barrier_idle(double poll_seconds) {
    MPI_Request req;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    const struct timespec ts = {.tv_sec = (time_t)poll_seconds,
                                .tv_nsec = (long)((poll_seconds - (double)(time_t)poll_seconds) * 1e9)};
    for (int done = 0;;) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done) return;
        nanosleep(&ts, NULL);
    }
}

/* ---- the learners' communicator ---------------------------------------- */

struct CommGroup {
    MPI_Comm comm;
    int rank, size;
    const Comm *world; /* its deadline and time-out handler */
    float *scratch;    /* two learners' gradient sum: the peer's copy of my half */
    size_t scratch_n;
};

CommGroup *comm_group_first(const Comm *c, int k) {
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, c->rank < k ? 0 : MPI_UNDEFINED, c->rank, &sub);
    if (sub == MPI_COMM_NULL) return NULL;
    CommGroup *g = xcalloc(1, sizeof *g);
    g->comm = sub;
    g->world = c;
    MPI_Comm_rank(sub, &g->rank);
    MPI_Comm_size(sub, &g->size);
    return g;
}

void comm_group_free(CommGroup *g) {
    if (!g) return;
    MPI_Comm_free(&g->comm);
    xfree(g->scratch);
    xfree(g);
}

int comm_group_rank(const CommGroup *g) { return g->rank; }
int comm_group_size(const CommGroup *g) { return g->size; }

/* Largest MPI count per call: 2^28 elements of at most 8 bytes. */
enum { GROUP_CHUNK = 1 << 28 };

static void group_allreduce(const CommGroup *g, void *buf, size_t n, MPI_Datatype type,
                            size_t elem, MPI_Op op, const char *what) {
    char *p = buf;
    for (size_t off = 0; off < n; off += GROUP_CHUNK) {
        const size_t cnt = n - off < GROUP_CHUNK ? n - off : GROUP_CHUNK;
        CommReq *r = req_new(1);
        MPI_Iallreduce(MPI_IN_PLACE, p + off * elem, (int)cnt, type, op, g->comm, &r->req[0]);
        wait_or_timeout(g->world, &r, what);
    }
}

/* Sends buf[0, n_send) to the group's other rank and receives n_recv
 * floats from it into into, at once (tag tells the two exchanges apart). */
static void pair_exchange(const CommGroup *g, const float *buf, size_t n_send, float *into,
                          size_t n_recv, int tag, const char *what) {
    const int peer = 1 - g->rank;
    for (size_t off = 0; off < n_send || off < n_recv; off += GROUP_CHUNK) {
        const size_t s = off < n_send ? (n_send - off < GROUP_CHUNK ? n_send - off : GROUP_CHUNK) : 0;
        const size_t r = off < n_recv ? (n_recv - off < GROUP_CHUNK ? n_recv - off : GROUP_CHUNK) : 0;
        CommReq *q = req_new(2);
        MPI_Irecv(into + off, (int)r, MPI_FLOAT, peer, tag, g->comm, &q->req[0]);
        MPI_Isend(buf + off, (int)s, MPI_FLOAT, peer, tag, g->comm, &q->req[1]);
        wait_or_timeout(g->world, &q, what);
    }
}

/* Two ranks: each sums one half of buf (rank 0 [0, n/2), rank 1 the rest)
 * from its own copy and the peer's, then the summed halves are swapped:
 * reduce-scatter + allgather by hand, each rank adding n/2 floats and
 * moving n. Open MPI 4.1's MPI_Iallreduce (libnbc) picks a binomial tree
 * for 2 ranks, which adds all n on rank 0 and sends them back: on the
 * 2-core Xeon, shared memory, 4.3M floats took 15-17 ms that way against
 * 6.2-6.6 ms for libnbc's own ring and reduce-scatter algorithms (the
 * shape built here), and with the machine loaded by other jobs this
 * function took 15-27 ms against the allreduce's 32-47 ms (16M floats:
 * 53-59 against 204-241 ms). Float addition commutes, so both ranks hold
 * the same bits, the ones the allreduce gave. */
static void pair_sum_floats(CommGroup *g, float *buf, size_t n) {
    const size_t h = n / 2, lo = g->rank == 0 ? 0 : h, mine = g->rank == 0 ? h : n - h;
    const size_t plo = g->rank == 0 ? h : 0, peers = n - mine;
    if (g->scratch_n < mine) {
        xfree(g->scratch);
        g->scratch = xmalloc(sizeof(float) * (mine > 0 ? mine : 1));
        g->scratch_n = mine;
    }
    pair_exchange(g, buf + plo, peers, g->scratch, mine, 1, "the learners' gradient sum");
    float *a = buf + lo;
    const float *b = g->scratch;
    for (size_t i = 0; i < mine; i++) a[i] += b[i];
    pair_exchange(g, buf + lo, mine, buf + plo, peers, 2, "the learners' gradient sum");
}

void comm_group_sum_floats(CommGroup *g, float *buf, size_t n) {
    if (g->size == 2) {
        pair_sum_floats(g, buf, n);
        return;
    }
    group_allreduce(g, buf, n, MPI_FLOAT, sizeof(float), MPI_SUM, "the learners' gradient sum");
}

void comm_group_sum_doubles(const CommGroup *g, double *buf, int n) {
    group_allreduce(g, buf, (size_t)n, MPI_DOUBLE, sizeof(double), MPI_SUM,
                    "the learners' statistics sum");
}

void comm_group_max_doubles(const CommGroup *g, double *buf, int n) {
    group_allreduce(g, buf, (size_t)n, MPI_DOUBLE, sizeof(double), MPI_MAX,
                    "the learners' statistics maximum");
}

void comm_group_bcast_bytes(const CommGroup *g, void *buf, size_t len) {
    char *p = buf;
    for (size_t off = 0; off < len; off += GROUP_CHUNK) {
        const size_t cnt = len - off < GROUP_CHUNK ? len - off : GROUP_CHUNK;
        CommReq *r = req_new(1);
        MPI_Ibcast(p + off, (int)cnt, MPI_BYTE, 0, g->comm, &r->req[0]);
        wait_or_timeout(g->world, &r, "a broadcast from learner 0 to the learners");
    }
}

void comm_group_bcast_floats(const CommGroup *g, float *buf, size_t n) {
    for (size_t off = 0; off < n; off += GROUP_CHUNK) {
        const size_t cnt = n - off < GROUP_CHUNK ? n - off : GROUP_CHUNK;
        CommReq *r = req_new(1);
        MPI_Ibcast(buf + off, (int)cnt, MPI_FLOAT, 0, g->comm, &r->req[0]);
        wait_or_timeout(g->world, &r, "the learners' state broadcast");
    }
}
