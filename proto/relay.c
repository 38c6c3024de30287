#include "relay.h"

#include <string.h>

#include "util.h"

/* Grows *buf (capacity *cap, len bytes used) to hold need bytes. */
static void grow(uint8_t **buf, size_t *cap, size_t len, size_t need) {
    if (need <= *cap) return;
    while (*cap < need) *cap *= 2;
    uint8_t *bigger = xmalloc(*cap);
    memcpy(bigger, *buf, len);
    xfree(*buf);
    *buf = bigger;
}

void relay_send(const CommGroup *g, WireCodec *codec, const Group *groups, int n) {
    size_t cap = 4096, len = 4;
    uint8_t *body = xmalloc(cap);
    wire_put_u32(body, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const uint8_t *msg;
        size_t mlen;
        int rc = wire_encode_group(codec, &groups[i], &msg, &mlen);
        if (rc != 0) die("learner 0: cannot re-encode a group for the learners: %s", wire_strerror(rc));
        CHECK(mlen < UINT32_MAX);
        grow(&body, &cap, len, len + 4 + mlen);
        wire_put_u32(body + len, (uint32_t)mlen);
        memcpy(body + len + 4, msg, mlen);
        len += 4 + mlen;
    }
    uint8_t hdr[8];
    wire_put_u64(hdr, (uint64_t)len);
    comm_group_bcast_bytes(g, hdr, sizeof hdr);
    comm_group_bcast_bytes(g, body, len);
    xfree(body);
}

int relay_recv(const CommGroup *g, WireCodec *codec, const WireLimits *lim, Group *out, int max) {
    uint8_t hdr[8];
    comm_group_bcast_bytes(g, hdr, sizeof hdr);
    const uint64_t len = wire_get_u64(hdr);
    CHECK(len >= 4 && len < ((uint64_t)1 << 40));
    uint8_t *body = xmalloc((size_t)len);
    comm_group_bcast_bytes(g, body, (size_t)len);
    const int n = (int)wire_get_u32(body);
    if (n < 0 || n > max) die("learner %d: the lead relayed %d groups, at most %d fit", comm_group_rank(g), n, max);
    size_t at = 4;
    char err[512];
    for (int i = 0; i < n; i++) {
        CHECK(at + 4 <= len);
        const size_t mlen = wire_get_u32(body + at);
        CHECK(at + 4 + mlen <= len);
        if (wire_decode_group(codec, body + at + 4, mlen, lim, &out[i], err, sizeof err) != 0)
            die("learner %d: relayed group %d does not decode: %s", comm_group_rank(g), i, err);
        at += 4 + mlen;
    }
    xfree(body);
    return n;
}
