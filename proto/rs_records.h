/* rs_records.h: what `grpo rejection-sample` moves between ranks: the
 * completions a rank's verifier accepted, with the tallies behind the
 * acceptance rates. Every rank samples a share of the prompts and sends
 * one RS message to rank 0 (TAG_RS, wire.h), which merges, deduplicates
 * and writes the JSON lines.
 *
 * RS message, variable length, all integers and floats little-endian:
 *
 *   off  size  field
 *     0    4   magic "GRSR" (bytes 'G' 'R' 'S' 'R')
 *     4    4   u32 version == RS_WIRE_VERSION
 *     8    4   u32 n_categories == RS_N_CATEGORIES
 *    12    4   u32 n_records
 *    16  32*C  per category c: u64 sampled, accepted, prompts, prompts_ok
 *              (each <= RS_MAX_COUNT; accepted <= sampled,
 *              prompts_ok <= prompts, prompts_ok <= accepted)
 *   then n_records records, each:
 *          4   u32 index            prompt index of the run (training split)
 *          4   u32 seq              completion number within its prompt, < k
 *          4   f32 reward           the verifier's total, finite
 *          4   u32 prompt_len       bytes, 1..RS_MAX_TEXT
 *          4   u32 completion_len   bytes, 1..RS_MAX_TEXT
 *          prompt bytes, completion bytes (no NUL, no terminator)
 *   nothing after the last record.
 *
 * Decoding checks every field and says which one is wrong. */
#ifndef PROTO_RS_RECORDS_H
#define PROTO_RS_RECORDS_H

#include <stddef.h>
#include <stdint.h>

/* Categories of a prompt for per-operation rates: the first of + - * after
 * its first character (so a leading minus sign is not read as an
 * operation), else "other" (countdown, free-form data). */
enum { RS_CAT_ADD, RS_CAT_SUB, RS_CAT_MUL, RS_CAT_OTHER, RS_N_CATEGORIES };
enum { RS_WIRE_VERSION = 1, RS_MAX_TEXT = 1 << 16, RS_HEADER_BYTES = 16 + 32 * RS_N_CATEGORIES };
/* Bound on every count of a message, far above any run ([rs] prompts x k
 * <= 2^36), so sums over categories and ranks cannot wrap. */
#define RS_MAX_COUNT ((uint64_t)1 << 48)

extern const char *const rs_category_names[RS_N_CATEGORIES]; /* "+", "-", "*", "other" */
int rs_category(const char *prompt);

typedef struct {
    uint64_t sampled;    /* completions drawn */
    uint64_t accepted;   /* of them verified correct (before deduplication) */
    uint64_t prompts;    /* prompts sampled */
    uint64_t prompts_ok; /* prompts with at least one accepted completion */
} RsCount;

typedef struct {
    RsCount cat[RS_N_CATEGORIES];
} RsStats;

/* Adds b's counts into a. */
void rs_stats_add(RsStats *a, const RsStats *b);
/* The sum over categories. */
RsCount rs_stats_total(const RsStats *s);

typedef struct {
    uint32_t index, seq;
    float reward;
    char *prompt, *completion; /* owned, NUL-terminated */
} RsRecord;

typedef struct {
    int n, cap;
    RsRecord *r;
} RsRecords;

/* Appends copies of prompt and completion. */
void rs_records_push(RsRecords *rs, uint32_t index, uint32_t seq, float reward, const char *prompt,
                     const char *completion);
/* Moves every record of src to the end of dst; src is left empty. */
void rs_records_take(RsRecords *dst, RsRecords *src);
void rs_records_free(RsRecords *rs);

/* Encodes stats and records into *out (malloc'd, *len bytes). Returns 0,
 * or -1 with err when a text is longer than RS_MAX_TEXT or the message
 * would reach 2^31 bytes (MPI's count limit: use more ranks or fewer
 * prompts per run). */
int rs_encode(const RsStats *st, const RsRecords *rs, uint8_t **out, size_t *len, char *err,
              size_t errlen);
/* Decodes a message into *st and appends its records to rs. Returns 0, or
 * -1 with err naming the field (rs unchanged then). */
int rs_decode(const uint8_t *msg, size_t len, RsStats *st, RsRecords *rs, char *err,
              size_t errlen);

#endif
