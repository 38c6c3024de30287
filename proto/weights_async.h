/* weights_async.h: the weight channel of the asynchronous mode.
 *
 * The learner publishes weights with one nonblocking broadcast of a single
 * buffer: [16-byte control (wire.h 4) | 64-byte weight header (wire.h 2) |
 * padding to 128 bytes | params as float32], chunked below 2^31 bytes.
 * Every actor keeps a matching receive posted into a back buffer and polls
 * it between decode steps, so generation never stops for the transfer; new
 * weights are verified against the header checksum and swapped in between
 * batches. The learner drives each publication to delivery before it
 * trains on (MPI progresses a nonblocking broadcast only inside MPI calls),
 * so one is in flight at a time and no actor ever sees a torn buffer. */
#ifndef PROTO_WEIGHTS_ASYNC_H
#define PROTO_WEIGHTS_ASYNC_H

#include <stddef.h>
#include <stdint.h>

#include "comm.h"

enum { WCHAN_PREFIX_FLOATS = 32 }; /* 128 bytes: control + header + padding */

typedef struct {
    size_t n;          /* parameters */
    float *buf;        /* (WCHAN_PREFIX_FLOATS + n) the broadcast buffer */
    CommReq *req;      /* in-flight broadcast, NULL when idle or arrived */
    int arrived;       /* actor: a publication completed, not yet installed */
    int rank;
} WeightChannel;

void wchan_init(WeightChannel *w, size_t n_params, int rank);
void wchan_free(WeightChannel *w);

/* Learner: 1 while the last post is still being delivered. */
int wchan_busy(WeightChannel *w);
/* Learner: publishes params (copied) as version with command (WIRE_CMD_
 * WEIGHTS or WIRE_CMD_STOP). The channel must not be busy. */
void wchan_post(WeightChannel *w, const float *params, uint64_t version, uint32_t command);

/* Actor: posts the receive for the next publication. */
void wchan_listen(WeightChannel *w);
/* Actor: drives the posted receive (MPI progresses nonblocking collectives
 * only inside MPI calls); cheap, safe to call between decode steps. */
void wchan_progress(WeightChannel *w);
/* Actor: 0 while nothing has arrived; WIRE_CMD_WEIGHTS when new weights
 * arrived (verified, copied into params, *version set; listen again);
 * WIRE_CMD_STOP on stop. A corrupt publication is fatal (names the rank). */
uint32_t wchan_poll(WeightChannel *w, float *params, uint64_t *version);

#endif
