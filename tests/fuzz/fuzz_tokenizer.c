/* fuzz_tokenizer.c: tokenizer_deserialize, the TOKN blob of a checkpoint
 * (version 1 char blobs of old checkpoints, version 2 of every kind).
 *
 * The blob ends with a CRC, so each input is tried as-is and with the CRC
 * repaired. Properties: a reject leaves the Tokenizer untouched and names
 * the problem; an accepted version-2 blob re-serialises to exactly the
 * input bytes (a version-1 one to a version-2 blob that reads back as the
 * same vocabulary); a char tokenizer's byte table agrees with its pieces;
 * and encode/decode of the input's bytes round-trips (char: the bytes in
 * the vocabulary; BPE: all of them, unless UNK or a special is needed). */
#include "fuzz_common.h"
#include "tokenizer.h"
#include "util.h"

static Tokenizer tok, before, back_tok;

/* decode(encode(text)) == text where the tokenizer can say so. */
static void round_trip(const Tokenizer *t, const uint8_t *buf, size_t len) {
    char text[256], back[256 * 4 + 8];
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < sizeof text; i++)
        if (buf[i] && (t->kind != TOKENIZER_CHAR || t->byte_to_id[buf[i]] >= 0))
            text[k++] = (char)buf[i];
    text[k] = '\0';
    int ids[300], bad = -1;
    const int nt = tokenizer_encode(t, text, ids, 300, &bad);
    if (t->kind == TOKENIZER_CHAR) FUZZ_REQUIRE(nt == (int)k);
    if (nt < 0) {
        FUZZ_REQUIRE(nt == -1 && bad >= 0 && bad < (int)k); /* 300 >= k + 1 ids always fit */
        return;
    }
    for (int i = 0; i < nt; i++) {
        FUZZ_REQUIRE(ids[i] >= 0 && ids[i] < t->vocab_size);
        int pl;
        tokenizer_piece(t, ids[i], &pl);
        if (pl == 0) return; /* UNK or a special: no text to compare */
    }
    const int n = tokenizer_decode(t, ids, nt, back, sizeof back);
    FUZZ_REQUIRE(n == (int)k && memcmp(text, back, k) == 0);
}

static void parse_case(const uint8_t *buf, size_t len) {
    char err[256] = "";
    memset(&tok, 0x5a, sizeof tok);
    memcpy(&before, &tok, sizeof tok);
    if (tokenizer_deserialize(&tok, buf, len, err, sizeof err) != 0) {
        FUZZ_REQUIRE(memcmp(&tok, &before, sizeof tok) == 0);
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err));
        return;
    }
    FUZZ_REQUIRE(tok.vocab_size >= 1 && tok.vocab_size <= TOK_MAX_VOCAB);
    FUZZ_REQUIRE(tok.bos_id >= 0 && tok.bos_id < tok.vocab_size);
    FUZZ_REQUIRE(tok.eos_id >= 0 && tok.eos_id < tok.vocab_size);
    FUZZ_REQUIRE(tok.pad_id >= 0 && tok.pad_id < tok.vocab_size);
    const size_t n = tokenizer_serialize(&tok, NULL);
    uint8_t *again = malloc(n);
    if (!again) abort();
    FUZZ_REQUIRE(tokenizer_serialize(&tok, again) == n);
    if (buf[4] == 2) {
        FUZZ_REQUIRE(n == len && memcmp(again, buf, n) == 0);
    } else {
        FUZZ_REQUIRE(tokenizer_deserialize(&back_tok, again, n, err, sizeof err) == 0);
        FUZZ_REQUIRE(tokenizer_same(&tok, &back_tok));
        tokenizer_free(&back_tok);
    }
    free(again);
    if (tok.kind == TOKENIZER_CHAR) {
        FUZZ_REQUIRE(tok.vocab_size > TOK_EOS && tok.vocab_size <= TOK_CHAR_MAX_VOCAB);
        for (int b = 0; b < 256; b++) {
            const int id = tok.byte_to_id[b];
            if (id < 0) continue;
            FUZZ_REQUIRE(id > TOK_EOS && id < tok.vocab_size);
            int pl;
            const char *p = tokenizer_piece(&tok, id, &pl);
            FUZZ_REQUIRE(pl == 1 && (unsigned char)p[0] == b);
        }
    }
    round_trip(&tok, buf, len);
    tokenizer_free(&tok);
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
