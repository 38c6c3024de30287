/* wire.h: every message exchanged between ranks, and its byte layout.
 *
 * This comment is the one place where the byte layout of every message is
 * written down. Functions here and in weights.h build and check those bytes;
 * they make no MPI calls (the one MPI file moves the bytes, using WireTag).
 * All multi-byte integers and floats on the wire are little-endian.
 *
 * Message flow (rank 0 is the learner, ranks 1.. are actors):
 *   actor   -> learner  TAG_GROUP          one trajectory group record
 *   learner -> actors   TAG_WEIGHTS_HDR    64-byte weight header
 *   learner -> actors   TAG_WEIGHTS_CHUNK  n_chunks raw float chunks
 *   learner -> actors   TAG_CONTROL        16-byte control message
 *   actor   -> learner  TAG_CHECKSUM       16-byte weight checksum reply
 *   actor   -> learner  TAG_EVAL           96-byte held-out evaluation tally
 *                       (layout in eval_report.h), after WIRE_CMD_EVAL*
 *   actor   -> learner  TAG_EVAL_SAMPLES   the greedy completions of the first
 *                       [eval] samples held-out prompts that fall in the
 *                       actor's share (layout in eval_samples.h; often
 *                       empty), right after its TAG_EVAL
 *   any rank -> rank 0  TAG_RS             `grpo rejection-sample`: one rank's
 *                       accepted completions and tallies (layout in
 *                       rs_records.h)
 *   learner -> actor    TAG_PING, actor -> learner TAG_PONG: empty messages;
 *                       after a timeout the learner pings every actor to
 *                       name the ones that do not answer
 * (When the weights go by collective broadcast, tags are unused but the
 * header-then-chunks sequence and the byte layouts are the same.)
 *
 * 1. Trajectory group record (TAG_GROUP), variable length
 * --------------------------------------------------------
 * The message is ONE zstd frame (content size present, content checksum
 * on) whose content is ONE msgpack array of WIRE_GROUP_ARITY = 18 elements:
 *
 *   idx  name             msgpack type   meaning
 *    0   schema_version   uint           == WIRE_SCHEMA_VERSION (first, so a
 *                                        reader can refuse a future layout)
 *    1   actor_rank       uint (u32)     sending rank
 *    2   seq_no           uint (u64)     the run's prompt index of the group:
 *                                        (step - 1) * prompts_per_step + slot
 *    3   prompt_id        uint (u64)     task prompt identifier
 *    4   policy_version   uint (u64)     weights version that sampled it
 *    5   G                uint           completions, 1..max_G
 *    6   prompt_len       uint           P, 1..max_prompt_len; P plus each
 *                                        completion_len at most max_seq_len
 *                                        (the learner re-scores the whole
 *                                        sequence in one forward)
 *    7   n_components     uint           C, 0..WIRE_MAX_COMPONENTS (8): the
 *                                        task's, then the extra scorers'
 *    8   gen_seconds      float64        actor time generating this group
 *    9   verify_seconds   float64        actor time verifying (rewards)
 *   10   prompt           bin  P*4       int32[P]   token ids; prompt[0]
 *                                        == bos_id when the receiver sets one
 *   11   completion_len   bin  G*4       int32[G]   each 0..max_completion_len
 *   12   tokens           bin  N*4       int32[N]   N = sum(completion_len);
 *                                        completion g starts at the sum of
 *                                        the lengths before it
 *   13   old_logprobs     bin  N*4       float32[N] log p(token) under the
 *                                        sampling policy, finite, <= 1e-4
 *   14   reward           bin  G*4       float32[G] total reward, finite
 *   15   reward_comp      bin  G*C*4     float32[G][C] row-major, finite
 *   16   finish           bin  G         uint8[G]   WireFinish (0 eos,
 *                                        1 stop string, 2 length)
 *   17   status           bin  G         uint8[G]   RewardStatus (task.h):
 *                                        0 scored, else why the reward is 0
 *                                        (a verifier program or the sandbox
 *                                        failed on it), < REWARD_STATUS_COUNT
 * (Schema 1 had no status column.)
 *
 * Integers are packed in msgpack's shortest form; bins are raw
 * little-endian arrays with no padding (a reader must memcpy: they are not
 * aligned). Token ids must lie in [0, vocab_size). Both the compressed
 * length and the zstd content size are bounded by max_message_bytes.
 *
 * 2. Weight header (TAG_WEIGHTS_HDR), exactly 64 bytes
 * ----------------------------------------------------
 *   off size  field
 *    0   8    magic           "GRPOWGHT" (no NUL)
 *    8   4    format_version  u32 == WEIGHTS_FORMAT_VERSION
 *   12   4    header_bytes    u32 == 64
 *   16   8    n_params        u64 floats in the flat parameter buffer
 *   24   8    policy_version  u64
 *   32   8    checksum        u64 XXH3-64 (hash64) of the n_params*4 bytes of
 *                             the float buffer as held in memory
 *   40   8    chunk_elems     u64 floats per chunk, 1..(2^31-1)/4
 *   48   8    n_chunks        u64 == ceil(n_params / chunk_elems)
 *   56   4    header_crc      u32 CRC-32 (crc32_update from 0) of bytes 0..55
 *   60   4    reserved        u32 0
 *
 * 3. Weight chunks (TAG_WEIGHTS_CHUNK), n_chunks messages in order
 * ----------------------------------------------------------------
 * Chunk i (0-based) is params[i*chunk_elems, i*chunk_elems + count) as raw
 * float32 bytes, count = min(chunk_elems, n_params - i*chunk_elems): every
 * chunk is full except possibly the last, and each is < 2^31 bytes so an
 * int MPI count holds it. weights_chunk() computes (offset, count). No
 * per-chunk header: the receiver verifies the whole buffer against the
 * header checksum once the last chunk has arrived.
 *
 * 4. Control (TAG_CONTROL), exactly 16 bytes
 * ------------------------------------------
 *   off size  field
 *    0   4    magic    "GCTL"
 *    4   4    command  u32 WireCommand
 *    8   8    arg      u64 (WIRE_CMD_WEIGHTS: the policy_version that follows)
 * Synchronous steps: WEIGHTS (install, then the checksum gather when due),
 * or in the colocated layout VERSION (no weights: the checksum gather when
 * due), GENERATE (produce the quota), EVAL / EVAL_PASS_K (evaluate the
 * weights held, send TAG_EVAL), STOP. In the asynchronous weight channel
 * the command of a publication is WEIGHTS, EVAL, EVAL_PASS_K (install these
 * weights, evaluate, go on generating) or STOP.
 *
 * 4b. (retired: the actor state of WIRE_CMD_SNAPSHOT)
 *
 * 5. Checksum reply (TAG_CHECKSUM), exactly 16 bytes
 * --------------------------------------------------
 *   off size  field
 *    0   8    policy_version  u64 version of the weights the actor holds
 *    8   8    checksum        u64 hash64 of the actor's float buffer
 *
 * Error policy (STYLE.md): every decoder returns 0 or a negative WireErr
 * with a message, never dies and never trusts a size before checking it,
 * so the learner can count and drop a bad message. */
#ifndef PROTO_WIRE_H
#define PROTO_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The learner's first broadcast in `train` (a u64) is the step the run
 * starts after (0: a fresh run; the resumed checkpoint's step), or
 * WIRE_START_REFUSED: the learner refused to start (its message says why)
 * and the other ranks leave. */
#define WIRE_START_REFUSED UINT64_MAX

/* MPI message tags, used only by the one MPI file. */
typedef enum {
    TAG_GROUP = 1,
    TAG_WEIGHTS_HDR = 2,
    TAG_WEIGHTS_CHUNK = 3,
    TAG_CONTROL = 4,
    TAG_CHECKSUM = 5,
    TAG_PING = 6, /* learner -> actor, empty: "are you alive?" (after a timeout) */
    TAG_PONG = 7, /* actor -> learner, empty: answered from any wait loop */
    TAG_EVAL = 8, /* actor -> learner, an evaluation tally (eval_report.h) */
    TAG_EVAL_SAMPLES = 9, /* actor -> learner, greedy held-out samples (eval_samples.h) */
    TAG_RS = 10,  /* rejection-sample share -> rank 0 (rs_records.h) */
} WireTag;

enum {
    WIRE_SCHEMA_VERSION = 2,
    WIRE_GROUP_ARITY = 18,   /* elements of the record array */
    WIRE_MAX_COMPONENTS = 8, /* reward components per completion (REWARD_MAX_COMPONENTS) */
    WIRE_CONTROL_BYTES = 16,
    WIRE_CHECKSUM_BYTES = 16,
};

/* Log-probs may exceed 0 by this much: float rounding of log-softmax. */
#define WIRE_LOGPROB_TOL 1e-4f

/* Return codes: 0 is success, every failure is negative and distinct in
 * kind; the accompanying message names the exact field. */
typedef enum {
    WIRE_OK = 0,
    WIRE_EARG = -1,      /* caller passed an inconsistent Group or NULL */
    WIRE_ENOMEM = -2,    /* scratch buffer could not grow */
    WIRE_EZSTD = -3,     /* not a single valid zstd frame, or corrupt */
    WIRE_ETOOBIG = -4,   /* exceeds max_message_bytes */
    WIRE_EMSGPACK = -5,  /* malformed msgpack or trailing bytes */
    WIRE_ESCHEMA = -6,   /* arity, element type or schema version */
    WIRE_ESIZE = -7,     /* column sizes disagree with the counts */
    WIRE_ELIMIT = -8,    /* a count exceeds WireLimits */
    WIRE_EVALUE = -9,    /* bad value: token, log-prob, reward, finish, time */
    WIRE_EHEADER = -10,  /* weight/control header: magic, version, shape */
    WIRE_ECHECKSUM = -11 /* weight buffer does not match its checksum */
} WireErr;

/* Static name of a WireErr code ("ok", "zstd", ...). */
const char *wire_strerror(int code);

/* Why a completion ended. */
typedef enum { WIRE_FINISH_EOS = 0, WIRE_FINISH_STOP = 1, WIRE_FINISH_LENGTH = 2 } WireFinish;

/* One prompt's G completions, as an actor produced them.
 * Every array lives in one allocation (block) owned by the Group: set up by
 * group_alloc or wire_decode_group, released by group_free. Dimensions:
 * G completions, P = prompt_len, N = n_tokens = sum(completion_len),
 * C = n_components. */
typedef struct {
    uint32_t schema_version;  /* WIRE_SCHEMA_VERSION */
    uint32_t actor_rank;
    uint64_t seq_no;          /* the run's prompt index (rollout.h), whichever actor */
    uint64_t prompt_id;
    uint64_t policy_version;  /* weights version that sampled the group */
    int32_t G, prompt_len, n_components;
    int64_t n_tokens;         /* N = sum(completion_len) */
    double gen_seconds, verify_seconds;
    int32_t *prompt;          /* (P) token ids */
    int32_t *completion_len;  /* (G) */
    int32_t *tokens;          /* (N) completions concatenated */
    float *old_logprobs;      /* (N) log p of each token under the sampler */
    float *reward;            /* (G) total reward */
    float *reward_comp;       /* (G, C) row-major */
    uint8_t *finish;          /* (G) WireFinish */
    uint8_t *status;          /* (G) RewardStatus */
    void *block;              /* owns every array above */
} Group;

/* Sets *g to a zeroed group of the given shape with one allocation for all
 * arrays (dies on out-of-memory or a negative count: a caller bug). The
 * caller fills the arrays and must make completion_len sum to n_tokens;
 * release with group_free. Any previous contents of *g are overwritten,
 * not freed. */
void group_alloc(Group *g, int G, int prompt_len, int n_components, int64_t n_tokens);
/* Frees the arrays of g (not g itself) and zeroes it; safe on a zeroed or
 * already freed Group. */
void group_free(Group *g);
/* Offset of completion g's first token in tokens/old_logprobs (O(g)). */
int64_t group_completion_offset(const Group *grp, int g);

/* Receiver-side bounds for a group record: everything the learner is
 * willing to allocate for, decided by the run config. */
typedef struct {
    int32_t vocab_size;         /* token ids must be < vocab_size */
    int32_t max_G;
    int32_t max_prompt_len;
    int32_t max_completion_len; /* per completion */
    int32_t max_seq_len;        /* prompt_len + completion_len[g], for every g */
    int32_t bos_id;             /* prompt[0] must be this id; -1: any */
    size_t max_message_bytes;   /* compressed AND decompressed size */
} WireLimits;

/* Limits for records whose counts can be at most this large, with
 * max_message_bytes set to the largest record those counts allow; no
 * sequence bound beyond the two counts (max_seq_len = their sum) and any
 * first prompt token (bos_id = -1). */
WireLimits wire_limits_make(int vocab_size, int max_G, int max_prompt_len,
                            int max_completion_len);

/* The learner's limits: every record must fit one training sequence of
 * max_seq_len tokens (prompt_len <= max_seq_len - 1, as the sampler leaves
 * room for at least one completion token, and prompt_len + completion_len
 * <= max_seq_len) with completions of at most max_new_tokens and a prompt
 * that starts with bos_id. A record that passes cannot trip the learner's
 * own bounds (batch.h). */
WireLimits wire_limits_for_run(int vocab_size, int max_G, int max_seq_len, int max_new_tokens,
                               int bos_id);

/* Byte counters of one codec: the compression-ratio metric. */
typedef struct {
    uint64_t n_encoded, n_decoded, n_rejected;
    uint64_t raw_bytes, wire_bytes;           /* sums over encodes */
    size_t last_raw_bytes, last_wire_bytes;   /* the latest encode */
    uint64_t decoded_raw_bytes, decoded_wire_bytes; /* sums over good decodes */
    size_t last_decoded_raw_bytes;            /* the latest good decode */
} WireStats;

/* Opaque codec: one ZSTD_CCtx (level and checksum set once), one ZSTD_DCtx,
 * one msgpack sbuffer and the scratch buffers, all reused across messages.
 * One per thread (not thread-safe). */
typedef struct WireCodec WireCodec;

/* New codec compressing at zstd level (0 = zstd default); dies on
 * allocation failure (setup). Free with wire_codec_free. */
WireCodec *wire_codec_new(int level);
/* Frees the codec and every buffer it returned; NULL is fine. */
void wire_codec_free(WireCodec *c);
/* The codec's counters (owned by the codec, updated by each call). */
const WireStats *wire_codec_stats(const WireCodec *c);
/* raw_bytes / wire_bytes over all encodes, 0 before the first. */
double wire_stats_ratio(const WireStats *s);

/* Encodes g as a record (layout 1 above). On success *out points to
 * *out_len bytes OWNED BY THE CODEC, valid until the next encode or
 * wire_codec_free; the uncompressed size is in stats.last_raw_bytes.
 * Returns 0, or WIRE_EARG if g's counts are inconsistent (negative counts,
 * C > 4, lengths not summing to n_tokens, NULL arrays), or WIRE_ENOMEM /
 * WIRE_EZSTD. */
int wire_encode_group(WireCodec *c, const Group *g, const uint8_t **out, size_t *out_len);

/* Decodes and validates a record against lim. On success returns 0 and
 * *out owns freshly allocated arrays (release with group_free); whatever
 * *out held before is overwritten, not freed. On failure returns a
 * negative WireErr, writes a message naming the field to err, and leaves
 * *out zeroed with nothing allocated. Never crashes on any input. */
int wire_decode_group(WireCodec *c, const uint8_t *msg, size_t len, const WireLimits *lim,
                      Group *out, char *err, size_t errlen);

/* Control messages (layout 4). */
typedef enum {
    WIRE_CMD_STOP = 1,    /* actor: finish the current group, then exit */
    WIRE_CMD_WEIGHTS = 2, /* a weight header and its chunks follow */
    /* 3 was SNAPSHOT (the actors' RNG state, gathered for a checkpoint):
     * retired, since a rollout's randomness is keyed by (seed, step,
     * prompt, completion) and an actor holds no state to save */
    WIRE_CMD_GENERATE = 4, /* sync: produce this step's quota with the weights held */
    WIRE_CMD_EVAL = 5,     /* evaluate a share of the held-out set, greedy only, and report */
    WIRE_CMD_EVAL_PASS_K = 6, /* the same with [eval] pass_k samples per prompt */
    WIRE_CMD_VERSION = 7,  /* colocated: the weights every rank holds are now version arg
                            * (each rank learned them in place; no weights follow) */
} WireCommand;

/* Writes a control message into out[16]. */
void wire_control_encode(uint32_t command, uint64_t arg, uint8_t out[WIRE_CONTROL_BYTES]);
/* Parses a control message: 0, or WIRE_EHEADER (length, magic, unknown
 * command) with err. */
int wire_control_decode(const uint8_t *in, size_t len, uint32_t *command, uint64_t *arg,
                        char *err, size_t errlen);

/* Writes a checksum reply (layout 5) into out[16]. */
void wire_checksum_encode(uint64_t policy_version, uint64_t checksum,
                          uint8_t out[WIRE_CHECKSUM_BYTES]);
/* Parses a checksum reply: 0, or WIRE_EHEADER if len is wrong. */
int wire_checksum_decode(const uint8_t *in, size_t len, uint64_t *policy_version,
                         uint64_t *checksum);

/* Little-endian stores and loads, independent of host order and alignment. */
static inline void wire_put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void wire_put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t wire_get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static inline uint64_t wire_get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
/* IEEE-754 binary64, as its little-endian bit pattern. */
static inline void wire_put_f64(uint8_t *p, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    wire_put_u64(p, u);
}
static inline double wire_get_f64(const uint8_t *p) {
    uint64_t u = wire_get_u64(p);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

#endif
