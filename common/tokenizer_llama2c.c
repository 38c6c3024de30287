/* tokenizer_llama2c.c: llama2.c's tokenizer.bin, read and written.
 *
 * Layout (karpathy/llama2.c tokenizer.py export(), read by run.c
 * build_tokenizer; little-endian): u32 max_token_length, then for each
 * token in id order: f32 score, u32 len, len bytes (no terminator). The
 * vocabulary size is not stored: it is the number of records (run.c takes
 * it from the model's config), so a file cut exactly between two records
 * cannot be told from a smaller vocabulary; the importer compares it with
 * the model's vocab_size.
 *
 * Conventions of that export, which this reader assumes: id 0 is <unk>,
 * 1 BOS (written "\n<s>\n"), 2 EOS ("\n</s>\n"), "▁" already replaced by a
 * space, and the 256 byte-fallback tokens either as "<0xNN>" (run.c
 * decodes that form) or, as tokenizer.py's newer export writes them, as the
 * UTF-8 of code point NN at ids 3..258. There is no pad token (PAD = EOS),
 * and the dummy prefix is on (run.c encode). */
#include <stdio.h>
#include <string.h>

#include "atomic_file.h"
#include "tokenizer_impl.h"
#include "util.h"

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* 1 if ids 3..258 hold the UTF-8 of code points 0..255 (tokenizer.py's
 * chr() export of the byte tokens). */
static int chr_bytes(const Tokenizer *t) {
    if (t->vocab_size < 259) return 0;
    for (int b = 0; b < 256; b++) {
        char u[4];
        int k = tok_utf8_put((uint32_t)b, u);
        const int id = 3 + b;
        if (t->offs[id + 1] - t->offs[id] != (uint32_t)k || memcmp(t->arena + t->offs[id], u, (size_t)k))
            return 0;
    }
    return 1;
}

int tokenizer_parse_llama2c(Tokenizer *out, const uint8_t *buf, size_t n, const char *path,
                            char *err, size_t errlen) {
    if (n < 4) {
        set_err(err, errlen, "%s: truncated tokenizer.bin: %zu bytes, no max_token_length header",
                path, n);
        return -1;
    }
    const uint32_t maxlen = rd_u32(buf);
    if (maxlen < 1 || maxlen > TOK_MAX_PIECE) {
        set_err(err, errlen, "%s: max_token_length %u is outside 1..%d: not a llama2.c "
                "tokenizer.bin", path, maxlen, TOK_MAX_PIECE);
        return -1;
    }
    Tokenizer *t = xcalloc(1, sizeof *t);
    t->kind = TOKENIZER_SP_BPE;
    TokBuf arena = {0}, offs = {0}, scores = {0};
    size_t off = 4;
    int V = 0, rc = -1;
    while (off < n) {
        if (V >= TOK_MAX_VOCAB) {
            set_err(err, errlen, "%s: more than %d tokens", path, TOK_MAX_VOCAB);
            goto out;
        }
        if (n - off < 8) {
            set_err(err, errlen, "%s: truncated tokenizer.bin: token %d's score and length need 8 "
                    "bytes, %zu are left", path, V, n - off);
            goto out;
        }
        float score;
        uint32_t bits = rd_u32(buf + off), len = rd_u32(buf + off + 4);
        memcpy(&score, &bits, 4);
        if (len > maxlen) {
            set_err(err, errlen, "%s: token %d has length %u, over the file's max_token_length %u",
                    path, V, len, maxlen);
            goto out;
        }
        if (n - off - 8 < len) {
            set_err(err, errlen, "%s: truncated tokenizer.bin: token %d needs %u bytes, %zu are "
                    "left", path, V, len, n - off - 8);
            goto out;
        }
        uint32_t o = (uint32_t)arena.n;
        tokbuf_add(&offs, &o, 4);
        tokbuf_add(&scores, &score, 4);
        tokbuf_add(&arena, buf + off + 8, len);
        off += 8 + len;
        V++;
    }
    if (V < 3) {
        set_err(err, errlen, "%s: %d tokens: a tokenizer.bin needs at least <unk>, BOS and EOS",
                path, V);
        goto out;
    }
    uint32_t o = (uint32_t)arena.n;
    tokbuf_add(&offs, &o, 4);
    t->vocab_size = V;
    t->arena = arena.p;
    t->offs = (uint32_t *)(void *)offs.p;
    t->scores = (float *)(void *)scores.p;
    arena.p = offs.p = scores.p = NULL;
    t->flags = xcalloc((size_t)V, 1);
    t->unk_id = 0;
    t->bos_id = 1;
    t->eos_id = 2;
    t->pad_id = 2;
    t->sp_prefix = 1;
    for (int id = 0; id < 3; id++) t->flags[id] = TOKF_SPECIAL;
    if (chr_bytes(t)) {
        /* rewrite them to the <0xNN> form the arena keeps */
        TokBuf a = {0};
        uint32_t *no = xmalloc(sizeof(uint32_t) * ((size_t)V + 1));
        for (int id = 0; id < V; id++) {
            no[id] = (uint32_t)a.n;
            if (id >= 3 && id < 259) {
                char b[8];
                snprintf(b, sizeof b, "<0x%02X>", id - 3);
                tokbuf_add(&a, b, 6);
            } else {
                tokbuf_add(&a, t->arena + t->offs[id], t->offs[id + 1] - t->offs[id]);
            }
        }
        no[V] = (uint32_t)a.n;
        xfree(t->arena);
        xfree(t->offs);
        t->arena = a.p;
        t->offs = no;
    }
    for (int id = 3; id < V; id++)
        if (tok_byte_piece_value(t->arena + t->offs[id], t->offs[id + 1] - t->offs[id]) >= 0)
            t->flags[id] = TOKF_BYTE;
    rc = tokenizer_bpe_finish(t, path, err, errlen);
out:
    xfree(arena.p);
    xfree(offs.p);
    xfree(scores.p);
    if (rc == 0) memcpy(out, t, sizeof *out);
    else tokenizer_free(t);
    xfree(t);
    return rc;
}

int tokenizer_load_llama2c(Tokenizer *t, const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open the tokenizer file", path);
        return -1;
    }
    TokBuf b = {0};
    uint8_t chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) tokbuf_add(&b, chunk, k);
    int bad = ferror(f);
    fclose(f);
    int rc = -1;
    if (bad) set_err(err, errlen, "%s: read error", path);
    else rc = tokenizer_parse_llama2c(t, (const uint8_t *)b.p, b.n, path, err, errlen);
    xfree(b.p);
    return rc;
}

/* What record id holds: the arena's bytes, except BOS and EOS from a
 * tokenizer.json ("<s>", "</s>"), which tokenizer.py writes as "\n<s>\n"
 * and "\n</s>\n" (run.c prints them so). */
static const char *piece_text(const Tokenizer *t, int id) {
    const char *p = t->arena + t->offs[id];
    const size_t n = t->offs[id + 1] - t->offs[id];
    if (id == 1 && n == 3 && !memcmp(p, "<s>", 3)) return "\n<s>\n";
    if (id == 2 && n == 4 && !memcmp(p, "</s>", 4)) return "\n</s>\n";
    return p;
}

static void put_u32(TokBuf *b, uint32_t v) {
    uint8_t p[4];
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    tokbuf_add(b, p, 4);
}

int tokenizer_llama2c_fits(const Tokenizer *t, char *why, size_t whylen) {
    if (t->kind == TOKENIZER_CHAR) {
        set_err(why, whylen, "the character tokenizer has no tokenizer.bin form (llama2.c's run.c "
                "encodes SentencePiece BPE: a dummy-prefix space, byte fallback at 3 + byte)");
        return 0;
    }
    if (t->kind != TOKENIZER_SP_BPE) {
        set_err(why, whylen, "a byte-level BPE tokenizer (GPT-2 / Llama 3 style) has no "
                "tokenizer.bin form (run.c has no byte-level pre-tokenizer); --format hf writes "
                "it as tokenizer.json");
        return 0;
    }
    if (t->unk_id != 0 || t->bos_id != 1 || t->eos_id != 2) {
        set_err(why, whylen, "tokenizer.bin stores no special ids and run.c takes <unk> 0, BOS "
                "1, EOS 2; this tokenizer has %d, %d, %d", t->unk_id, t->bos_id, t->eos_id);
        return 0;
    }
    /* one read from a tokenizer.bin is written back as it was; one from
     * a tokenizer.json must also be encoded by run.c as this project does */
    if (t->scores) return 1;
    if (!t->sp_prefix) {
        set_err(why, whylen, "run.c always prepends the dummy-prefix space; this SentencePiece "
                "tokenizer does not");
        return 0;
    }
    for (int b = 0; b < 256; b++) {
        if (t->byte_to_id[b] == 3 + b) continue;
        if (t->byte_to_id[b] < 0)
            set_err(why, whylen, "run.c's byte fallback is token 3 + byte; this tokenizer has no "
                    "byte token for 0x%02x", b);
        else
            set_err(why, whylen, "run.c's byte fallback is token 3 + byte; this tokenizer's "
                    "token for byte 0x%02x is %d, not %d", b, t->byte_to_id[b], 3 + b);
        return 0;
    }
    return 1;
}

int tokenizer_llama2c_bytes(const Tokenizer *t, uint8_t **out, size_t *n, char *why,
                           size_t whylen) {
    if (!tokenizer_llama2c_fits(t, why, whylen)) return -1;
    /* a tokenizer.json one has ranked merges instead: the token a merge
     * makes scores minus its rank, the others lower, so run.c's
     * best-score-first order is the rank order (a multi-byte token no
     * merge makes, unreachable in ranked BPE, becomes run.c's last
     * resort: such vocabularies may encode differently) */
    const int V = t->vocab_size;
    float *score = xmalloc(sizeof(float) * (size_t)V);
    for (int id = 0; id < V; id++) score[id] = t->scores ? t->scores[id] : -1e9f;
    if (!t->scores)
        for (int k = t->n_merges - 1; k >= 0; k--) score[t->merges[3 * k + 2]] = -(float)k;
    uint32_t maxlen = 6; /* "\n</s>\n" */
    for (int id = 0; id < V; id++)
        if (t->offs[id + 1] - t->offs[id] > maxlen) maxlen = t->offs[id + 1] - t->offs[id];
    TokBuf b = {0};
    put_u32(&b, maxlen);
    for (int id = 0; id < V; id++) {
        const char *p = piece_text(t, id);
        /* the arena's pieces are not NUL-terminated; the two substitutes are */
        uint32_t bits, len = p == t->arena + t->offs[id] ? t->offs[id + 1] - t->offs[id]
                                                         : (uint32_t)strlen(p);
        memcpy(&bits, &score[id], 4);
        put_u32(&b, bits);
        put_u32(&b, len);
        tokbuf_add(&b, p, len);
    }
    xfree(score);
    *out = (uint8_t *)b.p;
    *n = b.n;
    return 0;
}

int tokenizer_write_llama2c(const Tokenizer *t, const char *path, char *err, size_t errlen) {
    char why[300];
    uint8_t *buf;
    size_t n;
    if (tokenizer_llama2c_bytes(t, &buf, &n, why, sizeof why) != 0) {
        set_err(err, errlen, "%s: not written: %s", path, why);
        return -1;
    }
    int rc = atomic_file_write(path, buf, n, err, errlen);
    xfree(buf);
    return rc;
}
