/* fuzz_comparisons.c: the reward model's comparison-pair reader
 * (comparisons_load) on the input as a JSON-lines file, for a model of 24
 * tokens with the character tokenizer.
 *
 * Properties: a reject names the file; an accepted file has at least one
 * pair, usable + skipped = the non-blank lines, every pair's two
 * sequences fit the model, start with BOS, end with EOS, hold valid ids
 * and differ; the longest sequence is recorded. */
#include "comparisons.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_scratch(".jsonl", data, size);
    static Tokenizer tok;
    static int ready;
    if (!ready) {
        tokenizer_init_char(&tok);
        ready = 1;
    }
    enum { L = 24 };
    char err[512] = "";
    Comparisons *c = comparisons_load(path, &tok, L, NULL, err, sizeof err);
    if (!c) {
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err) && strstr(err, path) != NULL);
        return 0;
    }
    FUZZ_REQUIRE(c->n >= 1 && c->n + comparisons_skipped(c) == c->lines);
    int longest = 0;
    for (int i = 0; i < c->n; i++) {
        const Comparison *q = &c->pairs[i];
        FUZZ_REQUIRE(q->line >= 1 && (i == 0 || q->line > c->pairs[i - 1].line));
        for (int s = 0; s < 2; s++) {
            const int *ids = s ? q->rejected : q->chosen;
            int n = s ? q->len_r : q->len_c;
            FUZZ_REQUIRE(n >= 3 && n <= L); /* BOS, at least one token, EOS */
            FUZZ_REQUIRE(ids[0] == tok.bos_id && ids[n - 1] == tok.eos_id);
            for (int t = 0; t < n; t++) FUZZ_REQUIRE(ids[t] >= 0 && ids[t] < tok.vocab_size);
            if (n > longest) longest = n;
        }
        FUZZ_REQUIRE(q->len_c != q->len_r ||
                     memcmp(q->chosen, q->rejected, sizeof(int) * (size_t)q->len_c) != 0);
    }
    FUZZ_REQUIRE(longest == c->max_len);
    comparisons_free(c);
    return 0;
}
