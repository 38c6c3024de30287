/* fuzz_headers.c: the fixed-size messages: the 64-byte weight header
 * (weights_header_decode + weights_header_check + weights_chunk), the
 * 16-byte control message and the 16-byte checksum reply.
 *
 * The weight header carries a CRC, so each input is tried as sent and then
 * with a repaired CRC (its first 64 bytes), to reach the field checks.
 * Properties: a reject names the problem; an accepted header or control
 * message re-encodes to the same bytes (header: the 60 before "reserved"); an accepted chunk plan covers [0, n_params) exactly
 * with chunks below 2^31 bytes. */
#include "fuzz_common.h"
#include "util.h"
#include "weights.h"
#include "wire.h"

/* The parameter count of the model the receiver holds (any fixed value). */
#define EXPECTED_N_PARAMS 1234567ull

/* Checks the chunk plan of a header that passed weights_header_check. */
static void check_chunks(const WeightsHeader *h) {
    FUZZ_REQUIRE(h->chunk_elems >= 1 && h->chunk_elems * 4 < ((uint64_t)1 << 31));
    uint64_t off, cnt;
    if (h->n_params == 0) {
        FUZZ_REQUIRE(h->n_chunks == 0);
        FUZZ_REQUIRE(weights_chunk(h, 0, &off, &cnt) == WIRE_EARG);
        return;
    }
    FUZZ_REQUIRE(weights_chunk(h, 0, &off, &cnt) == WIRE_OK && off == 0 && cnt >= 1);
    const uint64_t last = h->n_chunks - 1;
    FUZZ_REQUIRE(weights_chunk(h, last, &off, &cnt) == WIRE_OK);
    FUZZ_REQUIRE(cnt >= 1 && cnt <= h->chunk_elems && off + cnt == h->n_params);
    FUZZ_REQUIRE(off == last * h->chunk_elems);
    FUZZ_REQUIRE(weights_chunk(h, h->n_chunks, &off, &cnt) == WIRE_EARG && off == 0 && cnt == 0);
    FUZZ_REQUIRE(weights_chunk(h, UINT64_MAX, &off, &cnt) == WIRE_EARG);
}

/* Decodes the 64-byte candidate in and checks the properties above. */
static void weights_case(const uint8_t *in, size_t len) {
    WeightsHeader h;
    char err[256] = "";
    if (weights_header_decode(in, len, &h, err, sizeof err) != WIRE_OK) {
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err));
        return;
    }
    FUZZ_REQUIRE(len == WEIGHTS_HEADER_BYTES);
    uint8_t again[WEIGHTS_HEADER_BYTES];
    weights_header_encode(&h, again);
    FUZZ_REQUIRE(memcmp(again, in, 60) == 0);
    /* Against this receiver's model, then against whatever it claims. */
    const uint64_t expect[2] = {EXPECTED_N_PARAMS, h.n_params};
    for (int k = 0; k < 2; k++) {
        err[0] = '\0';
        if (weights_header_check(&h, expect[k], err, sizeof err) == WIRE_OK) check_chunks(&h);
        else FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err));
    }
    /* weights_chunk must stay in range even on a header that failed the check. */
    uint64_t off, cnt;
    for (uint64_t i = 0; i < 3; i++)
        if (weights_chunk(&h, i, &off, &cnt) == WIRE_OK)
            FUZZ_REQUIRE(cnt >= 1 && off < h.n_params && cnt <= h.n_params - off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* weight header: as sent, then with the CRC repaired */
    weights_case(data, size);
    if (size >= WEIGHTS_HEADER_BYTES) {
        uint8_t fixed[WEIGHTS_HEADER_BYTES];
        memcpy(fixed, data, sizeof fixed);
        wire_put_u32(fixed + 56, crc32_update(0, fixed, 56));
        weights_case(fixed, sizeof fixed);
    }

    /* control message: accepted only as the 16 bytes of a known command */
    uint32_t cmd;
    uint64_t arg;
    char err[256] = "";
    const int rc = wire_control_decode(data, size, &cmd, &arg, err, sizeof err);
    if (rc == WIRE_OK) {
        FUZZ_REQUIRE(size == WIRE_CONTROL_BYTES);
        /* the set of commands grows (WireCommand); 0 is never one */
        FUZZ_REQUIRE(cmd != 0 && cmd == wire_get_u32(data + 4));
        uint8_t again[WIRE_CONTROL_BYTES];
        wire_control_encode(cmd, arg, again);
        FUZZ_REQUIRE(memcmp(again, data, WIRE_CONTROL_BYTES) == 0);
    } else {
        FUZZ_REQUIRE(rc == WIRE_EHEADER && cmd == 0 && arg == 0 && fuzz_err_ok(err, sizeof err));
    }

    /* checksum reply: any 16 bytes are valid and round-trip */
    uint64_t version, sum;
    if (wire_checksum_decode(data, size, &version, &sum) == WIRE_OK) {
        FUZZ_REQUIRE(size == WIRE_CHECKSUM_BYTES);
        uint8_t again[WIRE_CHECKSUM_BYTES];
        wire_checksum_encode(version, sum, again);
        FUZZ_REQUIRE(memcmp(again, data, WIRE_CHECKSUM_BYTES) == 0);
    } else {
        FUZZ_REQUIRE(size != WIRE_CHECKSUM_BYTES && version == 0 && sum == 0);
    }
    return 0;
}
