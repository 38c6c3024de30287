/* rm_batch.c: pairs through the scalar model (rm_batch.h). */
#include "rm_batch.h"

#include <string.h>

#include "bt_loss.h"
#include "util.h"


void rm_batch_init(RmBatch *b, const ModelConfig *mc, int max_pairs, int L) {
    b->max_pairs = max_pairs;
    b->L = L;
    size_t cells = (size_t)2 * max_pairs * L;
    b->tokens = xmalloc(sizeof(int) * cells);
    b->values = xmalloc(sizeof(float) * cells);
    b->d_values = xcalloc(cells, sizeof(float));
    b->len = xmalloc(sizeof(int) * 2 * (size_t)max_pairs);
    b->last = xmalloc(sizeof(int) * 2 * (size_t)max_pairs);
    b->rc = xmalloc(sizeof(float) * (size_t)max_pairs);
    b->rr = xmalloc(sizeof(float) * (size_t)max_pairs);
    b->gc = xmalloc(sizeof(float) * (size_t)max_pairs);
    b->gr = xmalloc(sizeof(float) * (size_t)max_pairs);
    b->fs = forward_state_new(mc, 2 * max_pairs, L);
}

void rm_batch_free(RmBatch *b) {
    xfree(b->tokens);
    xfree(b->values);
    xfree(b->d_values);
    xfree(b->len);
    xfree(b->last);
    xfree(b->rc);
    xfree(b->rr);
    xfree(b->gc);
    xfree(b->gr);
    forward_state_free(b->fs);
}

/* Runs pairs[idx[0..n)] forward (chosen at row 2i, rejected at 2i + 1,
 * padded with pad to the longest) and reads the rewards into b->rc, b->rr.
 * Returns T, the padded length; adds the real tokens to *tokens. */
int rm_batch_forward(const Model *m, RmBatch *b, const Comparison *pairs, const int *idx,
                            int n, int pad, long long *tokens) {
    CHECK(n <= b->max_pairs);
    int T = 1;
    for (int i = 0; i < n; i++) {
        const Comparison *q = &pairs[idx[i]];
        if (q->len_c > T) T = q->len_c;
        if (q->len_r > T) T = q->len_r;
    }
    CHECK(T <= b->L);
    for (int i = 0; i < n; i++) {
        const Comparison *q = &pairs[idx[i]];
        for (int s = 0; s < 2; s++) {
            const int *ids = s ? q->rejected : q->chosen;
            int len = s ? q->len_r : q->len_c, row = 2 * i + s;
            int *dst = b->tokens + (size_t)row * T;
            memcpy(dst, ids, sizeof(int) * (size_t)len);
            for (int t = len; t < T; t++) dst[t] = pad;
            b->len[row] = len;
            b->last[row] = row * T + len - 1;
            *tokens += len;
        }
    }
    model_forward_values(m, b->fs, b->tokens, b->len, 2 * n, T, b->values);
    for (int i = 0; i < n; i++) {
        b->rc[i] = b->values[b->last[2 * i]];
        b->rr[i] = b->values[b->last[2 * i + 1]];
    }
    return T;
}

/* Pairwise accuracy of m on pairs[idx[0..n)] (ties count 1/2). */
double rm_accuracy(const Model *m, RmBatch *b, const Comparison *pairs, const int *idx,
                          int n, int pad) {
    double right = 0;
    long long ignored = 0;
    for (int lo = 0; lo < n; lo += b->max_pairs) {
        int k = n - lo < b->max_pairs ? n - lo : b->max_pairs;
        rm_batch_forward(m, b, pairs, idx + lo, k, pad, &ignored);
        for (int i = 0; i < k; i++) right += bt_pair_correct(b->rc[i], b->rr[i]);
    }
    return n ? right / n : 0.0;
}

double rm_step_grad(Model *m, RmBatch *b, const Comparison *pairs, const int *idx, int n, int pad,
                    double *correct, long long *tokens) {
    int T = rm_batch_forward(m, b, pairs, idx, n, pad, tokens);
    double loss = bt_loss_batch(b->rc, b->rr, n, b->gc, b->gr, correct);
    memset(b->d_values, 0, sizeof(float) * (size_t)2 * n * T);
    for (int i = 0; i < n; i++) {
        b->d_values[b->last[2 * i]] = b->gc[i];
        b->d_values[b->last[2 * i + 1]] = b->gr[i];
    }
    model_backward_values(m, b->fs, b->d_values);
    return loss;
}
