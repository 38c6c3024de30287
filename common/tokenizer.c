/* tokenizer.c: the character vocabulary and its serialised form.
 *
 * Blob layout (the TOKN section of a checkpoint; integers little-endian):
 *   offset 0  char[4]  magic "TOK1"
 *          4  u32      blob version (TOK_BLOB_VERSION)
 *          8  u32      kind (TokenizerKind)
 *         12  u32      vocab_size V (1..TOK_MAX_VOCAB)
 *         16  V pieces, each u8 length (1..TOK_MAX_PIECE-1) then that many
 *             bytes (no NUL bytes)
 *       end-4 u32      CRC-32 of every byte before it
 * The blob comes from disk, so deserialisation checks every field and
 * returns an error instead of trusting it. */
#include "tokenizer.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

enum { TOK_BLOB_VERSION = 1, TOK_HEADER = 16, TOK_N_SPECIAL = 3 };
static const char tok_magic[4] = {'T', 'O', 'K', '1'};
static const char *const tok_special[TOK_N_SPECIAL] = {"<pad>", "<bos>", "<eos>"};

void tokenizer_init_char(Tokenizer *t) {
    memset(t, 0, sizeof *t);
    t->kind = TOKENIZER_CHAR;
    for (int i = 0; i < TOK_N_SPECIAL; i++) strcpy(t->pieces[i], tok_special[i]);
    for (int b = 0; b < 256; b++) t->byte_to_id[b] = -1;
    int id = TOK_N_SPECIAL;
    for (int c = 32; c <= 126; c++, id++) {
        t->pieces[id][0] = (char)c;
        t->byte_to_id[c] = (int16_t)id;
    }
    t->vocab_size = id;
}

int tokenizer_encode(const Tokenizer *t, const char *text, int *out, int cap, int *bad_pos) {
    int n = 0;
    for (const char *p = text; *p; p++) {
        int id = t->byte_to_id[(unsigned char)*p];
        if (id < 0) {
            if (bad_pos) *bad_pos = (int)(p - text);
            return -1;
        }
        if (n >= cap) return -2;
        out[n++] = id;
    }
    return n;
}

int tokenizer_decode(const Tokenizer *t, const int *ids, int n, char *out, size_t cap) {
    if (cap == 0) return -1;
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->vocab_size) return -1;
        if (id < TOK_N_SPECIAL) continue;
        size_t k = strlen(t->pieces[id]);
        if (len + k + 1 > cap) return -1;
        memcpy(out + len, t->pieces[id], k);
        len += k;
        out[len] = '\0';
    }
    return (int)len;
}

/* Little-endian u32 store/load (the blob may be unaligned). */
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t tokenizer_serialize(const Tokenizer *t, uint8_t *buf) {
    size_t n = TOK_HEADER;
    for (int i = 0; i < t->vocab_size; i++) n += 1 + strlen(t->pieces[i]);
    n += 4;
    if (!buf) return n;
    memcpy(buf, tok_magic, 4);
    put_u32(buf + 4, TOK_BLOB_VERSION);
    put_u32(buf + 8, (uint32_t)t->kind);
    put_u32(buf + 12, (uint32_t)t->vocab_size);
    size_t off = TOK_HEADER;
    for (int i = 0; i < t->vocab_size; i++) {
        size_t k = strlen(t->pieces[i]);
        buf[off++] = (uint8_t)k;
        memcpy(buf + off, t->pieces[i], k);
        off += k;
    }
    put_u32(buf + off, crc32_update(0, buf, off));
    return n;
}

int tokenizer_deserialize(Tokenizer *t, const uint8_t *buf, size_t n, char *err, size_t errlen) {
    if (n < TOK_HEADER + 4) {
        set_err(err, errlen, "tokenizer blob: %zu bytes, shorter than its %d-byte header", n,
                TOK_HEADER + 4);
        return -1;
    }
    if (memcmp(buf, tok_magic, 4) != 0) {
        set_err(err, errlen, "tokenizer blob: bad magic (expected \"TOK1\")");
        return -1;
    }
    uint32_t crc = get_u32(buf + n - 4);
    if (crc32_update(0, buf, n - 4) != crc) {
        set_err(err, errlen, "tokenizer blob: CRC mismatch (corrupted data)");
        return -1;
    }
    uint32_t version = get_u32(buf + 4), kind = get_u32(buf + 8), vs = get_u32(buf + 12);
    if (version != TOK_BLOB_VERSION) {
        set_err(err, errlen, "tokenizer blob: version %u, this build reads %d", version,
                TOK_BLOB_VERSION);
        return -1;
    }
    if (kind != TOKENIZER_CHAR) {
        set_err(err, errlen, "tokenizer blob: unknown kind %u (1 = char)", kind);
        return -1;
    }
    if (vs <= TOK_N_SPECIAL || vs > TOK_MAX_VOCAB) {
        set_err(err, errlen, "tokenizer blob: vocab_size %u outside %d..%d", vs,
                TOK_N_SPECIAL + 1, TOK_MAX_VOCAB);
        return -1;
    }
    /* Parse into a scratch copy so t is untouched on failure. */
    Tokenizer *tmp = xcalloc(1, sizeof *tmp);
    tmp->kind = (int)kind;
    tmp->vocab_size = (int)vs;
    for (int b = 0; b < 256; b++) tmp->byte_to_id[b] = -1;
    size_t off = TOK_HEADER, end = n - 4;
    int rc = -1;
    for (uint32_t i = 0; i < vs; i++) {
        if (off >= end) {
            set_err(err, errlen, "tokenizer blob: truncated at piece %u of %u", i, vs);
            goto out;
        }
        size_t k = buf[off++];
        if (k == 0 || k >= TOK_MAX_PIECE || off + k > end || memchr(buf + off, 0, k)) {
            set_err(err, errlen, "tokenizer blob: piece %u has bad length %zu or a NUL byte", i, k);
            goto out;
        }
        memcpy(tmp->pieces[i], buf + off, k);
        off += k;
        if (i < TOK_N_SPECIAL) {
            if (strcmp(tmp->pieces[i], tok_special[i]) != 0) {
                set_err(err, errlen, "tokenizer blob: piece %u is \"%s\", expected \"%s\"", i,
                        tmp->pieces[i], tok_special[i]);
                goto out;
            }
            continue;
        }
        /* char kind: every ordinary piece is one distinct byte. */
        unsigned char c = (unsigned char)tmp->pieces[i][0];
        if (k != 1 || tmp->byte_to_id[c] >= 0) {
            set_err(err, errlen, "tokenizer blob: piece %u is not a new single character", i);
            goto out;
        }
        tmp->byte_to_id[c] = (int16_t)i;
    }
    if (off != end) {
        set_err(err, errlen, "tokenizer blob: %zu unexpected bytes after the pieces", end - off);
        goto out;
    }
    memcpy(t, tmp, sizeof *t);
    rc = 0;
out:
    xfree(tmp);
    return rc;
}

int encode_prompt(const Tokenizer *tok, const char *prompt, int *out, int cap) {
    int bad = -1;
    out[0] = TOK_BOS;
    int n = tokenizer_encode(tok, prompt, out + 1, cap - 1, &bad);
    if (n == -1) die("prompt '%s': character at offset %d is not in the vocabulary", prompt, bad);
    if (n < 0) die("prompt '%s' is longer than %d tokens", prompt, cap - 1);
    return n + 1;
}

/* (tokenizer.h) */
void tokenizer_describe_char(const char *text, int pos, char *out, size_t cap) {
    const unsigned char *p = (const unsigned char *)text + pos;
    int n = 1;
    if (p[0] >= 0xC2 && p[0] <= 0xF4) {
        const int want = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : 2;
        int k = 1;
        while (k < want && (p[k] & 0xC0) == 0x80) k++; /* stops at the NUL */
        if (k == want) n = want;
    }
    char shown[8];
    if (n > 1) {
        memcpy(shown, p, (size_t)n);
        shown[n] = '\0';
    } else if (p[0] >= 32 && p[0] < 127) {
        snprintf(shown, sizeof shown, "%c", p[0]);
    } else if (p[0] == '\t' || p[0] == '\n' || p[0] == '\r') {
        snprintf(shown, sizeof shown, "\\%c", p[0] == '\t' ? 't' : p[0] == '\n' ? 'n' : 'r');
    } else {
        snprintf(shown, sizeof shown, "\\x%02x", p[0]);
    }
    char hex[24] = "";
    for (int i = 0; i < n; i++)
        snprintf(hex + strlen(hex), sizeof hex - strlen(hex), "%s0x%02x", i ? " " : "", p[i]);
    snprintf(out, cap, "'%s' (%s)", shown, hex);
}

int tokenizer_same(const Tokenizer *a, const Tokenizer *b) {
    size_t na = tokenizer_serialize(a, NULL), nb = tokenizer_serialize(b, NULL);
    if (na != nb) return 0;
    uint8_t *x = xmalloc(na), *y = xmalloc(nb);
    tokenizer_serialize(a, x);
    tokenizer_serialize(b, y);
    /* the blob holds every piece, so equal blobs are the same vocabulary */
    int same = memcmp(x, y, na) == 0;
    xfree(x);
    xfree(y);
    return same;
}
