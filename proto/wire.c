/* wire.c: trajectory group record (msgpack + zstd), control and checksum
 * messages. Byte layouts: the top comment of wire.h. */
#include "wire.h"

#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "task.h"
#include "util.h"

#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__)
#error "wire.c needs __BYTE_ORDER__ to pick the little-endian column path"
#endif
#define HOST_IS_LE (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

struct WireCodec {
    ZSTD_CCtx *cctx;        /* level and checksum flag set once in wire_codec_new */
    ZSTD_DCtx *dctx;
    msgpack_sbuffer sbuf;   /* uncompressed record, cleared per encode */
    uint8_t *zbuf;          /* compressed output of the latest encode */
    size_t zcap;
    uint8_t *dbuf;          /* decompressed input of the latest decode */
    size_t dcap;
    WireStats stats;
};

const char *wire_strerror(int code) {
    switch (code) {
    case WIRE_OK: return "ok";
    case WIRE_EARG: return "bad argument";
    case WIRE_ENOMEM: return "out of memory";
    case WIRE_EZSTD: return "zstd frame";
    case WIRE_ETOOBIG: return "message too big";
    case WIRE_EMSGPACK: return "msgpack";
    case WIRE_ESCHEMA: return "schema";
    case WIRE_ESIZE: return "column size";
    case WIRE_ELIMIT: return "limit";
    case WIRE_EVALUE: return "value";
    case WIRE_EHEADER: return "header";
    case WIRE_ECHECKSUM: return "checksum";
    default: return "unknown";
    }
}

/* ------------------------------------------------------------------ Group */

void group_alloc(Group *g, int G, int prompt_len, int n_components, int64_t n_tokens) {
    CHECK(G >= 0 && prompt_len >= 0 && n_tokens >= 0);
    CHECK(n_components >= 0 && n_components <= WIRE_MAX_COMPONENTS);
    memset(g, 0, sizeof *g);
    g->schema_version = WIRE_SCHEMA_VERSION;
    g->G = G;
    g->prompt_len = prompt_len;
    g->n_components = n_components;
    g->n_tokens = n_tokens;
    /* One block, 4-byte columns first so each stays 4-byte aligned; the
     * uint8 finish and status columns go last. */
    const size_t nP = (size_t)prompt_len, nG = (size_t)G, nN = (size_t)n_tokens;
    const size_t n4 = nP + nG + 2 * nN + nG + nG * (size_t)n_components;
    uint8_t *b = xcalloc(n4 * 4 + 2 * nG, 1);
    g->block = b;
    size_t o = 0;
    g->prompt = (int32_t *)(b + o), o += nP * 4;
    g->completion_len = (int32_t *)(b + o), o += nG * 4;
    g->tokens = (int32_t *)(b + o), o += nN * 4;
    g->old_logprobs = (float *)(b + o), o += nN * 4;
    g->reward = (float *)(b + o), o += nG * 4;
    g->reward_comp = (float *)(b + o), o += nG * (size_t)n_components * 4;
    g->finish = b + o, o += nG;
    g->status = b + o;
}

void group_free(Group *g) {
    free(g->block);
    memset(g, 0, sizeof *g);
}

int64_t group_completion_offset(const Group *grp, int g) {
    int64_t off = 0;
    for (int h = 0; h < g; h++) off += grp->completion_len[h];
    return off;
}

/* Each count can be at most max_message_bytes / 4 when it came from a
 * decoded message, so these products cannot overflow size_t. */
WireLimits wire_limits_make(int vocab_size, int max_G, int max_prompt_len,
                            int max_completion_len) {
    WireLimits l;
    l.vocab_size = vocab_size;
    l.max_G = max_G;
    l.max_prompt_len = max_prompt_len;
    l.max_completion_len = max_completion_len;
    const int64_t seq = (int64_t)max_prompt_len + max_completion_len;
    l.max_seq_len = seq > INT32_MAX ? INT32_MAX : (int32_t)seq;
    l.bos_id = -1;
    /* Worst record: 3-byte array header, 8 uints of at most 9 bytes, two
     * 9-byte float64s, 8 bin headers of at most 5 bytes, then the columns. */
    const size_t G = (size_t)max_G, P = (size_t)max_prompt_len, C = (size_t)max_completion_len;
    const size_t raw = 3 + 8 * 9 + 2 * 9 + 8 * 5 + 4 * P + 4 * G + 8 * G * C + 4 * G +
                       4 * G * WIRE_MAX_COMPONENTS + 2 * G;
    l.max_message_bytes = ZSTD_compressBound(raw);
    return l;
}

WireLimits wire_limits_for_run(int vocab_size, int max_G, int max_seq_len, int max_new_tokens,
                               int bos_id) {
    const int max_prompt = max_seq_len - 1;
    const int max_comp = max_new_tokens < max_prompt ? max_new_tokens : max_prompt;
    WireLimits l = wire_limits_make(vocab_size, max_G, max_prompt, max_comp);
    l.max_seq_len = max_seq_len;
    l.bos_id = bos_id;
    return l;
}

/* ------------------------------------------------------------------ codec */

WireCodec *wire_codec_new(int level) {
    WireCodec *c = xcalloc(1, sizeof *c);
    c->cctx = ZSTD_createCCtx();
    c->dctx = ZSTD_createDCtx();
    if (!c->cctx || !c->dctx) die("zstd: cannot create compression contexts");
    size_t r = ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, level);
    if (ZSTD_isError(r)) die("zstd: compression level %d: %s", level, ZSTD_getErrorName(r));
    /* The checksum is what turns a corrupted message into a clean reject. */
    r = ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(r)) die("zstd: checksum flag: %s", ZSTD_getErrorName(r));
    /* The decoder insists on a content size, to bound it before allocating. */
    r = ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 1);
    if (ZSTD_isError(r)) die("zstd: content size flag: %s", ZSTD_getErrorName(r));
    msgpack_sbuffer_init(&c->sbuf);
    return c;
}

void wire_codec_free(WireCodec *c) {
    if (!c) return;
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    msgpack_sbuffer_destroy(&c->sbuf);
    free(c->zbuf);
    free(c->dbuf);
    free(c);
}

const WireStats *wire_codec_stats(const WireCodec *c) { return &c->stats; }

double wire_stats_ratio(const WireStats *s) {
    return s->wire_bytes ? (double)s->raw_bytes / (double)s->wire_bytes : 0.0;
}

/* Grows *buf to at least n bytes (contents not kept); 0 or -1 when out of
 * memory, leaving the old buffer in place. */
static int grow(uint8_t **buf, size_t *cap, size_t n) {
    if (n == 0) n = 1;
    if (*cap >= n) return 0;
    uint8_t *p = malloc(n);
    if (!p) return -1;
    free(*buf);
    *buf = p;
    *cap = n;
    return 0;
}

/* ----------------------------------------------------------------- encode */

/* Packs n 4-byte elements as one little-endian bin; 0 or -1. */
static int pack_bin4(msgpack_packer *pk, const void *data, size_t n) {
    if (n > UINT32_MAX / 4) return -1;
    if (msgpack_pack_bin(pk, n * 4) != 0) return -1;
    if (n == 0) return 0;
#if HOST_IS_LE
    return msgpack_pack_bin_body(pk, data, n * 4);
#else
    /* Repeated bin_body calls just append to the declared bin. */
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        uint8_t le[4] = {p[4 * i + 3], p[4 * i + 2], p[4 * i + 1], p[4 * i]};
        if (msgpack_pack_bin_body(pk, le, 4) != 0) return -1;
    }
    return 0;
#endif
}

/* 0 if g's counts and arrays are consistent enough to encode. */
static int group_shape_ok(const Group *g) {
    if (g->G < 0 || g->prompt_len < 0 || g->n_tokens < 0 || g->n_components < 0 ||
        g->n_components > WIRE_MAX_COMPONENTS)
        return 0;
    /* A msgpack bin holds < 2^32 bytes. */
    if (g->n_tokens > (int64_t)(UINT32_MAX / 4) ||
        (int64_t)g->G * WIRE_MAX_COMPONENTS > (int64_t)(UINT32_MAX / 4) ||
        g->prompt_len > (int32_t)(UINT32_MAX / 8))
        return 0;
    if ((g->G > 0 && (!g->completion_len || !g->reward || !g->finish || !g->status)) ||
        (g->G > 0 && g->n_components > 0 && !g->reward_comp) ||
        (g->prompt_len > 0 && !g->prompt) ||
        (g->n_tokens > 0 && (!g->tokens || !g->old_logprobs)))
        return 0;
    int64_t sum = 0;
    for (int i = 0; i < g->G; i++) {
        if (g->completion_len[i] < 0) return 0;
        sum += g->completion_len[i];
    }
    return sum == g->n_tokens;
}

int wire_encode_group(WireCodec *c, const Group *g, const uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (!group_shape_ok(g)) return WIRE_EARG;
    msgpack_sbuffer_clear(&c->sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->sbuf, msgpack_sbuffer_write);
    /* Every pack call can fail only when the sbuffer cannot grow. */
    int bad = msgpack_pack_array(&pk, WIRE_GROUP_ARITY);
    bad |= msgpack_pack_uint32(&pk, WIRE_SCHEMA_VERSION);
    bad |= msgpack_pack_uint32(&pk, g->actor_rank);
    bad |= msgpack_pack_uint64(&pk, g->seq_no);
    bad |= msgpack_pack_uint64(&pk, g->prompt_id);
    bad |= msgpack_pack_uint64(&pk, g->policy_version);
    bad |= msgpack_pack_uint32(&pk, (uint32_t)g->G);
    bad |= msgpack_pack_uint32(&pk, (uint32_t)g->prompt_len);
    bad |= msgpack_pack_uint32(&pk, (uint32_t)g->n_components);
    bad |= msgpack_pack_double(&pk, g->gen_seconds);
    bad |= msgpack_pack_double(&pk, g->verify_seconds);
    const size_t nG = (size_t)g->G, nN = (size_t)g->n_tokens;
    bad |= pack_bin4(&pk, g->prompt, (size_t)g->prompt_len);
    bad |= pack_bin4(&pk, g->completion_len, nG);
    bad |= pack_bin4(&pk, g->tokens, nN);
    bad |= pack_bin4(&pk, g->old_logprobs, nN);
    bad |= pack_bin4(&pk, g->reward, nG);
    bad |= pack_bin4(&pk, g->reward_comp, nG * (size_t)g->n_components);
    bad |= msgpack_pack_bin(&pk, nG);
    if (nG) bad |= msgpack_pack_bin_body(&pk, g->finish, nG);
    bad |= msgpack_pack_bin(&pk, nG);
    if (nG) bad |= msgpack_pack_bin_body(&pk, g->status, nG);
    if (bad) return WIRE_ENOMEM;

    const size_t raw = c->sbuf.size;
    if (grow(&c->zbuf, &c->zcap, ZSTD_compressBound(raw)) != 0) return WIRE_ENOMEM;
    const size_t z = ZSTD_compress2(c->cctx, c->zbuf, c->zcap, c->sbuf.data, raw);
    if (ZSTD_isError(z)) return WIRE_EZSTD;
    c->stats.n_encoded++;
    c->stats.raw_bytes += raw;
    c->stats.wire_bytes += z;
    c->stats.last_raw_bytes = raw;
    c->stats.last_wire_bytes = z;
    *out = c->zbuf;
    *out_len = z;
    return WIRE_OK;
}

/* ----------------------------------------------------------------- decode */

/* Walks n bytes of msgpack without allocating and returns 0 iff they hold
 * exactly one well-formed object, else -1 with err. Why: msgpack_unpack_next
 * allocates a container's element table (16-24 bytes per element) as soon
 * as it reads the header, so a 5-byte "array of 4 billion" would ask for
 * ~100 GB. Here every declared element must have at least one byte left,
 * which bounds that allocation by the (already bounded) input size. */
static int msgpack_prescan(const uint8_t *p, size_t n, char *err, size_t errlen) {
    size_t i = 0;
    uint64_t pending = 1; /* objects still to read */
    while (pending > 0) {
        if (pending > n - i) {
            set_err(err, errlen, "msgpack: %llu objects declared, only %zu bytes left at %zu",
                    (unsigned long long)pending, n - i, i);
            return -1;
        }
        pending--;
        const size_t at = i;
        const uint8_t t = p[i++];
        uint64_t skip = 0, add = 0;
        size_t lenb = 0; /* bytes of the big-endian length field after t */
        if (t <= 0x7f || t >= 0xe0) {
            /* fixint */
        } else if (t <= 0x8f) {
            add = 2u * (t & 0x0fu); /* fixmap */
        } else if (t <= 0x9f) {
            add = t & 0x0fu; /* fixarray */
        } else if (t <= 0xbf) {
            skip = t & 0x1fu; /* fixstr */
        } else {
            switch (t) {
            case 0xc0: case 0xc2: case 0xc3: break;             /* nil, false, true */
            case 0xc4: case 0xd9: case 0xc7: lenb = 1; break;   /* bin8 str8 ext8 */
            case 0xc5: case 0xda: case 0xc8: lenb = 2; break;   /* 16-bit lengths */
            case 0xc6: case 0xdb: case 0xc9: lenb = 4; break;   /* 32-bit lengths */
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xca: case 0xce: case 0xd2: skip = 4; break;
            case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break; /* fixext: type byte + 1..16 */
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: case 0xde: lenb = 2; break; /* array16 map16 */
            case 0xdd: case 0xdf: lenb = 4; break; /* array32 map32 */
            default:                               /* 0xc1 is never used */
                set_err(err, errlen, "msgpack: invalid type byte 0x%02x at %zu", t, at);
                return -1;
            }
        }
        if (lenb) {
            if (lenb > n - i) {
                set_err(err, errlen, "msgpack: truncated length field at %zu", at);
                return -1;
            }
            uint64_t len = 0;
            for (size_t k = 0; k < lenb; k++) len = (len << 8) | p[i + k];
            i += lenb;
            if (t == 0xdc || t == 0xdd) add = len;
            else if (t == 0xde || t == 0xdf) add = 2 * len;
            else if (t == 0xc7 || t == 0xc8 || t == 0xc9) skip = len + 1; /* + type */
            else skip = len;
        }
        if (skip > n - i) {
            set_err(err, errlen, "msgpack: object at %zu needs %llu bytes, %zu left", at,
                    (unsigned long long)skip, n - i);
            return -1;
        }
        i += (size_t)skip;
        pending += add;
    }
    if (i != n) {
        set_err(err, errlen, "msgpack: %zu trailing bytes after the record", n - i);
        return -1;
    }
    return 0;
}

static const char *const FIELD[WIRE_GROUP_ARITY] = {
    "schema_version", "actor_rank", "seq_no", "prompt_id", "policy_version", "G",
    "prompt_len", "n_components", "gen_seconds", "verify_seconds", "prompt",
    "completion_len", "tokens", "old_logprobs", "reward", "reward_comp", "finish", "status"};
enum { F_VERSION, F_RANK, F_SEQ, F_PROMPT_ID, F_POLICY, F_G, F_PLEN, F_NCOMP, F_GEN_S,
       F_VER_S, F_PROMPT, F_CLEN, F_TOKENS, F_LOGP, F_REWARD, F_RCOMP, F_FINISH,
       F_STATUS };
/* Element types of the record, by index (ggml habit: the table's length is
 * checked against the arity at compile time). */
static const msgpack_object_type KIND[] = {
    MSGPACK_OBJECT_POSITIVE_INTEGER, MSGPACK_OBJECT_POSITIVE_INTEGER,
    MSGPACK_OBJECT_POSITIVE_INTEGER, MSGPACK_OBJECT_POSITIVE_INTEGER,
    MSGPACK_OBJECT_POSITIVE_INTEGER, MSGPACK_OBJECT_POSITIVE_INTEGER,
    MSGPACK_OBJECT_POSITIVE_INTEGER, MSGPACK_OBJECT_POSITIVE_INTEGER,
    MSGPACK_OBJECT_FLOAT64,          MSGPACK_OBJECT_FLOAT64,
    MSGPACK_OBJECT_BIN, MSGPACK_OBJECT_BIN, MSGPACK_OBJECT_BIN, MSGPACK_OBJECT_BIN,
    MSGPACK_OBJECT_BIN, MSGPACK_OBJECT_BIN, MSGPACK_OBJECT_BIN, MSGPACK_OBJECT_BIN};
_Static_assert(sizeof KIND / sizeof KIND[0] == WIRE_GROUP_ARITY, "KIND vs arity");
_Static_assert(sizeof FIELD / sizeof FIELD[0] == WIRE_GROUP_ARITY, "FIELD vs arity");

/* Static name of a msgpack type, for error messages. */
static const char *kind_name(msgpack_object_type t) {
    switch (t) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return "uint";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative int";
    case MSGPACK_OBJECT_FLOAT32: return "float32";
    case MSGPACK_OBJECT_FLOAT64: return "float64";
    case MSGPACK_OBJECT_STR: return "str";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "bin";
    case MSGPACK_OBJECT_EXT: return "ext";
    default: return "?";
    }
}

/* Copies n little-endian 4-byte elements from an unaligned blob into dst. */
static void copy_le4(void *dst, const char *src, size_t n) {
    if (n == 0) return;
    memcpy(dst, src, n * 4);
#if !HOST_IS_LE
    uint8_t *p = dst;
    for (size_t i = 0; i < n; i++) {
        uint8_t t = p[4 * i]; p[4 * i] = p[4 * i + 3]; p[4 * i + 3] = t;
        t = p[4 * i + 1]; p[4 * i + 1] = p[4 * i + 2]; p[4 * i + 2] = t;
    }
#endif
}

/* Checks the arrays of a freshly filled group; 0 or a WireErr with err. */
static int group_values_ok(const Group *g, const WireLimits *lim, char *err, size_t errlen) {
    if (lim->bos_id >= 0 && g->prompt[0] != lim->bos_id) {
        set_err(err, errlen, "prompt[0] = %d: a prompt starts with BOS (id %d)", g->prompt[0],
                lim->bos_id);
        return WIRE_EVALUE;
    }
    for (int i = 0; i < g->prompt_len; i++)
        if (g->prompt[i] < 0 || g->prompt[i] >= lim->vocab_size) {
            set_err(err, errlen, "prompt[%d] = %d: token id outside [0, %d)", i, g->prompt[i],
                    lim->vocab_size);
            return WIRE_EVALUE;
        }
    for (int64_t i = 0; i < g->n_tokens; i++)
        if (g->tokens[i] < 0 || g->tokens[i] >= lim->vocab_size) {
            set_err(err, errlen, "tokens[%lld] = %d: token id outside [0, %d)", (long long)i,
                    g->tokens[i], lim->vocab_size);
            return WIRE_EVALUE;
        }
    for (int64_t i = 0; i < g->n_tokens; i++) {
        const float lp = g->old_logprobs[i];
        if (!isfinite(lp)) {
            set_err(err, errlen, "old_logprobs[%lld] = %g is not finite", (long long)i,
                    (double)lp);
            return WIRE_EVALUE;
        }
        if (lp > WIRE_LOGPROB_TOL) {
            set_err(err, errlen, "old_logprobs[%lld] = %g is positive (a log-probability)",
                    (long long)i, (double)lp);
            return WIRE_EVALUE;
        }
    }
    for (int i = 0; i < g->G; i++)
        if (!isfinite(g->reward[i])) {
            set_err(err, errlen, "reward[%d] = %g is not finite", i, (double)g->reward[i]);
            return WIRE_EVALUE;
        }
    for (int i = 0; i < g->G * g->n_components; i++)
        if (!isfinite(g->reward_comp[i])) {
            set_err(err, errlen, "reward_comp[%d][%d] = %g is not finite", i / g->n_components,
                    i % g->n_components, (double)g->reward_comp[i]);
            return WIRE_EVALUE;
        }
    for (int i = 0; i < g->G; i++)
        if (g->finish[i] > WIRE_FINISH_LENGTH) {
            set_err(err, errlen, "finish[%d] = %u: not a finish reason (0..2)", i,
                    g->finish[i]);
            return WIRE_EVALUE;
        }
    for (int i = 0; i < g->G; i++)
        if (g->status[i] >= REWARD_STATUS_COUNT) {
            set_err(err, errlen, "status[%d] = %u: not a reward status (0..%d)", i, g->status[i],
                    REWARD_STATUS_COUNT - 1);
            return WIRE_EVALUE;
        }
    return WIRE_OK;
}

/* Validates the unpacked record o and fills *out (which it allocates only
 * after every size has been checked); 0 or a WireErr with err. */
static int decode_object(const msgpack_object *o, const WireLimits *lim, Group *out, char *err,
                         size_t errlen) {
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        set_err(err, errlen, "record is a msgpack %s, expected an array", kind_name(o->type));
        return WIRE_ESCHEMA;
    }
    /* The version comes before the arity check: a future schema may well
     * have a different arity, and "wrong version" is the useful message. */
    const msgpack_object *e = o->via.array.ptr;
    const uint32_t arity = o->via.array.size;
    if (arity == 0 || e[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        set_err(err, errlen, "record does not start with a schema version");
        return WIRE_ESCHEMA;
    }
    if (e[0].via.u64 != WIRE_SCHEMA_VERSION) {
        set_err(err, errlen, "schema version %llu, this build reads %d",
                (unsigned long long)e[0].via.u64, WIRE_SCHEMA_VERSION);
        return WIRE_ESCHEMA;
    }
    if (arity != WIRE_GROUP_ARITY) {
        set_err(err, errlen, "record has %u elements, expected %d", arity, WIRE_GROUP_ARITY);
        return WIRE_ESCHEMA;
    }
    for (int i = 0; i < WIRE_GROUP_ARITY; i++) {
        /* float32 is an acceptable spelling of a float64 field. */
        const int ok = e[i].type == KIND[i] || (KIND[i] == MSGPACK_OBJECT_FLOAT64 &&
                                                 e[i].type == MSGPACK_OBJECT_FLOAT32);
        if (!ok) {
            set_err(err, errlen, "element %d (%s) is a msgpack %s, expected %s", i, FIELD[i],
                    kind_name(e[i].type), kind_name(KIND[i]));
            return WIRE_ESCHEMA;
        }
    }
    if (e[F_RANK].via.u64 > UINT32_MAX) {
        set_err(err, errlen, "actor_rank %llu does not fit in 32 bits",
                (unsigned long long)e[F_RANK].via.u64);
        return WIRE_ELIMIT;
    }
    const uint64_t G = e[F_G].via.u64, P = e[F_PLEN].via.u64, C = e[F_NCOMP].via.u64;
    if (G < 1 || G > (uint64_t)lim->max_G) {
        set_err(err, errlen, "G = %llu outside 1..%d (max_G)", (unsigned long long)G,
                lim->max_G);
        return WIRE_ELIMIT;
    }
    if (P < 1 || P > (uint64_t)lim->max_prompt_len) {
        set_err(err, errlen, "prompt_len = %llu outside 1..%d (max_prompt_len)",
                (unsigned long long)P, lim->max_prompt_len);
        return WIRE_ELIMIT;
    }
    if (C > WIRE_MAX_COMPONENTS) {
        set_err(err, errlen, "n_components = %llu, at most %d", (unsigned long long)C,
                WIRE_MAX_COMPONENTS);
        return WIRE_ELIMIT;
    }
    const double gen_s = e[F_GEN_S].via.f64, ver_s = e[F_VER_S].via.f64;
    if (!(isfinite(gen_s) && gen_s >= 0) || !(isfinite(ver_s) && ver_s >= 0)) {
        set_err(err, errlen, "gen_seconds %g / verify_seconds %g must be finite and >= 0",
                gen_s, ver_s);
        return WIRE_EVALUE;
    }
    /* Blob sizes against the counts. G, P, C are small now, so no product
     * below can overflow. */
    const struct { int f; uint64_t bytes; } want[] = {
        {F_PROMPT, 4 * P}, {F_CLEN, 4 * G}, {F_REWARD, 4 * G}, {F_RCOMP, 4 * G * C},
        {F_FINISH, G}, {F_STATUS, G}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        if (e[want[k].f].via.bin.size != want[k].bytes) {
            set_err(err, errlen, "%s is %u bytes, expected %llu", FIELD[want[k].f],
                    e[want[k].f].via.bin.size, (unsigned long long)want[k].bytes);
            return WIRE_ESIZE;
        }
    /* Lengths: read straight from the blob, so the token columns can be
     * checked before anything is allocated. */
    const char *lens = e[F_CLEN].via.bin.ptr;
    int64_t N = 0;
    for (uint64_t g = 0; g < G; g++) {
        int32_t L;
        copy_le4(&L, lens + 4 * g, 1);
        if (L < 0 || L > lim->max_completion_len) {
            set_err(err, errlen, "completion_len[%llu] = %d outside 0..%d (max_completion_len)",
                    (unsigned long long)g, L, lim->max_completion_len);
            return WIRE_ELIMIT;
        }
        /* P <= max_prompt_len and L <= max_completion_len fit in int32, so
         * the sum cannot overflow int64. */
        if ((int64_t)P + L > lim->max_seq_len) {
            set_err(err, errlen,
                    "prompt_len %llu + completion_len[%llu] %d = %lld tokens exceeds "
                    "max_seq_len %d",
                    (unsigned long long)P, (unsigned long long)g, L, (long long)P + L,
                    lim->max_seq_len);
            return WIRE_ELIMIT;
        }
        N += L;
    }
    if (e[F_TOKENS].via.bin.size % 4 != 0 || e[F_TOKENS].via.bin.size / 4 != (uint64_t)N) {
        set_err(err, errlen, "tokens is %u bytes but completion lengths sum to %lld tokens",
                e[F_TOKENS].via.bin.size, (long long)N);
        return WIRE_ESIZE;
    }
    if (e[F_LOGP].via.bin.size != e[F_TOKENS].via.bin.size) {
        set_err(err, errlen, "old_logprobs is %u bytes, tokens is %u bytes",
                e[F_LOGP].via.bin.size, e[F_TOKENS].via.bin.size);
        return WIRE_ESIZE;
    }

    group_alloc(out, (int)G, (int)P, (int)C, N);
    out->actor_rank = (uint32_t)e[F_RANK].via.u64;
    out->seq_no = e[F_SEQ].via.u64;
    out->prompt_id = e[F_PROMPT_ID].via.u64;
    out->policy_version = e[F_POLICY].via.u64;
    out->gen_seconds = gen_s;
    out->verify_seconds = ver_s;
    copy_le4(out->prompt, e[F_PROMPT].via.bin.ptr, P);
    copy_le4(out->completion_len, lens, G);
    copy_le4(out->tokens, e[F_TOKENS].via.bin.ptr, (size_t)N);
    copy_le4(out->old_logprobs, e[F_LOGP].via.bin.ptr, (size_t)N);
    copy_le4(out->reward, e[F_REWARD].via.bin.ptr, G);
    copy_le4(out->reward_comp, e[F_RCOMP].via.bin.ptr, G * C);
    memcpy(out->finish, e[F_FINISH].via.bin.ptr, G);
    memcpy(out->status, e[F_STATUS].via.bin.ptr, G);
    const int rc = group_values_ok(out, lim, err, errlen);
    if (rc != WIRE_OK) group_free(out);
    return rc;
}

/* Decompresses msg into c->dbuf after bounding its size; returns 0 and the
 * content size in *n, or a WireErr with err. */
static int decompress(WireCodec *c, const uint8_t *msg, size_t len, const WireLimits *lim,
                      size_t *n, char *err, size_t errlen) {
    if (len > lim->max_message_bytes) {
        set_err(err, errlen, "message is %zu bytes, limit %zu", len, lim->max_message_bytes);
        return WIRE_ETOOBIG;
    }
    const unsigned long long fcs = ZSTD_getFrameContentSize(msg, len);
    if (fcs == ZSTD_CONTENTSIZE_ERROR) {
        set_err(err, errlen, "not a zstd frame (bad magic or truncated header)");
        return WIRE_EZSTD;
    }
    if (fcs == ZSTD_CONTENTSIZE_UNKNOWN) {
        set_err(err, errlen, "zstd frame without a content size");
        return WIRE_EZSTD;
    }
    /* Before allocating: a bomb claims a huge size in a few bytes. */
    if (fcs > lim->max_message_bytes) {
        set_err(err, errlen, "zstd frame claims %llu bytes, limit %zu", fcs,
                lim->max_message_bytes);
        return WIRE_ETOOBIG;
    }
    /* Exactly one frame: ZSTD_decompressDCtx would also accept trailing
     * frames (e.g. an appended empty one). */
    const size_t flen = ZSTD_findFrameCompressedSize(msg, len);
    if (ZSTD_isError(flen) || flen != len) {
        set_err(err, errlen, "zstd: %s",
                ZSTD_isError(flen) ? ZSTD_getErrorName(flen) : "bytes after the frame");
        return WIRE_EZSTD;
    }
    if (grow(&c->dbuf, &c->dcap, (size_t)fcs) != 0) {
        set_err(err, errlen, "cannot allocate %llu bytes to decompress", fcs);
        return WIRE_ENOMEM;
    }
    const size_t d = ZSTD_decompressDCtx(c->dctx, c->dbuf, (size_t)fcs, msg, len);
    if (ZSTD_isError(d)) {
        set_err(err, errlen, "zstd: %s", ZSTD_getErrorName(d));
        return WIRE_EZSTD;
    }
    if (d != fcs) {
        set_err(err, errlen, "zstd: %zu bytes decompressed, frame header says %llu", d, fcs);
        return WIRE_EZSTD;
    }
    *n = d;
    return WIRE_OK;
}

int wire_decode_group(WireCodec *c, const uint8_t *msg, size_t len, const WireLimits *lim,
                      Group *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    set_err(err, errlen, "ok");
    if (!c || !lim || (!msg && len)) {
        set_err(err, errlen, "wire_decode_group: NULL argument");
        return WIRE_EARG;
    }
    if (lim->vocab_size < 1 || lim->max_G < 1 || lim->max_prompt_len < 1 ||
        lim->max_completion_len < 0 || lim->max_seq_len < 1 || lim->bos_id >= lim->vocab_size) {
        set_err(err, errlen,
                "wire_decode_group: WireLimits not set (vocab %d, max_G %d, max_seq_len %d, "
                "bos_id %d)",
                lim->vocab_size, lim->max_G, lim->max_seq_len, lim->bos_id);
        return WIRE_EARG;
    }
    size_t n = 0;
    int rc = decompress(c, msg, len, lim, &n, err, errlen);
    if (rc == WIRE_OK && msgpack_prescan(c->dbuf, n, err, errlen) != 0) rc = WIRE_EMSGPACK;
    if (rc == WIRE_OK) {
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        const msgpack_unpack_return ur =
            msgpack_unpack_next(&up, (const char *)c->dbuf, n, &off);
        if (ur != MSGPACK_UNPACK_SUCCESS) {
            set_err(err, errlen, "msgpack: unpack returned %d", (int)ur);
            rc = WIRE_EMSGPACK;
        } else if (off != n) {
            set_err(err, errlen, "msgpack: unpack stopped %zu bytes before the end", n - off);
            rc = WIRE_EMSGPACK;
        } else {
            /* Blobs point into c->dbuf, alive until the next decode. */
            rc = decode_object(&up.data, lim, out, err, errlen);
        }
        msgpack_unpacked_destroy(&up);
    }
    if (rc == WIRE_OK) {
        c->stats.n_decoded++;
        c->stats.decoded_raw_bytes += n;
        c->stats.decoded_wire_bytes += len;
        c->stats.last_decoded_raw_bytes = n;
    } else {
        c->stats.n_rejected++;
        memset(out, 0, sizeof *out);
    }
    return rc;
}

/* ---------------------------------------------------- control, checksum */

void wire_control_encode(uint32_t command, uint64_t arg, uint8_t out[WIRE_CONTROL_BYTES]) {
    memcpy(out, "GCTL", 4);
    wire_put_u32(out + 4, command);
    wire_put_u64(out + 8, arg);
}

int wire_control_decode(const uint8_t *in, size_t len, uint32_t *command, uint64_t *arg,
                        char *err, size_t errlen) {
    *command = 0;
    *arg = 0;
    if (!in || len != WIRE_CONTROL_BYTES || memcmp(in, "GCTL", 4) != 0) {
        set_err(err, errlen, "control: not a %d-byte GCTL message (%zu bytes)",
                WIRE_CONTROL_BYTES, len);
        return WIRE_EHEADER;
    }
    const uint32_t cmd = wire_get_u32(in + 4);
    if (cmd < WIRE_CMD_STOP || cmd > WIRE_CMD_VERSION || cmd == 3) {
        set_err(err, errlen, "control: unknown command %u", cmd);
        return WIRE_EHEADER;
    }
    *command = cmd;
    *arg = wire_get_u64(in + 8);
    return WIRE_OK;
}

void wire_checksum_encode(uint64_t policy_version, uint64_t checksum,
                          uint8_t out[WIRE_CHECKSUM_BYTES]) {
    wire_put_u64(out, policy_version);
    wire_put_u64(out + 8, checksum);
}

int wire_checksum_decode(const uint8_t *in, size_t len, uint64_t *policy_version,
                         uint64_t *checksum) {
    *policy_version = 0;
    *checksum = 0;
    if (!in || len != WIRE_CHECKSUM_BYTES) return WIRE_EHEADER;
    *policy_version = wire_get_u64(in);
    *checksum = wire_get_u64(in + 8);
    return WIRE_OK;
}
