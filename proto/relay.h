/* relay.h: learner 0 hands a step's batch to the other data-parallel
 * learners. Every learner needs the whole batch (its advantages,
 * statistics and the loss's normalisers come from all of it, grpo_step.h),
 * but only the lead receives the actors' groups, validates them and counts
 * the bad ones; it then broadcasts the good ones over the learners' group
 * in the wire format (wire.h 1: msgpack + zstd), so the others decode
 * exactly the records it accepted. Layout of the broadcast: u64 byte count
 * of the body, then the body: u32 group count, then per group u32 length
 * and the record. */
#ifndef PROTO_RELAY_H
#define PROTO_RELAY_H

#include "comm.h"
#include "wire.h"

/* Lead: broadcasts groups[0..n) (n may be 0: an empty step). */
void relay_send(const CommGroup *g, WireCodec *codec, const Group *groups, int n);

/* Other learners: receives the lead's batch into out (room for max
 * groups; the caller group_free's them) and returns its count. A record
 * that does not decode under lim, or more than max groups, is fatal: the
 * lead validated every record, so it can only be a bug. */
int relay_recv(const CommGroup *g, WireCodec *codec, const WireLimits *lim, Group *out, int max);

#endif
