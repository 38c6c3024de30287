/* tokenizer_bpe.c: the BPE encoders and decoders, and their lookup tables.
 *
 * Byte-level BPE (TOKENIZER_BYTE_BPE, GPT-2 / Llama 3 / SmolLM):
 *   1. Added tokens (tokenizer.json added_tokens, special or not) are cut
 *      out of the text first, longest match first, as Hugging Face does.
 *   2. Each stretch between them is split into pre-tokens by a hand-written
 *      version of GPT-2's regex (or of Llama 3's, pretoken_end_llama3, when
 *      the tokenizer.json's Split step carries exactly that pattern)
 *        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      (alternatives tried in that order at each position, each greedy;
 *      \s+(?!\S) is a whitespace run minus its last character when a
 *      non-space follows, so that character can start the next pre-token).
 *      Classes: ASCII exactly as the regex (letters A-Za-z, digits 0-9,
 *      \s = space \t \n \v \f \r). Non-ASCII UTF-8 is decoded to a code
 *      point and classed by cp_class below: Unicode spaces (U+0085, U+00A0,
 *      U+1680, U+2000-200A, U+2028/9, U+202F, U+205F, U+3000) are \s;
 *      superscript/fraction digits of Latin-1, U+2070-2089, number forms
 *      U+2150-218F, Arabic, Devanagari and Bengali digits and fullwidth
 *      digits are \p{N}; C1 controls, Latin-1 punctuation and symbols,
 *      combining marks U+0300-036F, general punctuation, currency, arrows/
 *      math/technical/box/shapes/dingbats U+2190-2BFF, CJK punctuation,
 *      fullwidth punctuation, private use, variation selectors and emoji
 *      U+1F000-1FAFF are "other"; every other code point is a letter. A
 *      byte that is not part of valid UTF-8 is "other" on its own.
 *   3. Each pre-token's bytes become the one-byte tokens (the vocabulary
 *      is written through GPT-2's byte-to-unicode map; the arena holds the
 *      raw bytes) and merges apply by rank: repeatedly the lowest-ranked
 *      adjacent pair, leftmost first. With ignore_merges (Llama 3) a
 *      pre-token that is itself a vocabulary entry is that one token.
 *   Decode concatenates the raw bytes; specials decode to nothing.
 *
 * SentencePiece-style BPE (TOKENIZER_SP_BPE, Llama 2 / TinyLlama), as
 * llama2.c's run.c encode() and HF's Prepend+Replace normalizer:
 *   1. A space is prepended (the dummy prefix) unless the text is empty
 *      or continues earlier text; "▁" is stored as a space in the arena,
 *      so the text's spaces need no replacing.
 *   2. Each UTF-8 character (run.c's grouping: a lead byte and up to three
 *      continuation bytes; stray continuation bytes group together) is
 *      looked up; if it is not a token, each of its bytes becomes its
 *      <0xNN> byte-fallback token (or UNK when that is missing).
 *   3. Merges over the whole text: tokenizer.bin ranks a pair by the score
 *      of the token the two pieces concatenate to (best score first);
 *      tokenizer.json by the merges list. Leftmost on ties in both.
 *   Special tokens are not matched in the text (as SentencePiece).
 *   Decode: byte tokens give their byte, specials nothing, and one leading
 *   space of the output is dropped (HF's Strip decoder; run.c does so after
 *   BOS), so decode(encode(x)) == x.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "util.h"

struct TokenizerTables {
    int32_t *piece; /* open addressing: ids of ordinary pieces, -1 empty */
    uint32_t piece_mask;
    uint64_t *pair_key; /* (a << 32 | b) + 1, 0 empty */
    int32_t *pair_res;
    float *pair_prio; /* lower merges first */
    uint32_t pair_mask;
    int32_t *added; /* byte BPE: added tokens, longest first */
    int n_added;
    uint8_t added_first[32]; /* bitmap of the added tokens' first bytes */
};

void *tok_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die("tokenizer: out of memory (%zu bytes)", n);
    return q;
}

void tokbuf_add(TokBuf *b, const void *p, size_t n) {
    /* always allocated, so an all-empty arena is still a valid pointer */
    if (!b->p || b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = tok_realloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, p, n); /* p may be NULL when n is 0 */
    b->n += n;
}

/* ---- byte <-> unicode (GPT-2 bytes_to_unicode) ---- */

static int printable_byte(int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tok_byte_to_cp(int b) {
    if (printable_byte(b)) return (uint32_t)b;
    int n = 0; /* the others take 256, 257, ... in byte order */
    for (int k = 0; k < b; k++) n += !printable_byte(k);
    return 256u + (uint32_t)n;
}

int tok_cp_to_byte(uint32_t c) {
    if (c < 256) return printable_byte((int)c) ? (int)c : -1;
    if (c >= 256 + 68) return -1; /* 68 bytes are not printable */
    int n = (int)(c - 256);
    for (int b = 0; b < 256; b++)
        if (!printable_byte(b) && n-- == 0) return b;
    return -1;
}

int tok_utf8_next(const uint8_t *s, size_t n, size_t i, uint32_t *cp) {
    const uint8_t c = s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int want = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (c > 0xF4) want = 0;
    if (want == 0 || i + (size_t)want > n) {
        *cp = TOK_BAD_CP;
        return 1;
    }
    uint32_t v = c & (0x7F >> want);
    for (int k = 1; k < want; k++) {
        if ((s[i + k] & 0xC0) != 0x80) {
            *cp = TOK_BAD_CP;
            return 1;
        }
        v = v << 6 | (s[i + k] & 0x3F);
    }
    /* overlong, surrogate or beyond U+10FFFF: not UTF-8 */
    if ((want == 3 && v < 0x800) || (want == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = TOK_BAD_CP;
        return 1;
    }
    *cp = v;
    return want;
}

int tok_utf8_put(uint32_t c, char *out) {
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3F));
    out[2] = (char)(0x80 | (c >> 6 & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int tok_byte_piece_value(const char *p, size_t n) {
    if (n != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>') return -1;
    int hi = hex_digit(p[3]), lo = hex_digit(p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* ---- the GPT-2 pre-tokenizer ---- */

enum { C_L, C_N, C_S, C_O };

static int in(uint32_t c, uint32_t lo, uint32_t hi) { return c >= lo && c <= hi; }

/* The regex class of code point c (the list at the top of the file). */
static int cp_class(uint32_t c) {
    if (c < 0x80) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return C_L;
        if (c >= '0' && c <= '9') return C_N;
        if (c == ' ' || in(c, '\t', '\r')) return C_S;
        return C_O;
    }
    if (c == TOK_BAD_CP) return C_O;
    if (c == 0x85 || c == 0xA0 || c == 0x1680 || in(c, 0x2000, 0x200A) || c == 0x2028 ||
        c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000)
        return C_S;
    if (in(c, 0xA1, 0xBF)) {
        if (c == 0xAA || c == 0xB5 || c == 0xBA) return C_L;
        if (c == 0xB2 || c == 0xB3 || c == 0xB9 || in(c, 0xBC, 0xBE)) return C_N;
        return C_O;
    }
    if (in(c, 0x2070, 0x2089) || in(c, 0x2150, 0x218F) || in(c, 0x0660, 0x0669) ||
        in(c, 0x06F0, 0x06F9) || in(c, 0x0966, 0x096F) || in(c, 0x09E6, 0x09EF) ||
        in(c, 0xFF10, 0xFF19))
        return C_N;
    if (in(c, 0x80, 0xA0) || c == 0xD7 || c == 0xF7 || in(c, 0x300, 0x36F) ||
        in(c, 0x2000, 0x206F) || in(c, 0x20A0, 0x20CF) || in(c, 0x2190, 0x2BFF) ||
        in(c, 0x3000, 0x303F) || in(c, 0xFE00, 0xFE0F) || in(c, 0xFE30, 0xFE4F) ||
        in(c, 0xFF01, 0xFF0F) || in(c, 0xFF1A, 0xFF20) || in(c, 0xFF3B, 0xFF40) ||
        in(c, 0xFF5B, 0xFF65) || in(c, 0xE000, 0xF8FF) || in(c, 0x1F000, 0x1FAFF))
        return C_O;
    return C_L;
}

static int class_at(const uint8_t *s, size_t n, size_t i, int *len) {
    uint32_t cp;
    *len = tok_utf8_next(s, n, i, &cp);
    return cp_class(cp);
}

/* End of the pre-token that starts at s[i] (i < n). */
static size_t pretoken_end(const uint8_t *s, size_t n, size_t i) {
    if (s[i] == '\'' && i + 1 < n) {
        const uint8_t a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return i + 3;
    }
    int k;
    int cls = class_at(s, n, i, &k);
    size_t j = i;
    if (s[i] == ' ' && i + 1 < n) { /* " ?" before a letter, digit or other run */
        int k2, c2 = class_at(s, n, i + 1, &k2);
        if (c2 != C_S) {
            cls = c2;
            j = i + 1;
        }
    }
    if (cls != C_S) {
        while (j < n && class_at(s, n, j, &k) == cls) j += (size_t)k;
        return j;
    }
    size_t e = i, last = i;
    while (e < n && class_at(s, n, e, &k) == C_S) {
        last = e;
        e += (size_t)k;
    }
    if (e == n) return e;      /* \s+(?!\S) at the end */
    if (last > i) return last; /* give the last one back to what follows */
    return e;                  /* \s+ */
}

static int is_crlf(uint8_t c) { return c == '\r' || c == '\n'; }

/* End of the pre-token at s[i] under Llama 3's regex
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * with the same classes as GPT-2's. */
static size_t pretoken_end_llama3(const uint8_t *s, size_t n, size_t i) {
    if (s[i] == '\'' && i + 1 < n) {
        const uint8_t a = (uint8_t)(s[i + 1] | 0x20),
                      b = i + 2 < n ? (uint8_t)(s[i + 2] | 0x20) : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return i + 3;
    }
    int k, k2;
    const int cls = class_at(s, n, i, &k);
    size_t j;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (cls == C_L || (cls != C_N && !is_crlf(s[i]) && i + (size_t)k < n &&
                       class_at(s, n, i + (size_t)k, &k2) == C_L)) {
        j = cls == C_L ? i : i + (size_t)k;
        while (j < n && class_at(s, n, j, &k2) == C_L) j += (size_t)k2;
        return j;
    }
    if (cls == C_N) { /* \p{N}{1,3} */
        j = i;
        for (int d = 0; d < 3 && j < n && class_at(s, n, j, &k2) == C_N; d++) j += (size_t)k2;
        return j;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    j = s[i] == ' ' ? i + 1 : i;
    if (j < n && class_at(s, n, j, &k2) == C_O) {
        while (j < n && class_at(s, n, j, &k2) == C_O) j += (size_t)k2;
        while (j < n && is_crlf(s[j])) j++;
        return j;
    }
    /* whitespace: \s*[\r\n]+ ends after the run's last \r or \n */
    size_t e = i, last = i, nl_end = 0;
    while (e < n && class_at(s, n, e, &k2) == C_S) {
        last = e;
        e += (size_t)k2;
        if (is_crlf(s[last])) nl_end = e;
    }
    if (nl_end) return nl_end;
    if (e == n) return e;
    if (last > i) return last;
    return e;
}

int tokenizer_pretokenize(const char *text, size_t n, int llama3, size_t *ends, int cap) {
    int k = 0;
    for (size_t i = 0; i < n && k < cap; k++)
        i = ends[k] = llama3 ? pretoken_end_llama3((const uint8_t *)text, n, i)
                             : pretoken_end((const uint8_t *)text, n, i);
    return k;
}

/* ---- lookup tables ---- */

static uint32_t pow2_above(size_t n) {
    uint32_t m = 16;
    while (m < 2 * n) m <<= 1;
    return m;
}

static const char *piece_of(const Tokenizer *t, int id, size_t *n) {
    *n = t->offs[id + 1] - t->offs[id];
    return t->arena + t->offs[id];
}

int tokenizer_bpe_lookup(const Tokenizer *t, const char *p, size_t n) {
    const TokenizerTables *tb = t->tab;
    for (uint32_t h = (uint32_t)hash64(p, n) & tb->piece_mask;; h = (h + 1) & tb->piece_mask) {
        int id = tb->piece[h];
        if (id < 0) return -1;
        size_t k;
        const char *q = piece_of(t, id, &k);
        if (k == n && memcmp(p, q, n) == 0) return id;
    }
}

static void piece_insert(Tokenizer *t, int id) {
    size_t n;
    const char *p = piece_of(t, id, &n);
    if (tokenizer_bpe_lookup(t, p, n) >= 0) return; /* duplicate string: first id wins */
    TokenizerTables *tb = t->tab;
    uint32_t h = (uint32_t)hash64(p, n) & tb->piece_mask;
    while (tb->piece[h] >= 0) h = (h + 1) & tb->piece_mask;
    tb->piece[h] = id;
}

static uint32_t pair_hash(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (uint32_t)key;
}

/* result of merging (a, b) and its priority, or -1. */
static int pair_find(const TokenizerTables *tb, int a, int b, float *prio) {
    const uint64_t key = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    for (uint32_t h = pair_hash(key) & tb->pair_mask;; h = (h + 1) & tb->pair_mask) {
        if (tb->pair_key[h] == 0) return -1;
        if (tb->pair_key[h] == key) {
            *prio = tb->pair_prio[h];
            return tb->pair_res[h];
        }
    }
}

static void pair_insert(TokenizerTables *tb, int a, int b, int r, float prio) {
    const uint64_t key = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    uint32_t h = pair_hash(key) & tb->pair_mask;
    for (; tb->pair_key[h]; h = (h + 1) & tb->pair_mask)
        if (tb->pair_key[h] == key) return; /* first (best ranked) wins */
    tb->pair_key[h] = key;
    tb->pair_res[h] = r;
    tb->pair_prio[h] = prio;
}

static const Tokenizer *sort_tok; /* qsort has no context argument */
static int cmp_added_longest(const void *x, const void *y) {
    int a = *(const int32_t *)x, b = *(const int32_t *)y;
    size_t na = sort_tok->offs[a + 1] - sort_tok->offs[a];
    size_t nb = sort_tok->offs[b + 1] - sort_tok->offs[b];
    return na != nb ? (na < nb) - (na > nb) : (a > b) - (a < b);
}

void tokenizer_tables_free(TokenizerTables *tb);
void tokenizer_tables_free(TokenizerTables *tb) {
    if (!tb) return;
    xfree(tb->piece);
    xfree(tb->pair_key);
    xfree(tb->pair_res);
    xfree(tb->pair_prio);
    xfree(tb->added);
    xfree(tb);
}

/* A piece in a message: printable ASCII as is, other bytes as \xNN. */
static void show_piece(const char *p, size_t n, char *out, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < cap; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 32 && c < 127 && c != '"' && c != '\\') out[k++] = (char)c;
        else k += (size_t)snprintf(out + k, cap - k, "\\x%02x", c);
    }
    out[k] = '\0';
}

int tokenizer_bpe_finish(Tokenizer *t, const char *path, char *err, size_t errlen) {
    const int V = t->vocab_size;
    if (V < 1 || V > TOK_MAX_VOCAB) {
        set_err(err, errlen, "%s: vocabulary of %d tokens, outside 1..%d", path, V, TOK_MAX_VOCAB);
        return -1;
    }
    const int *ids[3] = {&t->bos_id, &t->eos_id, &t->pad_id};
    const char *names[3] = {"BOS", "EOS", "PAD"};
    for (int i = 0; i < 3; i++)
        if (*ids[i] < 0 || *ids[i] >= V) {
            set_err(err, errlen, "%s: %s id %d is outside the vocabulary [0, %d)", path, names[i],
                    *ids[i], V);
            return -1;
        }
    if (t->unk_id < -1 || t->unk_id >= V) {
        set_err(err, errlen, "%s: UNK id %d is outside the vocabulary [0, %d)", path, t->unk_id, V);
        return -1;
    }
    /* they have no text: encode never makes them, decode skips them */
    const int sp[4] = {t->bos_id, t->eos_id, t->pad_id, t->unk_id};
    for (int i = 0; i < 4; i++)
        if (sp[i] >= 0 && !(t->flags[sp[i]] & TOKF_SPECIAL)) {
            set_err(err, errlen, "%s: %s token %d is not marked special", path,
                    i < 3 ? names[i] : "UNK", sp[i]);
            return -1;
        }
    TokenizerTables *tb = t->tab = xcalloc(1, sizeof *tb);
    tb->piece_mask = pow2_above((size_t)V) - 1;
    tb->piece = xmalloc(sizeof(int32_t) * ((size_t)tb->piece_mask + 1));
    memset(tb->piece, 0xff, sizeof(int32_t) * ((size_t)tb->piece_mask + 1));
    for (int b = 0; b < 256; b++) t->byte_to_id[b] = -1;
    t->max_piece = 0;
    for (int id = 0; id < V; id++) {
        size_t n;
        const char *p = piece_of(t, id, &n);
        if (n > TOK_MAX_PIECE) {
            set_err(err, errlen, "%s: token %d is %zu bytes long, over the %d-byte bound", path,
                    id, n, TOK_MAX_PIECE);
            return -1;
        }
        if (t->flags[id] & TOKF_BYTE) {
            const int v = tok_byte_piece_value(p, n);
            if (v < 0) {
                set_err(err, errlen, "%s: byte token %d is not of the form <0xNN>", path, id);
                return -1;
            }
            if (t->byte_to_id[v] < 0) t->byte_to_id[v] = id;
        }
        if (!(t->flags[id] & (TOKF_SPECIAL | TOKF_BYTE | TOKF_ADDED))) piece_insert(t, id);
        int k;
        tokenizer_piece(t, id, &k);
        if (k > t->max_piece) t->max_piece = k;
    }
    if (t->kind == TOKENIZER_BYTE_BPE) {
        for (int b = 0; b < 256; b++) {
            char c = (char)b;
            t->byte_to_id[b] = tokenizer_bpe_lookup(t, &c, 1);
            if (t->byte_to_id[b] < 0) {
                set_err(err, errlen,
                        "%s: byte-level vocabulary has no token for byte 0x%02x (U+%04X): every "
                        "byte needs one",
                        path, b, tok_byte_to_cp(b));
                return -1;
            }
        }
        int na = 0;
        for (int id = 0; id < V; id++)
            na += (t->flags[id] & TOKF_ADDED) && t->offs[id + 1] > t->offs[id];
        tb->added = xmalloc(sizeof(int32_t) * (size_t)(na + 1));
        for (int id = 0; id < V; id++)
            if ((t->flags[id] & TOKF_ADDED) && t->offs[id + 1] > t->offs[id]) {
                tb->added[tb->n_added++] = id;
                unsigned char f = (unsigned char)t->arena[t->offs[id]];
                tb->added_first[f >> 3] |= (uint8_t)(1u << (f & 7));
            }
        sort_tok = t;
        qsort(tb->added, (size_t)tb->n_added, sizeof(int32_t), cmp_added_longest);
    }
    /* merges: ranked list (tokenizer.json) or scores (tokenizer.bin) */
    size_t n_pairs = (size_t)t->n_merges;
    if (t->scores)
        for (int id = 0; id < V; id++) n_pairs += t->offs[id + 1] - t->offs[id];
    tb->pair_mask = pow2_above(n_pairs + 1) - 1;
    const size_t slots = (size_t)tb->pair_mask + 1;
    tb->pair_key = xcalloc(slots, sizeof(uint64_t));
    tb->pair_res = xmalloc(sizeof(int32_t) * slots);
    tb->pair_prio = xmalloc(sizeof(float) * slots);
    for (int k = 0; k < t->n_merges; k++) {
        int32_t *m = t->merges + 3 * (size_t)k;
        if (m[0] < 0 || m[0] >= V || m[1] < 0 || m[1] >= V || m[2] < -1 || m[2] >= V) {
            set_err(err, errlen, "%s: merge %d names a token outside [0, %d)", path, k, V);
            return -1;
        }
        if (m[2] < 0) {
            size_t na, nb;
            const char *pa = piece_of(t, m[0], &na), *pb = piece_of(t, m[1], &nb);
            char *cat = xmalloc(na + nb + 1);
            memcpy(cat, pa, na);
            memcpy(cat + na, pb, nb);
            m[2] = tokenizer_bpe_lookup(t, cat, na + nb);
            if (m[2] < 0) {
                char shown[96];
                show_piece(cat, na + nb, shown, sizeof shown);
                set_err(err, errlen, "%s: merge %d makes \"%s\", which is not in the vocabulary",
                        path, k, shown);
            }
            xfree(cat);
            if (m[2] < 0) return -1;
        }
        /* what a merge makes must decode to its two halves, or encode and
         * decode would disagree */
        int la, lb, lr;
        const char *pa = tokenizer_piece(t, m[0], &la), *pb = tokenizer_piece(t, m[1], &lb);
        const char *pr = tokenizer_piece(t, m[2], &lr);
        if (la == 0 || lb == 0 || lr != la + lb || memcmp(pr, pa, (size_t)la) != 0 ||
            memcmp(pr + la, pb, (size_t)lb) != 0) {
            set_err(err, errlen, "%s: merge %d (%d + %d -> %d): the merged token is not the two "
                    "pieces' text joined", path, k, m[0], m[1], m[2]);
            return -1;
        }
        pair_insert(tb, m[0], m[1], m[2], (float)k);
    }
    if (t->scores) {
        for (int id = 0; id < V; id++) {
            size_t n;
            const char *p = piece_of(t, id, &n);
            if (!isfinite(t->scores[id])) {
                set_err(err, errlen, "%s: token %d has a score that is not a finite number",
                        path, id);
                return -1;
            }
            if (t->flags[id] & (TOKF_SPECIAL | TOKF_BYTE | TOKF_ADDED)) continue;
            if (tokenizer_bpe_lookup(t, p, n) != id) continue; /* a duplicate string */
            for (size_t k = 1; k < n; k++) {
                int a = tokenizer_bpe_lookup(t, p, k), b = tokenizer_bpe_lookup(t, p + k, n - k);
                if (a >= 0 && b >= 0) pair_insert(tb, a, b, id, -t->scores[id]);
            }
        }
    }
    return 0;
}

/* ---- encode ---- */

/* Merges sym[0..n) in place by pair priority; returns the new length.
 * prio[k] caches the pair (k, k+1). A scan per merge: fastest for the
 * short pre-tokens of byte-level BPE. */
static int bpe_merge_scan(const TokenizerTables *tb, int *sym, float *prio, int *res, int n) {
    for (int k = 0; k + 1 < n; k++) {
        res[k] = pair_find(tb, sym[k], sym[k + 1], &prio[k]);
        if (res[k] < 0) prio[k] = INFINITY;
    }
    while (n > 1) {
        int best = -1;
        float bp = INFINITY;
        for (int k = 0; k + 1 < n; k++)
            if (prio[k] < bp) {
                bp = prio[k];
                best = k;
            }
        if (best < 0) break;
        sym[best] = res[best];
        memmove(sym + best + 1, sym + best + 2, sizeof(int) * (size_t)(n - best - 2));
        memmove(prio + best + 1, prio + best + 2,
                sizeof(float) * (size_t)(n > best + 2 ? n - best - 3 : 0));
        memmove(res + best + 1, res + best + 2,
                sizeof(int) * (size_t)(n > best + 2 ? n - best - 3 : 0));
        n--;
        for (int k = best - 1; k <= best; k++) {
            if (k < 0 || k + 1 >= n) continue;
            res[k] = pair_find(tb, sym[k], sym[k + 1], &prio[k]);
            if (res[k] < 0) prio[k] = INFINITY;
        }
    }
    return n;
}

/* The same merges for long sequences (a SentencePiece text is one): a
 * linked list of symbols and a binary heap of candidate pairs ordered by
 * (priority, position), so each merge costs O(log n) instead of a scan.
 * Stale candidates (a side merged since) are skipped when popped. The
 * order of merges is the same as bpe_merge_scan's: the best pair, leftmost
 * first. */
typedef struct {
    float prio;
    int pos, right; /* left and right node */
    int a, b;       /* their ids when pushed */
} Cand;

static int cand_before(const Cand *x, const Cand *y) {
    return x->prio < y->prio || (x->prio == y->prio && x->pos < y->pos);
}

static void heap_push(Cand *h, int *n, Cand c) {
    int i = (*n)++;
    while (i > 0 && cand_before(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static Cand heap_pop(Cand *h, int *n) {
    Cand top = h[0], last = h[--*n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_before(&h[c + 1], &h[c])) c++;
        if (!cand_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static void push_pair(const TokenizerTables *tb, Cand *h, int *nh, const int *sym, int l, int r) {
    Cand c = {0, l, r, sym[l], sym[r]};
    if (pair_find(tb, sym[l], sym[r], &c.prio) >= 0) heap_push(h, nh, c);
}

static int bpe_merge_heap(const TokenizerTables *tb, int *sym, int n) {
    int *nxt = xmalloc(sizeof(int) * (size_t)n), *prv = xmalloc(sizeof(int) * (size_t)n);
    Cand *h = xmalloc(sizeof(Cand) * (3 * (size_t)n + 1));
    int nh = 0;
    for (int k = 0; k < n; k++) {
        nxt[k] = k + 1 < n ? k + 1 : -1;
        prv[k] = k - 1;
    }
    for (int k = 0; k + 1 < n; k++) push_pair(tb, h, &nh, sym, k, k + 1);
    while (nh > 0) {
        const Cand c = heap_pop(h, &nh);
        if (sym[c.pos] != c.a || nxt[c.pos] != c.right || sym[c.right] != c.b) continue;
        float prio;
        sym[c.pos] = pair_find(tb, c.a, c.b, &prio);
        sym[c.right] = -1; /* gone */
        nxt[c.pos] = nxt[c.right];
        if (nxt[c.pos] >= 0) prv[nxt[c.pos]] = c.pos;
        if (prv[c.pos] >= 0) push_pair(tb, h, &nh, sym, prv[c.pos], c.pos);
        if (nxt[c.pos] >= 0) push_pair(tb, h, &nh, sym, c.pos, nxt[c.pos]);
    }
    int m = 0;
    for (int k = 0; k >= 0 && k < n; k = nxt[k]) sym[m++] = sym[k];
    xfree(nxt);
    xfree(prv);
    xfree(h);
    return m;
}

int tok_scan_limit = 32;

static int bpe_merge(const TokenizerTables *tb, int *sym, float *prio, int *res, int n) {
    return n > tok_scan_limit ? bpe_merge_heap(tb, sym, n) : bpe_merge_scan(tb, sym, prio, res, n);
}

typedef struct {
    int *sym, *res;
    float *prio;
} Scratch;

/* Appends ids to out; -2 when cap is exceeded. */
static int emit(int *out, int cap, int *n, const int *ids, int k) {
    if (*n + k > cap) return -2;
    memcpy(out + *n, ids, sizeof(int) * (size_t)k);
    *n += k;
    return 0;
}

/* Byte-level BPE of one stretch without added tokens. */
static int encode_bytes(const Tokenizer *t, Scratch *w, const uint8_t *s, size_t n, int *out,
                        int cap, int *nout) {
    for (size_t i = 0; i < n;) {
        size_t e = t->llama3_split ? pretoken_end_llama3(s, n, i) : pretoken_end(s, n, i);
        int id = t->ignore_merges ? tokenizer_bpe_lookup(t, (const char *)s + i, e - i) : -1;
        if (id >= 0) {
            if (emit(out, cap, nout, &id, 1)) return -2;
        } else {
            int k = 0;
            for (size_t b = i; b < e; b++) w->sym[k++] = t->byte_to_id[s[b]];
            k = bpe_merge(t->tab, w->sym, w->prio, w->res, k);
            if (emit(out, cap, nout, w->sym, k)) return -2;
        }
        i = e;
    }
    return 0;
}

/* The longest added token at s[i], or -1. */
static int added_at(const Tokenizer *t, const uint8_t *s, size_t n, size_t i) {
    const TokenizerTables *tb = t->tab;
    if (!(tb->added_first[s[i] >> 3] >> (s[i] & 7) & 1)) return -1;
    for (int k = 0; k < tb->n_added; k++) {
        int id = tb->added[k];
        size_t len = t->offs[id + 1] - t->offs[id];
        if (len <= n - i && memcmp(s + i, t->arena + t->offs[id], len) == 0) return id;
    }
    return -1;
}

static int encode_sp(const Tokenizer *t, Scratch *w, const uint8_t *s, size_t n, int cont,
                     int *out, int cap, int *bad_pos) {
    int k = 0;
    if (!cont && t->sp_prefix && n > 0) {
        int id = tokenizer_bpe_lookup(t, " ", 1);
        if (id < 0) id = t->byte_to_id[' '];
        if (id < 0) id = t->unk_id;
        if (id < 0) {
            if (bad_pos) *bad_pos = 0;
            return -1;
        }
        w->sym[k++] = id;
    }
    for (size_t i = 0; i < n;) {
        size_t e = i + 1; /* run.c: a byte and the continuation bytes after it, up to 4 */
        while (e < n && (s[e] & 0xC0) == 0x80 && e - i < 4) e++;
        int id = tokenizer_bpe_lookup(t, (const char *)s + i, e - i);
        if (id >= 0) {
            w->sym[k++] = id;
        } else {
            for (size_t b = i; b < e; b++) {
                id = t->byte_to_id[s[b]] >= 0 ? t->byte_to_id[s[b]] : t->unk_id;
                if (id < 0) {
                    if (bad_pos) *bad_pos = (int)i;
                    return -1;
                }
                w->sym[k++] = id;
            }
        }
        i = e;
    }
    k = bpe_merge(t->tab, w->sym, w->prio, w->res, k);
    if (k > cap) return -2;
    memcpy(out, w->sym, sizeof(int) * (size_t)k);
    return k;
}

int tokenizer_bpe_encode(const Tokenizer *t, const char *text, int cont, int *out, int cap,
                         int *bad_pos) {
    const uint8_t *s = (const uint8_t *)text;
    const size_t n = strlen(text);
    Scratch w;
    w.sym = xmalloc(sizeof(int) * (n + 2));
    w.res = xmalloc(sizeof(int) * (n + 2));
    w.prio = xmalloc(sizeof(float) * (n + 2));
    int rc;
    if (t->kind == TOKENIZER_SP_BPE) {
        rc = encode_sp(t, &w, s, n, cont, out, cap, bad_pos);
    } else {
        int nout = 0;
        size_t start = 0;
        rc = 0;
        for (size_t i = 0; i <= n && rc == 0; i++) {
            int id = i < n && t->tab->n_added ? added_at(t, s, n, i) : -1;
            if (id < 0 && i < n) continue;
            rc = encode_bytes(t, &w, s + start, i - start, out, cap, &nout);
            if (rc == 0 && id >= 0) {
                rc = emit(out, cap, &nout, &id, 1);
                i += t->offs[id + 1] - t->offs[id] - 1;
            }
            start = i + 1;
        }
        if (rc == 0) rc = nout;
    }
    xfree(w.sym);
    xfree(w.res);
    xfree(w.prio);
    return rc;
}

/* ---- decode ---- */

int tokenizer_bpe_decode(const Tokenizer *t, const int *ids, int n, char *out, size_t cap) {
    size_t len = 0;
    int first = 1;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab_size) return -1;
        int k;
        const char *p = tokenizer_piece(t, ids[i], &k);
        if (k == 0) continue;
        if (first && t->kind == TOKENIZER_SP_BPE && t->sp_prefix && p[0] == ' ') {
            p++;
            k--;
        }
        first = 0;
        if (len + (size_t)k + 1 > cap) return -1;
        memcpy(out + len, p, (size_t)k);
        len += (size_t)k;
        out[len] = '\0';
    }
    return (int)len;
}
