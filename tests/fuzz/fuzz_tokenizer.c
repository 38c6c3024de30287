/* fuzz_tokenizer.c: tokenizer_deserialize, the TOKN blob of a checkpoint.
 *
 * The blob ends with a CRC, so each input is tried as-is and with the CRC
 * repaired. Properties: a reject leaves the Tokenizer untouched and names
 * the problem; an accepted blob re-serialises to exactly the input bytes,
 * its byte table agrees with its pieces, and encode/decode of the input's
 * bytes round-trips for every byte in the vocabulary. */
#include "fuzz_common.h"
#include "tokenizer.h"
#include "util.h"

static Tokenizer tok, before; /* 66 KB each: static, reused */
static uint8_t again[TOK_MAX_VOCAB * TOK_MAX_PIECE + 64];

static void parse_case(const uint8_t *buf, size_t len) {
    char err[256] = "";
    memset(&tok, 0x5a, sizeof tok);
    memcpy(&before, &tok, sizeof tok);
    if (tokenizer_deserialize(&tok, buf, len, err, sizeof err) != 0) {
        FUZZ_REQUIRE(memcmp(&tok, &before, sizeof tok) == 0);
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err));
        return;
    }
    FUZZ_REQUIRE(tok.kind == TOKENIZER_CHAR);
    FUZZ_REQUIRE(tok.vocab_size > TOK_EOS && tok.vocab_size <= TOK_MAX_VOCAB);
    const size_t n = tokenizer_serialize(&tok, NULL);
    FUZZ_REQUIRE(n == len && n <= sizeof again);
    FUZZ_REQUIRE(tokenizer_serialize(&tok, again) == n && memcmp(again, buf, n) == 0);
    for (int b = 0; b < 256; b++) {
        const int id = tok.byte_to_id[b];
        if (id < 0) continue;
        FUZZ_REQUIRE(id > TOK_EOS && id < tok.vocab_size);
        FUZZ_REQUIRE((unsigned char)tok.pieces[id][0] == b && tok.pieces[id][1] == '\0');
    }
    /* encode/decode round trip over the input bytes the vocabulary holds */
    char text[256], back[256];
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < sizeof text; i++)
        if (buf[i] && tok.byte_to_id[buf[i]] >= 0) text[k++] = (char)buf[i];
    text[k] = '\0';
    int ids[256], bad = -1;
    const int nt = tokenizer_encode(&tok, text, ids, 256, &bad);
    FUZZ_REQUIRE(nt == (int)k);
    FUZZ_REQUIRE(tokenizer_decode(&tok, ids, nt, back, sizeof back) == nt);
    FUZZ_REQUIRE(strcmp(text, back) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_case(data, size);
    if (size >= 4) {
        uint8_t *buf = malloc(size);
        if (!buf) abort();
        memcpy(buf, data, size);
        const uint32_t crc = crc32_update(0, buf, size - 4);
        for (int i = 0; i < 4; i++) buf[size - 4 + i] = (uint8_t)(crc >> (8 * i));
        if (memcmp(buf, data, size) != 0) parse_case(buf, size);
        free(buf);
    }
    return 0;
}
