/* test_scorer.c: the [reward] scorers and the hybrid reward: parsing of
 * the key, the length scorer's values, the gate under GRPO's group
 * advantages (an all-wrong group gets no push whatever its lengths; among
 * correct completions the shorter wins; correct always beats wrong), and
 * one `mpirun -np 2 grpo train reward.scorers=length:0.1` whose
 * metrics.jsonl carries the length component, then with rm:PATH (every
 * value sigmoid(3) from a head w = 0, b = 3); rm:PATH on a small scalar
 * checkpoint the test writes (sigmoid of the raw reward, a worked value,
 * and the refusals of a missing file and a policy checkpoint). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_shell.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "grpo_loss.h"
#include "reward_mix.h"
#include "reward_model.h"
#include "rng.h"
#include "scorer.h"
#include "sections.h"
#include "task.h"

static ScorerSet parse_ok(const char *list) {
    ScorerSet s;
    char err[512] = "";
    if (scorer_set_parse(list, &s, err, sizeof err) != 0) fail_msg("'%s': %s", list, err);
    return s;
}

/* Parsing list fails with an error containing each of the NULL-ended
 * wants. */
static void parse_bad(const char *list, ...) {
    ScorerSet s;
    char err[512] = "";
    if (scorer_set_parse(list, &s, err, sizeof err) == 0) fail_msg("'%s' was accepted", list);
    assert_int_equal(s.n, 0);
    va_list ap;
    va_start(ap, list);
    for (const char *w; (w = va_arg(ap, const char *));)
        if (!strstr(err, w)) fail_msg("'%s': error '%s' lacks '%s'", list, err, w);
    va_end(ap);
}

static void test_parse_good(void **st) {
    (void)st;
    assert_int_equal(parse_ok("").n, 0);
    assert_int_equal(parse_ok("  ").n, 0);
    ScorerSet s = parse_ok("length:0.1");
    assert_int_equal(s.n, 1);
    assert_string_equal(s.s[0].name, "length");
    assert_string_equal(s.s[0].arg, "");
    assert_float_equal(s.s[0].weight, 0.1f, 1e-7);
    assert_int_equal(s.opened, 0);
    assert_null(s.s[0].ctx);
    /* blanks around an entry; weight 0 reports the value without training on it */
    s = parse_ok(" length:0 ");
    assert_int_equal(s.n, 1);
    assert_true(s.s[0].weight == 0.0f);
    s = parse_ok("length:1e-1");
    assert_float_equal(s.s[0].weight, 0.1f, 1e-7);
    /* the path may hold ':'; parsing never reads it (the learner only needs names) */
    s = parse_ok("length:0.1, rm:/no/such/dir:x/rm.ckpt:0.5");
    assert_int_equal(s.n, 2);
    assert_string_equal(s.s[1].name, "rm");
    assert_string_equal(s.s[1].arg, "/no/such/dir:x/rm.ckpt");
    assert_float_equal(s.s[1].weight, 0.5f, 1e-7);
}

static void test_parse_bad(void **st) {
    (void)st;
    parse_bad("foo:0.1", "[reward] scorers", "'foo:0.1'", "unknown scorer 'foo'", NULL);
    parse_bad("length:0.1,lenght:0.2", "'lenght:0.2'", "unknown scorer 'lenght'", NULL);
    parse_bad("length:abc", "[reward] scorers", "'length:abc'",
              "weight 'abc' is not a finite number", NULL);
    parse_bad("length:", "weight '' is not", NULL);
    parse_bad("length:0.1x", "weight '0.1x'", NULL);
    parse_bad("length:inf", "weight 'inf'", NULL);
    parse_bad("length:nan", "weight 'nan'", NULL);
    parse_bad("length:-0.5", "[reward] scorers", "'length:-0.5'", "negative", NULL);
    parse_bad("length:0.1,length:0.2", "'length:0.2'", "listed twice", NULL);
    parse_bad("length", "'length'", "no weight", NULL);
    parse_bad("length:x:0.1", "takes no argument", NULL);
    parse_bad("length:0.1,", "an empty entry", NULL);
    parse_bad(",length:0.1", "an empty entry", NULL);
    /* rm takes its checkpoint's path */
    parse_bad("rm:0.5", "'rm:0.5'", "scorer 'rm' needs an argument", NULL);
    parse_bad("rm:a.ckpt:0.1,rm:b.ckpt:0.2", "listed twice", NULL);
}

/* The key is checked when the config is, naming section, key and entry. */
static void test_key_in_config(void **st) {
    (void)st;
    Config *c = grpo_config_new();
    char err[1024] = "";
    assert_string_equal(reward_settings(c)->scorers, "");
    assert_int_equal(config_set(c, "reward.scorers=length:0.1", err, sizeof err), 0);
    assert_int_equal(config_validate(c, err, sizeof err), 0);
    assert_int_equal(config_set(c, "reward.scorers=length:-1", err, sizeof err), 0);
    assert_int_not_equal(config_validate(c, err, sizeof err), 0);
    assert_non_null(strstr(err, "[reward] scorers entry 'length:-1'"));
    config_free(c);
}

/* An open set of list under [sampler] max_new_tokens = max_new. */
static Config *cfg_with(int max_new, const char *list, ScorerSet *s) {
    Config *c = grpo_config_new();
    char a[64], err[512] = "";
    snprintf(a, sizeof a, "sampler.max_new_tokens=%d", max_new);
    if (config_set(c, a, err, sizeof err) != 0) fail_msg("%s", err);
    *s = parse_ok(list);
    if (scorer_set_open(s, c, err, sizeof err) != 0) fail_msg("open: %s", err);
    return c;
}

static void test_length_values(void **st) {
    (void)st;
    ScorerSet s;
    Config *c = cfg_with(20, "length:0.1", &s);
    int tok[32] = {0};
    const int n[] = {0, 1, 5, 10, 19, 20, 25};
    const float want[] = {1.0f, 0.95f, 0.75f, 0.5f, 0.05f, 0.0f, 0.0f};
    for (int i = 0; i < 7; i++)
        assert_float_equal(scorer_value(&s, 0, "1+2=", "3", tok, n[i], 1), want[i], 1e-6);
    /* the value counts tokens, whatever the text and the finish */
    assert_float_equal(scorer_value(&s, 0, "1+2=", "a much longer text", tok, 5, 0), 0.75f, 1e-6);
    scorer_set_close(&s);
    assert_int_equal(s.opened, 0);
    assert_int_equal(s.n, 1); /* names and weights stay for the metrics */
    config_free(c);
}

/* 472+385 = 857: arith writes it least-significant digit first, arith_cot
 * in the R1 template; the wrong one answers 847 */
#define COT_RIGHT "<think>2+5+0=07 7+8+0=15 4+3+1=08 =857</think><answer>857</answer>"
#define COT_WRONG "<think>2+5+0=07 7+8+0=15 4+3+1=08 =847</think><answer>847</answer>"

static Task *make_task(const char *name) {
    TaskParams p;
    task_params_default(&p);
    char err[512] = "";
    Task *t = task_create(name, &p, 1, err, sizeof err);
    if (!t) fail_msg("task_create(%s): %s", name, err);
    return t;
}

static void item_of(const char *prompt, const char *answer, TaskItem *it) {
    memset(it, 0, sizeof *it);
    snprintf(it->prompt, sizeof it->prompt, "%s", prompt);
    snprintf(it->answer, sizeof it->answer, "%s", answer);
    it->id = task_item_id(prompt);
}

static void test_components_and_names(void **st) {
    (void)st;
    ScorerSet s;
    Config *c = cfg_with(20, "length:0.5", &s);
    Task *t = make_task("arith");
    TaskItem it;
    item_of("12+34=", "46", &it); /* written least-significant digit first: 64 */
    int tok[8] = {0};
    Reward plain, mixed;
    t->verify(t, &it, "64", 1, &plain);
    reward_mix_score(t, &s, &it, "64", tok, 3, 1, &mixed);
    assert_int_equal(mixed.n, t->n_components + 1);
    for (int q = 0; q < t->n_components; q++) assert_true(mixed.value[q] == plain.value[q]);
    assert_float_equal(mixed.value[t->n_components], 0.85f, 1e-6);
    assert_float_equal(mixed.total, plain.total + 0.5f * 0.85f, 1e-6);
    assert_int_equal(mixed.correct, plain.correct);
    /* wrong: the length is reported, the total is the verifier's */
    t->verify(t, &it, "65", 1, &plain);
    reward_mix_score(t, &s, &it, "65", tok, 3, 1, &mixed);
    assert_float_equal(mixed.value[t->n_components], 0.85f, 1e-6);
    assert_true(mixed.total == plain.total);
    /* no scorers: the verifier's reward exactly */
    reward_mix_score(t, NULL, &it, "64", tok, 3, 1, &mixed);
    t->verify(t, &it, "64", 1, &plain);
    assert_memory_equal(&mixed, &plain, sizeof plain);
    const char *names[REWARD_MAX_COMPONENTS];
    assert_int_equal(reward_mix_names(t, &s, names), 3);
    assert_string_equal(names[0], "accuracy");
    assert_string_equal(names[1], "format");
    assert_string_equal(names[2], "length");
    assert_int_equal(reward_mix_names(t, NULL, names), 2);
    t->destroy(t);
    scorer_set_close(&s);
    config_free(c);
}

/* ---- rm:PATH ---- */

/* Writes a small reward model (scalar head, character tokenizer) to path;
 * bias >= 0 with zero_w makes every value exactly that bias. */
static void write_rm(const char *path, int head, int zero_w, float bias) {
    ModelConfig c = {.vocab_size = 98, .dim = 16, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1,
                     .hidden_dim = 32, .max_seq_len = 32, .tied_embeddings = 0,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f, .head = head};
    Model m;
    Tokenizer tok;
    tokenizer_init_char(&tok);
    model_init(&m, &c);
    model_init_weights(&m, 21);
    if (head == MODEL_HEAD_SCALAR) {
        Rng r;
        rng_seed(&r, 4, 4);
        for (int j = 0; j < c.dim; j++) m.w.wcls[j] = zero_w ? 0.0f : rng_normal(&r);
        m.w.wcls[c.dim] = bias;
    }
    Checkpoint ck;
    char err[512];
    ckpt_init(&ck);
    ckpt_put_model(&ck, &m, &tok);
    if (ckpt_write(&ck, path, err, sizeof err)) fail_msg("%s", err);
    ckpt_free(&ck);
    model_free(&m);
}

static void rm_paths(char *rm, char *flat, char *policy, size_t cap) {
    snprintf(rm, cap, "/tmp/grpo_test_scorer_rm_%d.ckpt", (int)getpid());
    snprintf(flat, cap, "/tmp/grpo_test_scorer_flat_%d.ckpt", (int)getpid());
    snprintf(policy, cap, "/tmp/grpo_test_scorer_policy_%d.ckpt", (int)getpid());
}

/* rm:PATH scores sigmoid(raw reward): w = 0, b = 3 gives sigmoid(3) =
 * 0.95257413 for any completion; a trained-looking head gives
 * sigmoid(reward_model_score) exactly, differing between completions; the
 * component rides in the mixed reward like length's. */
static void test_rm_values(void **st) {
    (void)st;
    char rm[128], flat[128], policy[128], list[400];
    rm_paths(rm, flat, policy, sizeof rm);
    write_rm(rm, MODEL_HEAD_SCALAR, 0, 0.0f);
    write_rm(flat, MODEL_HEAD_SCALAR, 1, 3.0f);
    int tok[8] = {0};

    ScorerSet s;
    snprintf(list, sizeof list, "rm:%s:1", flat);
    Config *c = cfg_with(20, list, &s);
    assert_float_equal(scorer_value(&s, 0, "1+2=", "3", tok, 2, 1), 0.95257413f, 1e-6);
    assert_float_equal(scorer_value(&s, 0, "7*8=", "a longer one", tok, 8, 0), 0.95257413f, 1e-6);
    scorer_set_close(&s);
    config_free(c);

    snprintf(list, sizeof list, "length:0.1,rm:%s:0.5", rm);
    c = cfg_with(20, list, &s);
    char err[512];
    RewardModel *direct = reward_model_open(rm, 1, err, sizeof err);
    if (!direct) fail_msg("%s", err);
    const char *prompts[3] = {"12+34=", "12+34=", "12+34="}, *comps[3] = {"64", "65", "no idea"};
    float raw[3], v[3];
    reward_model_score(direct, prompts, comps, 3, raw);
    for (int i = 0; i < 3; i++) {
        v[i] = scorer_value(&s, 1, prompts[i], comps[i], tok, 3, 1);
        assert_float_equal(v[i], 1.0 / (1.0 + exp(-(double)raw[i])), 1e-7);
        assert_true(v[i] > 0 && v[i] < 1);
    }
    assert_true(v[0] != v[1] && v[1] != v[2]);
    reward_model_close(direct);

    Task *t = make_task("arith");
    TaskItem it;
    item_of("12+34=", "46", &it);
    Reward plain, mixed;
    t->verify(t, &it, "64", 1, &plain);
    reward_mix_score(t, &s, &it, "64", tok, 3, 1, &mixed);
    assert_int_equal(mixed.n, t->n_components + 2);
    assert_float_equal(mixed.value[t->n_components + 1], v[0], 1e-7);
    assert_float_equal(mixed.total, plain.total + 0.1f * 0.85f + 0.5f * v[0], 1e-6);
    const char *names[REWARD_MAX_COMPONENTS];
    assert_int_equal(reward_mix_names(t, &s, names), 4);
    assert_string_equal(names[3], "rm");
    t->destroy(t);
    scorer_set_close(&s);
    config_free(c);
    unlink(rm);
    unlink(flat);
}

/* Opening rm: refuses a missing file and a policy checkpoint, naming the
 * entry and the file, and leaves nothing open. */
static void test_rm_open_refusals(void **st) {
    (void)st;
    char rm[128], flat[128], policy[128], list[400], err[2048] = "";
    rm_paths(rm, flat, policy, sizeof rm);
    write_rm(policy, MODEL_HEAD_LM, 0, 0.0f);
    Config *c = grpo_config_new();
    ScorerSet s;
    snprintf(list, sizeof list, "length:0.1,rm:%s:0.5", policy);
    s = parse_ok(list);
    assert_int_equal(scorer_set_open(&s, c, err, sizeof err), -1);
    assert_non_null(strstr(err, "[reward] scorers entry rm:"));
    assert_non_null(strstr(err, policy));
    assert_non_null(strstr(err, "is a policy (LM head), not a reward/value model"));
    assert_int_equal(s.opened, 0);
    assert_null(s.s[0].ctx);
    s = parse_ok("rm:/no/such/rm.ckpt:0.5");
    assert_int_equal(scorer_set_open(&s, c, err, sizeof err), -1);
    assert_non_null(strstr(err, "/no/such/rm.ckpt"));
    config_free(c);
    unlink(policy);
}

/* Mixed totals of G completions texts[i] of n_tok[i] tokens, then their
 * GRPO advantages (population std); returns group_advantages' zero-var flag. */
static int advantages(const Task *t, const ScorerSet *s, const TaskItem *it,
                      const char *const *texts, const int *n_tok, int G, float *total, float *adv) {
    int tok[64] = {0};
    for (int i = 0; i < G; i++) {
        Reward rw;
        reward_mix_score(t, s, it, texts[i], tok, n_tok[i], 1, &rw);
        total[i] = rw.total;
    }
    return group_advantages(total, G, ALGO_GRPO, ADV_STD_POPULATION, 1e-6f, adv);
}

static void test_gate_all_wrong_no_push(void **st) {
    (void)st;
    ScorerSet s;
    Config *c = cfg_with(40, "length:1", &s);
    const char *tasks[2] = {"arith", "arith_cot"};
    for (int k = 0; k < 2; k++) {
        Task *t = make_task(tasks[k]);
        TaskItem it;
        item_of("472+385=", "857", &it);
        const char *w = k ? COT_WRONG : "748";
        const char *texts[4] = {w, w, w, w};
        const int n_tok[4] = {2, 9, 17, 40};
        float total[4], adv[4];
        assert_int_equal(advantages(t, &s, &it, texts, n_tok, 4, total, adv), 1);
        for (int i = 0; i < 4; i++) assert_true(adv[i] == 0.0f);
        /* what an additive length term would have done: a full push */
        float add[4], add_adv[4];
        for (int i = 0; i < 4; i++) add[i] = total[i] + (1.0f - (float)n_tok[i] / 40.0f);
        group_advantages(add, 4, ALGO_GRPO, ADV_STD_POPULATION, 1e-6f, add_adv);
        assert_true(fabsf(add_adv[0]) > 1.0f);
        t->destroy(t);
    }
    scorer_set_close(&s);
    config_free(c);
}

static void test_gate_shorter_correct_wins(void **st) {
    (void)st;
    ScorerSet s;
    Config *c = cfg_with(20, "length:0.1", &s);
    Task *t = make_task("arith");
    TaskItem it;
    item_of("472+385=", "857", &it);
    const char *texts[4] = {"758", "758", "758", "758"};
    const int n_tok[4] = {4, 12, 8, 20};
    float total[4], adv[4];
    assert_int_equal(advantages(t, &s, &it, texts, n_tok, 4, total, adv), 0);
    /* strictly in the order of length: 4 < 8 < 12 < 20 tokens */
    assert_true(adv[0] > adv[2] && adv[2] > adv[1] && adv[1] > adv[3]);
    assert_true(adv[0] > 0 && adv[3] < 0);
    t->destroy(t);
    scorer_set_close(&s);
    config_free(c);
}

/* Random groups with random weights in [0, 1] and lengths: every correct
 * completion gets a higher total and advantage than every wrong one. */
static void test_correct_beats_wrong(void **st) {
    (void)st;
    const char *tasks[2] = {"arith", "arith_cot"};
    Rng r;
    rng_seed(&r, 42, 0);
    for (int k = 0; k < 2; k++) {
        Task *t = make_task(tasks[k]);
        TaskItem it;
        item_of("472+385=", "857", &it);
        const char *right = k ? COT_RIGHT : "758";
        const char *wrong[2] = {k ? COT_WRONG : "748", "junk"};
        for (int trial = 0; trial < 200; trial++) {
            char list[64];
            float w = trial == 0 ? 1.0f : trial == 1 ? 0.0f : rng_uniform(&r);
            snprintf(list, sizeof list, "length:%.6f", (double)w);
            ScorerSet s;
            Config *c = cfg_with(32, list, &s);
            const char *texts[8];
            int n_tok[8], correct[8], any_right = 0, any_wrong = 0;
            for (int i = 0; i < 8; i++) {
                correct[i] = rng_uniform(&r) < 0.5;
                texts[i] = correct[i] ? right : wrong[rng_uniform(&r) < 0.5];
                /* a correct completion may be as long as the limit allows */
                n_tok[i] = (int)(rng_uniform(&r) * 33);
                any_right |= correct[i];
                any_wrong |= !correct[i];
            }
            float total[8], adv[8];
            advantages(t, &s, &it, texts, n_tok, 8, total, adv);
            if (any_right && any_wrong)
                for (int i = 0; i < 8; i++)
                    for (int j = 0; j < 8; j++)
                        if (correct[i] && !correct[j]) {
                            assert_true(total[i] > total[j]);
                            assert_true(adv[i] > adv[j]);
                        }
            scorer_set_close(&s);
            config_free(c);
        }
        t->destroy(t);
    }
}

/* ---- end to end: a tiny train run with reward.scorers=length:0.1 ---- */

static void test_train_reports_length(void **st) {
    (void)st;
    const char *bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/grpo_test_scorer_%d", (int)getpid());
    const char *tiny = "model.dim=32 model.n_layers=1 model.n_heads=4 model.n_kv_heads=2 "
                       "model.hidden_dim=64 task.max_digits=1 eval.prompts=8 eval.pass_k=1 "
                       "run.seed=3";
    assert_int_equal(run("mkdir -p %s && %s sft run.dir=%s/sft sft.steps=20 sft.batch_size=8 %s "
                         "> %s/sft.log 2>&1",
                         dir, bin, dir, tiny, dir),
                     0);
    int rc = run("mpirun --oversubscribe -np 2 %s train run.dir=%s/rl grpo.init=%s/sft/sft.ckpt "
                 "grpo.steps=3 grpo.prompts_per_step=2 grpo.group_size=4 grpo.eval_every=3 "
                 "reward.scorers=length:0.1 %s > %s/train.log 2>&1",
                 bin, dir, dir, tiny, dir);
    if (rc != 0) {
        run("tail -n 20 %s/train.log", dir);
        fail_msg("train exited with %d (log: %s/train.log)", rc, dir);
    }
    char path[400];
    snprintf(path, sizeof path, "%s/rl/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192];
    int steps = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("%s: not JSON: %s", path, je.text);
        if (json_integer_value(json_object_get(o, "step")) >= 1) {
            steps++;
            json_t *m = json_object_get(o, "reward_length_mean");
            if (!json_is_number(m)) fail_msg("%s: step line without reward_length_mean", path);
            /* the mean of 1 - tokens / max_new_tokens (8) is 1 - len_mean / 8 */
            double v = json_number_value(m);
            double len = json_number_value(json_object_get(o, "len_mean"));
            if (fabs(v - (1 - len / 8)) > 1e-4)
                fail_msg("%s: reward_length_mean %g, len_mean %g", path, v, len);
            assert_true(json_is_number(json_object_get(o, "reward_accuracy_mean")));
            /* held-out evaluation stays the verifier's */
            assert_null(json_object_get(o, "eval_length"));
        }
        json_decref(o);
    }
    fclose(f);
    assert_int_equal(steps, 3);
    snprintf(path, sizeof path, "grep -q 'scorers *= *\"\\?length:0.1' %s/rl/config.ini", dir);
    assert_int_equal(run("%s", path), 0);

    /* the same run with a reward model whose head is w = 0, b = 3: every
     * completion's rm value is sigmoid(3), loaded by the actor rank */
    char rm[400];
    snprintf(rm, sizeof rm, "%s/flat_rm.ckpt", dir);
    write_rm(rm, MODEL_HEAD_SCALAR, 1, 3.0f);
    rc = run("mpirun --oversubscribe -np 2 %s train run.dir=%s/rl_rm grpo.init=%s/sft/sft.ckpt "
             "grpo.steps=2 grpo.prompts_per_step=2 grpo.group_size=4 grpo.eval_every=2 "
             "reward.scorers=rm:%s:0.2 %s > %s/train_rm.log 2>&1",
             bin, dir, dir, rm, tiny, dir);
    if (rc != 0) {
        run("tail -n 20 %s/train_rm.log", dir);
        fail_msg("train with rm exited with %d (log: %s/train_rm.log)", rc, dir);
    }
    snprintf(path, sizeof path, "%s/rl_rm/metrics.jsonl", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    steps = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("%s: not JSON: %s", path, je.text);
        if (json_integer_value(json_object_get(o, "step")) >= 1) {
            steps++;
            json_t *m = json_object_get(o, "reward_rm_mean");
            if (!json_is_number(m)) fail_msg("%s: step line without reward_rm_mean", path);
            if (fabs(json_number_value(m) - 0.95257413) > 1e-5)
                fail_msg("%s: reward_rm_mean %g, expected sigmoid(3)", path, json_number_value(m));
        }
        json_decref(o);
    }
    fclose(f);
    assert_int_equal(steps, 2);
    if (!getenv("KEEP_TEST_DIRS")) run("rm -rf %s", dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_key_in_config),
        cmocka_unit_test(test_length_values),
        cmocka_unit_test(test_components_and_names),
        cmocka_unit_test(test_rm_values),
        cmocka_unit_test(test_rm_open_refusals),
        cmocka_unit_test(test_gate_all_wrong_no_push),
        cmocka_unit_test(test_gate_shorter_correct_wins),
        cmocka_unit_test(test_correct_beats_wrong),
        cmocka_unit_test(test_train_reports_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
