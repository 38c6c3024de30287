/* weights_sync.h: the weight broadcast from the learner (rank 0) to every
 * actor: a control message, the 64-byte header, then the flat parameter
 * buffer in chunks below 2^31 bytes; each actor checks the checksum. Built
 * on comm.h's wrappers (byte layouts in wire.h). */
#ifndef PROTO_WEIGHTS_SYNC_H
#define PROTO_WEIGHTS_SYNC_H

#include <stddef.h>
#include <stdint.h>

/* Learner: tells the actors to stop (they leave their loop). */
void control_send_stop(void);

/* Learner: broadcasts params[n] as policy version. Actors: see
 * weights_recv. Collective over all ranks. */
void weights_send(const float *params, size_t n, uint64_t version);

/* Actor: waits for the next control message. Returns 1 if weights follow
 * (they are then received into params[n], verified, and *version set), 0 on
 * stop. A bad header or checksum is fatal: an actor must never sample from
 * weights it cannot vouch for; the message names the rank and version. */
int weights_recv(float *params, size_t n, uint64_t *version, int rank);

/* Every rank: gathers hash64 of each rank's params at rank 0. On rank 0
 * returns 0 if all equal, else -1 with err naming the ranks that differ. */
int weights_check_all(const float *params, size_t n, uint64_t version, int rank, int size,
                      char *err, size_t errlen);

#endif
