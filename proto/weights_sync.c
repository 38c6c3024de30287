#include "weights_sync.h"

#include <stdio.h>
#include <string.h>

#include "comm.h"
#include "util.h"
#include "weights.h"
#include "wire.h"

void control_send_arg(const Comm *c, uint32_t command, uint64_t arg) {
    uint8_t ctl[WIRE_CONTROL_BYTES];
    wire_control_encode(command, arg, ctl);
    comm_bcast_bytes(c, ctl, sizeof ctl);
}

void control_send(const Comm *c, uint32_t command) { control_send_arg(c, command, 0); }

void weights_send(const Comm *c, const float *params, size_t n, uint64_t version) {
    uint8_t ctl[WIRE_CONTROL_BYTES], hdr[WEIGHTS_HEADER_BYTES];
    wire_control_encode(WIRE_CMD_WEIGHTS, version, ctl);
    comm_bcast_bytes(c, ctl, sizeof ctl);
    WeightsHeader h = weights_header_make(params, n, version, 0);
    weights_header_encode(&h, hdr);
    comm_bcast_bytes(c, hdr, sizeof hdr);
    comm_bcast_floats(c, (float *)params, n, h.chunk_elems); /* root only reads */
}

uint32_t control_recv(const Comm *c, float *params, size_t n, uint64_t *version) {
    const int rank = c->rank;
    uint8_t ctl[WIRE_CONTROL_BYTES], hdr[WEIGHTS_HEADER_BYTES];
    char err[256];
    comm_bcast_bytes(c, ctl, sizeof ctl);
    uint32_t cmd;
    uint64_t arg;
    if (wire_control_decode(ctl, sizeof ctl, &cmd, &arg, err, sizeof err) != 0)
        die("actor rank %d: bad control message from the learner: %s", rank, err);
    if (cmd == WIRE_CMD_VERSION) *version = arg;
    if (cmd != WIRE_CMD_WEIGHTS) return cmd;
    comm_bcast_bytes(c, hdr, sizeof hdr);
    WeightsHeader h;
    if (weights_header_decode(hdr, sizeof hdr, &h, err, sizeof err) != 0 ||
        weights_header_check(&h, n, err, sizeof err) != 0)
        die("actor rank %d: bad weight header for version %llu: %s", rank,
            (unsigned long long)arg, err);
    comm_bcast_floats(c, params, n, h.chunk_elems);
    if (weights_verify(&h, params) != 0)
        die("actor rank %d: weights of version %llu fail their checksum after the broadcast",
            rank, (unsigned long long)h.policy_version);
    *version = h.policy_version;
    return WIRE_CMD_WEIGHTS;
}

int weights_check_all(const Comm *c, const float *params, size_t n, uint64_t version,
                      char *err, size_t errlen) {
    const int rank = c->rank, size = c->size;
    uint64_t mine = hash64(params, n * sizeof(float));
    uint64_t *all = rank == 0 ? xcalloc((size_t)size, sizeof(uint64_t)) : NULL;
    comm_gather_u64(c, mine, all);
    if (rank != 0) return 0;
    char bad[256] = "";
    for (int r = 1; r < size; r++)
        if (all[r] != all[0]) {
            char item[24];
            snprintf(item, sizeof item, "%s%d", bad[0] ? ", " : "", r);
            strncat(bad, item, sizeof bad - strlen(bad) - 1);
        }
    uint64_t learner_sum = all[0];
    xfree(all);
    if (!bad[0]) return 0;
    set_err(err, errlen,
            "weights differ from the learner's at version %llu on actor rank(s) %s "
            "(learner checksum %016llx)",
            (unsigned long long)version, bad, (unsigned long long)learner_sum);
    return -1;
}
