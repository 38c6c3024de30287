#include "rs_records.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "util.h"

const char *const rs_category_names[RS_N_CATEGORIES] = {"+", "-", "*", "other"};

int rs_category(const char *prompt) {
    if (!prompt[0]) return RS_CAT_OTHER;
    for (const char *p = prompt + 1; *p; p++) {
        if (*p == '+') return RS_CAT_ADD;
        if (*p == '-') return RS_CAT_SUB;
        if (*p == '*') return RS_CAT_MUL;
    }
    return RS_CAT_OTHER;
}

void rs_stats_add(RsStats *a, const RsStats *b) {
    for (int c = 0; c < RS_N_CATEGORIES; c++) {
        a->cat[c].sampled += b->cat[c].sampled;
        a->cat[c].accepted += b->cat[c].accepted;
        a->cat[c].prompts += b->cat[c].prompts;
        a->cat[c].prompts_ok += b->cat[c].prompts_ok;
    }
}

RsCount rs_stats_total(const RsStats *s) {
    RsStats t = {0};
    for (int c = 0; c < RS_N_CATEGORIES; c++) {
        RsStats one = {0};
        one.cat[0] = s->cat[c];
        rs_stats_add(&t, &one);
    }
    return t.cat[0];
}

static char *dup_n(const char *s, size_t n) {
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static void push_owned(RsRecords *rs, uint32_t index, uint32_t seq, float reward, char *prompt,
                       char *completion) {
    if (rs->n == rs->cap) {
        int cap = rs->cap ? rs->cap * 2 : 16;
        CHECK(cap > rs->cap); /* int overflow would be billions of records */
        RsRecord *r = xmalloc(sizeof *r * (size_t)cap);
        if (rs->n) memcpy(r, rs->r, sizeof *r * (size_t)rs->n);
        xfree(rs->r);
        rs->r = r;
        rs->cap = cap;
    }
    rs->r[rs->n++] = (RsRecord){index, seq, reward, prompt, completion};
}

void rs_records_push(RsRecords *rs, uint32_t index, uint32_t seq, float reward, const char *prompt,
                     const char *completion) {
    push_owned(rs, index, seq, reward, dup_n(prompt, strlen(prompt)),
               dup_n(completion, strlen(completion)));
}

void rs_records_take(RsRecords *dst, RsRecords *src) {
    for (int i = 0; i < src->n; i++) {
        RsRecord *r = &src->r[i];
        push_owned(dst, r->index, r->seq, r->reward, r->prompt, r->completion);
    }
    xfree(src->r);
    *src = (RsRecords){0};
}

void rs_records_free(RsRecords *rs) {
    for (int i = 0; i < rs->n; i++) {
        xfree(rs->r[i].prompt);
        xfree(rs->r[i].completion);
    }
    xfree(rs->r);
    *rs = (RsRecords){0};
}

/* ---- little-endian bytes, whatever the host ---- */

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

enum { RECORD_FIXED = 20 };

int rs_encode(const RsStats *st, const RsRecords *rs, uint8_t **out, size_t *len, char *err,
              size_t errlen) {
    size_t n = RS_HEADER_BYTES;
    for (int i = 0; i < rs->n; i++) {
        size_t pl = strlen(rs->r[i].prompt), cl = strlen(rs->r[i].completion);
        if (pl < 1 || pl > RS_MAX_TEXT || cl < 1 || cl > RS_MAX_TEXT) {
            set_err(err, errlen, "rs record %d: prompt %zu / completion %zu bytes, allowed 1..%d", i,
                    pl, cl, RS_MAX_TEXT);
            return -1;
        }
        n += RECORD_FIXED + pl + cl;
        if (n >= (size_t)INT_MAX) {
            set_err(err, errlen,
                    "rs message: %d records reach 2^31 bytes, more than one MPI message holds "
                    "(use more ranks or a smaller [rs] prompts)",
                    i + 1);
            return -1;
        }
    }
    uint8_t *b = xmalloc(n), *p = b;
    memcpy(p, "GRSR", 4);
    put32(p + 4, RS_WIRE_VERSION);
    put32(p + 8, RS_N_CATEGORIES);
    put32(p + 12, (uint32_t)rs->n);
    p += 16;
    for (int c = 0; c < RS_N_CATEGORIES; c++, p += 32) {
        put64(p, st->cat[c].sampled);
        put64(p + 8, st->cat[c].accepted);
        put64(p + 16, st->cat[c].prompts);
        put64(p + 24, st->cat[c].prompts_ok);
    }
    for (int i = 0; i < rs->n; i++) {
        const RsRecord *r = &rs->r[i];
        uint32_t pl = (uint32_t)strlen(r->prompt), cl = (uint32_t)strlen(r->completion), rw;
        memcpy(&rw, &r->reward, 4);
        put32(p, r->index);
        put32(p + 4, r->seq);
        put32(p + 8, rw);
        put32(p + 12, pl);
        put32(p + 16, cl);
        memcpy(p + RECORD_FIXED, r->prompt, pl);
        memcpy(p + RECORD_FIXED + pl, r->completion, cl);
        p += RECORD_FIXED + pl + cl;
    }
    CHECK((size_t)(p - b) == n);
    *out = b;
    *len = n;
    return 0;
}

int rs_decode(const uint8_t *msg, size_t len, RsStats *st, RsRecords *rs, char *err,
              size_t errlen) {
    if (len < RS_HEADER_BYTES || memcmp(msg, "GRSR", 4) != 0) {
        set_err(err, errlen, "rs message: not a GRSR message (%zu bytes)", len);
        return -1;
    }
    uint32_t version = get32(msg + 4), ncat = get32(msg + 8), nrec = get32(msg + 12);
    if (version != RS_WIRE_VERSION) {
        set_err(err, errlen, "rs message: version %u, this build reads %d", version,
                RS_WIRE_VERSION);
        return -1;
    }
    if (ncat != RS_N_CATEGORIES) {
        set_err(err, errlen, "rs message: n_categories %u, expected %d", ncat, RS_N_CATEGORIES);
        return -1;
    }
    /* a record takes at least RECORD_FIXED + 2 bytes: refuse a count the
     * message cannot hold before reading any */
    if (nrec > (len - RS_HEADER_BYTES) / (RECORD_FIXED + 2)) {
        set_err(err, errlen, "rs message: %u records declared, only %zu bytes follow the header",
                nrec, len - RS_HEADER_BYTES);
        return -1;
    }
    RsStats s;
    uint64_t accepted = 0;
    const uint8_t *p = msg + 16;
    for (int c = 0; c < RS_N_CATEGORIES; c++, p += 32) {
        s.cat[c] = (RsCount){get64(p), get64(p + 8), get64(p + 16), get64(p + 24)};
        if (s.cat[c].sampled > RS_MAX_COUNT || s.cat[c].prompts > RS_MAX_COUNT ||
            s.cat[c].accepted > s.cat[c].sampled || s.cat[c].prompts_ok > s.cat[c].prompts ||
            s.cat[c].prompts_ok > s.cat[c].accepted) {
            set_err(err, errlen,
                    "rs message: category '%s' counts are inconsistent (sampled %llu, accepted "
                    "%llu, prompts %llu, prompts_ok %llu)",
                    rs_category_names[c], (unsigned long long)s.cat[c].sampled,
                    (unsigned long long)s.cat[c].accepted, (unsigned long long)s.cat[c].prompts,
                    (unsigned long long)s.cat[c].prompts_ok);
            return -1;
        }
        accepted += s.cat[c].accepted;
    }
    if (nrec > accepted) {
        set_err(err, errlen, "rs message: %u records but only %llu accepted completions", nrec,
                (unsigned long long)accepted);
        return -1;
    }
    RsRecords got = {0};
    const uint8_t *end = msg + len;
    for (uint32_t i = 0; i < nrec; i++) {
        if ((size_t)(end - p) < RECORD_FIXED) {
            set_err(err, errlen, "rs message: record %u truncated at byte %zu", i,
                    (size_t)(p - msg));
            goto fail;
        }
        uint32_t index = get32(p), seq = get32(p + 4), rw = get32(p + 8), pl = get32(p + 12),
                 cl = get32(p + 16);
        float reward;
        memcpy(&reward, &rw, 4);
        if (!isfinite(reward)) {
            set_err(err, errlen, "rs message: record %u: reward is not finite", i);
            goto fail;
        }
        if (pl < 1 || pl > RS_MAX_TEXT || cl < 1 || cl > RS_MAX_TEXT) {
            set_err(err, errlen,
                    "rs message: record %u: prompt_len %u / completion_len %u outside 1..%d", i, pl,
                    cl, RS_MAX_TEXT);
            goto fail;
        }
        p += RECORD_FIXED;
        if ((size_t)(end - p) < (size_t)pl + cl) {
            set_err(err, errlen, "rs message: record %u: %u + %u text bytes, only %zu left", i, pl,
                    cl, (size_t)(end - p));
            goto fail;
        }
        if (memchr(p, 0, pl) || memchr(p + pl, 0, cl)) {
            set_err(err, errlen, "rs message: record %u: a text holds a NUL byte", i);
            goto fail;
        }
        push_owned(&got, index, seq, reward, dup_n((const char *)p, pl),
                   dup_n((const char *)p + pl, cl));
        p += pl + cl;
    }
    if (p != end) {
        set_err(err, errlen, "rs message: %zu bytes after the last record", (size_t)(end - p));
        goto fail;
    }
    *st = s;
    rs_records_take(rs, &got);
    return 0;
fail:
    rs_records_free(&got);
    return -1;
}
