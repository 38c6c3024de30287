/* fuzz_wire.c: the trajectory group record decoder (wire_decode_group).
 *
 * Each input is tried twice:
 *   1. as the message itself (a zstd frame, as it comes off the wire);
 *   2. as the msgpack record inside a fresh, valid zstd frame (content size
 *      and checksum set), so mutations reach the msgpack and schema checks
 *      instead of dying at the zstd checksum.
 * Properties: a reject leaves the Group zeroed with a message and a known
 * code; an accepted group satisfies every documented bound and survives an
 * encode/decode round trip unchanged. Nothing leaks: group_free per input,
 * the codec and zstd context live for the process. */
#include <math.h>
#include <zstd.h>

#include "fuzz_common.h"
#include "task.h"
#include "wire.h"

/* Limits of a small run: vocabulary 98, G <= 8, P <= 64, completions <= 64. */
enum { VOCAB = 98, MAX_G = 8, MAX_P = 64, MAX_COMP = 64 };

static WireCodec *codec, *codec2;
static ZSTD_CCtx *cctx;
static uint8_t *zbuf;
static size_t zcap;

/* Checks an accepted group against lim and the documented invariants. */
static void check_group(const Group *g, const WireLimits *lim) {
    FUZZ_REQUIRE(g->block != NULL);
    FUZZ_REQUIRE(g->schema_version == WIRE_SCHEMA_VERSION);
    FUZZ_REQUIRE(g->G >= 1 && g->G <= lim->max_G);
    FUZZ_REQUIRE(g->prompt_len >= 1 && g->prompt_len <= lim->max_prompt_len);
    FUZZ_REQUIRE(g->n_components >= 0 && g->n_components <= WIRE_MAX_COMPONENTS);
    int64_t sum = 0;
    for (int i = 0; i < g->G; i++) {
        FUZZ_REQUIRE(g->completion_len[i] >= 0 &&
                     g->completion_len[i] <= lim->max_completion_len);
        sum += g->completion_len[i];
        FUZZ_REQUIRE(isfinite(g->reward[i]));
        FUZZ_REQUIRE(g->finish[i] <= WIRE_FINISH_LENGTH);
        FUZZ_REQUIRE(g->status[i] < REWARD_STATUS_COUNT);
    }
    FUZZ_REQUIRE(sum == g->n_tokens);
    FUZZ_REQUIRE(group_completion_offset(g, g->G - 1) + g->completion_len[g->G - 1] == sum);
    for (int i = 0; i < g->prompt_len; i++)
        FUZZ_REQUIRE(g->prompt[i] >= 0 && g->prompt[i] < lim->vocab_size);
    for (int64_t i = 0; i < g->n_tokens; i++) {
        FUZZ_REQUIRE(g->tokens[i] >= 0 && g->tokens[i] < lim->vocab_size);
        FUZZ_REQUIRE(isfinite(g->old_logprobs[i]) && g->old_logprobs[i] <= WIRE_LOGPROB_TOL);
    }
    for (int i = 0; i < g->G * g->n_components; i++) FUZZ_REQUIRE(isfinite(g->reward_comp[i]));
    FUZZ_REQUIRE(isfinite(g->gen_seconds) && g->gen_seconds >= 0);
    FUZZ_REQUIRE(isfinite(g->verify_seconds) && g->verify_seconds >= 0);
}

/* 1 if a and b hold the same record (bit for bit on the float columns). */
static int group_equal(const Group *a, const Group *b) {
    if (a->actor_rank != b->actor_rank || a->seq_no != b->seq_no ||
        a->prompt_id != b->prompt_id || a->policy_version != b->policy_version ||
        a->G != b->G || a->prompt_len != b->prompt_len ||
        a->n_components != b->n_components || a->n_tokens != b->n_tokens ||
        memcmp(&a->gen_seconds, &b->gen_seconds, sizeof(double)) != 0 ||
        memcmp(&a->verify_seconds, &b->verify_seconds, sizeof(double)) != 0)
        return 0;
    const size_t G = (size_t)a->G, N = (size_t)a->n_tokens;
    return memcmp(a->prompt, b->prompt, 4 * (size_t)a->prompt_len) == 0 &&
           memcmp(a->completion_len, b->completion_len, 4 * G) == 0 &&
           (N == 0 || memcmp(a->tokens, b->tokens, 4 * N) == 0) &&
           (N == 0 || memcmp(a->old_logprobs, b->old_logprobs, 4 * N) == 0) &&
           memcmp(a->reward, b->reward, 4 * G) == 0 &&
           (a->n_components == 0 ||
            memcmp(a->reward_comp, b->reward_comp, 4 * G * (size_t)a->n_components) == 0) &&
           memcmp(a->finish, b->finish, G) == 0 && memcmp(a->status, b->status, G) == 0;
}

/* Decodes msg and checks the properties above; frees everything. */
static void decode_and_check(const uint8_t *msg, size_t len, const WireLimits *lim) {
    Group g;
    char err[256];
    memset(err, 0, sizeof err);
    const int rc = wire_decode_group(codec, msg, len, lim, &g, err, sizeof err);
    FUZZ_REQUIRE(rc <= 0 && rc >= WIRE_ECHECKSUM);
    FUZZ_REQUIRE(strcmp(wire_strerror(rc), "unknown") != 0);
    if (rc != WIRE_OK) {
        Group zero;
        memset(&zero, 0, sizeof zero);
        FUZZ_REQUIRE(memcmp(&g, &zero, sizeof g) == 0);
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err) && strcmp(err, "ok") != 0);
        return;
    }
    check_group(&g, lim);
    /* Round trip: what was accepted encodes and decodes to the same group. */
    const uint8_t *out;
    size_t out_len;
    FUZZ_REQUIRE(wire_encode_group(codec2, &g, &out, &out_len) == WIRE_OK);
    Group h;
    const int rc2 = wire_decode_group(codec2, out, out_len, lim, &h, err, sizeof err);
    if (rc2 != WIRE_OK) fprintf(stderr, "round trip rejected: %s\n", err);
    FUZZ_REQUIRE(rc2 == WIRE_OK);
    FUZZ_REQUIRE(group_equal(&g, &h));
    group_free(&h);
    group_free(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!codec) {
        codec = wire_codec_new(1);
        codec2 = wire_codec_new(1);
        cctx = ZSTD_createCCtx();
        if (!cctx) abort();
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    }
    const WireLimits lim = wire_limits_make(VOCAB, MAX_G, MAX_P, MAX_COMP);

    /* 1. the bytes as a message off the wire */
    decode_and_check(data, size, &lim);

    /* 2. the bytes as the record inside a valid frame */
    const size_t bound = ZSTD_compressBound(size);
    if (bound > zcap) {
        free(zbuf);
        zbuf = malloc(bound);
        if (!zbuf) abort();
        zcap = bound;
    }
    const size_t z = ZSTD_compress2(cctx, zbuf, zcap, data, size);
    FUZZ_REQUIRE(!ZSTD_isError(z));
    decode_and_check(zbuf, z, &lim);
    return 0;
}
