/* test_ppo_step.c: learner_step with [grpo] algo = ppo (ppo_step.h) on a
 * tiny policy and a value model made from it (model_swap_head):
 *   - the value model learns: on a fixed batch (the policy held still by
 *     lr = 0) the value loss falls below a fifth and the explained
 *     variance rises from 0 (a zero head) past 0.5 over 40 steps;
 *   - the indexing of values against tokens: with gamma = lam = 1,
 *     whiten = 0 and beta = 0 every token's advantage is R - V_old(t),
 *     with V_old(t) the value model's output at the position scoring o_t
 *     computed here on its own (batch_index), and samples.jsonl's
 *     per-completion advantage is their mean;
 *   - KL in the reward: with beta > 0 and kl_mode = reward the advantages
 *     are GAE of -beta k1 plus R at the last token (ppo_token_rewards);
 *     with kl_mode = loss the rewards are R alone and the KL is k3 in the
 *     loss;
 *   - groups of one completion (plain PPO); the value model from a policy
 *     (zero head) or a reward model (its head), a too-short one refused;
 *     [ppo] keys that cannot work together refused by name;
 *   - the GRPO path is unchanged: a per-token advantage array holding each
 *     sequence's advantage gives grpo_loss_compute's weights bit for bit;
 *   - resume: a run checkpointed after step 2 (run_state.c: the value
 *     model, its AdamW, the adaptive KL controller) and resumed gives
 *     policy, value model, both AdamW states and beta bit-identical to
 *     the uninterrupted run after step 4; a GRPO checkpoint does not
 *     resume a PPO run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "checkpoint.h"
#include "blas_setup.h"
#include "config.h"
#include "gae.h"
#include "grpo_loss.h"
#include "grpo_step.h"
#include "model.h"
#include "plan.h"
#include "ppo_rewards.h"
#include "ppo_step.h"
#include "rng.h"
#include "run_settings.h"
#include "run_state.h"
#include "sampling.h"
#include "sections.h"
#include "tokenizer.h"
#include "util.h"
#include "test_learner_common.h"
#include "wire.h"

enum { V = 98, MAXG = 2, MAXC = 4 }; /* V: the character tokenizer's */

static char root[256]; /* this run's scratch directory (setup) */

static ModelConfig tiny_model(void) { return learner_test_model(V, 12); }

static void init_model(Model *m, uint64_t seed) {
    ModelConfig c = tiny_model();
    learner_test_init(m, &c, seed);
}

static void set(Config *c, const char *kv) {
    char err[400];
    if (config_set(c, kv, err, sizeof err) != 0) fail_msg("%s: %s", kv, err);
}

static Config *ppo_config(void) {
    Config *c = grpo_config_new();
    const char *kvs[] = {"grpo.algo=ppo", "grpo.prompts_per_step=2", "grpo.group_size=2",
                         "sampler.max_new_tokens=4", "grpo.beta=0", "sampler.temperature=1",
                         "grpo.steps=40", "grpo.lr=0", "grpo.lr_min=0", "grpo.grad_clip=0",
                         "ppo.value_lr=1e-2", "ppo.value_lr_min=1e-2", "grpo.micro_batches=1"};
    for (size_t i = 0; i < sizeof kvs / sizeof *kvs; i++) set(c, kvs[i]);
    return c;
}

static const SampleDist full_t1 = {1.0f, 0, 1.0f, LOGPROB_FULL};

/* The value model's V(t) of completion token j, read at the position that
 * scores it, computed alone (one row, its own batch). */
static void token_values(const Model *value, const int *prompt, const int *comp, int clen,
                         float *out) {
    SeqBatch b;
    batch_init(&b, 1, value->cfg.max_seq_len);
    batch_add(&b, prompt, 3, comp, clen);
    batch_layout(&b);
    ForwardState *fs = forward_state_new(&value->cfg, 1, b.T);
    float v[16];
    model_forward_values(value, fs, b.tokens, NULL, 1, b.T, v);
    for (int j = 0; j < clen; j++) out[j] = v[batch_index(&b, 0, j)];
    forward_state_free(fs);
    batch_free(&b);
}

/* Group of the first G completions of s. */
static void make_group_of(Group *g, const Spec *s, int G, uint64_t seq_no,
                          const Model *behaviour) {
    spec_group(g, s, G, seq_no, behaviour, &full_t1, NULL);
}

static void make_group(Group *g, const Spec *s, uint64_t seq_no, const Model *behaviour) {
    make_group_of(g, s, MAXG, seq_no, behaviour);
}

/* A PPO learner: policy, reference, value model from the policy. */
typedef struct {
    Config *cfg;
    Model policy, ref, value;
    Learner L;
    Group g[2];
} Fx;

/* head_scale != 0: the scalar head's weights and bias N(0, head_scale),
 * so the values differ between positions from the start. */
static void fx_init(Fx *f, const Config *cfg, float head_scale, float ref_scale) {
    memset(f, 0, sizeof *f);
    f->cfg = config_new_like(cfg);
    config_copy(f->cfg, cfg);
    init_model(&f->policy, 42);
    init_model(&f->ref, 42);
    for (size_t i = 0; i < f->ref.n_params; i++) f->ref.params[i] *= ref_scale;
    model_alloc_grads(&f->policy);
    model_swap_head(&f->value, &f->policy, MODEL_HEAD_SCALAR);
    assert_int_equal(f->value.cfg.head, MODEL_HEAD_SCALAR);
    if (head_scale != 0) {
        Rng r;
        rng_seed(&r, 9, 1);
        for (int i = 0; i <= f->value.cfg.dim; i++)
            f->value.w.wcls[i] = head_scale * rng_normal(&r);
    }
    model_alloc_grads(&f->value);
    learner_init(&f->L, &f->policy, &f->ref, f->cfg);
    ppo_attach(&f->L, &f->value, f->cfg);
    make_group(&f->g[0], &spec_a, 0, &f->policy);
    make_group(&f->g[1], &spec_b, 1, &f->policy);
}

static void fx_free(Fx *f) {
    for (int i = 0; i < 2; i++) group_free(&f->g[i]);
    learner_free(&f->L);
    config_free(f->cfg);
    model_free(&f->policy);
    model_free(&f->ref);
    model_free(&f->value);
}

static const Spec *const specs[2] = {&spec_a, &spec_b};

/* ---- the value model learns ---------------------------------------------- */

static void test_value_loss_falls_explained_variance_rises(void **state) {
    (void)state;
    Config *cfg = ppo_config();
    Fx f;
    fx_init(&f, cfg, 0, 1.0f);
    float *p0 = xmalloc(sizeof(float) * f.policy.n_params);
    memcpy(p0, f.policy.params, sizeof(float) * f.policy.n_params);
    StepMetrics m, first = {0};
    for (int s = 0; s < 40; s++) {
        assert_int_equal(learner_step(&f.L, f.g, 2, (uint64_t)s, &m), 0);
        if (s == 0) first = m;
        if (s % 8 == 0 || s == 39)
            printf("  step %2d: value loss %.5f, explained variance %.4f, return mean %.4f, "
                   "value clip %.3f\n", s + 1, m.value_loss, m.explained_variance,
                   m.return_mean, m.value_clip_frac);
    }
    assert_int_equal(first.ppo, 1);
    /* a zero head: V_old = 0 everywhere, no better than the mean */
    assert_true(fabs(first.explained_variance) < 1e-6);
    assert_true(m.value_loss < 0.2 * first.value_loss);
    /* not 1: V(0) of a prompt's completions is read at the same position
     * (the prompt's last token), which cannot tell them apart */
    assert_true(m.explained_variance > 0.5);
    assert_int_equal(f.L.ppo->opt.t, 40); /* one value update per minibatch */
    /* the policy at lr = 0 did not move: the batch stayed on-policy */
    assert_memory_equal(p0, f.policy.params, sizeof(float) * f.policy.n_params);
    xfree(p0);
    fx_free(&f);
    config_free(cfg);
}

/* ---- advantages, token by token -------------------------------------------- */

static void test_monte_carlo_advantages_are_r_minus_v_old(void **state) {
    (void)state;
    Config *cfg = ppo_config();
    set(cfg, "ppo.gamma=1");
    set(cfg, "ppo.lam=1");
    set(cfg, "ppo.whiten=0");
    Fx f;
    fx_init(&f, cfg, 0.5f, 1.0f);
    /* V_old comes from the value model before the step's update: keep a copy */
    Model v0;
    model_init(&v0, &f.value.cfg);
    memcpy(v0.params, f.value.params, sizeof(float) * f.value.n_params);
    StepMetrics m;
    learner_step(&f.L, f.g, 2, 0, &m);
    const struct PpoState *p = f.L.ppo;
    long t = 0;
    double max_err = 0, sum = 0;
    for (int i = 0; i < 2; i++) {
        const Group *g;
        const float *row_adv = learner_batch_group(&f.L, i, &g);
        for (int k = 0; k < MAXG; k++) {
            const Spec *s = specs[i];
            float v[MAXC];
            token_values(&v0, s->prompt, s->comp[k], s->len[k], v);
            double mean = 0;
            for (int j = 0; j < s->len[k]; j++, t++) {
                const double want = s->reward[k] - v[j];
                max_err = fmax(max_err, fabs(p->v_old[t] - v[j]));
                max_err = fmax(max_err, fabs(p->adv[t] - want));
                assert_true(fabs(p->ret[t] - s->reward[k]) < 1e-6); /* MC return = R */
                mean += p->adv[t];
                sum += p->adv[t];
            }
            mean /= s->len[k];
            assert_true(fabs(row_adv[k] - mean) < 1e-6);
        }
    }
    printf("  %ld tokens: max |V_old - V alone|, |A - (R - V_old)| = %.3g\n", t, max_err);
    assert_true(max_err < 1e-5);
    assert_true(fabs(m.adv_mean - sum / t) < 1e-6);
    assert_true(m.value_loss > 0);
    model_free(&v0);
    fx_free(&f);
    config_free(cfg);
}

/* Groups of one completion (ordinary PPO): the advantages are still
 * R - V_old per token; the group plays no part. */
static void test_groups_of_one(void **state) {
    (void)state;
    Config *cfg = ppo_config();
    const char *kvs[] = {"grpo.group_size=1", "ppo.gamma=1", "ppo.lam=1", "ppo.whiten=0"};
    for (size_t i = 0; i < sizeof kvs / sizeof *kvs; i++) set(cfg, kvs[i]);
    Fx f;
    fx_init(&f, cfg, 0.5f, 1.0f);
    Group g[2];
    make_group_of(&g[0], &spec_a, 1, 0, &f.policy); /* reward 1 */
    make_group_of(&g[1], &spec_b, 1, 1, &f.policy); /* reward 0 */
    StepMetrics m;
    assert_int_equal(learner_step(&f.L, g, 2, 0, &m), 0);
    const struct PpoState *p = f.L.ppo;
    long t = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < specs[i]->len[0]; j++, t++)
            assert_true(fabsf(p->adv[t] - (specs[i]->reward[0] - p->v_old[t])) < 1e-6f);
    printf("  G = 1: %ld tokens, zero-variance groups %.2f, advantage mean %.4f\n", t,
           m.zero_var_frac, m.adv_mean);
    assert_true(m.zero_var_frac == 1.0); /* no GRPO signal, but PPO's advantages move */
    assert_true(m.adv_std > 0);
    for (int i = 0; i < 2; i++) group_free(&g[i]);
    fx_free(&f);
    config_free(cfg);
}

/* ppo_value_load: from a policy checkpoint the trunk and a zero head;
 * from a scalar checkpoint (a reward model) its head as it is. */
static void test_value_model_from_policy_or_reward_model(void **state) {
    (void)state;
    Config *cfg = ppo_config();
    Tokenizer tok;
    tokenizer_init_char(&tok);
    Model pol, rm, v;
    init_model(&pol, 42);
    model_swap_head(&rm, &pol, MODEL_HEAD_SCALAR);
    for (int i = 0; i <= rm.cfg.dim; i++) rm.w.wcls[i] = 0.01f * (float)(i + 1);
    char pp[300], rp[300], used[300], err[600];
    snprintf(pp, sizeof pp, "%s/policy.ckpt", root);
    snprintf(rp, sizeof rp, "%s/rm.ckpt", root);
    const Model *ms[2] = {&pol, &rm};
    const char *ps[2] = {pp, rp};
    for (int i = 0; i < 2; i++) {
        Checkpoint ck;
        ckpt_init(&ck);
        ckpt_put_model(&ck, ms[i], &tok);
        if (ckpt_write(&ck, ps[i], err, sizeof err) != 0) fail_msg("%s", err);
        ckpt_free(&ck);
    }
    /* "" = the policy's start */
    assert_int_equal(ppo_value_load(cfg, pp, &tok, &pol.cfg, &v, used, sizeof used, err,
                                    sizeof err), 0);
    assert_string_equal(used, pp);
    assert_int_equal(v.cfg.head, MODEL_HEAD_SCALAR);
    assert_non_null(v.grads);
    for (int i = 0; i <= v.cfg.dim; i++) assert_true(v.w.wcls[i] == 0.0f);
    assert_memory_equal(v.params, pol.params, sizeof(float) * (size_t)(pol.w.wcls - pol.params));
    model_free(&v);
    char kv[400];
    snprintf(kv, sizeof kv, "ppo.value_init=%s", rp);
    set(cfg, kv);
    assert_int_equal(ppo_value_load(cfg, pp, &tok, &pol.cfg, &v, used, sizeof used, err,
                                    sizeof err), 0);
    assert_string_equal(used, rp);
    assert_memory_equal(v.params, rm.params, sizeof(float) * rm.n_params);
    model_free(&v);
    /* a value model that cannot see the policy's whole sequences is refused */
    ModelConfig shortc = tiny_model();
    shortc.max_seq_len = 6;
    Model sh, shv;
    model_init(&sh, &shortc);
    model_init_weights(&sh, 1);
    model_swap_head(&shv, &sh, MODEL_HEAD_SCALAR);
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, &shv, &tok);
    if (ckpt_write(&ck, rp, err, sizeof err) != 0) fail_msg("%s", err);
    ckpt_free(&ck);
    assert_int_equal(ppo_value_load(cfg, pp, &tok, &pol.cfg, &v, used, sizeof used, err,
                                    sizeof err), -1);
    printf("  %s\n", err);
    assert_non_null(strstr(err, "max_seq_len 6 is shorter than the policy's 12"));
    model_free(&sh);
    model_free(&shv);
    model_free(&pol);
    model_free(&rm);
    tokenizer_free(&tok);
    config_free(cfg);
}

/* [ppo] keys that cannot work together are refused, naming them; the
 * same keys with algo = grpo are not read at all. */
static void test_settings_refused(void **state) {
    (void)state;
    const char *bad[][4] = {
        {"ppo.kl_target=0.5", "grpo.beta=0", "grpo.beta=0",
         "[ppo] kl_target = 0.5 needs a starting [grpo] beta"},
        {"ppo.kl_target=0.5", "ppo.kl_horizon=2", "grpo.group_size=8",
         "[ppo] kl_horizon = 2 is too short for 16 completions per step"},
        {"ppo.value_lr=1e-4", "ppo.value_lr_min=1e-3", "ppo.value_lr_min=1e-3",
         "[ppo] value_lr_min = 0.001 must not exceed value_lr = 0.0001"},
    };
    char err[600];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        Config *cfg = ppo_config();
        set(cfg, "grpo.beta=0.1");
        for (int k = 0; k < 3; k++) set(cfg, bad[i][k]);
        assert_int_equal(config_validate(cfg, err, sizeof err), -1);
        printf("  %s %s %s: %s\n", bad[i][0], bad[i][1], bad[i][2], err);
        if (!strstr(err, bad[i][3])) fail_msg("%s", err);
        set(cfg, "grpo.algo=grpo");
        if (config_validate(cfg, err, sizeof err) != 0) fail_msg("algo = grpo: %s", err);
        config_free(cfg);
    }
}

/* beta > 0, kl_mode = reward: the KL goes into the per-token rewards. */
static void test_kl_in_the_reward(void **state) {
    (void)state;
    Config *cfg = ppo_config();
    set(cfg, "grpo.beta=0.1");
    set(cfg, "ppo.whiten=0");
    Fx f;
    fx_init(&f, cfg, 0.5f, 0.9f);
    StepMetrics m;
    learner_step(&f.L, f.g, 2, 0, &m);
    const struct PpoState *p = f.L.ppo;
    /* by hand from the learner's own log-probs and values */
    int len[4];
    float score[4];
    long n = 0;
    for (int r = 0; r < 4; r++) {
        len[r] = specs[r / 2]->len[r % 2];
        score[r] = specs[r / 2]->reward[r % 2];
        n += len[r];
    }
    float rew[16], adv[16], ret[16];
    ppo_token_rewards(rew, NULL, f.L.cur, f.L.refp, score, 0.1, len, 4);
    gae_compute(adv, ret, rew, p->v_old, len, 4, 1.0, 0.95);
    double kl = 0;
    for (long t = 0; t < n; t++) {
        assert_true(fabsf(rew[t] - p->rew[t]) < 1e-7f);
        assert_true(fabsf(adv[t] - p->adv[t]) < 1e-6f);
        kl += fabsf(f.L.cur[t] - f.L.refp[t]);
    }
    printf("  beta 0.1: sum |k1| = %.4f, KL per sequence %.4f, beta used %.3g\n", kl, m.kl_seq,
           m.beta);
    assert_true(kl > 1e-3); /* the reference differs: the test means something */
    assert_true(m.beta == (double)0.1f);
    fx_free(&f);
    /* kl_mode = loss: the rewards are R alone at the last token; the KL is
     * GRPO's k3 in the loss (measured: kl > 0) */
    set(cfg, "ppo.kl_mode=loss");
    fx_init(&f, cfg, 0.5f, 0.9f);
    learner_step(&f.L, f.g, 2, 0, &m);
    for (int r = 0, t = 0; r < 4; r++)
        for (int j = 0; j < len[r]; j++, t++)
            assert_true(f.L.ppo->rew[t] == (j == len[r] - 1 ? score[r] : 0.0f));
    printf("  kl_mode = loss: k3 per token %.4f in the loss\n", m.kl);
    assert_true(m.kl > 1e-4);
    fx_free(&f);
    config_free(cfg);
}

/* ---- GRPO unchanged ---------------------------------------------------------- */

static void test_broadcast_token_advantages_equal_grpo(void **state) {
    (void)state;
    const float logp[7] = {-1.0f, -0.5f, -2.0f, -0.1f, -0.7f, -0.3f, -1.2f};
    const float old[7] = {-1.1f, -0.4f, -2.0f, -0.3f, -0.6f, -0.3f, -1.0f};
    const float ref[7] = {-1.2f, -0.5f, -1.5f, -0.3f, -0.6f, -0.2f, -1.1f};
    const float adv[2] = {0.7f, -0.7f};
    const int len[2] = {4, 3};
    float tok[7], w1[7], w2[7];
    for (int t = 0; t < 7; t++) tok[t] = adv[t < 4 ? 0 : 1];
    GrpoLossConfig gl = grpo_loss_config_defaults();
    GrpoLossStats s1, s2;
    grpo_loss_compute(w1, &s1, &gl, logp, old, ref, adv, len, 2);
    gl.adv_tok = tok;
    grpo_loss_compute(w2, &s2, &gl, logp, old, ref, NULL, len, 2);
    assert_memory_equal(w1, w2, sizeof w1);
    assert_true(s1.objective == s2.objective && s1.clip_frac_high == s2.clip_frac_high);
    /* PPO clips as GRPO does */
    gl.algo = ALGO_PPO;
    grpo_loss_compute(w2, &s2, &gl, logp, old, ref, NULL, len, 2);
    assert_memory_equal(w1, w2, sizeof w1);
    assert_string_equal(pg_algo_name(ALGO_PPO), "ppo");
    assert_int_equal(pg_algo_parse("ppo"), ALGO_PPO);
}

/* ---- resume ---------------------------------------------------------------- */


static void save_at(Fx *f, Tokenizer *tok, RunState *rs) {
    char err[900];
    rs->step = f->L.step;
    rs->version = (uint64_t)f->L.step;
    rs->n_ranks = 1;
    rs->ppo = f->L.ppo;
    if (run_checkpoint_save(run_settings(f->cfg)->dir, 3, &f->policy, tok, &f->L.opt, rs, f->cfg,
                            err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void test_resume_is_bit_exact(void **state) {
    (void)state;
    Config *cfg = ppo_config();
    char dir[300], kv[400];
    snprintf(dir, sizeof dir, "%s/resume", root);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(kv, sizeof kv, "run.dir=%s", dir);
    set(cfg, kv);
    /* the policy moves, the KL to the reference is adaptive */
    const char *kvs[] = {"grpo.lr=1e-3", "grpo.lr_min=1e-4", "grpo.beta=0.05",
                         "ppo.kl_target=0.01", "ppo.kl_horizon=100", "grpo.inner_epochs=2",
                         "grpo.minibatches=2"};
    for (size_t i = 0; i < sizeof kvs / sizeof *kvs; i++) set(cfg, kvs[i]);
    Tokenizer tok;
    tokenizer_init_char(&tok);
    Fx a, b;
    StepMetrics m;
    fx_init(&a, cfg, 0.3f, 0.9f);
    RunState rs = {0};
    for (int s = 0; s < 4; s++) {
        learner_step(&a.L, a.g, 2, (uint64_t)s, &m);
        if (s == 1) save_at(&a, &tok, &rs);
    }
    printf("  straight: beta %.6g -> %.6g after 4 steps (KL per sequence %.4g)\n", 0.05,
           a.L.ppo->beta, m.kl_seq);
    assert_true(a.L.ppo->beta != (double)0.05f); /* the controller moved it */
    /* a fresh learner, resumed from step 2 */
    fx_init(&b, cfg, 0.3f, 0.9f);
    RunState rb = {0};
    rb.ppo = b.L.ppo;
    Config *saved = config_new_like(cfg);
    char path[600], err[900];
    assert_int_equal(run_checkpoint_resume(dir, 0, &b.policy, &b.L.opt, &rb, saved, path,
                                           sizeof path, err, sizeof err),
                     RESUME_LOADED);
    assert_int_equal(rb.step, 2);
    b.L.step = rb.step;
    b.L.opt_steps = b.L.opt.t;
    for (int s = 2; s < 4; s++) learner_step(&b.L, b.g, 2, (uint64_t)s, &m);
    assert_memory_equal(a.policy.params, b.policy.params, sizeof(float) * a.policy.n_params);
    assert_memory_equal(a.value.params, b.value.params, sizeof(float) * a.value.n_params);
    assert_memory_equal(a.L.opt.m, b.L.opt.m, sizeof(float) * a.policy.n_params);
    assert_memory_equal(a.L.ppo->opt.v, b.L.ppo->opt.v, sizeof(float) * a.value.n_params);
    assert_int_equal(a.L.ppo->opt.t, b.L.ppo->opt.t);
    assert_true(a.L.ppo->beta == b.L.ppo->beta);
    fx_free(&b);
    /* a GRPO checkpoint (no value model) does not resume a PPO run */
    char gdir[300];
    snprintf(gdir, sizeof gdir, "%s/grpo", root);
    assert_int_equal(mkdir(gdir, 0755), 0);
    snprintf(kv, sizeof kv, "run.dir=%s", gdir);
    set(a.cfg, kv);
    RunState rg = {0};
    rg.step = 1;
    rg.n_ranks = 1;
    if (run_checkpoint_save(gdir, 3, &a.policy, &tok, &a.L.opt, &rg, a.cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    fx_init(&b, cfg, 0.3f, 0.9f);
    RunState rb2 = {0};
    rb2.ppo = b.L.ppo;
    assert_int_equal(run_checkpoint_resume(gdir, 0, &b.policy, &b.L.opt, &rb2, saved, path,
                                           sizeof path, err, sizeof err),
                     RESUME_REFUSED);
    printf("  a GRPO checkpoint: %s\n", err);
    assert_non_null(strstr(err, "not a PPO training checkpoint"));
    fx_free(&b);
    config_free(saved);
    tokenizer_free(&tok);
    fx_free(&a);
    config_free(cfg);
}

static int setup(void **state) {
    (void)state;
    snprintf(root, sizeof root, "/tmp/test_ppo_step_%d", (int)getpid());
    return mkdir(root, 0755);
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    blas_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_loss_falls_explained_variance_rises),
        cmocka_unit_test(test_monte_carlo_advantages_are_r_minus_v_old),
        cmocka_unit_test(test_groups_of_one),
        cmocka_unit_test(test_value_model_from_policy_or_reward_model),
        cmocka_unit_test(test_settings_refused),
        cmocka_unit_test(test_kl_in_the_reward),
        cmocka_unit_test(test_broadcast_token_advantages_equal_grpo),
        cmocka_unit_test(test_resume_is_bit_exact),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
