/* intake.h: the learner's receive side, shared by the synchronous and the
 * asynchronous loops. It polls every actor (matched probe, never blocking
 * on a single one), decodes and validates each group record, and keeps one
 * bounded FIFO per actor in arrival order, which MPI's non-overtaking rule
 * makes the actor's sequence order. A step takes each actor's quota from
 * its queue, so a batch never depends on arrival timing. Bad messages are
 * counted and dropped (leaving a hole in the sequence, so a step never
 * waits for a message that will not come); groups staler than max_staleness are counted and
 * dropped; an actor silent for the deadline is reported by rank. */
#ifndef LEARNER_INTAKE_H
#define LEARNER_INTAKE_H

#include <stdint.h>

#include "comm.h"
#include "plan.h"
#include "wire.h"

typedef struct {
    const Comm *comm;   /* its deadline bounds every wait */
    int size;            /* ranks */
    int first;           /* the first actor rank (plan.h: Roles); queues for [first, size) */
    int *quota;          /* (size) groups each actor contributes per step */
    int queue_cap;       /* per actor: backpressure bound */
    Group **q;           /* (size) per-actor ring of decoded groups */
    int *q_head, *q_len;
    double *last_heard;  /* (size) time of the last message from each rank */
    uint64_t *last_seq, *last_version;
    int G, n_components;
    WireCodec *codec;
    WireLimits lim;
    void *buf;           /* receive buffer (grown on demand) */
    size_t cap;
    long n_bad, n_stale;          /* cumulative */
    double wire_bytes, raw_bytes; /* since the last intake_take */
    double *gen_s, *verify_s; /* (size) per actor, reset by the caller each step */
    int *done;           /* (size) end-of-stream marker seen (async drain) */
} Intake;

void intake_init(Intake *in, const TrainPlan *plan, int max_new_tokens, const Comm *comm,
                 int vocab_size, int bos_id, int max_seq_len,
                 int n_components, int max_staleness);
void intake_free(Intake *in);

/* Decodes and validates one message of len bytes from rank src into src's
 * queue (intake_poll's step for each message received; tests call it
 * directly). A bad message is counted in n_bad, reported on stderr, and
 * leaves a hole; an empty one is src's end-of-stream marker. The caller
 * checks that src's queue has room. */
void intake_accept(Intake *in, int src, const void *msg, size_t len);

/* Queues a group of rank src's own making without the wire (the lead's
 * share in the colocated layout); the intake takes ownership of g's
 * arrays. */
void intake_push(Intake *in, int src, const Group *g);

/* Receives every message waiting, from actors whose queues have room.
 * Returns how many were received. */
int intake_poll(Intake *in);

/* Polls until every actor has its quota queued. Calls idle(ctx) between
 * polls (the async loop publishes weights there; may be NULL); when it
 * returns nonzero the wait is abandoned and -1 returned. If an actor
 * lacking groups has been silent for the comm deadline since max(its last
 * message, the start of this wait), returns that rank; else 0. */
int intake_wait_batch(Intake *in, int (*idle)(void *ctx), void *ctx);

/* Pops each actor's quota (rank order) into out, dropping and counting
 * groups more than max_staleness versions behind version. Returns the
 * number of groups in out (the caller group_free's them). */
int intake_take(Intake *in, Group *out, uint64_t version, int max_staleness);

/* Describes what the learner last heard from rank into msg. */
void intake_describe(const Intake *in, int rank, char *msg, size_t cap);

/* Async shutdown: receives and discards until every actor has sent its
 * end-of-stream marker (an empty message). Returns 0, or the rank that
 * stayed silent past the deadline. */
int intake_drain(Intake *in);

#endif
