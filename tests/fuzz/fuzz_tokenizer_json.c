/* fuzz_tokenizer_json.c: the tokenizer file readers, tokenizer.json
 * (tokenizer_parse_json, jansson underneath) when the input starts with
 * '{' (after blanks), else llama2.c's tokenizer.bin
 * (tokenizer_parse_llama2c), as tokenizer_load_file picks.
 *
 * Properties: a reject leaves the Tokenizer untouched and its message
 * names the file; an accepted tokenizer has valid special ids, goes
 * through the checkpoint blob unchanged, encodes the input's bytes to ids
 * in range that decode back to the same bytes (unless UNK or a special is
 * needed), and a tokenizer.bin one is written back (tokenizer_write_llama2c)
 * and reads as the same vocabulary. */
#include "fuzz_common.h"
#include "tokenizer.h"
#include "util.h"

static Tokenizer tok, before, back_tok;

static void round_trip(const Tokenizer *t, const uint8_t *buf, size_t len) {
    static char back[4096];
    char text[256];
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < sizeof text; i++)
        if (buf[i]) text[k++] = (char)buf[i];
    text[k] = '\0';
    int ids[300], bad = -1;
    const int nt = tokenizer_encode(t, text, ids, 300, &bad);
    if (nt < 0) {
        FUZZ_REQUIRE(nt == -1 && bad >= 0 && bad < (int)k);
        return;
    }
    for (int i = 0; i < nt; i++) {
        FUZZ_REQUIRE(ids[i] >= 0 && ids[i] < t->vocab_size);
        int pl;
        tokenizer_piece(t, ids[i], &pl);
        if (pl == 0) return;
    }
    const int n = tokenizer_decode(t, ids, nt, back, sizeof back);
    FUZZ_REQUIRE(n == (int)k && memcmp(text, back, k) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t i = 0;
    while (i < size && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t')) i++;
    const int json = i < size && data[i] == '{';
    const char *name = json ? "fuzz/tokenizer.json" : "fuzz/tokenizer.bin";
    char err[512] = "";
    memset(&tok, 0x5a, sizeof tok);
    memcpy(&before, &tok, sizeof tok);
    int rc;
    if (json) {
        char *text = malloc(size + 1);
        if (!text) abort();
        memcpy(text, data, size);
        text[size] = '\0';
        rc = tokenizer_parse_json(&tok, text, size, name, NULL, err, sizeof err);
        free(text);
    } else {
        rc = tokenizer_parse_llama2c(&tok, data, size, name, err, sizeof err);
    }
    if (rc != 0) {
        FUZZ_REQUIRE(memcmp(&tok, &before, sizeof tok) == 0);
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err) && strstr(err, name));
        return 0;
    }
    FUZZ_REQUIRE(tok.kind == TOKENIZER_BYTE_BPE || tok.kind == TOKENIZER_SP_BPE);
    FUZZ_REQUIRE(tok.bos_id >= 0 && tok.bos_id < tok.vocab_size);
    FUZZ_REQUIRE(tok.eos_id >= 0 && tok.eos_id < tok.vocab_size);
    FUZZ_REQUIRE(tok.pad_id >= 0 && tok.pad_id < tok.vocab_size);
    const size_t n = tokenizer_serialize(&tok, NULL);
    uint8_t *blob = malloc(n);
    if (!blob) abort();
    tokenizer_serialize(&tok, blob);
    FUZZ_REQUIRE(tokenizer_deserialize(&back_tok, blob, n, err, sizeof err) == 0);
    FUZZ_REQUIRE(tokenizer_same(&tok, &back_tok));
    tokenizer_free(&back_tok);
    free(blob);
    round_trip(&tok, data, size);
    if (!json) {
        const char *path = fuzz_scratch_path(".bin");
        FUZZ_REQUIRE(tokenizer_write_llama2c(&tok, path, err, sizeof err) == 0);
        FUZZ_REQUIRE(tokenizer_load_llama2c(&back_tok, path, err, sizeof err) == 0);
        FUZZ_REQUIRE(tokenizer_same(&tok, &back_tok));
        tokenizer_free(&back_tok);
    }
    tokenizer_free(&tok);
    return 0;
}
