/* tokenizer.c: the character vocabulary, what every kind shares (encode,
 * decode and piece dispatch), and the serialised form.
 *
 * Blob layout (the TOKN section of a checkpoint; integers little-endian).
 * Version 1 (character tokenizers, read for old checkpoints, not written):
 *   offset 0  char[4]  magic "TOK1"
 *          4  u32      blob version (1)
 *          8  u32      kind (TokenizerKind, 1 = char)
 *         12  u32      vocab_size V (4..4096)
 *         16  V pieces, each u8 length (1..15) then that many bytes (no NUL)
 *       end-4 u32      CRC-32 of every byte before it
 * Version 2 (written for every kind):
 *   offset 0  char[4]  magic "TOK1"
 *          4  u32      blob version (2)
 *          8  u32      kind
 *         12  u32      vocab_size V (1..TOK_MAX_VOCAB)
 *         16  u32 x 4  bos_id, eos_id, pad_id, unk_id (0xffffffff = none)
 *         32  u32      options: bit 0 ignore_merges, bit 1 sp_prefix,
 *                      bit 2 a score per token follows the pieces,
 *                      bit 3 llama3_split
 *         36  u32      n_merges M
 *         40  V pieces, each u16 length (0..TOK_MAX_PIECE), u8 TOKF_*
 *             flags, then the bytes
 *             [V f32 scores]
 *             M merges, each u32 a, b, result, in rank order
 *       end-4 u32      CRC-32 of every byte before it
 * The blob comes from disk, so deserialisation checks every field and
 * returns an error instead of trusting it. */
#include "tokenizer.h"

#include <stdio.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "util.h"

enum { TOK_HEADER_V1 = 16, TOK_HEADER_V2 = 40, TOK_N_SPECIAL = 3, TOK_V1_MAX_VOCAB = 4096,
       TOK_V1_MAX_PIECE = 16 };
enum { OPT_IGNORE_MERGES = 1, OPT_SP_PREFIX = 2, OPT_SCORES = 4, OPT_LLAMA3 = 8, OPT_ALL = 15 };
static const char tok_magic[4] = {'T', 'O', 'K', '1'};
static const char *const tok_special[TOK_N_SPECIAL] = {"<pad>", "<bos>", "<eos>"};
/* every byte value, so a one-byte piece can point into it */
static const char byte_chars[256] = {
#define B4(i) (char)(i), (char)(i + 1), (char)(i + 2), (char)(i + 3)
#define B16(i) B4(i), B4(i + 4), B4(i + 8), B4(i + 12)
    B16(0),   B16(16),  B16(32),  B16(48),  B16(64),  B16(80),  B16(96),  B16(112),
    B16(128), B16(144), B16(160), B16(176), B16(192), B16(208), B16(224), B16(240),
#undef B16
#undef B4
};

void tokenizer_tables_free(TokenizerTables *tb); /* tokenizer_bpe.c */

static void char_reset(Tokenizer *t) {
    memset(t, 0, sizeof *t);
    t->kind = TOKENIZER_CHAR;
    t->pad_id = TOK_PAD;
    t->bos_id = TOK_BOS;
    t->eos_id = TOK_EOS;
    t->unk_id = -1;
    t->max_piece = 1;
    for (int b = 0; b < 256; b++) t->byte_to_id[b] = -1;
}

void tokenizer_init_char(Tokenizer *t) {
    char_reset(t);
    int id = TOK_N_SPECIAL;
    for (int c = 32; c <= 126; c++, id++) {
        t->char_of[id] = (uint8_t)c;
        t->byte_to_id[c] = id;
    }
    t->vocab_size = id;
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    xfree(t->arena);
    xfree(t->offs);
    xfree(t->flags);
    xfree(t->scores);
    xfree(t->merges);
    tokenizer_tables_free(t->tab);
    memset(t, 0, sizeof *t);
}

const char *tokenizer_piece(const Tokenizer *t, int id, int *len) {
    if (t->kind == TOKENIZER_CHAR) {
        if (id < TOK_N_SPECIAL) {
            *len = 0;
            return "";
        }
        *len = 1;
        return byte_chars + t->char_of[id];
    }
    if (t->flags[id] & TOKF_SPECIAL) {
        *len = 0;
        return "";
    }
    if (t->flags[id] & TOKF_BYTE) { /* "<0xNN>", checked on load */
        *len = 1;
        return byte_chars + tok_byte_piece_value(t->arena + t->offs[id], 6);
    }
    *len = (int)(t->offs[id + 1] - t->offs[id]);
    return t->arena + t->offs[id];
}

static int encode_with(const Tokenizer *t, const char *text, int cont, int *out, int cap,
                       int *bad_pos) {
    if (t->kind != TOKENIZER_CHAR) return tokenizer_bpe_encode(t, text, cont, out, cap, bad_pos);
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

int tokenizer_encode(const Tokenizer *t, const char *text, int *out, int cap, int *bad_pos) {
    return encode_with(t, text, 0, out, cap, bad_pos);
}

int tokenizer_encode_cont(const Tokenizer *t, const char *text, int *out, int cap, int *bad_pos) {
    return encode_with(t, text, 1, out, cap, bad_pos);
}

int tokenizer_decode(const Tokenizer *t, const int *ids, int n, char *out, size_t cap) {
    if (cap == 0) return -1;
    if (t->kind != TOKENIZER_CHAR) return tokenizer_bpe_decode(t, ids, n, out, cap);
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->vocab_size) return -1;
        if (id < TOK_N_SPECIAL) continue;
        if (len + 2 > cap) return -1;
        out[len++] = (char)t->char_of[id];
        out[len] = '\0';
    }
    return (int)len;
}

/* Little-endian store/load (the blob may be unaligned). */
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The stored bytes of piece id (specials keep their names, byte tokens
 * their <0xNN> form, unlike tokenizer_piece). */
static const char *stored_piece(const Tokenizer *t, int id, size_t *n) {
    if (t->kind == TOKENIZER_CHAR) {
        if (id < TOK_N_SPECIAL) {
            *n = strlen(tok_special[id]);
            return tok_special[id];
        }
        *n = 1;
        return byte_chars + t->char_of[id];
    }
    *n = t->offs[id + 1] - t->offs[id];
    return t->arena + t->offs[id];
}

static uint8_t stored_flags(const Tokenizer *t, int id) {
    if (t->kind == TOKENIZER_CHAR) return id < TOK_N_SPECIAL ? TOKF_SPECIAL : 0;
    return t->flags[id];
}

size_t tokenizer_serialize(const Tokenizer *t, uint8_t *buf) {
    const int V = t->vocab_size;
    size_t n = TOK_HEADER_V2;
    for (int i = 0; i < V; i++) {
        size_t k;
        stored_piece(t, i, &k);
        n += 3 + k;
    }
    if (t->scores) n += 4 * (size_t)V;
    n += 12 * (size_t)t->n_merges + 4;
    if (!buf) return n;
    memcpy(buf, tok_magic, 4);
    const uint32_t opts = (t->ignore_merges ? OPT_IGNORE_MERGES : 0) |
                          (t->sp_prefix ? OPT_SP_PREFIX : 0) | (t->scores ? OPT_SCORES : 0) |
                          (t->llama3_split ? OPT_LLAMA3 : 0);
    const uint32_t head[9] = {2, (uint32_t)t->kind, (uint32_t)V, (uint32_t)t->bos_id,
                              (uint32_t)t->eos_id, (uint32_t)t->pad_id, (uint32_t)t->unk_id,
                              opts, (uint32_t)t->n_merges};
    for (int i = 0; i < 9; i++) put_u32(buf + 4 + 4 * i, head[i]);
    size_t off = TOK_HEADER_V2;
    for (int i = 0; i < V; i++) {
        size_t k;
        const char *p = stored_piece(t, i, &k);
        buf[off] = (uint8_t)k;
        buf[off + 1] = (uint8_t)(k >> 8);
        buf[off + 2] = stored_flags(t, i);
        memcpy(buf + off + 3, p, k);
        off += 3 + k;
    }
    if (t->scores)
        for (int i = 0; i < V; i++, off += 4) {
            uint32_t bits;
            memcpy(&bits, &t->scores[i], 4);
            put_u32(buf + off, bits);
        }
    for (size_t i = 0; i < 3 * (size_t)t->n_merges; i++, off += 4)
        put_u32(buf + off, (uint32_t)t->merges[i]);
    put_u32(buf + off, crc32_update(0, buf, off));
    return n;
}

/* Adds piece i (k bytes at p) to a char tokenizer being read; -1 with err. */
static int char_piece(Tokenizer *t, uint32_t i, const uint8_t *p, size_t k, char *err,
                      size_t errlen) {
    if (i < TOK_N_SPECIAL) {
        if (k != strlen(tok_special[i]) || memcmp(p, tok_special[i], k) != 0) {
            set_err(err, errlen, "tokenizer blob: piece %u is \"%.*s\", expected \"%s\"", i,
                    (int)(k < 16 ? k : 16), (const char *)p, tok_special[i]);
            return -1;
        }
        return 0;
    }
    /* char kind: every ordinary piece is one distinct non-NUL byte. */
    if (k != 1 || p[0] == 0 || t->byte_to_id[p[0]] >= 0) {
        set_err(err, errlen, "tokenizer blob: piece %u is not a new single character", i);
        return -1;
    }
    t->byte_to_id[p[0]] = (int)i;
    t->char_of[i] = p[0];
    return 0;
}

static int read_v1(Tokenizer *t, const uint8_t *buf, size_t n, uint32_t kind, uint32_t vs,
                   char *err, size_t errlen) {
    if (kind != TOKENIZER_CHAR) {
        set_err(err, errlen, "tokenizer blob: version 1 with kind %u (version 1 is char only)",
                kind);
        return -1;
    }
    if (vs <= TOK_N_SPECIAL || vs > TOK_V1_MAX_VOCAB || vs > TOK_CHAR_MAX_VOCAB) {
        set_err(err, errlen, "tokenizer blob: vocab_size %u outside %d..%d", vs,
                TOK_N_SPECIAL + 1, TOK_CHAR_MAX_VOCAB);
        return -1;
    }
    char_reset(t);
    t->vocab_size = (int)vs;
    size_t off = TOK_HEADER_V1, end = n - 4;
    for (uint32_t i = 0; i < vs; i++) {
        if (off >= end) {
            set_err(err, errlen, "tokenizer blob: truncated at piece %u of %u", i, vs);
            return -1;
        }
        size_t k = buf[off++];
        if (k == 0 || k >= TOK_V1_MAX_PIECE || off + k > end || memchr(buf + off, 0, k)) {
            set_err(err, errlen, "tokenizer blob: piece %u has bad length %zu or a NUL byte", i, k);
            return -1;
        }
        if (char_piece(t, i, buf + off, k, err, errlen)) return -1;
        off += k;
    }
    if (off != end) {
        set_err(err, errlen, "tokenizer blob: %zu unexpected bytes after the pieces", end - off);
        return -1;
    }
    return 0;
}

static int read_v2(Tokenizer *t, const uint8_t *buf, size_t n, uint32_t kind, uint32_t vs,
                   char *err, size_t errlen) {
    if (n < TOK_HEADER_V2 + 4) {
        set_err(err, errlen, "tokenizer blob: %zu bytes, shorter than its %d-byte header", n,
                TOK_HEADER_V2 + 4);
        return -1;
    }
    if (kind < TOKENIZER_CHAR || kind > TOKENIZER_SP_BPE) {
        set_err(err, errlen, "tokenizer blob: unknown kind %u (1 char, 2 byte BPE, 3 SP BPE)",
                kind);
        return -1;
    }
    if (vs < 1 || vs > TOK_MAX_VOCAB || (kind == TOKENIZER_CHAR && (vs <= TOK_N_SPECIAL ||
                                                                     vs > TOK_CHAR_MAX_VOCAB))) {
        set_err(err, errlen, "tokenizer blob: vocab_size %u outside 1..%d (char: %d..%d)", vs,
                TOK_MAX_VOCAB, TOK_N_SPECIAL + 1, TOK_CHAR_MAX_VOCAB);
        return -1;
    }
    const uint32_t opts = get_u32(buf + 32), nm = get_u32(buf + 36);
    const int bos = (int)get_u32(buf + 16), eos = (int)get_u32(buf + 20),
              pad = (int)get_u32(buf + 24), unk = (int)get_u32(buf + 28);
    if (opts > OPT_ALL || nm > (uint32_t)(n / 12)) {
        set_err(err, errlen, "tokenizer blob: bad options %u or merge count %u", opts, nm);
        return -1;
    }
    const size_t end = n - 4;
    size_t off = TOK_HEADER_V2;
    if (kind == TOKENIZER_CHAR) {
        if (opts || nm || bos != TOK_BOS || eos != TOK_EOS || pad != TOK_PAD || unk != -1) {
            set_err(err, errlen, "tokenizer blob: a char tokenizer with other specials or "
                                 "merges");
            return -1;
        }
        char_reset(t);
        t->vocab_size = (int)vs;
        for (uint32_t i = 0; i < vs; i++) {
            if (off + 3 > end) {
                set_err(err, errlen, "tokenizer blob: truncated at piece %u of %u", i, vs);
                return -1;
            }
            size_t k = buf[off] | (size_t)buf[off + 1] << 8;
            if (buf[off + 2] != (i < TOK_N_SPECIAL ? TOKF_SPECIAL : 0) || off + 3 + k > end) {
                set_err(err, errlen, "tokenizer blob: piece %u has bad flags or length", i);
                return -1;
            }
            if (char_piece(t, i, buf + off + 3, k, err, errlen)) return -1;
            off += 3 + k;
        }
    } else {
        memset(t, 0, sizeof *t);
        t->kind = (int)kind;
        t->vocab_size = (int)vs;
        t->bos_id = bos;
        t->eos_id = eos;
        t->pad_id = pad;
        t->unk_id = unk;
        t->ignore_merges = (opts & OPT_IGNORE_MERGES) != 0;
        t->sp_prefix = (opts & OPT_SP_PREFIX) != 0;
        t->llama3_split = (opts & OPT_LLAMA3) != 0;
        t->offs = xmalloc(sizeof(uint32_t) * ((size_t)vs + 1));
        t->flags = xmalloc(vs);
        TokBuf a = {0};
        for (uint32_t i = 0; i < vs; i++) {
            if (off + 3 > end) {
                set_err(err, errlen, "tokenizer blob: truncated at piece %u of %u", i, vs);
                xfree(a.p);
                return -1;
            }
            size_t k = buf[off] | (size_t)buf[off + 1] << 8;
            t->flags[i] = buf[off + 2];
            if (k > TOK_MAX_PIECE || (t->flags[i] & ~TOKF_ALL) || off + 3 + k > end) {
                set_err(err, errlen, "tokenizer blob: piece %u has bad flags or length %zu", i, k);
                xfree(a.p);
                return -1;
            }
            t->offs[i] = (uint32_t)a.n;
            tokbuf_add(&a, buf + off + 3, k);
            off += 3 + k;
        }
        t->offs[vs] = (uint32_t)a.n;
        t->arena = a.p;
        if (opts & OPT_SCORES) {
            if (off + 4 * (size_t)vs > end) {
                set_err(err, errlen, "tokenizer blob: truncated in the scores");
                return -1;
            }
            t->scores = xmalloc(sizeof(float) * vs);
            for (uint32_t i = 0; i < vs; i++, off += 4) {
                uint32_t bits = get_u32(buf + off);
                memcpy(&t->scores[i], &bits, 4);
            }
        }
        if (off + 12 * (size_t)nm > end) {
            set_err(err, errlen, "tokenizer blob: truncated in the merges");
            return -1;
        }
        t->n_merges = (int)nm;
        t->merges = xmalloc(sizeof(int32_t) * 3 * ((size_t)nm + 1));
        for (size_t i = 0; i < 3 * (size_t)nm; i++, off += 4) {
            t->merges[i] = (int32_t)get_u32(buf + off);
            if (t->merges[i] < 0) {
                set_err(err, errlen, "tokenizer blob: merge %zu names token %d", i / 3,
                        t->merges[i]);
                return -1;
            }
        }
        if (tokenizer_bpe_finish(t, "tokenizer blob", err, errlen)) return -1;
    }
    if (off != end) {
        set_err(err, errlen, "tokenizer blob: %zu unexpected bytes after the pieces", end - off);
        return -1;
    }
    return 0;
}

int tokenizer_deserialize(Tokenizer *t, const uint8_t *buf, size_t n, char *err, size_t errlen) {
    if (n < TOK_HEADER_V1 + 4) {
        set_err(err, errlen, "tokenizer blob: %zu bytes, shorter than its %d-byte header", n,
                TOK_HEADER_V1 + 4);
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
    if (version != 1 && version != 2) {
        set_err(err, errlen, "tokenizer blob: version %u, this build reads 1 and 2", version);
        return -1;
    }
    /* Parse into a scratch copy so t is untouched on failure. */
    Tokenizer *tmp = xcalloc(1, sizeof *tmp);
    int rc = version == 1 ? read_v1(tmp, buf, n, kind, vs, err, errlen)
                          : read_v2(tmp, buf, n, kind, vs, err, errlen);
    if (rc == 0) memcpy(t, tmp, sizeof *t);
    else tokenizer_free(tmp);
    xfree(tmp);
    return rc;
}

int encode_prompt(const Tokenizer *tok, const char *prompt, int *out, int cap) {
    int bad = -1;
    out[0] = tok->bos_id;
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

void tokenizer_describe(const Tokenizer *t, char *out, size_t cap) {
    const char *what = t->kind == TOKENIZER_CHAR       ? "the character tokenizer"
                       : t->kind == TOKENIZER_BYTE_BPE ? "a byte-level BPE tokenizer"
                                                       : "a SentencePiece BPE tokenizer";
    snprintf(out, cap, "%s (%d tokens)", what, t->vocab_size);
}

int tokenizer_load_file(Tokenizer *t, const char *path, char *err, size_t errlen) {
    /* the name first: a tokenizer.bin whose max_token_length is 123 starts
     * with '{' too */
    const size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0) return tokenizer_load_json(t, path, err, errlen);
    if (n >= 4 && strcmp(path + n - 4, ".bin") == 0) return tokenizer_load_llama2c(t, path, err, errlen);
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open the tokenizer file", path);
        return -1;
    }
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\t' || c == '\r') {}
    fclose(f);
    return c == '{' ? tokenizer_load_json(t, path, err, errlen)
                    : tokenizer_load_llama2c(t, path, err, errlen);
}
