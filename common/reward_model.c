/* reward_model.c: a scalar-head model read at the last token of
 * BOS + prompt + completion + EOS (reward_model.h). */
#include "reward_model.h"

#include <string.h>

#include "checkpoint.h"
#include "util.h"

/* Tokens text of n bytes can encode to, at most: one per byte (char, byte
 * BPE, SentencePiece byte fallback) plus SentencePiece's dummy prefix. */
static size_t token_bound(const char *text) { return strlen(text) + 1; }

int reward_model_tokens(const Tokenizer *tok, const char *prompt, const char *completion, int *out,
                        int cap) {
    CHECK(cap >= 1);
    size_t room = 2 + token_bound(prompt) + token_bound(completion);
    int *seq = xmalloc(sizeof(int) * room);
    int n = 0, bad = -1;
    seq[n++] = tok->bos_id;
    int np = tokenizer_encode(tok, prompt, seq + n, (int)(room - n), &bad);
    int nc = np < 0 ? np : tokenizer_encode_cont(tok, completion, seq + n + np,
                                                 (int)(room - n - np), &bad);
    if (np == -1 || nc == -1) {
        xfree(seq);
        return -2;
    }
    CHECK(np >= 0 && nc >= 0); /* room is an upper bound */
    n += np + nc;
    seq[n++] = tok->eos_id;
    memcpy(out, seq, sizeof(int) * (size_t)(n < cap ? n : cap));
    xfree(seq);
    return n <= cap ? n : -1;
}

struct RewardModel {
    char path[1024];
    Model m;
    Tokenizer tok;
    int max_batch, max_len;
    ForwardState *fs;
    int *tokens;   /* (max_batch, max_len) the padded batch */
    int *len;      /* (max_batch) real tokens per row */
    float *values; /* (max_batch, max_len) */
    int *seq;      /* (max_len) one pair's tokens */
};

RewardModel *reward_model_open(const char *path, int max_batch, char *err, size_t errlen) {
    if (max_batch < 1) {
        set_err(err, errlen, "reward model %s: max_batch must be >= 1, got %d", path, max_batch);
        return NULL;
    }
    RewardModel *rm = xcalloc(1, sizeof *rm);
    char why[1500];
    if (ckpt_read_scalar_model(path, &rm->m, &rm->tok, why, sizeof why) != 0) {
        set_err(err, errlen, "reward model: %s", why);
        xfree(rm);
        return NULL;
    }
    snprintf(rm->path, sizeof rm->path, "%s", path);
    rm->max_batch = max_batch;
    rm->max_len = rm->m.cfg.max_seq_len;
    size_t cells = (size_t)max_batch * rm->max_len;
    rm->fs = forward_state_new(&rm->m.cfg, max_batch, rm->max_len);
    rm->tokens = xmalloc(sizeof(int) * cells);
    rm->len = xmalloc(sizeof(int) * (size_t)max_batch);
    rm->values = xmalloc(sizeof(float) * cells);
    rm->seq = xmalloc(sizeof(int) * (size_t)rm->max_len);
    return rm;
}

void reward_model_close(RewardModel *rm) {
    if (!rm) return;
    forward_state_free(rm->fs);
    model_free(&rm->m);
    tokenizer_free(&rm->tok);
    xfree(rm->tokens);
    xfree(rm->len);
    xfree(rm->values);
    xfree(rm->seq);
    xfree(rm);
}

const Model *reward_model_model(const RewardModel *rm) { return &rm->m; }
const Tokenizer *reward_model_tokenizer(const RewardModel *rm) { return &rm->tok; }

/* Scores pairs [0, n) with n <= max_batch in one forward. */
static void score_chunk(RewardModel *rm, const char *const *prompts,
                        const char *const *completions, int n, float *out) {
    const int cap = rm->max_len;
    int T = 1;
    for (int i = 0; i < n; i++) {
        int len = reward_model_tokens(&rm->tok, prompts[i], completions[i], rm->seq, cap);
        if (len == -2)
            die("reward model %s: prompt '%s' or its completion '%s' has a character outside "
                "this reward model's vocabulary (it was trained with another tokenizer than "
                "the one it scores)",
                rm->path, prompts[i], completions[i]);
        if (len == -1) len = cap; /* scored on its first max_seq_len tokens */
        rm->len[i] = len;
        if (len > T) T = len;
        memcpy(rm->tokens + (size_t)i * cap, rm->seq, sizeof(int) * (size_t)len);
    }
    /* repack at stride T, right-padded (causal: padding never reaches a real token) */
    int *packed = rm->tokens;
    for (int i = 0; i < n; i++) {
        int *row = packed + (size_t)i * T;
        memmove(row, rm->tokens + (size_t)i * cap, sizeof(int) * (size_t)rm->len[i]);
        for (int t = rm->len[i]; t < T; t++) row[t] = rm->tok.pad_id;
    }
    model_forward_values(&rm->m, rm->fs, packed, n, T, rm->values);
    for (int i = 0; i < n; i++) out[i] = rm->values[(size_t)i * T + rm->len[i] - 1];
}

void reward_model_score(RewardModel *rm, const char *const *prompts,
                        const char *const *completions, int n, float *out) {
    for (int at = 0; at < n; at += rm->max_batch) {
        int k = n - at < rm->max_batch ? n - at : rm->max_batch;
        score_chunk(rm, prompts + at, completions + at, k, out + at);
    }
}
