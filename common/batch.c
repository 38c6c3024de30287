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
}

void batch_free(SeqBatch *b) {
    xfree(b->seq);
    xfree(b->seq_len);
    xfree(b->prompt_len);
    xfree(b->tokens);
    xfree(b->targets);
    xfree(b->weights);
    xfree(b->first);
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
}
