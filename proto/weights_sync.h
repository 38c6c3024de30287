/* weights_sync.h: the weight broadcast from the learner (rank 0) to every
 * actor: a control message, the 64-byte header, then the flat parameter
 * buffer in chunks below 2^31 bytes; each actor checks the checksum. Built
 * on comm.h's wrappers (byte layouts in wire.h). */
#ifndef PROTO_WEIGHTS_SYNC_H
#define PROTO_WEIGHTS_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "comm.h"

/* Learner: sends a command without payload (WIRE_CMD_STOP: actors leave
 * their loop; WIRE_CMD_GENERATE: sample this step's groups). */
void control_send(const Comm *c, uint32_t command);
/* The same with its argument (WIRE_CMD_VERSION: the version the weights
 * every rank holds now are). */
void control_send_arg(const Comm *c, uint32_t command, uint64_t arg);

/* Learner: broadcasts params[n] as policy version. Actors: see
 * weights_recv. Collective over all ranks. */
void weights_send(const Comm *c, const float *params, size_t n, uint64_t version);

/* Actor: waits for the next control message and returns its command. For
 * WIRE_CMD_WEIGHTS the weights are received into params[n], verified, and
 * *version set; for WIRE_CMD_VERSION only *version is set. A bad header or checksum is fatal: an actor must never
 * sample from weights it cannot vouch for; the message names the rank and
 * version. */
uint32_t control_recv(const Comm *c, float *params, size_t n, uint64_t *version);

/* Every rank: gathers hash64 of each rank's params at rank 0. On rank 0
 * returns 0 if all equal, else -1 with err naming the ranks that differ. */
int weights_check_all(const Comm *c, const float *params, size_t n, uint64_t version,
                      char *err, size_t errlen);

#endif
