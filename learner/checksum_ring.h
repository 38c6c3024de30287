/* checksum_ring.h: the weight checksums the learner published recently,
 * kept so that the checksums actors report in asynchronous mode can be
 * checked against them.
 *
 * An actor reports version v (a multiple of checksum_every) when it
 * installs v, which can be several publications later than the learner
 * published it, and the learner reads the reports between steps. How far
 * behind a report can be is bounded by the staleness rule: the groups of
 * step k are sampled with weights of version >= k - 1 - max_staleness, so
 * once the learner has the whole batch of step k every actor has installed
 * (and reported) every version up to k - 1 - max_staleness, and the
 * learner has published k - 1 at most. A report is thus at most
 * max_staleness + 2 versions old when the learner reads it after that
 * step's intake; the ring holds twice that many checked versions, as
 * slack for MPI, which does not order messages of different tags. */
#ifndef LEARNER_CHECKSUM_RING_H
#define LEARNER_CHECKSUM_RING_H

#include <stdint.h>

typedef struct {
    int n;              /* slots */
    uint64_t every;     /* checksum_every: only its multiples are kept */
    uint64_t *version;  /* (n) UINT64_MAX = empty */
    uint64_t *value;    /* (n) */
} ChecksumRing;

/* Slots needed for max_staleness and checksum_every (see above). */
int checksum_ring_slots(int max_staleness, int checksum_every);
void checksum_ring_init(ChecksumRing *r, int max_staleness, int checksum_every);
void checksum_ring_free(ChecksumRing *r);
/* Records the checksum of version (a multiple of every; others ignored). */
void checksum_ring_put(ChecksumRing *r, uint64_t version, uint64_t value);

enum { RING_MATCH = 0, RING_MISMATCH = 1, RING_UNKNOWN = -1 };
/* Checks a reported (version, value): RING_MATCH, RING_MISMATCH (*expected
 * set to the learner's checksum), or RING_UNKNOWN when the version is not
 * held (never published, or older than the ring: the caller says so). */
int checksum_ring_check(const ChecksumRing *r, uint64_t version, uint64_t value,
                        uint64_t *expected);

#endif
