/* test_tokenizer_bpe.c: the BPE tokenizers (byte-level from tokenizer.json,
 * SentencePiece from tokenizer.bin and tokenizer.json), on small
 * vocabularies this file writes into a temp directory: hand-worked merges,
 * round trips over random bytes, specials, the checkpoint blob, and the
 * messages for bad files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "model.h"
#include "rng.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"
#include "util.h"

static char tmpdir[64];

static const char *tpath(const char *name) {
    static char buf[4][160];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* GPT-2's bytes_to_unicode, written out again here (independent of the
 * code under test): printable bytes map to themselves, the other 68 to
 * U+0100.. in byte order. */
static unsigned gpt2_cp(int b) {
    int n = 0;
    for (int k = 0; k < 256; k++) {
        int printable = (k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE);
        if (k == b) return printable ? (unsigned)k : 256u + (unsigned)n;
        n += !printable;
    }
    return 0;
}

/* Appends a JSON string of code point cp (escaped when needed). */
static void json_cp(char **w, unsigned cp) {
    if (cp == '"' || cp == '\\') *w += sprintf(*w, "\\%c", (char)cp);
    else if (cp < 0x80) *w += sprintf(*w, "%c", (char)cp);
    else if (cp < 0x800) *w += sprintf(*w, "%c%c", 0xC0 | cp >> 6, 0x80 | (cp & 0x3F));
    else *w += sprintf(*w, "%c%c%c", 0xE0 | cp >> 12, 0x80 | (cp >> 6 & 0x3F), 0x80 | (cp & 0x3F));
}

/* The byte-level vocabulary: ids 0..255 are the bytes (id = byte value,
 * so the expected ids below are readable), then the merges
 *   rank 0  "Ġ t"    -> "Ġt"    256
 *   rank 1  "h e"    -> "he"    257
 *   rank 2  "Ġt he"  -> "Ġthe"  258
 *   rank 3  "l l"    -> "ll"    259
 *   rank 4  "e ll"   -> "ell"   260
 *   rank 5  "h ell"  -> "hell"  261
 *   rank 6  "hell o" -> "hello" 262
 * and the added specials <|endoftext|> 263, <|im_start|> 264 (BOS by the
 * post_processor), plus a non-special added token "[x]" 265. merge_style 0
 * writes "a b" strings, 1 writes ["a", "b"] pairs. */
static char *byte_level_json(int merge_style) {
    char *buf = malloc(1 << 16), *w = buf;
    w += sprintf(w, "{\"version\": \"1.0\", \"added_tokens\": ["
                    "{\"id\": 263, \"content\": \"<|endoftext|>\", \"special\": true},"
                    "{\"id\": 264, \"content\": \"<|im_start|>\", \"special\": true},"
                    "{\"id\": 265, \"content\": \"[x]\", \"special\": false}],"
                    "\"normalizer\": null,"
                    "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
                    "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": ["
                    "{\"SpecialToken\": {\"id\": \"<|im_start|>\", \"type_id\": 0}},"
                    "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}]},"
                    "\"decoder\": {\"type\": \"ByteLevel\"},"
                    "\"model\": {\"type\": \"BPE\", \"vocab\": {");
    for (int b = 0; b < 256; b++) {
        *w++ = '"';
        json_cp(&w, gpt2_cp(b));
        w += sprintf(w, "\": %d, ", b);
    }
    w += sprintf(w, "\"\xc4\xa0t\": 256, \"he\": 257, \"\xc4\xa0the\": 258, \"ll\": 259, "
                    "\"ell\": 260, \"hell\": 261, \"hello\": 262, \"<|endoftext|>\": 263},");
    static const char *m[7][2] = {{"\xc4\xa0", "t"}, {"h", "e"},    {"\xc4\xa0t", "he"},
                                  {"l", "l"},        {"e", "ll"},   {"h", "ell"},
                                  {"hell", "o"}};
    w += sprintf(w, "\"merges\": [");
    for (int k = 0; k < 7; k++) {
        if (merge_style == 0) w += sprintf(w, "%s\"%s %s\"", k ? ", " : "", m[k][0], m[k][1]);
        else w += sprintf(w, "%s[\"%s\", \"%s\"]", k ? ", " : "", m[k][0], m[k][1]);
    }
    w += sprintf(w, "]}}");
    return buf;
}

static void load_json_text(Tokenizer *t, const char *name, const char *text) {
    char err[512] = "";
    write_file(tpath(name), text, strlen(text));
    if (tokenizer_load_json(t, tpath(name), err, sizeof err)) fail_msg("%s", err);
}

static void expect_ids(const Tokenizer *t, const char *text, const int *want, int n) {
    int ids[256];
    int got = tokenizer_encode(t, text, ids, 256, NULL);
    if (got != n) fail_msg("'%s': %d tokens, expected %d", text, got, n);
    for (int i = 0; i < n; i++)
        if (ids[i] != want[i]) fail_msg("'%s': token %d is %d, expected %d", text, i, ids[i], want[i]);
}

static void expect_round_trip(const Tokenizer *t, const char *text) {
    size_t n = strlen(text);
    int *ids = malloc(sizeof(int) * (n + 2));
    int k = tokenizer_encode(t, text, ids, (int)n + 2, NULL);
    assert_true(k >= 0);
    char *back = malloc(n * 4 + 8);
    int len = tokenizer_decode(t, ids, k, back, n * 4 + 8);
    if (len != (int)n || memcmp(back, text, n) != 0) fail_msg("round trip of %zu bytes broke", n);
    free(ids);
    free(back);
}

static void test_pretokenizer_split(void **state) {
    /* the GPT-2 regex, worked by hand: "  It" gives " " then " It" (the
     * whitespace run gives its last space back); "\n\n" before a letter is
     * "\n" and "\n" (a lone \n cannot take the " ?" of the next word) */
    const char *text = "Hello, world!  It's 42\n\nok \xc3\xa9t\xc3\xa9 \xef\xbc\x92\xef\xbc\x93 "
                       "hi\xf0\x9f\x98\x80! end  ";
    const char *want[] = {"Hello", ",", " world", "!", " ", " It", "'s", " 42", "\n", "\n", "ok",
                          " \xc3\xa9t\xc3\xa9", " \xef\xbc\x92\xef\xbc\x93", " hi",
                          "\xf0\x9f\x98\x80!", " end", "  "};
    size_t ends[32];
    const int n = tokenizer_pretokenize(text, strlen(text), 0, ends, 32);
    assert_int_equal(n, (int)(sizeof want / sizeof want[0]));
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if (ends[i] - at != strlen(want[i]) || memcmp(text + at, want[i], ends[i] - at) != 0)
            fail_msg("pre-token %d is '%.*s', expected '%s'", i, (int)(ends[i] - at), text + at,
                     want[i]);
        at = ends[i];
    }
    /* contractions; an invalid byte is "other" on its own class */
    const char *t2 = "don't we'll \xff\xfe" "a";
    const char *want2[] = {"don", "'t", " we", "'ll", " \xff\xfe", "a"};
    const int n2 = tokenizer_pretokenize(t2, strlen(t2), 0, ends, 32);
    assert_int_equal(n2, 6);
    at = 0;
    for (int i = 0; i < n2; i++) {
        assert_int_equal(ends[i] - at, strlen(want2[i]));
        assert_memory_equal(t2 + at, want2[i], ends[i] - at);
        at = ends[i];
    }
}

static void expect_split(int llama3, const char *text, const char *const *want, int n_want) {
    size_t ends[64];
    const int n = tokenizer_pretokenize(text, strlen(text), llama3, ends, 64);
    size_t at = 0;
    for (int i = 0; i < n && i < n_want; i++) {
        if (ends[i] - at != strlen(want[i]) || memcmp(text + at, want[i], ends[i] - at) != 0)
            fail_msg("pre-token %d is '%.*s', expected '%s'", i, (int)(ends[i] - at), text + at,
                     want[i]);
        at = ends[i];
    }
    assert_int_equal(n, n_want);
}

static void test_llama3_split(void **state) {
    /* Llama 3's regex by hand: digits in groups of up to three and never
     * after a space; one non-letter may lead a word ("!x"); a whitespace run
     * holding newlines ends after the last one; contractions ignore case */
    const char *want[] = {"Hello", ",", " world", "!", " ", " It", "'S", " ", "123", "45",
                          "\n\n", " ok", "!x", "\tgo"};
    expect_split(1, "Hello, world!  It'S 12345\n\n ok!x\tgo", want, 14);
    /* the same text under GPT-2's for contrast */
    const char *gpt2[] = {"Hello", ",", " world", "!", " ", " It", "'", "S", " 12345", "\n\n",
                          " ok", "!", "x", "\t", "go"};
    expect_split(0, "Hello, world!  It'S 12345\n\n ok!x\tgo", gpt2, 15);
}

static void test_byte_level_hand_worked_merges(void **state) {
    for (int style = 0; style < 2; style++) {
        char *json = byte_level_json(style);
        Tokenizer t;
        load_json_text(&t, "bl.json", json);
        free(json);
        assert_int_equal(t.kind, TOKENIZER_BYTE_BPE);
        assert_int_equal(t.vocab_size, 266);
        /* "hello the" pre-tokenizes to "hello", " the".
         * "hello": h e l l o; candidate pairs (h,e) rank 1 and (l,l) rank 3:
         *   rank 1 first -> he l l o; then (l,l) -> he ll o; "he ll" is no
         *   merge, so "hello" (262) is never reached: 257 259 111.
         * " the": Ġ t h e; (Ġ,t) rank 0 -> Ġt h e; (h,e) rank 1 -> Ġt he;
         *   (Ġt,he) rank 2 -> Ġthe: 258. */
        const int w1[] = {257, 259, 111, 258};
        expect_ids(&t, "hello the", w1, 4);
        /* "yell": (l,l) rank 3 -> y e ll; (e,ll) rank 4 -> y ell: 121 260 */
        const int w2[] = {121, 260};
        expect_ids(&t, "yell", w2, 2);
        /* specials and the added "[x]" are cut out before the split */
        const int w3[] = {264, 257, 263, 265, 256};
        expect_ids(&t, "<|im_start|>he<|endoftext|>[x] t", w3, 5);
        char out[64];
        assert_int_equal(tokenizer_decode(&t, w3, 5, out, sizeof out), 7);
        assert_string_equal(out, "he[x] t");
        tokenizer_free(&t);
    }
}

static void test_byte_level_specials(void **state) {
    char *json = byte_level_json(0);
    Tokenizer t;
    load_json_text(&t, "bl.json", json);
    assert_int_equal(t.bos_id, 264); /* the post_processor's first SpecialToken */
    assert_int_equal(t.eos_id, 263); /* by name */
    assert_int_equal(t.pad_id, 263); /* no pad: EOS */
    int len;
    tokenizer_piece(&t, 263, &len);
    assert_int_equal(len, 0);
    int ids[8];
    assert_int_equal(encode_prompt(&t, "he", ids, 8), 2);
    assert_int_equal(ids[0], 264);
    tokenizer_free(&t);
    /* tokenizer_config.json beside the file wins */
    mkdir(tpath("cfg"), 0755);
    const char *cfg = "{\"bos_token\": \"<|endoftext|>\", \"eos_token\": {\"content\": "
                      "\"<|im_start|>\"}, \"pad_token\": \"[x]\"}";
    write_file(tpath("cfg/tokenizer_config.json"), cfg, strlen(cfg));
    load_json_text(&t, "cfg/tokenizer.json", json);
    assert_int_equal(t.bos_id, 263);
    assert_int_equal(t.eos_id, 264);
    assert_int_equal(t.pad_id, 265);
    tokenizer_free(&t);
    free(json);
}

/* Random text: valid UTF-8 of 1-4 bytes mixed with stray bytes 0x80-0xff
 * (invalid sequences) and ASCII, never NUL. */
static void random_text(Rng *r, char *out, int n) {
    int k = 0;
    while (k < n - 4) {
        unsigned kind = (unsigned)rng_below(r, 6), cp;
        char u[4];
        switch (kind) {
        case 0: out[k++] = (char)(0x80 + rng_below(r, 128)); break;
        case 1: out[k++] = (char)(1 + rng_below(r, 127)); break;
        case 2: out[k++] = " the hello yell\n\t'sab"[rng_below(r, 21)]; break;
        default: {
            cp = kind == 3 ? 0x80 + (unsigned)rng_below(r, 0x780)
                 : kind == 4 ? 0x800 + (unsigned)rng_below(r, 0xD000)
                             : 0x10000 + (unsigned)rng_below(r, 0x100000);
            const int len = tok_utf8_put(cp, u);
            memcpy(out + k, u, (size_t)len);
            k += len;
        }
        }
    }
    out[k] = '\0';
}

static void round_trips(const Tokenizer *t) {
    Rng r;
    rng_seed(&r, 7, 0);
    char text[400];
    for (int i = 0; i < 300; i++) {
        random_text(&r, text, 1 + (int)rng_below(&r, sizeof text - 1));
        expect_round_trip(t, text);
    }
    expect_round_trip(t, "");
    expect_round_trip(t, " ");
    expect_round_trip(t, "  leading and trailing  ");
    expect_round_trip(t, "\xff\xfe\xc3");
}

static void test_byte_level_round_trip(void **state) {
    char *json = byte_level_json(0);
    Tokenizer t;
    load_json_text(&t, "bl.json", json);
    free(json);
    round_trips(&t);
    /* a partial UTF-8 sequence decodes to its bytes */
    const int half[] = {0xc3};
    char out[8];
    assert_int_equal(tokenizer_decode(&t, half, 1, out, sizeof out), 1);
    assert_int_equal((unsigned char)out[0], 0xc3);
    tokenizer_free(&t);
}

/* ---- SentencePiece ---- */

typedef struct {
    const char *piece;
    float score;
} Rec;

/* The SentencePiece vocabulary, ids 259..268 after <unk>, BOS, EOS and the
 * 256 byte tokens (3 + byte):
 *   259 " "  260 "a"  261 "b"  262 "c"   (-10 each)
 *   263 " a" -3   264 "ab" -1   265 "bc" -2   266 " ab" -0.5
 *   267 "abc" -4  268 "é" -10 */
static const Rec sp_recs[] = {{" ", -10}, {"a", -10},  {"b", -10},    {"c", -10},
                              {" a", -3}, {"ab", -1},  {"bc", -2},    {" ab", -0.5f},
                              {"abc", -4}, {"\xc3\xa9", -10}};
enum { SP_N = sizeof sp_recs / sizeof sp_recs[0] };

/* Writes tokenizer.bin as tokenizer.py export() does; chr_bytes writes the
 * byte tokens as the UTF-8 of U+00NN (the newer export) instead of <0xNN>. */
static size_t write_bin(const char *path, int chr_bytes, uint8_t *copy) {
    uint8_t *buf = malloc(1 << 16), *w = buf + 4;
    uint32_t maxlen = 0;
    for (int id = 0; id < 259 + SP_N; id++) {
        char tmp[16];
        const char *p = tmp;
        float score = 0;
        uint32_t len = 0;
        if (id == 0) p = "<unk>";
        else if (id == 1) p = "\n<s>\n";
        else if (id == 2) p = "\n</s>\n";
        else if (id < 259 && chr_bytes) len = (uint32_t)tok_utf8_put((uint32_t)(id - 3), tmp);
        else if (id < 259) snprintf(tmp, sizeof tmp, "<0x%02X>", id - 3);
        else {
            p = sp_recs[id - 259].piece;
            score = sp_recs[id - 259].score;
        }
        if (!(id >= 3 && id < 259 && chr_bytes)) len = (uint32_t)strlen(p);
        if (len > maxlen) maxlen = len;
        memcpy(w, &score, 4);
        memcpy(w + 4, &len, 4);
        memcpy(w + 8, p, len);
        w += 8 + len;
    }
    memcpy(buf, &maxlen, 4);
    size_t n = (size_t)(w - buf);
    write_file(path, buf, n);
    if (copy) memcpy(copy, buf, n);
    free(buf);
    return n;
}

static void load_bin(Tokenizer *t, const char *path) {
    char err[512] = "";
    if (tokenizer_load_llama2c(t, path, err, sizeof err)) fail_msg("%s", err);
}

/* The same vocabulary as tokenizer.json: "▁" for the space, merges ranked
 * in the order of the scores above (ab, bc, ▁a, ▁ab, abc). */
static char *sp_json(void) {
    char *buf = malloc(1 << 16), *w = buf;
    w += sprintf(w, "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true},"
                    "{\"id\": 1, \"content\": \"<s>\", \"special\": true},"
                    "{\"id\": 2, \"content\": \"</s>\", \"special\": true}],"
                    "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": ["
                    "{\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\x81\"},"
                    "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": "
                    "\"\xe2\x96\x81\"}]},"
                    "\"pre_tokenizer\": null, \"model\": {\"type\": \"BPE\", \"byte_fallback\": "
                    "true, \"unk_token\": \"<unk>\", \"vocab\": {\"<unk>\": 0, \"<s>\": 1, "
                    "\"</s>\": 2");
    for (int b = 0; b < 256; b++) w += sprintf(w, ", \"<0x%02X>\": %d", b, 3 + b);
    for (int i = 0; i < SP_N; i++) {
        w += sprintf(w, ", \"");
        for (const char *p = sp_recs[i].piece; *p; p++)
            w += *p == ' ' ? sprintf(w, "\xe2\x96\x81") : sprintf(w, "%c", *p);
        w += sprintf(w, "\": %d", 259 + i);
    }
    w += sprintf(w, "}, \"merges\": [\"a b\", \"b c\", \"\xe2\x96\x81 a\", \"\xe2\x96\x81 ab\", "
                    "\"ab c\"]}}");
    return buf;
}

static void sp_hand_worked(const Tokenizer *t) {
    /* "abc" -> dummy prefix: " " a b c. Pairs " a" (-3), "ab" (-1), "bc"
     * (-2): "ab" is best -> " " ab c. Then " ab" (-0.5) beats "abc" (-4)
     * -> " ab" c. " abc" is no token: 266 262. (By rank for the .json:
     * a b (0) first, then ▁ ab (3) before ab c (4): the same.) */
    const int w1[] = {266, 262};
    expect_ids(t, "abc", w1, 2);
    /* "cab" -> " " c a b; only "ab" merges: 259 262 264 */
    const int w2[] = {259, 262, 264};
    expect_ids(t, "cab", w2, 3);
    /* "xé": 'x' is no token -> byte fallback <0x78> = 3 + 0x78 = 123; é is 268 */
    const int w3[] = {259, 123, 268};
    expect_ids(t, "x\xc3\xa9", w3, 3);
    /* stray bytes each fall back: 0xff -> 258, 0xfe -> 257 */
    const int w4[] = {259, 258, 257};
    expect_ids(t, "\xff\xfe", w4, 3);
    char out[16];
    assert_int_equal(tokenizer_decode(t, w3, 3, out, sizeof out), 3);
    assert_string_equal(out, "x\xc3\xa9"); /* the dummy prefix is dropped */
    /* a continuation needs no dummy prefix */
    int ids[8];
    assert_int_equal(tokenizer_encode_cont(t, "ab", ids, 8, NULL), 1);
    assert_int_equal(ids[0], 264);
    assert_int_equal(t->bos_id, 1);
    assert_int_equal(t->eos_id, 2);
    assert_int_equal(t->unk_id, 0);
}

static void test_sp_bin_hand_worked(void **state) {
    Tokenizer t;
    write_bin(tpath("tok.bin"), 0, NULL);
    load_bin(&t, tpath("tok.bin"));
    assert_int_equal(t.kind, TOKENIZER_SP_BPE);
    assert_int_equal(t.vocab_size, 259 + SP_N);
    sp_hand_worked(&t);
    round_trips(&t);
    tokenizer_free(&t);
    /* the chr() export of the byte tokens reads the same */
    write_bin(tpath("tok_chr.bin"), 1, NULL);
    load_bin(&t, tpath("tok_chr.bin"));
    sp_hand_worked(&t);
    tokenizer_free(&t);
}

static void test_sp_json_hand_worked(void **state) {
    char *json = sp_json();
    Tokenizer t;
    load_json_text(&t, "sp.json", json);
    free(json);
    assert_int_equal(t.kind, TOKENIZER_SP_BPE);
    assert_int_equal(t.sp_prefix, 1);
    sp_hand_worked(&t);
    round_trips(&t);
    tokenizer_free(&t);
}

/* The heap merge (long sequences) and the scan (short ones) agree: every
 * random text encoded both ways, for each kind. */
static void heap_and_scan_agree(const Tokenizer *t) {
    Rng r;
    rng_seed(&r, 11, 0);
    char text[600];
    int a[700], b[700];
    for (int i = 0; i < 200; i++) {
        random_text(&r, text, 1 + (int)rng_below(&r, sizeof text - 1));
        tok_scan_limit = 1 << 30;
        const int na = tokenizer_encode(t, text, a, 700, NULL);
        tok_scan_limit = 0;
        const int nb = tokenizer_encode(t, text, b, 700, NULL);
        tok_scan_limit = 32;
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, sizeof(int) * (size_t)na);
    }
}

static void test_heap_merge_agrees_with_scan(void **state) {
    Tokenizer t;
    write_bin(tpath("tok.bin"), 0, NULL);
    load_bin(&t, tpath("tok.bin"));
    heap_and_scan_agree(&t);
    /* "abc" x 50 (151 symbols with the prefix: the heap): every "ab" merges
     * first (-1), then " ab" (-0.5) at the start, then "ab c" (-4) for the
     * rest: 266 262 and 49 x 267 */
    char text[160] = "";
    for (int i = 0; i < 50; i++) strcat(text, "abc");
    int want[51];
    want[0] = 266;
    want[1] = 262;
    for (int i = 2; i < 51; i++) want[i] = 267;
    expect_ids(&t, text, want, 51);
    tokenizer_free(&t);
    char *json = sp_json();
    load_json_text(&t, "sp.json", json);
    free(json);
    heap_and_scan_agree(&t);
    expect_ids(&t, text, want, 51);
    tokenizer_free(&t);
    json = byte_level_json(0);
    load_json_text(&t, "bl.json", json);
    free(json);
    heap_and_scan_agree(&t);
    tokenizer_free(&t);
}

static void test_llama2c_write_round_trip(void **state) {
    Tokenizer t, u;
    uint8_t *orig = malloc(1 << 16), *again = malloc(1 << 16);
    size_t n = write_bin(tpath("tok.bin"), 0, orig);
    load_bin(&t, tpath("tok.bin"));
    char err[256];
    assert_int_equal(tokenizer_write_llama2c(&t, tpath("tok2.bin"), err, sizeof err), 0);
    FILE *f = fopen(tpath("tok2.bin"), "rb");
    assert_int_equal(fread(again, 1, 1 << 16, f), n);
    fclose(f);
    assert_memory_equal(orig, again, n); /* byte for byte */
    load_bin(&u, tpath("tok2.bin"));
    assert_true(tokenizer_same(&t, &u));
    tokenizer_free(&t);
    tokenizer_free(&u);
    /* from tokenizer.json (ranked merges) to tokenizer.bin: encodes alike */
    char *json = sp_json();
    load_json_text(&t, "sp.json", json);
    free(json);
    assert_int_equal(tokenizer_write_llama2c(&t, tpath("tok3.bin"), err, sizeof err), 0);
    load_bin(&u, tpath("tok3.bin"));
    sp_hand_worked(&u);
    tokenizer_free(&t);
    tokenizer_free(&u);
    /* a byte-level tokenizer has no tokenizer.bin form */
    json = byte_level_json(0);
    load_json_text(&t, "bl.json", json);
    free(json);
    assert_int_equal(tokenizer_write_llama2c(&t, tpath("x.bin"), err, sizeof err), -1);
    assert_non_null(strstr(err, "x.bin"));
    tokenizer_free(&t);
    free(orig);
    free(again);
}

static void blob_round_trip(const Tokenizer *t) {
    size_t n = tokenizer_serialize(t, NULL);
    uint8_t *b = malloc(n);
    assert_int_equal(tokenizer_serialize(t, b), n);
    Tokenizer u;
    char err[256] = "";
    if (tokenizer_deserialize(&u, b, n, err, sizeof err)) fail_msg("%s", err);
    assert_true(tokenizer_same(t, &u));
    assert_int_equal(u.bos_id, t->bos_id);
    assert_int_equal(u.eos_id, t->eos_id);
    int a[64], c[64];
    const char *text = "hello the abc x\xc3\xa9\xff";
    int na = tokenizer_encode(t, text, a, 64, NULL), nc = tokenizer_encode(&u, text, c, 64, NULL);
    assert_int_equal(na, nc); /* -1 for the char tokenizer (no é) */
    if (na > 0) assert_memory_equal(a, c, sizeof(int) * (size_t)na);
    /* every flipped byte is refused with a message */
    for (size_t i = 0; i < n; i += 7) {
        b[i] ^= 0x10;
        err[0] = '\0';
        assert_int_equal(tokenizer_deserialize(&u, b, n, err, sizeof err), -1);
        assert_true(strlen(err) > 0);
        b[i] ^= 0x10;
    }
    tokenizer_free(&u);
    free(b);
}

/* tokenizer_write_json (what export --format hf writes) reads back to the
 * same tokenizer, byte for byte of the checkpoint blob, for the byte-level
 * (GPT-2 and Llama 3 splits) and SentencePiece kinds; the kinds without a
 * tokenizer.json form are refused with a reason. */
static void json_write_round_trip(const Tokenizer *t, const char *sub) {
    char dir[256], err[512] = "";
    snprintf(dir, sizeof dir, "%s", tpath(sub));
    assert_int_equal(mkdir(dir, 0755), 0);
    if (tokenizer_write_json(t, dir, err, sizeof err) != 0) fail_msg("%s", err);
    char path[300];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    Tokenizer back;
    if (tokenizer_load_file(&back, path, err, sizeof err) != 0) fail_msg("%s", err);
    if (!tokenizer_same(t, &back)) {
        printf("kind %d/%d V %d/%d bos %d/%d eos %d/%d pad %d/%d unk %d/%d merges %d/%d im %d/%d mp %d/%d pre %d/%d l3 %d/%d\n",
               t->kind, back.kind, t->vocab_size, back.vocab_size, t->bos_id, back.bos_id, t->eos_id,
               back.eos_id, t->pad_id, back.pad_id, t->unk_id, back.unk_id, t->n_merges, back.n_merges,
               t->ignore_merges, back.ignore_merges, t->max_piece, back.max_piece, t->sp_prefix, back.sp_prefix, t->llama3_split, back.llama3_split);
        for (int id = 0; id < t->vocab_size && id < back.vocab_size; id++) {
            int a, b;
            const char *pa = tokenizer_piece(t, id, &a), *pb = tokenizer_piece(&back, id, &b);
            if (t->flags[id] != back.flags[id] || a != b || memcmp(pa, pb, (size_t)a))
                printf("id %d flags %d/%d piece '%.*s'/'%.*s'\n", id, t->flags[id], back.flags[id], a, pa, b, pb);
        }
        for (int m = 0; m < 3 * t->n_merges && m < 3 * back.n_merges; m++)
            if (t->merges[m] != back.merges[m]) printf("merge %d: %d/%d\n", m, t->merges[m], back.merges[m]);
        fail_msg("%s: the tokenizer read back differs", sub);
    }
    expect_round_trip(&back, "the cat, 12 hats\n and caffe\xc3\xa9");
    tokenizer_free(&back);
}

static void test_json_write_round_trip(void **state) {
    Tokenizer t;
    char *json = byte_level_json(1);
    load_json_text(&t, "w_bl.json", json);
    free(json);
    json_write_round_trip(&t, "w_bl");
    t.llama3_split = 1; /* the Llama 3 pre-tokenizer is written, and recognised */
    json_write_round_trip(&t, "w_l3");
    tokenizer_free(&t);
    json = sp_json();
    load_json_text(&t, "w_sp.json", json);
    free(json);
    json_write_round_trip(&t, "w_sp");
    tokenizer_free(&t);
    char err[512] = "";
    write_bin(tpath("w_tok.bin"), 0, NULL);
    load_bin(&t, tpath("w_tok.bin"));
    assert_int_equal(tokenizer_write_json(&t, tmpdir, err, sizeof err), -1);
    assert_non_null(strstr(err, "scores"));
    tokenizer_free(&t);
    tokenizer_init_char(&t);
    assert_int_equal(tokenizer_write_json(&t, tmpdir, err, sizeof err), -1);
    assert_non_null(strstr(err, "character tokenizer"));
}

static void test_blob_round_trip_every_kind(void **state) {
    Tokenizer t;
    char *json = byte_level_json(0);
    load_json_text(&t, "bl.json", json);
    free(json);
    blob_round_trip(&t);
    tokenizer_free(&t);
    json = sp_json();
    load_json_text(&t, "sp.json", json);
    free(json);
    blob_round_trip(&t);
    tokenizer_free(&t);
    write_bin(tpath("tok.bin"), 0, NULL);
    load_bin(&t, tpath("tok.bin"));
    blob_round_trip(&t);
    tokenizer_free(&t);
    tokenizer_init_char(&t);
    blob_round_trip(&t);
}

/* A tokenizer.json whose pre_tokenizer is Llama 3's: a Split with its
 * regex, then ByteLevel without a regex of its own. */
static void test_llama3_json_split(void **state) {
    char *json = byte_level_json(0);
    const char *from = "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false}";
    const char *to =
        "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
        "\"pattern\": {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?"
        "\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|"
        "\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false}, "
        "{\"type\": \"ByteLevel\", \"use_regex\": false}]}";
    char *at = strstr(json, from), *l3 = malloc(strlen(json) + strlen(to) + 1);
    assert_non_null(at);
    sprintf(l3, "%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
    Tokenizer t;
    load_json_text(&t, "l3.json", l3);
    assert_int_equal(t.llama3_split, 1);
    /* " 12345": " ", "123", "45" (digits never take the space) */
    const int w[] = {' ', '1', '2', '3', '4', '5'};
    expect_ids(&t, " 12345", w, 6);
    round_trips(&t);
    blob_round_trip(&t);
    tokenizer_free(&t);
    free(l3);
    free(json);
}

/* The TOKN section carries a BPE tokenizer through a checkpoint. */
static void test_checkpoint_carries_bpe(void **state) {
    Tokenizer t, u;
    char *json = byte_level_json(0);
    load_json_text(&t, "bl.json", json);
    free(json);
    ModelConfig mc = {.vocab_size = t.vocab_size, .dim = 8, .n_layers = 1, .n_heads = 2,
                      .n_kv_heads = 2, .hidden_dim = 8, .max_seq_len = 16, .tied_embeddings = 1,
                      .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m, m2;
    model_init(&m, &mc);
    model_init_weights(&m, 1);
    Checkpoint c;
    char err[512];
    ckpt_init(&c);
    ckpt_put_model(&c, &m, &t);
    assert_int_equal(ckpt_write(&c, tpath("bpe.ckpt"), err, sizeof err), 0);
    ckpt_free(&c);
    if (ckpt_read_model(tpath("bpe.ckpt"), &m2, &u, err, sizeof err)) fail_msg("%s", err);
    assert_true(tokenizer_same(&t, &u));
    assert_int_equal(u.kind, TOKENIZER_BYTE_BPE);
    model_free(&m2);
    /* the tokenizer alone (what grpo sft takes from its init checkpoint) */
    Tokenizer v;
    if (ckpt_read_tokenizer(tpath("bpe.ckpt"), &v, err, sizeof err)) fail_msg("%s", err);
    assert_true(tokenizer_same(&t, &v));
    tokenizer_free(&v);
    assert_int_equal(ckpt_read_tokenizer(tpath("none.ckpt"), &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "none.ckpt"));
    /* a run with another tokenizer refuses it, naming both */
    Tokenizer ch;
    tokenizer_init_char(&ch);
    assert_int_equal(ckpt_read_model_with(tpath("bpe.ckpt"), &ch, &m2, err, sizeof err), -1);
    assert_non_null(strstr(err, "byte-level BPE"));
    model_free(&m);
    tokenizer_free(&t);
    tokenizer_free(&u);
}

static void expect_error(int (*load)(Tokenizer *, const char *, char *, size_t), const char *name,
                         const void *data, size_t n, const char *what) {
    write_file(tpath(name), data, n);
    Tokenizer t;
    memset(&t, 0x5a, sizeof t);
    char err[512] = "";
    assert_int_equal(load(&t, tpath(name), err, sizeof err), -1);
    if (!strstr(err, tpath(name)) || !strstr(err, what))
        fail_msg("message '%s' should name %s and say '%s'", err, tpath(name), what);
}

static void test_bad_files(void **state) {
    /* truncated tokenizer.bin: inside a record's header, inside its bytes */
    uint8_t *bin = malloc(1 << 16);
    size_t n = write_bin(tpath("tok.bin"), 0, bin);
    expect_error(tokenizer_load_llama2c, "t1.bin", bin, n - 3, "truncated");
    expect_error(tokenizer_load_llama2c, "t2.bin", bin, n - 1 - 8 - 2, "truncated");
    expect_error(tokenizer_load_llama2c, "t3.bin", bin, 2, "truncated");
    expect_error(tokenizer_load_llama2c, "t4.bin", bin, 4 + 8 + 5 + 6, "truncated");
    free(bin);
    /* tokenizer.json: a merge naming an unknown token */
    char *json = byte_level_json(0), *bad = malloc(strlen(json) + 64);
    char *at = strstr(json, "\"hell o\"");
    snprintf(bad, strlen(json) + 64, "%.*s\"hell zz\"%s", (int)(at - json), json, at + 8);
    expect_error(tokenizer_load_json, "m.json", bad, strlen(bad), "\"zz\" is not in model.vocab");
    /* a merge whose result is missing */
    snprintf(bad, strlen(json) + 64, "%.*s\"o hell\"%s", (int)(at - json), json, at + 8);
    expect_error(tokenizer_load_json, "m2.json", bad, strlen(bad), "\"ohell\" is not in");
    /* a vocab id out of range, and one given twice */
    at = strstr(json, "\"hello\": 262");
    snprintf(bad, strlen(json) + 64, "%.*s\"hello\": 9999999%s", (int)(at - json), json, at + 12);
    expect_error(tokenizer_load_json, "r.json", bad, strlen(bad), "outside");
    snprintf(bad, strlen(json) + 64, "%.*s\"hello\": 261%s", (int)(at - json), json, at + 12);
    expect_error(tokenizer_load_json, "d.json", bad, strlen(bad), "given to both");
    /* a gap in the ids */
    snprintf(bad, strlen(json) + 64, "%.*s\"hello\": 270%s", (int)(at - json), json, at + 12);
    expect_error(tokenizer_load_json, "g.json", bad, strlen(bad), "leave a gap");
    free(bad);
    free(json);
    expect_error(tokenizer_load_json, "n.json", "{\"model\": [1, 2", 15, "not valid JSON");
    expect_error(tokenizer_load_json, "w.json", "{\"model\": {\"type\": \"WordPiece\"}}", 32,
                 "only BPE");
    const char *nobos = "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": "
                        "{\"a\": 0}, \"merges\": []}}";
    expect_error(tokenizer_load_json, "b.json", nobos, strlen(nobos), "no BOS token");
    Tokenizer t;
    char err[256];
    assert_int_equal(tokenizer_load_file(&t, tpath("missing.json"), err, sizeof err), -1);
    assert_non_null(strstr(err, "missing.json"));
}

static int setup(void **state) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/grpo_tok_bpe_%d", (int)getpid());
    mkdir(tmpdir, 0755);
    return 0;
}

static int teardown(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "%s%s", getenv("KEEP_TOK") ? "true " : "rm -rf ", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pretokenizer_split),
        cmocka_unit_test(test_llama3_split),
        cmocka_unit_test(test_byte_level_hand_worked_merges),
        cmocka_unit_test(test_byte_level_specials),
        cmocka_unit_test(test_byte_level_round_trip),
        cmocka_unit_test(test_sp_bin_hand_worked),
        cmocka_unit_test(test_sp_json_hand_worked),
        cmocka_unit_test(test_heap_merge_agrees_with_scan),
        cmocka_unit_test(test_llama2c_write_round_trip),
        cmocka_unit_test(test_blob_round_trip_every_kind),
        cmocka_unit_test(test_json_write_round_trip),
        cmocka_unit_test(test_llama3_json_split),
        cmocka_unit_test(test_checkpoint_carries_bpe),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
