#include "checksum_ring.h"

#include "util.h"

int checksum_ring_slots(int max_staleness, int checksum_every) {
    int every = checksum_every > 0 ? checksum_every : 1;
    /* checked versions within max_staleness + 2 of the newest, plus one
     * for the rounding, doubled as slack */
    long span = ((long)max_staleness + 2) / every + 2;
    return (int)(2 * span);
}

void checksum_ring_init(ChecksumRing *r, int max_staleness, int checksum_every) {
    r->n = checksum_ring_slots(max_staleness, checksum_every);
    r->every = (uint64_t)(checksum_every > 0 ? checksum_every : 1);
    r->version = xmalloc(sizeof(uint64_t) * (size_t)r->n);
    r->value = xcalloc((size_t)r->n, sizeof(uint64_t));
    for (int i = 0; i < r->n; i++) r->version[i] = UINT64_MAX;
}

void checksum_ring_free(ChecksumRing *r) {
    xfree(r->version);
    xfree(r->value);
    r->version = r->value = NULL;
    r->n = 0;
}

/* Slot of a checked version: consecutive checked versions take
 * consecutive slots, so n of them fit whatever checksum_every is. */
static int slot(const ChecksumRing *r, uint64_t version) {
    return (int)((version / r->every) % (uint64_t)r->n);
}

void checksum_ring_put(ChecksumRing *r, uint64_t version, uint64_t value) {
    if (version % r->every != 0) return;
    int i = slot(r, version);
    r->version[i] = version;
    r->value[i] = value;
}

int checksum_ring_check(const ChecksumRing *r, uint64_t version, uint64_t value,
                        uint64_t *expected) {
    if (version % r->every != 0) return RING_UNKNOWN;
    int i = slot(r, version);
    if (r->version[i] != version) return RING_UNKNOWN;
    *expected = r->value[i];
    return r->value[i] == value ? RING_MATCH : RING_MISMATCH;
}
