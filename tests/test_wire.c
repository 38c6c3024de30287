/* test_wire.c: the trajectory record, weight header and control messages.
 *
 * Round trips must be bit-exact; every hostile message (truncated, bit
 * flipped, hand-packed with a wrong count, type, version or value, a zstd
 * bomb) must be rejected with its own message and never crash. Hostile
 * records are hand-packed with msgpack and compressed here, independent of
 * the encoder under test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "config.h"
#include "sampling.h"
#include "sections.h"
#include "grpo_step.h"
#include "intake.h"
#include "tokenizer.h"
#include "util.h"
#include "weights.h"
#include "wire.h"

enum { VOCAB = 300, MAX_G = 16, MAX_P = 32, MAX_C = 24 };

static WireLimits test_limits(void) { return wire_limits_make(VOCAB, MAX_G, MAX_P, MAX_C); }

/* Deterministic 64-bit LCG so failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* A valid group of the given shape (lens[G] completion lengths) with
 * awkward but legal values: -0.0, denormals, extreme seq numbers. Caller
 * frees with group_free. */
static Group make_group(int G, int P, int C, const int *lens) {
    int64_t n = 0;
    for (int g = 0; g < G; g++) n += lens[g];
    Group grp;
    group_alloc(&grp, G, P, C, n);
    grp.actor_rank = 7;
    grp.seq_no = UINT64_MAX - (uint64_t)rnd();
    const uint64_t hi = rnd(); /* two statements: argument order is unspecified */
    grp.prompt_id = (hi << 32) | rnd();
    grp.policy_version = 123456789012345ull;
    grp.gen_seconds = 1.0 / 3.0;
    grp.verify_seconds = 0.0;
    for (int i = 0; i < P; i++) grp.prompt[i] = (int32_t)(rnd() % VOCAB);
    for (int g = 0; g < G; g++) grp.completion_len[g] = lens[g];
    for (int64_t i = 0; i < n; i++) {
        grp.tokens[i] = (int32_t)(rnd() % VOCAB);
        grp.old_logprobs[i] = -(float)(rnd() % 100000) / 997.0f;
    }
    if (n > 0) grp.old_logprobs[0] = -0.0f;
    if (n > 1) grp.old_logprobs[1] = -1e-42f; /* denormal */
    if (n > 2) grp.old_logprobs[2] = WIRE_LOGPROB_TOL / 2; /* within tolerance */
    if (n > 3) grp.tokens[3] = VOCAB - 1;
    for (int g = 0; g < G; g++) {
        grp.reward[g] = (g % 3 == 0) ? -1.5f : (float)g * 0.1f - 7.0f;
        grp.finish[g] = (uint8_t)(g % 3);
        grp.status[g] = (uint8_t)((g * 5) % REWARD_STATUS_COUNT);
        for (int k = 0; k < C; k++) grp.reward_comp[g * C + k] = (float)(k - 2) * 0.25f - (float)g;
    }
    if (G > 1) grp.reward[1] = -0.0f;
    return grp;
}

/* Bit-exact comparison of every field and column. */
static void assert_groups_equal(const Group *a, const Group *b) {
    assert_int_equal(b->schema_version, WIRE_SCHEMA_VERSION);
    assert_int_equal(a->actor_rank, b->actor_rank);
    assert_true(a->seq_no == b->seq_no);
    assert_true(a->prompt_id == b->prompt_id);
    assert_true(a->policy_version == b->policy_version);
    assert_int_equal(a->G, b->G);
    assert_int_equal(a->prompt_len, b->prompt_len);
    assert_int_equal(a->n_components, b->n_components);
    assert_int_equal(a->n_tokens, b->n_tokens);
    assert_memory_equal(&a->gen_seconds, &b->gen_seconds, sizeof(double));
    assert_memory_equal(&a->verify_seconds, &b->verify_seconds, sizeof(double));
    const size_t G = (size_t)a->G, N = (size_t)a->n_tokens;
    if (a->prompt_len) assert_memory_equal(a->prompt, b->prompt, (size_t)a->prompt_len * 4);
    assert_memory_equal(a->completion_len, b->completion_len, G * 4);
    if (N) assert_memory_equal(a->tokens, b->tokens, N * 4);
    if (N) assert_memory_equal(a->old_logprobs, b->old_logprobs, N * 4);
    assert_memory_equal(a->reward, b->reward, G * 4);
    if (a->n_components)
        assert_memory_equal(a->reward_comp, b->reward_comp, G * (size_t)a->n_components * 4);
    assert_memory_equal(a->finish, b->finish, G);
    assert_memory_equal(a->status, b->status, G);
}

/* Encodes g and copies the message into a malloc'd buffer the caller
 * frees (the codec's buffer is overwritten by the next encode). */
static uint8_t *encode_copy(WireCodec *c, const Group *g, size_t *len) {
    const uint8_t *p = NULL;
    assert_int_equal(wire_encode_group(c, g, &p, len), WIRE_OK);
    uint8_t *m = malloc(*len);
    assert_non_null(m);
    memcpy(m, p, *len);
    return m;
}

/* ------------------------------------------------------------ round trip */

static void roundtrip(WireCodec *c, const Group *g) {
    const WireLimits lim = test_limits();
    const uint8_t *msg = NULL;
    size_t len = 0;
    assert_int_equal(wire_encode_group(c, g, &msg, &len), WIRE_OK);
    assert_true(len > 0);
    assert_int_equal(wire_codec_stats(c)->last_wire_bytes, len);
    assert_true(wire_codec_stats(c)->last_raw_bytes > 0);
    Group out;
    char err[256];
    const int rc = wire_decode_group(c, msg, len, &lim, &out, err, sizeof err);
    if (rc != WIRE_OK) fail_msg("decode failed: %s", err);
    assert_groups_equal(g, &out);
    group_free(&out);
}

static void test_roundtrip_shapes(void **state) {
    (void)state;
    WireCodec *c = wire_codec_new(3);
    { /* G = 1, a zero-length completion, no reward components */
        const int lens[1] = {0};
        Group g = make_group(1, 1, 0, lens);
        roundtrip(c, &g);
        group_free(&g);
    }
    { /* all completions empty */
        const int lens[4] = {0, 0, 0, 0};
        Group g = make_group(4, 3, 2, lens);
        roundtrip(c, &g);
        group_free(&g);
    }
    for (int C = 0; C <= WIRE_MAX_COMPONENTS; C++) { /* every component count */
        const int lens[8] = {5, 0, 1, MAX_C, 7, 3, 0, 6};
        Group g = make_group(8, 8, C, lens);
        roundtrip(c, &g);
        group_free(&g);
    }
    { /* the largest record the limits allow, extreme scalars */
        int lens[MAX_G];
        for (int i = 0; i < MAX_G; i++) lens[i] = MAX_C;
        Group g = make_group(MAX_G, MAX_P, WIRE_MAX_COMPONENTS, lens);
        g.actor_rank = UINT32_MAX;
        g.seq_no = UINT64_MAX;
        g.prompt_id = 0;
        g.gen_seconds = 1e300;
        g.verify_seconds = 5e-324; /* denormal double */
        roundtrip(c, &g);
        group_free(&g);
    }
    /* Many messages through one codec: buffers are reused, not leaked. */
    for (int it = 0; it < 200; it++) {
        const int G = 1 + (int)(rnd() % MAX_G);
        int lens[MAX_G];
        for (int i = 0; i < G; i++) lens[i] = (int)(rnd() % (MAX_C + 1));
        const int C = (int)(rnd() % (WIRE_MAX_COMPONENTS + 1));
        Group g = make_group(G, 1 + (int)(rnd() % MAX_P), C, lens);
        roundtrip(c, &g);
        group_free(&g);
    }
    assert_int_equal(wire_codec_stats(c)->n_rejected, 0);
    wire_codec_free(c);
}

/* The encoder refuses an inconsistent Group instead of sending it. */
static void test_encode_rejects_bad_group(void **state) {
    (void)state;
    WireCodec *c = wire_codec_new(1);
    const int lens[2] = {2, 3};
    Group g = make_group(2, 2, 1, lens);
    const uint8_t *p;
    size_t n;
    g.n_tokens = 4; /* lengths sum to 5 */
    assert_int_equal(wire_encode_group(c, &g, &p, &n), WIRE_EARG);
    assert_null(p);
    g.n_tokens = 5;
    g.n_components = WIRE_MAX_COMPONENTS + 1;
    assert_int_equal(wire_encode_group(c, &g, &p, &n), WIRE_EARG);
    g.n_components = 1;
    g.completion_len[0] = -1;
    g.completion_len[1] = 6;
    assert_int_equal(wire_encode_group(c, &g, &p, &n), WIRE_EARG);
    group_free(&g);
    wire_codec_free(c);
}

/* ----------------------------------------------------- truncation, flips */

static void test_truncated_prefixes(void **state) {
    (void)state;
    WireCodec *c = wire_codec_new(3);
    const WireLimits lim = test_limits();
    const int lens[3] = {4, 0, 2};
    Group g = make_group(3, 5, 2, lens);
    size_t len;
    uint8_t *msg = encode_copy(c, &g, &len);
    char err[256];
    for (size_t k = 0; k < len; k++) {
        /* A fresh heap copy of exactly k bytes, so ASan sees any overread. */
        uint8_t *pre = malloc(k ? k : 1);
        memcpy(pre, msg, k);
        Group out;
        memset(&out, 0xAB, sizeof out); /* decode must zero it on failure */
        const int rc = wire_decode_group(c, pre, k, &lim, &out, err, sizeof err);
        if (rc >= 0) fail_msg("prefix of %zu/%zu bytes accepted", k, len);
        assert_null(out.block);
        free(pre);
    }
    free(msg);
    group_free(&g);
    wire_codec_free(c);
}

static void test_bit_flips(void **state) {
    (void)state;
    rng_state = 1; /* the same message whatever tests ran before */
    WireCodec *c = wire_codec_new(3);
    const WireLimits lim = test_limits();
    const int lens[4] = {6, 5, 0, 7};
    Group g = make_group(4, 8, 3, lens);
    size_t len;
    uint8_t *msg = encode_copy(c, &g, &len);
    char err[256];
    int rejected = 0, accepted = 0;
    for (size_t k = 0; k < len; k++)
        for (int bit = 0; bit < 8; bit++) {
            msg[k] ^= (uint8_t)(1u << bit);
            Group out;
            const int rc = wire_decode_group(c, msg, len, &lim, &out, err, sizeof err);
            if (rc < 0) {
                rejected++;
            } else {
                /* zstd ignored the bit: the content (checksummed) must
                 * then be exactly the original. */
                accepted++;
                assert_groups_equal(&g, &out);
                group_free(&out);
            }
            msg[k] ^= (uint8_t)(1u << bit);
        }
    /* Not every bit of a zstd frame matters: the frame header's "unused"
     * bit (byte 4, bit 4) and some bits of Huffman/FSE table descriptions
     * and block padding can flip without changing the decoded bytes. Those
     * flips are harmless (the content checksum still matched and the
     * content was checked equal above); all others must be rejected. */
    print_message("bit flips: %d of %zu rejected, %d accepted with identical content\n",
                  rejected, len * 8, accepted);
    assert_true(accepted * 100 <= (int)(len * 8)); /* at most 1% */
    assert_int_equal(rejected + accepted, (int)(len * 8));
    free(msg);
    group_free(&g);
    wire_codec_free(c);
}

/* Random mutations of a valid msgpack payload, re-compressed so they get
 * past zstd and reach the msgpack and field checks: nothing may crash, and
 * whatever is accepted must satisfy the record's invariants. */
static void test_fuzz_payload(void **state) {
    (void)state;
    WireCodec *c = wire_codec_new(1);
    const WireLimits lim = test_limits();
    const int lens[3] = {3, 1, 4};
    Group g = make_group(3, 4, 2, lens);
    size_t zlen;
    uint8_t *z = encode_copy(c, &g, &zlen);
    const size_t raw = (size_t)ZSTD_getFrameContentSize(z, zlen);
    uint8_t *base = malloc(raw), *mut = malloc(raw + 16);
    assert_int_equal(ZSTD_decompress(base, raw, z, zlen), raw);
    const size_t cap = ZSTD_compressBound(raw + 16);
    uint8_t *out_z = malloc(cap);
    static const uint8_t nasty[] = {0xdd, 0xdf, 0xdc, 0xc6, 0xc1, 0xff, 0x00, 0x7f,
                                    0x80, 0x9f, 0xcb, 0xca, 0xd3, 0xc0, 0xc4, 0xc7};
    char err[256];
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        size_t n = raw;
        memcpy(mut, base, raw);
        const int edits = 1 + (int)(rnd() % 3);
        for (int e = 0; e < edits; e++) {
            if (n == 0) break;
            const size_t at = rnd() % n;
            switch (rnd() % 4) {
            case 0: mut[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
            case 1: mut[at] = nasty[rnd() % sizeof nasty]; break;
            case 2: mut[at] = (uint8_t)rnd(); break;
            default: n = at; break; /* truncate */
            }
        }
        const size_t zn = ZSTD_compress(out_z, cap, mut, n, 1);
        assert_false(ZSTD_isError(zn));
        Group out;
        if (wire_decode_group(c, out_z, zn, &lim, &out, err, sizeof err) == WIRE_OK) {
            accepted++;
            assert_int_equal(group_completion_offset(&out, out.G), out.n_tokens);
            for (int64_t i = 0; i < out.n_tokens; i++) {
                assert_true(out.tokens[i] >= 0 && out.tokens[i] < VOCAB);
                assert_true(out.old_logprobs[i] <= WIRE_LOGPROB_TOL);
            }
            group_free(&out);
        }
    }
    print_message("payload fuzz: %d of 20000 mutations still valid records\n", accepted);
    /* Random bytes, compressed: all must be rejected. */
    for (int it = 0; it < 2000; it++) {
        const size_t n = rnd() % (raw + 16);
        for (size_t i = 0; i < n; i++) mut[i] = (uint8_t)rnd();
        const size_t zn = ZSTD_compress(out_z, cap, mut, n, 1);
        Group out;
        assert_true(wire_decode_group(c, out_z, zn, &lim, &out, err, sizeof err) < 0);
    }
    free(base);
    free(mut);
    free(out_z);
    free(z);
    group_free(&g);
    wire_codec_free(c);
}

/* --------------------------------------------------- hand-packed records */

/* How a hand-packed record departs from the valid one. */
typedef struct {
    uint64_t version;
    int arity_delta;     /* -1 drops the last element, +1 appends a nil */
    int str_at;          /* element index written as a str instead (-1 none) */
    int neg_at;          /* element index written as a negative int (-1 none) */
    int64_t G, P, C;     /* claimed counts (-1: the group's own) */
    uint64_t rank;       /* claimed actor_rank */
    int tokens_drop;     /* tokens column shorter by this many elements */
    int logp_drop;       /* old_logprobs column shorter by this many */
    int reward_drop;     /* reward column shorter by this many */
    double gen_seconds;
    int top_is_map;      /* the record is a map, not an array */
    int huge_array;      /* an array32 claiming 2^32-1 elements in element 2 */
    int trailing;        /* a second object after the record */
} Tweak;

static Tweak tweak_none(const Group *g) {
    Tweak t;
    memset(&t, 0, sizeof t);
    t.version = WIRE_SCHEMA_VERSION;
    t.str_at = t.neg_at = -1;
    t.G = t.P = t.C = -1;
    t.rank = g->actor_rank;
    t.gen_seconds = g->gen_seconds;
    return t;
}

/* Packs n host floats/ints (little-endian host assumed by this test) as a bin. */
static void pack_col(msgpack_packer *pk, const void *p, size_t bytes) {
    msgpack_pack_bin(pk, bytes);
    if (bytes) msgpack_pack_bin_body(pk, p, bytes);
}

/* Hand-packs g with tweak t into sb, then zstd-compresses it into a malloc'd
 * buffer the caller frees. */
static uint8_t *pack_hostile(msgpack_sbuffer *sb, const Group *g, const Tweak *t, size_t *len) {
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (t->top_is_map) {
        msgpack_pack_map(&pk, 1);
        msgpack_pack_uint32(&pk, 0);
        msgpack_pack_uint32(&pk, WIRE_SCHEMA_VERSION);
    } else {
        msgpack_pack_array(&pk, (size_t)(WIRE_GROUP_ARITY + t->arity_delta));
        const int n_el = WIRE_GROUP_ARITY + (t->arity_delta < 0 ? t->arity_delta : 0);
        const size_t G = (size_t)g->G, N = (size_t)g->n_tokens;
        for (int i = 0; i < n_el; i++) {
            if (i == t->str_at) { msgpack_pack_str_with_body(&pk, "eight", 5); continue; }
            if (i == t->neg_at) { msgpack_pack_int64(&pk, -3); continue; }
            if (i == 2 && t->huge_array) {
                const uint8_t hdr[5] = {0xdd, 0xff, 0xff, 0xff, 0xff};
                msgpack_sbuffer_write(sb, (const char *)hdr, sizeof hdr);
                msgpack_pack_nil(&pk);
                continue;
            }
            switch (i) {
            case 0: msgpack_pack_uint64(&pk, t->version); break;
            case 1: msgpack_pack_uint64(&pk, t->rank); break;
            case 2: msgpack_pack_uint64(&pk, g->seq_no); break;
            case 3: msgpack_pack_uint64(&pk, g->prompt_id); break;
            case 4: msgpack_pack_uint64(&pk, g->policy_version); break;
            case 5: msgpack_pack_uint64(&pk, (uint64_t)(t->G >= 0 ? t->G : g->G)); break;
            case 6: msgpack_pack_uint64(&pk, (uint64_t)(t->P >= 0 ? t->P : g->prompt_len)); break;
            case 7: msgpack_pack_uint64(&pk, (uint64_t)(t->C >= 0 ? t->C : g->n_components)); break;
            case 8: msgpack_pack_double(&pk, t->gen_seconds); break;
            case 9: msgpack_pack_double(&pk, g->verify_seconds); break;
            case 10: pack_col(&pk, g->prompt, (size_t)g->prompt_len * 4); break;
            case 11: pack_col(&pk, g->completion_len, G * 4); break;
            case 12: pack_col(&pk, g->tokens, (N - (size_t)t->tokens_drop) * 4); break;
            case 13: pack_col(&pk, g->old_logprobs, (N - (size_t)t->logp_drop) * 4); break;
            case 14: pack_col(&pk, g->reward, (G - (size_t)t->reward_drop) * 4); break;
            case 15: pack_col(&pk, g->reward_comp, G * (size_t)g->n_components * 4); break;
            case 16: pack_col(&pk, g->finish, G); break;
            case 17: pack_col(&pk, g->status, G); break;
            }
        }
        if (t->arity_delta > 0) msgpack_pack_nil(&pk);
    }
    if (t->trailing) msgpack_pack_nil(&pk);
    const size_t cap = ZSTD_compressBound(sb->size);
    uint8_t *z = malloc(cap);
    *len = ZSTD_compress(z, cap, sb->data, sb->size, 3);
    assert_false(ZSTD_isError(*len));
    return z;
}

/* One hostile case: expected code and a substring of the message. */
typedef struct {
    const char *name;
    int rc;
    const char *needle;
} Expect;

static void check_reject(WireCodec *c, const uint8_t *msg, size_t len, const Expect *x,
                         char *err_out, size_t errlen) {
    const WireLimits lim = test_limits();
    Group out;
    const int rc = wire_decode_group(c, msg, len, &lim, &out, err_out, errlen);
    if (rc != x->rc || !strstr(err_out, x->needle))
        fail_msg("%s: got %d (%s) \"%s\", expected %d with \"%s\"", x->name, rc,
                 wire_strerror(rc), err_out, x->rc, x->needle);
    assert_null(out.block);
}

static void test_hostile_records(void **state) {
    (void)state;
    enum { MAXCASE = 64 };
    static char errs[MAXCASE][256];
    int n_case = 0;
    WireCodec *c = wire_codec_new(3);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    const int lens[3] = {4, 0, 5};

    /* The untweaked hand-packed record is accepted: the packer is right. */
    {
        Group g = make_group(3, 4, 2, lens);
        const Tweak t = tweak_none(&g);
        size_t len;
        uint8_t *m = pack_hostile(&sb, &g, &t, &len);
        const WireLimits lim = test_limits();
        Group out;
        char err[256];
        assert_int_equal(wire_decode_group(c, m, len, &lim, &out, err, sizeof err), WIRE_OK);
        assert_groups_equal(&g, &out);
        group_free(&out);
        free(m);
        group_free(&g);
    }

/* Runs one case: a fresh valid group, MUTATE applied to g (values) and t
 * (structure), then packing, compressing and the expected rejection. */
#define CASE(NAME, RC, NEEDLE, MUTATE)                                          \
    do {                                                                        \
        Group g = make_group(3, 4, 2, lens);                                    \
        Tweak t = tweak_none(&g);                                               \
        MUTATE;                                                                 \
        size_t len;                                                             \
        uint8_t *m = pack_hostile(&sb, &g, &t, &len);                           \
        const Expect x = {NAME, RC, NEEDLE};                                    \
        assert_true(n_case < MAXCASE);                                          \
        check_reject(c, m, len, &x, errs[n_case], sizeof errs[n_case]);         \
        n_case++;                                                               \
        free(m);                                                                \
        group_free(&g);                                                         \
    } while (0)

    CASE("G beyond max_G", WIRE_ELIMIT, "max_G", t.G = MAX_G + 1);
    CASE("G huge", WIRE_ELIMIT, "G = 4294967296", t.G = 1ll << 32);
    CASE("G zero", WIRE_ELIMIT, "G = 0 ", t.G = 0);
    CASE("prompt_len beyond", WIRE_ELIMIT, "max_prompt_len", t.P = MAX_P + 1);
    CASE("n_components beyond", WIRE_ELIMIT, "n_components = 9, at most 8",
         t.C = WIRE_MAX_COMPONENTS + 1);
    CASE("completion too long", WIRE_ELIMIT, "max_completion_len",
         g.completion_len[0] = MAX_C + 1);
    CASE("negative completion length", WIRE_ELIMIT, "completion_len[1] = -1",
         g.completion_len[1] = -1);
    CASE("actor_rank > u32", WIRE_ELIMIT, "actor_rank", t.rank = 1ull << 32);
    CASE("G claim vs columns", WIRE_ESIZE, "completion_len is 12 bytes, expected 8", t.G = 2);
    CASE("length sum mismatch", WIRE_ESIZE, "lengths sum to 9",
         (t.tokens_drop = 1, t.logp_drop = 1));
    CASE("logprob column short", WIRE_ESIZE, "old_logprobs is 32 bytes", t.logp_drop = 1);
    CASE("reward column short", WIRE_ESIZE, "reward is 8 bytes", t.reward_drop = 1);
    CASE("token id == vocab", WIRE_EVALUE, "tokens[2] = 300", g.tokens[2] = VOCAB);
    CASE("token id negative", WIRE_EVALUE, "tokens[8] = -5", g.tokens[8] = -5);
    CASE("prompt token >= vocab", WIRE_EVALUE, "prompt[3] = 1000", g.prompt[3] = 1000);
    CASE("logprob NaN", WIRE_EVALUE, "old_logprobs[4] = nan", g.old_logprobs[4] = NAN);
    CASE("logprob +inf", WIRE_EVALUE, "old_logprobs[5] = inf", g.old_logprobs[5] = INFINITY);
    CASE("logprob -inf", WIRE_EVALUE, "old_logprobs[6] = -inf",
         g.old_logprobs[6] = -INFINITY);
    CASE("logprob positive", WIRE_EVALUE, "is positive", g.old_logprobs[7] = 0.5f);
    CASE("logprob just over tolerance", WIRE_EVALUE, "old_logprobs[0] = 0.0002",
         g.old_logprobs[0] = 2e-4f);
    CASE("reward NaN", WIRE_EVALUE, "reward[2] = nan", g.reward[2] = NAN);
    CASE("reward component inf", WIRE_EVALUE, "reward_comp[1][1] = inf",
         g.reward_comp[3] = INFINITY);
    CASE("finish reason 3", WIRE_EVALUE, "finish[1] = 3", g.finish[1] = 3);
    CASE("reward status out of range", WIRE_EVALUE, "status[2] = 13",
         g.status[2] = REWARD_STATUS_COUNT);
    CASE("gen_seconds NaN", WIRE_EVALUE, "gen_seconds nan", t.gen_seconds = NAN);
    CASE("gen_seconds negative", WIRE_EVALUE, "gen_seconds -1", t.gen_seconds = -1);
    CASE("schema version 3 (a future one)", WIRE_ESCHEMA, "schema version 3", t.version = 3);
    CASE("schema version 1 (before the status column)", WIRE_ESCHEMA, "schema version 1",
         t.version = 1);
    CASE("schema version 0", WIRE_ESCHEMA, "schema version 0", t.version = 0);
    CASE("extra element", WIRE_ESCHEMA, "19 elements", t.arity_delta = 1);
    CASE("missing element", WIRE_ESCHEMA, "17 elements", t.arity_delta = -1);
    CASE("G as str", WIRE_ESCHEMA, "element 5 (G) is a msgpack str", t.str_at = 5);
    CASE("prompt as str", WIRE_ESCHEMA, "element 10 (prompt) is a msgpack str", t.str_at = 10);
    CASE("gen_seconds as int", WIRE_ESCHEMA, "element 8 (gen_seconds) is a msgpack negative",
         t.neg_at = 8);
    CASE("seq_no negative", WIRE_ESCHEMA, "element 2 (seq_no) is a msgpack negative",
         t.neg_at = 2);
    CASE("version as str", WIRE_ESCHEMA, "does not start with a schema version", t.str_at = 0);
    CASE("record is a map", WIRE_ESCHEMA, "record is a msgpack map", t.top_is_map = 1);
    CASE("array32 claiming 4G elements", WIRE_EMSGPACK, "objects declared, only",
         t.huge_array = 1);
    CASE("trailing object", WIRE_EMSGPACK, "1 trailing bytes", t.trailing = 1);
#undef CASE

    /* Every case has its own message. */
    for (int i = 0; i < n_case; i++)
        for (int j = i + 1; j < n_case; j++)
            if (strcmp(errs[i], errs[j]) == 0)
                fail_msg("cases %d and %d share the message \"%s\"", i, j, errs[i]);
    print_message("%d hostile records rejected, each with its own message\n", n_case);
    msgpack_sbuffer_destroy(&sb);
    wire_codec_free(c);
}

/* ------------------------------------------- records the learner cannot fit */

enum { RUN_SEQ = 16, RUN_NEW = 12 };

/* A run-like group for the learner limits: prompt BOS first, token ids in
 * the character vocabulary. */
static Group fit_group(int G, int P, const int *lens) {
    Group g = make_group(G, P, 2, lens);
    g.prompt[0] = TOK_BOS;
    for (int i = 1; i < P; i++) g.prompt[i] = 3 + i % 90;
    for (int64_t i = 0; i < g.n_tokens; i++) g.tokens[i] = 3 + (int)(i % 90);
    return g;
}

/* Decodes g's encoding under lim; returns the code and leaves the message
 * in err. */
static int decode_under(WireCodec *c, const Group *g, const WireLimits *lim, char *err,
                        size_t errlen) {
    size_t len;
    uint8_t *m = encode_copy(c, g, &len);
    Group out;
    const int rc = wire_decode_group(c, m, len, lim, &out, err, errlen);
    if (rc == WIRE_OK) assert_groups_equal(g, &out);
    else assert_null(out.block);
    group_free(&out);
    free(m);
    return rc;
}

/* Issue 13.5: prompt_len + completion_len beyond max_seq_len, or a prompt
 * without BOS, used to pass decoding and then stop the learner in
 * batch_add. The learner's limits reject both, naming the field. */
static void test_run_limits_reject_unfit_sequences(void **state) {
    (void)state;
    WireCodec *c = wire_codec_new(3);
    const WireLimits lim = wire_limits_for_run(VOCAB, MAX_G, RUN_SEQ, RUN_NEW, TOK_BOS);
    assert_int_equal(lim.max_prompt_len, RUN_SEQ - 1);
    assert_int_equal(lim.max_completion_len, RUN_NEW);
    char err[256];
    { /* exactly max_seq_len: accepted */
        const int lens[3] = {RUN_NEW, 0, 5};
        Group g = fit_group(3, RUN_SEQ - RUN_NEW, lens);
        const int rc = decode_under(c, &g, &lim, err, sizeof err);
        if (rc != WIRE_OK) fail_msg("a record that fits was rejected: %s", err);
        group_free(&g);
    }
    { /* one token over, in the last completion */
        const int lens[3] = {3, 0, RUN_NEW};
        Group g = fit_group(3, RUN_SEQ - RUN_NEW + 1, lens);
        assert_int_equal(decode_under(c, &g, &lim, err, sizeof err), WIRE_ELIMIT);
        assert_string_equal(err, "prompt_len 5 + completion_len[2] 12 = 17 tokens exceeds "
                                 "max_seq_len 16");
        group_free(&g);
    }
    { /* a prompt that fills the whole sequence */
        const int lens[1] = {1};
        Group g = fit_group(1, RUN_SEQ, lens);
        assert_int_equal(decode_under(c, &g, &lim, err, sizeof err), WIRE_ELIMIT);
        assert_non_null(strstr(err, "prompt_len = 16 outside 1..15 (max_prompt_len)"));
        group_free(&g);
    }
    { /* no BOS */
        const int lens[2] = {2, 3};
        Group g = fit_group(2, 4, lens);
        g.prompt[0] = 7;
        assert_int_equal(decode_under(c, &g, &lim, err, sizeof err), WIRE_EVALUE);
        assert_string_equal(err, "prompt[0] = 7: a prompt starts with BOS (id 1)");
        group_free(&g);
    }
    wire_codec_free(c);
}

/* The learner end to end: an actor's good group, an overlong one and one
 * without BOS reach the intake; the two bad ones are counted and dropped,
 * and a learner step on what is taken trains instead of dying. */
static void test_intake_drops_unfit_groups_and_learner_trains(void **state) {
    (void)state;
    Config *cfg = grpo_config_new();
    char cerr[300];
    assert_int_equal(config_set(cfg, "grpo.prompts_per_step=3", cerr, sizeof cerr), 0);
    assert_int_equal(config_set(cfg, "grpo.group_size=2", cerr, sizeof cerr), 0);
    ((SamplingSettings *)config_get_mut(cfg, &sampling_section))->max_new_tokens = RUN_NEW;
    Tokenizer *tok = xmalloc(sizeof *tok);
    tokenizer_init_char(tok);
    const ModelConfig mc = {.vocab_size = tok->vocab_size, .dim = 16, .n_layers = 1,
                            .n_heads = 2, .n_kv_heads = 1, .hidden_dim = 32,
                            .max_seq_len = RUN_SEQ, .tied_embeddings = 0,
                            .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    const Comm comm = {.rank = 0, .size = 2};
    Intake in;
    intake_init(&in, train_plan(cfg), RUN_NEW, &comm, tok->vocab_size, tok->bos_id, mc.max_seq_len,
                2, 0);
    WireCodec *c = wire_codec_new(3);
    const int good_lens[2] = {4, 6}, long_lens[2] = {RUN_NEW, 2};
    Group sent[3] = {fit_group(2, 5, good_lens), fit_group(2, 5, long_lens),
                     fit_group(2, 5, good_lens)};
    sent[2].prompt[0] = tok->byte_to_id['x'];
    for (int i = 0; i < 3; i++) {
        sent[i].actor_rank = 1;
        sent[i].seq_no = (uint64_t)i;
        sent[i].policy_version = 0;
        for (int64_t t = 0; t < sent[i].n_tokens; t++) sent[i].old_logprobs[t] = -1.0f;
        size_t len;
        uint8_t *m = encode_copy(c, &sent[i], &len);
        intake_accept(&in, 1, m, len);
        free(m);
    }
    assert_int_equal(in.n_bad, 2);
    Group taken[3];
    assert_int_equal(intake_take(&in, taken, 0, 0), 1);
    assert_true(taken[0].seq_no == 0);

    Model policy, ref;
    model_init(&policy, &mc);
    model_init_weights(&policy, 5);
    model_alloc_grads(&policy);
    model_init(&ref, &mc);
    memcpy(ref.params, policy.params, sizeof(float) * policy.n_params);
    Learner L;
    learner_init(&L, &policy, &ref, cfg);
    StepMetrics sm;
    learner_step(&L, taken, 1, 0, &sm);
    assert_int_equal(sm.n_groups, 1);
    assert_true(isfinite(sm.objective));

    learner_free(&L);
    model_free(&policy);
    model_free(&ref);
    group_free(&taken[0]);
    for (int i = 0; i < 3; i++) group_free(&sent[i]);
    wire_codec_free(c);
    intake_free(&in);
    xfree(tok);
    config_free(cfg);
}

/* Frame-level attacks: not zstd, no content size, two frames, over the
 * message limit, and bombs that claim more content than the limit. */
static void test_zstd_frames(void **state) {
    (void)state;
    WireCodec *c = wire_codec_new(3);
    const WireLimits lim = test_limits();
    const int lens[2] = {3, 2};
    Group g = make_group(2, 3, 1, lens);
    size_t len;
    uint8_t *msg = encode_copy(c, &g, &len);
    const size_t raw_n = (size_t)ZSTD_getFrameContentSize(msg, len);
    uint8_t *raw = malloc(raw_n);
    assert_int_equal(ZSTD_decompress(raw, raw_n, msg, len), raw_n);
    char err[256];
    Group out;

    /* Uncompressed msgpack is not a zstd frame. */
    assert_int_equal(wire_decode_group(c, raw, raw_n, &lim, &out, err, sizeof err), WIRE_EZSTD);
    assert_non_null(strstr(err, "not a zstd frame"));

    /* A valid frame without the content size field (streaming style). */
    {
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
        const size_t cap = ZSTD_compressBound(raw_n) + 64;
        uint8_t *z = malloc(cap);
        ZSTD_outBuffer ob = {z, cap, 0};
        ZSTD_inBuffer ib = {raw, raw_n, 0};
        assert_int_equal(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end), 0);
        assert_int_equal(ZSTD_getFrameContentSize(z, ob.pos), ZSTD_CONTENTSIZE_UNKNOWN);
        assert_int_equal(wire_decode_group(c, z, ob.pos, &lim, &out, err, sizeof err),
                         WIRE_EZSTD);
        assert_non_null(strstr(err, "without a content size"));
        free(z);
        ZSTD_freeCCtx(cc);
    }

    /* The record followed by a second (empty) frame. */
    {
        uint8_t *two = malloc(len + 64);
        memcpy(two, msg, len);
        const size_t e = ZSTD_compress(two + len, 64, "", 0, 1);
        assert_false(ZSTD_isError(e));
        assert_int_equal(wire_decode_group(c, two, len + e, &lim, &out, err, sizeof err),
                         WIRE_EZSTD);
        assert_non_null(strstr(err, "bytes after the frame"));
        free(two);
    }

    /* A message longer than max_message_bytes is refused unread. */
    {
        WireLimits small = lim;
        small.max_message_bytes = len - 1;
        assert_int_equal(wire_decode_group(c, msg, len, &small, &out, err, sizeof err),
                         WIRE_ETOOBIG);
        assert_non_null(strstr(err, "message is"));
    }

    /* Bomb 1: a hand-written frame header claiming 2^40 bytes of content,
     * followed by junk. Rejected from the header alone: an allocation of
     * that size would abort under ASan and die in xmalloc. */
    {
        uint8_t bomb[32] = {0x28, 0xB5, 0x2F, 0xFD, /* magic, little-endian */
                            0xE4};                  /* FCS 8 bytes, single segment, checksum */
        wire_put_u64(bomb + 5, 1ull << 40);
        for (int i = 13; i < 32; i++) bomb[i] = (uint8_t)i;
        assert_int_equal(ZSTD_getFrameContentSize(bomb, sizeof bomb), 1ull << 40);
        assert_int_equal(wire_decode_group(c, bomb, sizeof bomb, &lim, &out, err, sizeof err),
                         WIRE_ETOOBIG);
        assert_non_null(strstr(err, "claims 1099511627776 bytes"));
    }

    /* Bomb 2: a real frame, 8 MiB of zeros in a few hundred bytes. */
    {
        const size_t big = 8u << 20;
        uint8_t *zeros = calloc(big, 1);
        const size_t cap = ZSTD_compressBound(big);
        uint8_t *z = malloc(cap);
        const size_t zn = ZSTD_compress(z, cap, zeros, big, 3);
        assert_false(ZSTD_isError(zn));
        assert_true(zn < lim.max_message_bytes);
        assert_int_equal(wire_decode_group(c, z, zn, &lim, &out, err, sizeof err),
                         WIRE_ETOOBIG);
        assert_non_null(strstr(err, "claims 8388608 bytes"));
        free(z);
        free(zeros);
    }

    /* Empty input and NULL/unset limits. */
    assert_int_equal(wire_decode_group(c, NULL, 0, &lim, &out, err, sizeof err), WIRE_EZSTD);
    WireLimits unset;
    memset(&unset, 0, sizeof unset);
    assert_int_equal(wire_decode_group(c, msg, len, &unset, &out, err, sizeof err), WIRE_EARG);
    assert_int_equal(wire_decode_group(c, msg, len, NULL, &out, err, sizeof err), WIRE_EARG);
    /* The codec is still healthy after all of that. */
    assert_int_equal(wire_decode_group(c, msg, len, &lim, &out, err, sizeof err), WIRE_OK);
    assert_groups_equal(&g, &out);
    group_free(&out);

    free(raw);
    free(msg);
    group_free(&g);
    wire_codec_free(c);
}

/* The size of a typical record: G = 8, an 8-token prompt, ~6 tokens per
 * completion (the measurement quoted for the compression-ratio metric). */
static void test_typical_record_size(void **state) {
    (void)state;
    rng_state = 2;
    WireCodec *c = wire_codec_new(3);
    const int lens[8] = {6, 5, 7, 6, 4, 6, 8, 6};
    Group g = make_group(8, 8, 2, lens);
    for (int64_t i = 0; i < g.n_tokens; i++) /* realistic: small vocab, varied log-probs */
        g.old_logprobs[i] = -(float)(rnd() % 1000000) / 250000.0f;
    const uint8_t *p;
    size_t n;
    assert_int_equal(wire_encode_group(c, &g, &p, &n), WIRE_OK);
    const WireStats *s = wire_codec_stats(c);
    const size_t columns = 4 * (8 + 8 + 2 * 48 + 8 + 16) + 8;
    print_message("typical record (G=8, P=8, N=48, C=2): columns %zu B, msgpack %zu B, "
                  "zstd %zu B, ratio %.2f\n",
                  columns, s->last_raw_bytes, n, wire_stats_ratio(s));
    assert_true(s->last_raw_bytes > columns && s->last_raw_bytes < columns + 128);
    group_free(&g);
    wire_codec_free(c);
}

/* --------------------------------------------------------------- weights */

static float *make_params(size_t n) {
    float *p = malloc(n * sizeof(float) + 1);
    for (size_t i = 0; i < n; i++) p[i] = (float)((int)(rnd() % 20001) - 10000) * 1e-4f;
    return p;
}

static void test_weights_header_roundtrip(void **state) {
    (void)state;
    const size_t n = 1000;
    float *params = make_params(n);
    const WeightsHeader h = weights_header_make(params, n, 42, 64);
    uint8_t bytes[WEIGHTS_HEADER_BYTES];
    weights_header_encode(&h, bytes);
    assert_memory_equal(bytes, "GRPOWGHT", 8);
    assert_int_equal(wire_get_u64(bytes + 16), n); /* layout as documented */
    assert_int_equal(wire_get_u64(bytes + 24), 42);
    assert_int_equal(wire_get_u64(bytes + 40), 16);
    assert_int_equal(wire_get_u64(bytes + 48), 63);
    WeightsHeader d;
    char err[256];
    assert_int_equal(weights_header_decode(bytes, sizeof bytes, &d, err, sizeof err), WIRE_OK);
    assert_memory_equal(&h, &d, sizeof h);
    assert_int_equal(weights_header_check(&d, n, err, sizeof err), WIRE_OK);
    assert_int_equal(weights_verify(&d, params), WIRE_OK);

    /* Wrong length, bad magic, bad header size, corrupted body (CRC). */
    assert_int_equal(weights_header_decode(bytes, 63, &d, err, sizeof err), WIRE_EHEADER);
    bytes[0] ^= 1;
    assert_int_equal(weights_header_decode(bytes, sizeof bytes, &d, err, sizeof err),
                     WIRE_EHEADER);
    assert_non_null(strstr(err, "bad magic"));
    bytes[0] ^= 1;
    bytes[20] ^= 0x10;
    assert_int_equal(weights_header_decode(bytes, sizeof bytes, &d, err, sizeof err),
                     WIRE_EHEADER);
    assert_non_null(strstr(err, "CRC"));
    bytes[20] ^= 0x10;
    wire_put_u32(bytes + 12, 48);
    assert_int_equal(weights_header_decode(bytes, sizeof bytes, &d, err, sizeof err),
                     WIRE_EHEADER);
    assert_non_null(strstr(err, "header_bytes"));

    /* Semantic checks on the struct. */
    WeightsHeader b = h;
    b.magic[7] = 'X';
    assert_int_equal(weights_header_check(&b, n, err, sizeof err), WIRE_EHEADER);
    assert_non_null(strstr(err, "bad magic"));
    b = h;
    b.version = 2;
    assert_int_equal(weights_header_check(&b, n, err, sizeof err), WIRE_EHEADER);
    assert_non_null(strstr(err, "format version"));
    assert_int_equal(weights_header_check(&h, n + 1, err, sizeof err), WIRE_EHEADER);
    assert_non_null(strstr(err, "n_params 1000, this model has 1001"));
    b = h;
    b.n_chunks = 62;
    assert_int_equal(weights_header_check(&b, n, err, sizeof err), WIRE_EHEADER);
    assert_non_null(strstr(err, "n_chunks"));
    b = h;
    b.chunk_elems = 0;
    assert_int_equal(weights_header_check(&b, n, err, sizeof err), WIRE_EHEADER);
    b.chunk_elems = (1ull << 29); /* exactly 2^31 bytes: one too many */
    assert_int_equal(weights_header_check(&b, n, err, sizeof err), WIRE_EHEADER);
    assert_non_null(strstr(err, "chunk_elems"));
    free(params);
}

static void test_weights_checksum(void **state) {
    (void)state;
    const size_t n = 4097;
    float *params = make_params(n);
    const WeightsHeader h = weights_header_make(params, n, 7, 0);
    assert_int_equal(weights_verify(&h, params), WIRE_OK);
    const size_t where[] = {0, 1, n / 2, n - 1};
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++)
        for (int bit = 0; bit < 32; bit += 7) {
            uint32_t u;
            memcpy(&u, &params[where[w]], 4);
            u ^= 1u << bit;
            memcpy(&params[where[w]], &u, 4);
            assert_int_equal(weights_verify(&h, params), WIRE_ECHECKSUM);
            u ^= 1u << bit;
            memcpy(&params[where[w]], &u, 4);
        }
    assert_int_equal(weights_verify(&h, params), WIRE_OK);
    /* An empty buffer has a header, no chunks, and verifies. */
    const WeightsHeader e = weights_header_make(NULL, 0, 1, 0);
    assert_int_equal(e.n_chunks, 0);
    assert_int_equal(weights_verify(&e, NULL), WIRE_OK);
    uint64_t off, cnt;
    assert_int_equal(weights_chunk(&e, 0, &off, &cnt), WIRE_EARG);
    free(params);
}

/* Chunks tile [0, n) in order, each full but the last, each < 2^31 bytes. */
static void assert_chunks_tile(const WeightsHeader *h) {
    uint64_t next = 0;
    for (uint64_t i = 0; i < h->n_chunks; i++) {
        uint64_t off, cnt;
        assert_int_equal(weights_chunk(h, i, &off, &cnt), WIRE_OK);
        assert_true(off == next);
        assert_true(cnt >= 1 && cnt <= h->chunk_elems);
        if (i + 1 < h->n_chunks) assert_true(cnt == h->chunk_elems);
        assert_true(cnt * sizeof(float) < (1ull << 31));
        next += cnt;
    }
    assert_true(next == h->n_params);
    uint64_t off, cnt;
    assert_int_equal(weights_chunk(h, h->n_chunks, &off, &cnt), WIRE_EARG);
    assert_true(off == 0 && cnt == 0);
}

static void test_weights_chunking(void **state) {
    (void)state;
    char err[256];
    /* 600M floats (2.4 GB): the plan alone, no buffer needed. */
    WeightsHeader h;
    memset(&h, 0, sizeof h);
    weights_header_layout(&h, 600000000ull, 0);
    assert_true(h.chunk_elems * sizeof(float) == WEIGHTS_DEFAULT_CHUNK_BYTES);
    assert_int_equal(h.n_chunks, 9); /* ceil(6e8 / 2^26) */
    assert_int_equal(weights_header_check(&h, 600000000ull, err, sizeof err), WIRE_OK);
    assert_chunks_tile(&h);
    /* The largest chunk size allowed still stays below 2^31 bytes. */
    weights_header_layout(&h, 600000000ull, WEIGHTS_MAX_CHUNK_BYTES);
    assert_int_equal(h.n_chunks, 2);
    assert_int_equal(weights_header_check(&h, 600000000ull, err, sizeof err), WIRE_OK);
    assert_chunks_tile(&h);

    /* Tiny chunks, sent and reassembled piece by piece. */
    const size_t sizes[] = {1, 2, 3, 10, 11, 16, 17};
    const size_t chunk_bytes[] = {4, 8, 12, 40, 7 /* rounds down to 4 */};
    for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
        for (size_t b = 0; b < sizeof chunk_bytes / sizeof chunk_bytes[0]; b++) {
            const size_t n = sizes[a];
            float *src = make_params(n), *dst = calloc(n, sizeof(float));
            const WeightsHeader w = weights_header_make(src, n, 3, chunk_bytes[b]);
            assert_int_equal(weights_header_check(&w, n, err, sizeof err), WIRE_OK);
            const size_t ce = chunk_bytes[b] / 4;
            assert_int_equal(w.n_chunks, (n + ce - 1) / ce);
            assert_chunks_tile(&w);
            for (uint64_t i = 0; i < w.n_chunks; i++) {
                uint64_t off, cnt;
                assert_int_equal(weights_chunk(&w, i, &off, &cnt), WIRE_OK);
                memcpy(dst + off, src + off, cnt * sizeof(float));
            }
            assert_int_equal(weights_verify(&w, dst), WIRE_OK);
            free(src);
            free(dst);
        }
    /* A hostile n_chunks cannot make weights_chunk index past the buffer. */
    WeightsHeader bad;
    memset(&bad, 0, sizeof bad);
    weights_header_layout(&bad, 10, 16);
    bad.n_chunks = UINT64_MAX;
    uint64_t off, cnt;
    assert_int_equal(weights_chunk(&bad, 3, &off, &cnt), WIRE_EARG);
    assert_int_equal(weights_chunk(&bad, UINT64_MAX / 2, &off, &cnt), WIRE_EARG);
}

/* ------------------------------------------------- control and checksum */

static void test_control_and_checksum(void **state) {
    (void)state;
    uint8_t b[WIRE_CONTROL_BYTES];
    uint32_t cmd;
    uint64_t arg, pv, sum;
    char err[128];
    wire_control_encode(WIRE_CMD_WEIGHTS, 99, b);
    assert_int_equal(wire_control_decode(b, sizeof b, &cmd, &arg, err, sizeof err), WIRE_OK);
    assert_int_equal(cmd, WIRE_CMD_WEIGHTS);
    assert_int_equal(arg, 99);
    assert_int_equal(wire_control_decode(b, 15, &cmd, &arg, err, sizeof err), WIRE_EHEADER);
    wire_control_encode(77, 0, b);
    assert_int_equal(wire_control_decode(b, sizeof b, &cmd, &arg, err, sizeof err),
                     WIRE_EHEADER);
    assert_non_null(strstr(err, "unknown command 77"));
    b[0] = 'X';
    assert_int_equal(wire_control_decode(b, sizeof b, &cmd, &arg, err, sizeof err),
                     WIRE_EHEADER);

    uint8_t c[WIRE_CHECKSUM_BYTES];
    wire_checksum_encode(5, 0xDEADBEEFCAFEF00Dull, c);
    assert_int_equal(c[8], 0x0D); /* little-endian */
    assert_int_equal(wire_checksum_decode(c, sizeof c, &pv, &sum), WIRE_OK);
    assert_true(pv == 5 && sum == 0xDEADBEEFCAFEF00Dull);
    assert_int_equal(wire_checksum_decode(c, 8, &pv, &sum), WIRE_EHEADER);
    assert_string_equal(wire_strerror(WIRE_ECHECKSUM), "checksum");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_shapes),
        cmocka_unit_test(test_encode_rejects_bad_group),
        cmocka_unit_test(test_truncated_prefixes),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_fuzz_payload),
        cmocka_unit_test(test_hostile_records),
        cmocka_unit_test(test_run_limits_reject_unfit_sequences),
        cmocka_unit_test(test_intake_drops_unfit_groups_and_learner_trains),
        cmocka_unit_test(test_zstd_frames),
        cmocka_unit_test(test_typical_record_size),
        cmocka_unit_test(test_weights_header_roundtrip),
        cmocka_unit_test(test_weights_checksum),
        cmocka_unit_test(test_weights_chunking),
        cmocka_unit_test(test_control_and_checksum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
