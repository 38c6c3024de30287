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

static void wr_u32(FILE *f, uint32_t v) {
    uint8_t p[4];
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    fwrite(p, 1, 4, f);
}

int tokenizer_write_llama2c(const Tokenizer *t, const char *path, char *err, size_t errlen) {
    if (t->kind != TOKENIZER_SP_BPE || t->bos_id != 1 || t->eos_id != 2 || t->unk_id != 0) {
        set_err(err, errlen, "%s: only a SentencePiece tokenizer with <unk> 0, BOS 1 and EOS 2 "
                "fits a tokenizer.bin (it stores no special ids)", path);
        return -1;
    }
    /* a tokenizer.json one has ranked merges instead: the token a merge
     * makes scores minus its rank, the others lower, so run.c's
     * best-score-first order is the rank order */
    const int V = t->vocab_size;
    float *score = xmalloc(sizeof(float) * (size_t)V);
    for (int id = 0; id < V; id++) score[id] = t->scores ? t->scores[id] : -1e9f;
    if (!t->scores)
        for (int k = t->n_merges - 1; k >= 0; k--) score[t->merges[3 * k + 2]] = -(float)k;
    uint32_t maxlen = 1;
    for (int id = 0; id < V; id++)
        if (t->offs[id + 1] - t->offs[id] > maxlen) maxlen = t->offs[id + 1] - t->offs[id];
    FILE *f = fopen(path, "wb");
    if (!f) {
        set_err(err, errlen, "%s: cannot create the file", path);
        xfree(score);
        return -1;
    }
    wr_u32(f, maxlen);
    for (int id = 0; id < V; id++) {
        uint32_t bits, len = t->offs[id + 1] - t->offs[id];
        memcpy(&bits, &score[id], 4);
        wr_u32(f, bits);
        wr_u32(f, len);
        fwrite(t->arena + t->offs[id], 1, len, f);
    }
    xfree(score);
    if (fclose(f) != 0) {
        set_err(err, errlen, "%s: write failed", path);
        return -1;
    }
    return 0;
}
