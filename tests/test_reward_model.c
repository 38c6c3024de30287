/* test_reward_model.c: the reward model (reward_model.h).
 *   - reward_model_tokens: BOS + the sampler's prompt encoding
 *     (encode_prompt) + the completion + EOS; too long: -1 and the first
 *     cap tokens; a character outside the vocabulary: -2;
 *   - reward_model_open: a scalar checkpoint opens; a policy checkpoint and
 *     a missing file are refused naming the file;
 *   - reward_model_score: the value of model_forward_values at each pair's
 *     last token, computed here on that pair alone (bit for bit); the same
 *     whatever else is in the batch (batch sizes, orders, neighbours of
 *     other lengths); a pair longer than the model is scored on its first
 *     max_seq_len tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas_setup.h"
#include "checkpoint.h"
#include "reward_model.h"
#include "rng.h"
#include "util.h"

enum { MAX_LEN = 40 };

static char dir[256];

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static ModelConfig rm_config(void) {
    ModelConfig c = {.vocab_size = 98, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                     .hidden_dim = 64, .max_seq_len = MAX_LEN, .tied_embeddings = 0,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f, .head = MODEL_HEAD_SCALAR};
    return c;
}

/* Writes a model of cfg with random weights (large enough that values
 * differ by position) and the character tokenizer to path. */
static void write_model(const char *path, const ModelConfig *cfg, uint64_t seed) {
    Model m;
    Tokenizer tok;
    tokenizer_init_char(&tok);
    model_init(&m, cfg);
    model_init_weights(&m, seed);
    Rng r;
    rng_seed(&r, seed, 1);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] += 0.1f * rng_normal(&r);
    Checkpoint c;
    char err[512];
    ckpt_init(&c);
    ckpt_put_model(&c, &m, &tok);
    if (ckpt_write(&c, path, err, sizeof err)) fail_msg("%s", err);
    ckpt_free(&c);
    model_free(&m);
}

static int setup(void **st) {
    snprintf(dir, sizeof dir, "/tmp/test_rm_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    ModelConfig c = rm_config();
    write_model(tpath("rm.ckpt"), &c, 7);
    c.head = MODEL_HEAD_LM;
    write_model(tpath("policy.ckpt"), &c, 8);
    return 0;
}

static int teardown(void **st) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_tokens(void **st) {
    Tokenizer tok;
    tokenizer_init_char(&tok);
    int out[64], want[64];
    int n = reward_model_tokens(&tok, "12+34=", "64", out, 64);
    int np = encode_prompt(&tok, "12+34=", want, 64); /* what the sampler feeds the policy */
    assert_int_equal(n, np + 3);
    assert_memory_equal(out, want, sizeof(int) * np);
    assert_int_equal(out[0], tok.bos_id);
    assert_int_equal(out[np], tok.byte_to_id['6']);
    assert_int_equal(out[np + 1], tok.byte_to_id['4']);
    assert_int_equal(out[n - 1], tok.eos_id);
    /* an empty completion is BOS, prompt, EOS */
    assert_int_equal(reward_model_tokens(&tok, "ab", "", out, 64), 4);
    assert_int_equal(out[3], tok.eos_id);
    /* exactly cap fits; one less does not, and holds the first cap tokens */
    int full[64];
    assert_int_equal(reward_model_tokens(&tok, "12+34=", "64", full, n), n);
    assert_memory_equal(full, out, 0);
    int cut[64];
    for (int i = 0; i < 64; i++) cut[i] = -7;
    assert_int_equal(reward_model_tokens(&tok, "12+34=", "64", cut, n - 1), -1);
    assert_memory_equal(cut, full, sizeof(int) * (n - 1));
    assert_int_equal(cut[n - 1], -7);
    /* the character tokenizer has no newline */
    assert_int_equal(reward_model_tokens(&tok, "a\nb", "c", out, 64), -2);
    assert_int_equal(reward_model_tokens(&tok, "ab", "c\n", out, 64), -2);
}

static void test_open_refusals(void **st) {
    char err[1024];
    RewardModel *rm = reward_model_open(tpath("policy.ckpt"), 4, err, sizeof err);
    assert_null(rm);
    assert_non_null(strstr(err, tpath("policy.ckpt")));
    assert_non_null(strstr(err, "is a policy (LM head), not a reward/value model"));
    rm = reward_model_open(tpath("nothing.ckpt"), 4, err, sizeof err);
    assert_null(rm);
    assert_non_null(strstr(err, tpath("nothing.ckpt")));
    rm = reward_model_open(tpath("rm.ckpt"), 0, err, sizeof err);
    assert_null(rm);
    assert_non_null(strstr(err, "max_batch"));
}

/* The value at the last of len tokens, from a forward over that pair alone. */
static float value_alone(const Model *m, const int *tokens, int len) {
    ForwardState *s = forward_state_new(&m->cfg, 1, len);
    float v[MAX_LEN];
    model_forward_values(m, s, tokens, NULL, 1, len, v);
    forward_state_free(s);
    return v[len - 1];
}

enum { NPAIRS = 7 };
static const char *const prompts[NPAIRS] = {"1+2=", "12+34=", "7*8=", "a", "100-1=", "x", "9"};
static const char *const comps[NPAIRS] = {"3", "46 because 4+2=6 and 1+3=4", "56", "",
                                          "99", "a much longer completion than most", "9"};

static void test_score_matches_forward(void **st) {
    char err[1024];
    RewardModel *rm = reward_model_open(tpath("rm.ckpt"), 3, err, sizeof err);
    if (!rm) fail_msg("%s", err);
    const Model *m = reward_model_model(rm);
    const Tokenizer *tok = reward_model_tokenizer(rm);
    assert_int_equal(m->cfg.head, MODEL_HEAD_SCALAR);
    assert_int_equal(tok->vocab_size, 98);
    float got[NPAIRS];
    reward_model_score(rm, prompts, comps, NPAIRS, got);
    int seq[MAX_LEN];
    float lo = 1e30f, hi = -1e30f;
    for (int i = 0; i < NPAIRS; i++) {
        int len = reward_model_tokens(tok, prompts[i], comps[i], seq, MAX_LEN);
        assert_true(len > 0);
        float want = value_alone(m, seq, len);
        if (got[i] != want) fail_msg("pair %d: scored %.9g, forward %.9g", i, (double)got[i],
                                     (double)want);
        lo = got[i] < lo ? got[i] : lo;
        hi = got[i] > hi ? got[i] : hi;
    }
    assert_true(hi - lo > 1e-3); /* the pairs get different rewards: the test can see a mixup */
    reward_model_close(rm);
}

/* Bit-identical scores for each pair whatever the batch: alone, in
 * batches of 2, 3 and 7, reversed, and beside a pair longer than the
 * model (padded to the full max_seq_len). */
static void test_score_deterministic(void **st) {
    char err[1024];
    const char *long_comp = "0123456789012345678901234567890123456789012345";
    float alone[NPAIRS];
    for (int b = 1; b <= NPAIRS; b++) {
        if (b != 1 && b != 2 && b != 3 && b != NPAIRS) continue;
        RewardModel *rm = reward_model_open(tpath("rm.ckpt"), b, err, sizeof err);
        if (!rm) fail_msg("%s", err);
        float got[NPAIRS], rev[NPAIRS];
        if (b == 1)
            for (int i = 0; i < NPAIRS; i++)
                reward_model_score(rm, &prompts[i], &comps[i], 1, &alone[i]);
        reward_model_score(rm, prompts, comps, NPAIRS, got);
        const char *rp[NPAIRS], *rc[NPAIRS];
        for (int i = 0; i < NPAIRS; i++) {
            rp[i] = prompts[NPAIRS - 1 - i];
            rc[i] = comps[NPAIRS - 1 - i];
        }
        reward_model_score(rm, rp, rc, NPAIRS, rev);
        for (int i = 0; i < NPAIRS; i++) {
            if (got[i] != alone[i] || rev[NPAIRS - 1 - i] != alone[i])
                fail_msg("batch %d: pair %d scored %.9g / %.9g reversed, %.9g alone", b, i,
                         (double)got[i], (double)rev[NPAIRS - 1 - i], (double)alone[i]);
        }
        /* each pair beside one that fills the whole model */
        for (int i = 0; i < NPAIRS && b >= 2; i++) {
            const char *p2[2] = {"1+1=", prompts[i]}, *c2[2] = {long_comp, comps[i]};
            float two[2];
            reward_model_score(rm, p2, c2, 2, two);
            if (two[1] != alone[i])
                fail_msg("batch %d: pair %d beside a full-length one scored %.9g, alone %.9g", b,
                         i, (double)two[1], (double)alone[i]);
        }
        reward_model_close(rm);
    }
}

/* A pair longer than max_seq_len is scored at its max_seq_len-th token. */
static void test_score_too_long(void **st) {
    char err[1024];
    RewardModel *rm = reward_model_open(tpath("rm.ckpt"), 2, err, sizeof err);
    if (!rm) fail_msg("%s", err);
    const char *p = "1+1=", *c = "0123456789012345678901234567890123456789012345";
    int seq[128];
    int len = reward_model_tokens(reward_model_tokenizer(rm), p, c, seq, 128);
    assert_true(len > MAX_LEN);
    assert_int_equal(reward_model_tokens(reward_model_tokenizer(rm), p, c, seq, MAX_LEN), -1);
    float want = value_alone(reward_model_model(rm), seq, MAX_LEN), got;
    reward_model_score(rm, &p, &c, 1, &got);
    assert_true(got == want);
    reward_model_close(rm);
}

int main(void) {
    blas_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_open_refusals),
        cmocka_unit_test(test_score_matches_forward),
        cmocka_unit_test(test_score_deterministic),
        cmocka_unit_test(test_score_too_long),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
