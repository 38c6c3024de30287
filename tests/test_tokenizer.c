/* test_tokenizer.c: the character vocabulary and its checkpoint blob
 * (version 2 written, version 1 of old checkpoints read). The BPE kinds
 * are in test_tokenizer_bpe.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "util.h"

static Tokenizer *new_char_tokenizer(void) {
    Tokenizer *t = xmalloc(sizeof *t);
    tokenizer_init_char(t);
    return t;
}

static void test_vocab_layout(void **state) {
    Tokenizer *t = new_char_tokenizer();
    assert_int_equal(t->vocab_size, 98);
    assert_int_equal(t->pad_id, TOK_PAD);
    assert_int_equal(t->bos_id, TOK_BOS);
    assert_int_equal(t->eos_id, TOK_EOS);
    assert_int_equal(t->max_piece, 1);
    int len = -1;
    tokenizer_piece(t, TOK_BOS, &len);
    assert_int_equal(len, 0);
    assert_memory_equal(tokenizer_piece(t, 3, &len), " ", 1);
    assert_int_equal(len, 1);
    assert_int_equal(t->byte_to_id[' '], 3);
    assert_int_equal(t->byte_to_id['~'], 97);
    assert_int_equal(t->byte_to_id['\n'], -1);
    xfree(t);
}

static void test_round_trip_printable(void **state) {
    Tokenizer *t = new_char_tokenizer();
    char text[96], back[96];
    for (int c = 32; c <= 126; c++) text[c - 32] = (char)c;
    text[95] = '\0';
    int ids[128];
    int n = tokenizer_encode(t, text, ids, 128, NULL);
    assert_int_equal(n, 95);
    for (int i = 0; i < n; i++) assert_int_equal(ids[i], 3 + i);
    assert_int_equal(tokenizer_decode(t, ids, n, back, sizeof back), 95);
    assert_string_equal(back, text);
    xfree(t);
}

static void test_decode_skips_specials_and_checks_range(void **state) {
    Tokenizer *t = new_char_tokenizer();
    int ids[] = {TOK_BOS, 3 + 'h' - 32, 3 + 'i' - 32, TOK_EOS, TOK_PAD};
    char out[8];
    assert_int_equal(tokenizer_decode(t, ids, 5, out, sizeof out), 2);
    assert_string_equal(out, "hi");
    int bad[] = {98};
    assert_int_equal(tokenizer_decode(t, bad, 1, out, sizeof out), -1);
    int neg[] = {-1};
    assert_int_equal(tokenizer_decode(t, neg, 1, out, sizeof out), -1);
    assert_int_equal(tokenizer_decode(t, ids, 3, out, 2), -1); /* overflow */
    xfree(t);
}

static void test_unknown_char_rejected_with_position(void **state) {
    Tokenizer *t = new_char_tokenizer();
    int ids[16], pos = -7;
    assert_int_equal(tokenizer_encode(t, "12\t3", ids, 16, &pos), -1);
    assert_int_equal(pos, 2);
    assert_int_equal(tokenizer_encode(t, "ab\xc3\xa9", ids, 16, &pos), -1);
    assert_int_equal(pos, 2);
    assert_int_equal(tokenizer_encode(t, "abcdef", ids, 3, &pos), -2);
    assert_int_equal(tokenizer_encode(t, "", ids, 0, &pos), 0);
    xfree(t);
}

static void test_serialize_round_trip(void **state) {
    Tokenizer *t = new_char_tokenizer();
    size_t n = tokenizer_serialize(t, NULL);
    uint8_t *buf = malloc(n);
    assert_int_equal(tokenizer_serialize(t, buf), n);
    Tokenizer *u = xcalloc(1, sizeof *u);
    char err[256] = "";
    assert_int_equal(tokenizer_deserialize(u, buf, n, err, sizeof err), 0);
    assert_int_equal(u->kind, t->kind);
    assert_int_equal(u->vocab_size, t->vocab_size);
    assert_true(tokenizer_same(u, t));
    assert_memory_equal(u->char_of, t->char_of, sizeof t->char_of);
    assert_int_equal(u->bos_id, TOK_BOS);
    assert_int_equal(buf[4], 2); /* written as version 2 */
    assert_memory_equal(u->byte_to_id, t->byte_to_id, sizeof t->byte_to_id);
    free(buf);
    xfree(t);
    xfree(u);
}

static void test_corrupted_blob_rejected(void **state) {
    Tokenizer *t = new_char_tokenizer();
    size_t n = tokenizer_serialize(t, NULL);
    uint8_t *buf = malloc(n), *bad = malloc(n + 8);
    tokenizer_serialize(t, buf);
    Tokenizer *u = xcalloc(1, sizeof *u);
    char err[256];
    /* Every single flipped byte is caught (magic, fields, pieces or CRC). */
    for (size_t i = 0; i < n; i++) {
        memcpy(bad, buf, n);
        bad[i] ^= 0x20;
        err[0] = '\0';
        assert_int_equal(tokenizer_deserialize(u, bad, n, err, sizeof err), -1);
        assert_true(strlen(err) > 0);
    }
    /* Truncations at every length, and trailing bytes. */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(tokenizer_deserialize(u, buf, k, err, sizeof err), -1);
    memcpy(bad, buf, n);
    memset(bad + n, 0, 8);
    assert_int_equal(tokenizer_deserialize(u, bad, n + 8, err, sizeof err), -1);
    /* u was never overwritten by a failed call. */
    assert_int_equal(u->vocab_size, 0);
    free(buf);
    free(bad);
    xfree(t);
    xfree(u);
}

/* Rewrites the trailing CRC so only the structural checks can object. */
static void fix_crc(uint8_t *buf, size_t n) {
    uint32_t c = crc32_update(0, buf, n - 4);
    for (int i = 0; i < 4; i++) buf[n - 4 + i] = (uint8_t)(c >> (8 * i));
}

/* The version-1 blob old checkpoints hold for the character tokenizer,
 * written byte by byte as the old tokenizer_serialize did: "TOK1", u32 1,
 * u32 kind 1, u32 V, then u8 length + bytes per piece, then the CRC.
 * malloc'd, *n bytes. */
static uint8_t *v1_blob(size_t *n) {
    uint8_t *b = malloc(16 + 3 * 6 + 95 * 2 + 4);
    size_t off = 0;
    memcpy(b, "TOK1", 4);
    const uint32_t head[3] = {1, 1, 98};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++) b[4 + 4 * i + k] = (uint8_t)(head[i] >> (8 * k));
    off = 16;
    const char *sp[3] = {"<pad>", "<bos>", "<eos>"};
    for (int i = 0; i < 3; i++) {
        b[off++] = 5;
        memcpy(b + off, sp[i], 5);
        off += 5;
    }
    for (int c = 32; c <= 126; c++) {
        b[off++] = 1;
        b[off++] = (uint8_t)c;
    }
    *n = off + 4;
    fix_crc(b, *n);
    return b;
}

static void test_old_v1_blob_loads(void **state) {
    size_t n;
    uint8_t *b = v1_blob(&n);
    Tokenizer *t = new_char_tokenizer(), *u = xcalloc(1, sizeof *u);
    char err[256] = "";
    assert_int_equal(tokenizer_deserialize(u, b, n, err, sizeof err), 0);
    assert_true(tokenizer_same(u, t));
    assert_memory_equal(u->byte_to_id, t->byte_to_id, sizeof t->byte_to_id);
    free(b);
    xfree(t);
    xfree(u);
}

static void test_malformed_blob_with_valid_crc_rejected(void **state) {
    Tokenizer *t = new_char_tokenizer();
    size_t n;
    uint8_t *buf = v1_blob(&n), *bad = malloc(n);
    Tokenizer *u = xcalloc(1, sizeof *u);
    char err[256];
    /* Header is 16 bytes; pieces are (len, bytes): the specials take 3 x 6,
     * so ' ' (id 3) is at 16 + 18 = 34..35 and '!' (id 4) at 36..37. */
    memcpy(bad, buf, n);
    bad[37] = ' '; /* duplicate of id 3 */
    fix_crc(bad, n);
    assert_int_equal(tokenizer_deserialize(u, bad, n, err, sizeof err), -1);
    assert_non_null(strstr(err, "piece 4"));
    memcpy(bad, buf, n);
    bad[12] = 0xFF; bad[13] = 0xFF; /* vocab_size 65535 */
    fix_crc(bad, n);
    assert_int_equal(tokenizer_deserialize(u, bad, n, err, sizeof err), -1);
    assert_non_null(strstr(err, "vocab_size"));
    memcpy(bad, buf, n);
    bad[17] = '['; /* "<pad>" -> "[pad>" */
    fix_crc(bad, n);
    assert_int_equal(tokenizer_deserialize(u, bad, n, err, sizeof err), -1);
    memcpy(bad, buf, n);
    bad[34] = 0; /* zero-length piece */
    fix_crc(bad, n);
    assert_int_equal(tokenizer_deserialize(u, bad, n, err, sizeof err), -1);
    memcpy(bad, buf, n);
    bad[8] = 7; /* unknown kind */
    fix_crc(bad, n);
    assert_int_equal(tokenizer_deserialize(u, bad, n, err, sizeof err), -1);
    assert_non_null(strstr(err, "kind"));
    free(buf);
    free(bad);
    xfree(t);
    xfree(u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_layout),
        cmocka_unit_test(test_round_trip_printable),
        cmocka_unit_test(test_decode_skips_specials_and_checks_range),
        cmocka_unit_test(test_unknown_char_rejected_with_position),
        cmocka_unit_test(test_serialize_round_trip),
        cmocka_unit_test(test_corrupted_blob_rejected),
        cmocka_unit_test(test_old_v1_blob_loads),
        cmocka_unit_test(test_malformed_blob_with_valid_crc_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
