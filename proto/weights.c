/* weights.c: weight-broadcast header and chunk arithmetic (layout in wire.h). */
#include "weights.h"

#include <string.h>

#include "util.h"

void weights_header_layout(WeightsHeader *h, uint64_t n, size_t chunk_bytes) {
    if (chunk_bytes == 0) chunk_bytes = WEIGHTS_DEFAULT_CHUNK_BYTES;
    if (chunk_bytes < sizeof(float) || chunk_bytes > WEIGHTS_MAX_CHUNK_BYTES)
        die("weight chunk size %zu bytes: must be 4..%zu", chunk_bytes,
            (size_t)WEIGHTS_MAX_CHUNK_BYTES);
    if (n > SIZE_MAX / sizeof(float)) die("weight buffer of %llu floats does not fit in memory",
                                          (unsigned long long)n);
    memcpy(h->magic, WEIGHTS_MAGIC, sizeof h->magic);
    h->version = WEIGHTS_FORMAT_VERSION;
    h->n_params = n;
    h->chunk_elems = chunk_bytes / sizeof(float);
    h->n_chunks = n / h->chunk_elems + (n % h->chunk_elems != 0);
}

WeightsHeader weights_header_make(const float *params, uint64_t n, uint64_t policy_version,
                                  size_t chunk_bytes) {
    CHECK(params != NULL || n == 0);
    WeightsHeader h;
    memset(&h, 0, sizeof h);
    weights_header_layout(&h, n, chunk_bytes);
    h.policy_version = policy_version;
    h.checksum = hash64(params, (size_t)n * sizeof(float));
    return h;
}

void weights_header_encode(const WeightsHeader *h, uint8_t out[WEIGHTS_HEADER_BYTES]) {
    memset(out, 0, WEIGHTS_HEADER_BYTES);
    memcpy(out, h->magic, 8);
    wire_put_u32(out + 8, h->version);
    wire_put_u32(out + 12, WEIGHTS_HEADER_BYTES);
    wire_put_u64(out + 16, h->n_params);
    wire_put_u64(out + 24, h->policy_version);
    wire_put_u64(out + 32, h->checksum);
    wire_put_u64(out + 40, h->chunk_elems);
    wire_put_u64(out + 48, h->n_chunks);
    wire_put_u32(out + 56, crc32_update(0, out, 56));
    /* bytes 60..63 reserved, zero */
}

int weights_header_decode(const uint8_t *in, size_t len, WeightsHeader *h, char *err,
                          size_t errlen) {
    memset(h, 0, sizeof *h);
    if (in == NULL || len != WEIGHTS_HEADER_BYTES) {
        set_err(err, errlen, "weight header: %zu bytes, expected %d", len,
                WEIGHTS_HEADER_BYTES);
        return WIRE_EHEADER;
    }
    /* Magic first so a message of another kind is named as such, not as a
     * CRC error. */
    if (memcmp(in, WEIGHTS_MAGIC, 8) != 0) {
        set_err(err, errlen, "weight header: bad magic (not a GRPOWGHT header)");
        return WIRE_EHEADER;
    }
    if (wire_get_u32(in + 12) != WEIGHTS_HEADER_BYTES) {
        set_err(err, errlen, "weight header: header_bytes %u, expected %d",
                wire_get_u32(in + 12), WEIGHTS_HEADER_BYTES);
        return WIRE_EHEADER;
    }
    const uint32_t crc = crc32_update(0, in, 56);
    if (wire_get_u32(in + 56) != crc) {
        set_err(err, errlen, "weight header: CRC mismatch (stored %08x, computed %08x)",
                wire_get_u32(in + 56), crc);
        return WIRE_EHEADER;
    }
    memcpy(h->magic, in, 8);
    h->version = wire_get_u32(in + 8);
    h->n_params = wire_get_u64(in + 16);
    h->policy_version = wire_get_u64(in + 24);
    h->checksum = wire_get_u64(in + 32);
    h->chunk_elems = wire_get_u64(in + 40);
    h->n_chunks = wire_get_u64(in + 48);
    return WIRE_OK;
}

int weights_header_check(const WeightsHeader *h, uint64_t expected_n_params, char *err,
                         size_t errlen) {
    if (memcmp(h->magic, WEIGHTS_MAGIC, 8) != 0) {
        set_err(err, errlen, "weight header: bad magic (not a GRPOWGHT header)");
        return WIRE_EHEADER;
    }
    if (h->version != WEIGHTS_FORMAT_VERSION) {
        set_err(err, errlen, "weight header: format version %u, expected %d", h->version,
                WEIGHTS_FORMAT_VERSION);
        return WIRE_EHEADER;
    }
    if (h->n_params != expected_n_params) {
        set_err(err, errlen, "weight header: n_params %llu, this model has %llu",
                (unsigned long long)h->n_params, (unsigned long long)expected_n_params);
        return WIRE_EHEADER;
    }
    if (h->chunk_elems == 0 || h->chunk_elems > WEIGHTS_MAX_CHUNK_BYTES / sizeof(float)) {
        set_err(err, errlen, "weight header: chunk_elems %llu outside 1..%zu",
                (unsigned long long)h->chunk_elems, WEIGHTS_MAX_CHUNK_BYTES / sizeof(float));
        return WIRE_EHEADER;
    }
    const uint64_t want = h->n_params / h->chunk_elems + (h->n_params % h->chunk_elems != 0);
    if (h->n_chunks != want) {
        set_err(err, errlen, "weight header: n_chunks %llu, expected %llu",
                (unsigned long long)h->n_chunks, (unsigned long long)want);
        return WIRE_EHEADER;
    }
    return WIRE_OK;
}

int weights_verify(const WeightsHeader *h, const float *params) {
    if (h->n_params > SIZE_MAX / sizeof(float) || (params == NULL && h->n_params != 0))
        return WIRE_EARG;
    return hash64(params, (size_t)h->n_params * sizeof(float)) == h->checksum ? WIRE_OK
                                                                               : WIRE_ECHECKSUM;
}

int weights_chunk(const WeightsHeader *h, uint64_t i, uint64_t *offset, uint64_t *count) {
    *offset = 0;
    *count = 0;
    /* The second test also guards a header whose n_chunks was not checked:
     * it keeps i * chunk_elems below n_params, so the product cannot wrap. */
    if (i >= h->n_chunks || h->chunk_elems == 0 || h->n_params == 0 ||
        i > (h->n_params - 1) / h->chunk_elems)
        return WIRE_EARG;
    const uint64_t off = i * h->chunk_elems;
    const uint64_t left = h->n_params - off;
    *offset = off;
    *count = left < h->chunk_elems ? left : h->chunk_elems;
    return WIRE_OK;
}
