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
    ForwardState *fs; /* (1, max_len): one pair per forward (reward_model.h) */
    float *values;    /* (max_len) */
    int *seq;         /* (max_len) one pair's tokens */
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
    rm->fs = forward_state_new(&rm->m.cfg, 1, rm->max_len);
    rm->values = xmalloc(sizeof(float) * (size_t)rm->max_len);
    rm->seq = xmalloc(sizeof(int) * (size_t)rm->max_len);
    return rm;
}

void reward_model_close(RewardModel *rm) {
    if (!rm) return;
    forward_state_free(rm->fs);
    model_free(&rm->m);
    tokenizer_free(&rm->tok);
    xfree(rm->values);
    xfree(rm->seq);
    xfree(rm);
}

const Model *reward_model_model(const RewardModel *rm) { return &rm->m; }
const Tokenizer *reward_model_tokenizer(const RewardModel *rm) { return &rm->tok; }

void reward_model_score(RewardModel *rm, const char *const *prompts,
                        const char *const *completions, int n, float *out) {
    for (int i = 0; i < n; i++) {
        int len = reward_model_tokens(&rm->tok, prompts[i], completions[i], rm->seq, rm->max_len);
        if (len == -2)
            die("reward model %s: prompt '%s' or its completion '%s' has a character outside "
                "this reward model's vocabulary (it was trained with another tokenizer than "
                "the one it scores)",
                rm->path, prompts[i], completions[i]);
        if (len == -1) len = rm->max_len; /* scored on its first max_seq_len tokens */
        model_forward_values(&rm->m, rm->fs, rm->seq, NULL, 1, len, rm->values);
        out[i] = rm->values[len - 1];
    }
}
