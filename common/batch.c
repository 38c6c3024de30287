#include "batch.h"

#include <string.h>

#include "tokenizer.h"
#include "util.h"

void batch_init(SeqBatch *b, int max_B, int max_len) {
    memset(b, 0, sizeof *b);
    b->max_B = max_B;
    b->max_len = max_len;
    b->seq = xmalloc(sizeof(int) * (size_t)max_B * max_len);
    b->seq_len = xmalloc(sizeof(int) * (size_t)max_B);
    b->prompt_len = xmalloc(sizeof(int) * (size_t)max_B);
    b->tokens = xmalloc(sizeof(int) * (size_t)max_B * max_len);
    b->targets = xmalloc(sizeof(int) * (size_t)max_B * max_len);
    b->weights = xmalloc(sizeof(float) * (size_t)max_B * max_len);
    b->first = xmalloc(sizeof(int) * (size_t)max_B);
    b->n_pos = xmalloc(sizeof(int) * (size_t)max_B);
    b->shared = xmalloc(sizeof(int) * (size_t)max_B);
    b->key = xmalloc(sizeof(int) * (size_t)max_B);
    b->distinct = xmalloc(sizeof(int) * (size_t)max_B);
    packed_layout_init(&b->layout, max_B, max_len);
}

void batch_free(SeqBatch *b) {
    xfree(b->seq);
    xfree(b->seq_len);
    xfree(b->prompt_len);
    xfree(b->tokens);
    xfree(b->targets);
    xfree(b->weights);
    xfree(b->first);
    xfree(b->n_pos);
    xfree(b->shared);
    xfree(b->key);
    xfree(b->distinct);
    packed_layout_free(&b->layout);
    memset(b, 0, sizeof *b);
}

void batch_clear(SeqBatch *b) { b->B = b->T = 0; }

int batch_add(SeqBatch *b, const int *prompt, int plen, const int *completion, int clen) {
    /* Callers bound both by the config, and wire_limits_for_run rejects
     * any record that would not fit, so these are programming errors. */
    CHECK(b->B < b->max_B);
    CHECK(plen >= 1 && clen >= 0 && plen + clen <= b->max_len);
    int r = b->B++;
    int *s = b->seq + (size_t)r * b->max_len;
    memcpy(s, prompt, sizeof(int) * plen);
    if (clen) memcpy(s + plen, completion, sizeof(int) * clen);
    b->seq_len[r] = plen + clen;
    b->prompt_len[r] = plen;
    return r;
}

/* 1 if rows r and q have the same prompt (length and tokens). */
static int same_prompt(const SeqBatch *b, int r, int q) {
    if (b->prompt_len[r] != b->prompt_len[q]) return 0;
    return memcmp(b->seq + (size_t)r * b->max_len, b->seq + (size_t)q * b->max_len,
                  sizeof(int) * (size_t)b->prompt_len[r]) == 0;
}

/* Builds b->layout: row r's key is the first row with its prompt, and it
 * shares the prompt's first prompt_len - 1 positions (inputs prompt[0 ..
 * plen - 2], whose context is the prompt alone) with the rows of its key.
 * Comparing each row with the distinct prompts before it is O(B * distinct
 * * prompt_len): nothing next to a forward. */
static void share_prompts(SeqBatch *b) {
    int nd = 0;
    for (int r = 0; r < b->B; r++) {
        b->n_pos[r] = b->seq_len[r] - 1;
        b->shared[r] = b->prompt_len[r] - 1;
        b->key[r] = r;
        for (int i = 0; i < nd; i++) { /* the distinct prompts so far, by first row */
            const int q = b->distinct[i];
            if (same_prompt(b, r, q)) {
                b->key[r] = q;
                break;
            }
        }
        if (b->key[r] == r) b->distinct[nd++] = r;
    }
    packed_layout_shared(&b->layout, b->tokens, b->n_pos, b->shared, b->key, b->B, b->T);
}

void batch_layout(SeqBatch *b) {
    int T = 1;
    for (int r = 0; r < b->B; r++)
        if (b->seq_len[r] - 1 > T) T = b->seq_len[r] - 1;
    b->T = T;
    for (int r = 0; r < b->B; r++) {
        const int *s = b->seq + (size_t)r * b->max_len;
        int n = b->seq_len[r] - 1;
        b->first[r] = b->prompt_len[r] - 1; /* <= n <= T */
        /* Positions past a row's end have weight 0 and sit after every real
         * token (causal attention never looks at them), so the filler only
         * has to be a valid id: 0 (the char PAD) is one in every vocabulary,
         * and a SeqBatch has no tokenizer at hand. */
        for (int t = 0; t < T; t++) {
            b->tokens[r * T + t] = t < n ? s[t] : TOK_PAD;
            b->targets[r * T + t] = t < n ? s[t + 1] : TOK_PAD;
        }
    }
    memset(b->weights, 0, sizeof(float) * (size_t)b->B * T);
    share_prompts(b);
}
