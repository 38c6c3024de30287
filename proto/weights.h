/* weights.h: the weight broadcast, a 64-byte header then the flat float
 * parameter buffer in chunks below 2^31 bytes. Byte layout: see the top
 * comment of wire.h (sections 2 and 3). No MPI calls here. */
#ifndef PROTO_WEIGHTS_H
#define PROTO_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define WEIGHTS_MAGIC "GRPOWGHT" /* 8 bytes on the wire, no NUL */
enum { WEIGHTS_FORMAT_VERSION = 1, WEIGHTS_HEADER_BYTES = 64 };
/* 256 MiB: far below the 2^31-byte MPI int-count limit, small enough that
 * a chunk in flight costs little extra memory. */
#define WEIGHTS_DEFAULT_CHUNK_BYTES ((size_t)1 << 28)
/* Largest chunk in bytes: a whole number of floats strictly below 2^31. */
#define WEIGHTS_MAX_CHUNK_BYTES ((((size_t)1 << 31) - 1) & ~(size_t)3)

/* In-memory header (host order); the wire form is weights_header_encode's. */
typedef struct {
    char magic[8];           /* WEIGHTS_MAGIC */
    uint32_t version;        /* WEIGHTS_FORMAT_VERSION */
    uint64_t n_params;       /* floats in the buffer */
    uint64_t policy_version;
    uint64_t checksum;       /* hash64 of the n_params*4 buffer bytes */
    uint64_t chunk_elems;    /* floats per chunk (last may be shorter) */
    uint64_t n_chunks;       /* ceil(n_params / chunk_elems) */
} WeightsHeader;

/* Header for params[n] at policy_version: hashes the buffer and splits it
 * into chunks of chunk_bytes (0 = WEIGHTS_DEFAULT_CHUNK_BYTES; rounded
 * down to whole floats). Dies if chunk_bytes is below 4 or above
 * WEIGHTS_MAX_CHUNK_BYTES (a configuration bug). params may be NULL only
 * when n == 0. */
WeightsHeader weights_header_make(const float *params, uint64_t n, uint64_t policy_version,
                                  size_t chunk_bytes);
/* Sets h's magic, version, n_params, chunk_elems and n_chunks for n floats
 * in chunks of chunk_bytes (as weights_header_make, without hashing: the
 * chunk plan alone). Dies on a chunk size outside 4..WEIGHTS_MAX_CHUNK_BYTES. */
void weights_header_layout(WeightsHeader *h, uint64_t n, size_t chunk_bytes);
/* Writes h as exactly WEIGHTS_HEADER_BYTES little-endian bytes, with CRC. */
void weights_header_encode(const WeightsHeader *h, uint8_t out[WEIGHTS_HEADER_BYTES]);
/* Parses len bytes into *h: 0, or WIRE_EHEADER with err (wrong length,
 * magic, header size or CRC). Semantic checks are weights_header_check's. */
int weights_header_decode(const uint8_t *in, size_t len, WeightsHeader *h, char *err,
                          size_t errlen);
/* Checks magic, format version, n_params == expected_n_params and that the
 * chunking is consistent and each chunk < 2^31 bytes: 0 or WIRE_EHEADER. */
int weights_header_check(const WeightsHeader *h, uint64_t expected_n_params, char *err,
                         size_t errlen);
/* 0 if hash64 of params[h->n_params] equals h->checksum, else
 * WIRE_ECHECKSUM. */
int weights_verify(const WeightsHeader *h, const float *params);
/* Chunk i covers params[*offset, *offset + *count). Returns 0, or WIRE_EARG
 * if i >= h->n_chunks (outputs then 0). */
int weights_chunk(const WeightsHeader *h, uint64_t i, uint64_t *offset, uint64_t *count);

#endif
