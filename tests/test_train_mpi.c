/* End-to-end tests of `grpo train` under mpirun -np 3 (oversubscribed):
 * a tiny SFT model, a few GRPO steps, then checks on the metrics file, the
 * learner's recomputed log-probs against the actors', the cross-rank weight
 * checksums (checksum_every = 1: a mismatch aborts the run), determinism of
 * two runs with the same seed, and refusal of impossible rank counts; and
 * what protects run.dir: unloadable checkpoints, a second run, a full
 * disk, unusable actor data, checkpoints that cannot resume exactly;
 * [grpo] time_limit_s, which ends a run early and cleanly, across a resume;
 * and [grpo] algo = ppo end to end, with a bit-exact resume. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_shell.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <math.h>

#include "checkpoint.h"
#include "grpo_loss.h"
#include "grpo_settings.h"
#include "model.h"
#include "sections.h"
#include "tokenizer.h"

static char tmp[256];
static const char *bin;

static const char *TINY =
    "model.dim=32 model.n_layers=2 model.n_heads=4 model.n_kv_heads=2 model.hidden_dim=64 "
    "task.max_digits=2 eval.prompts=16 eval.pass_k=2 run.seed=7";


static int setup(void **state) {
    (void)state;
    bin = grpo_bin();
    /* one SFT model shared by every test */
    return make_sft_fixture(tmp, sizeof tmp, "mpi", bin,
                            "sft.steps=150 sft.batch_size=32", TINY);
}

static int teardown(void **state) {
    (void)state;
    remove_test_dir(tmp);
    return 0;
}

static int train(const char *dir, const char *extra) {
    return run("mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt "
               "grpo.steps=4 grpo.prompts_per_step=4 grpo.group_size=4 grpo.checksum_every=1 "
               "grpo.eval_every=2 grpo.minibatches=2 grpo.inner_epochs=2 %s %s > %s.log 2>&1",
               bin, dir, tmp, TINY, extra, dir);
}

/* Every line of dir/metrics.jsonl, parsed (each must be a JSON object), as
 * a jansson array; line 0 is the starting model's evaluation (step 0). The
 * caller json_decref's it. */
static json_t *read_metrics(const char *dir) {
    char path[400], line[8192];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    json_t *all = json_array();
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("%s: line %d is not JSON: %s", path, je.line, je.text);
        json_array_append_new(all, o);
    }
    fclose(f);
    return all;
}

static json_int_t jint(const json_t *o, const char *key) {
    return json_integer_value(json_object_get(o, key));
}

static double jnum(const json_t *o, const char *key) {
    return json_number_value(json_object_get(o, key));
}

/* The "train" lines of dir/samples.jsonl, for a run with group_size G and
 * the default [grpo] advantage settings: consecutive runs of G lines, one
 * group of one step each (index 0..G-1, one prompt), each with its texts,
 * reward components, tokens and truncation; per group the advantages sum
 * to ~0 and equal group_advantages of the group's rewards. The steps of
 * the groups go to steps[] (at most cap); returns how many groups. */
static int check_train_samples(const char *dir, int G, long *steps, int cap) {
    char path[400], line[16384];
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    Config *cfg = grpo_config_new();
    const GrpoSettings *gs = grpo_settings(cfg);
    float reward[16], adv[16], want[16];
    char prompt[512] = "";
    int n_groups = 0, k = 0, lineno = 0, moved = 0;
    long step = -1;
    assert_true(G <= 16);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("%s: line %d is not JSON: %s", path, lineno, je.text);
        if (strcmp(json_string_value(json_object_get(o, "kind")), "train") != 0) {
            assert_int_equal(k, 0); /* no group is cut short */
            json_decref(o);
            continue;
        }
        assert_int_equal(jint(o, "index"), k);
        if (k == 0) {
            step = (long)jint(o, "step");
            snprintf(prompt, sizeof prompt, "%s", json_string_value(json_object_get(o, "prompt")));
            assert_true(prompt[0] != 0);
        }
        assert_int_equal(jint(o, "step"), step);
        assert_int_equal(jint(o, "version"), step - 1); /* synchronous: sampled on-policy */
        assert_string_equal(json_string_value(json_object_get(o, "prompt")), prompt);
        assert_true(json_is_string(json_object_get(o, "completion")));
        assert_true(jint(o, "tokens") >= 1);
        assert_true(json_is_boolean(json_object_get(o, "truncated")));
        json_t *r = json_object_get(o, "reward");
        assert_true(json_is_number(json_object_get(r, "accuracy")));
        assert_true(json_is_number(json_object_get(r, "format")));
        reward[k] = (float)jnum(o, "reward_total");
        adv[k] = (float)jnum(o, "advantage");
        json_decref(o);
        if (++k < G) continue;
        group_advantages(reward, G, (PgAlgo)gs->algo, (AdvStd)gs->adv_std, gs->adv_eps, want);
        double sum = 0;
        for (int i = 0; i < G; i++) {
            sum += adv[i];
            if (fabsf(adv[i] - want[i]) > 1e-6f)
                fail_msg("%s: step %ld completion %d: advantage %.9g, group_advantages of the "
                         "rewards gives %.9g", path, step, i, adv[i], want[i]);
            moved |= adv[i] != 0;
        }
        assert_true(fabs(sum) < 1e-4);
        if (n_groups < cap) steps[n_groups] = step;
        n_groups++;
        k = 0;
    }
    fclose(f);
    config_free(cfg);
    assert_int_equal(k, 0);
    /* some group had a signal, or the match above proves little */
    assert_true(n_groups == 0 || moved);
    return n_groups;
}

/* dir/samples.jsonl after train(): at each of the 3 evaluations (the
 * start, steps 2 and 4) the default [eval] samples = 4 held-out prompts in
 * order, each line a JSON object with the step, the policy version, the
 * texts and every reward component by name; at steps 2 and 4 the step's
 * first training group before them (check_train_samples). */
static void check_samples(const char *dir) {
    char path[400], line[16384];
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("%s: line %d is not JSON: %s", path, n + 1, je.text);
        if (strcmp(json_string_value(json_object_get(o, "kind")), "train") == 0) {
            json_decref(o);
            continue;
        }
        assert_string_equal(json_string_value(json_object_get(o, "kind")), "eval");
        assert_int_equal(jint(o, "step"), 2 * (n / 4));
        assert_int_equal(jint(o, "version"), 2 * (n / 4));
        assert_int_equal(jint(o, "index"), n % 4);
        assert_true(json_string_length(json_object_get(o, "prompt")) > 0);
        assert_true(json_is_string(json_object_get(o, "completion")));
        assert_true(json_is_integer(json_object_get(o, "correct")));
        assert_true(jint(o, "tokens") >= 1);
        json_t *r = json_object_get(o, "reward");
        assert_true(json_is_number(json_object_get(r, "accuracy")));
        assert_true(json_is_number(json_object_get(r, "format")));
        json_decref(o);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 12);
    long steps[4];
    assert_int_equal(check_train_samples(dir, 4, steps, 4), 2);
    assert_true(steps[0] == 2 && steps[1] == 4);
    /* and the console excerpts, one per evaluation and one per group */
    assert_int_equal(run("test $(grep -c '^sample (step' %s.log) -eq 3", dir), 0);
    assert_int_equal(run("test $(grep -c '^train group (step [24], actor 1 #[0-9]*): .* | reward "
                         "[^|]* | advantage [-+]' %s.log) -eq 2", dir),
                     0);
}

static void test_train_metrics_and_logprob_match(void **state) {
    (void)state;
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/b", tmp);
    assert_int_equal(train(dir, ""), 0);
    int n = 0, n_eval = 0;
    const char *keys[] = {"reward_mean", "reward_std", "reward_accuracy_mean", "reward_format_mean",
                          "accuracy", "zero_var_frac", "kl", "clip_low", "clip_high", "entropy",
                          "len_mean", "len_max", "truncated_frac", "logp_diff_max",
                          "logp_diff_mean", "actor_tok_s", "learner_tok_s", "t_generate",
                          "t_verify", "t_comm", "t_learn", "t_bcast", "wire_bytes_per_token",
                          "compression_ratio"};
    json_t *lines = read_metrics(dir), *o;
    size_t li;
    json_array_foreach(lines, li, o) {
        if (jint(o, "step") == 0) { /* the starting model */
            assert_non_null(json_object_get(o, "eval_greedy_acc"));
            continue;
        }
        n++;
        assert_int_equal(jint(o, "step"), n);
        assert_int_equal(jint(o, "version"), n);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            json_t *v = json_object_get(o, keys[k]);
            if (!v) fail_msg("metrics line %d lacks %s", n, keys[k]);
            assert_true(json_is_number(v));
        }
        /* the learner recomputes the actors' log-probs to float precision */
        double d = json_number_value(json_object_get(o, "logp_diff_max"));
        printf("step %d: max |logp_learner - logp_actor| = %.3g\n", n, d);
        assert_true(d <= 1e-4);
        assert_int_equal(jint(o, "bad_messages"), 0);
        assert_int_equal(jint(o, "completions"), 16);
        assert_true(json_number_value(json_object_get(o, "compression_ratio")) > 1.0);
        if (json_object_get(o, "eval_greedy_acc")) n_eval++;
    }
    json_decref(lines);
    assert_int_equal(n, 4);
    assert_int_equal(n_eval, 2);
    snprintf(path, sizeof path, "%s/config.ini", dir);
    assert_int_equal(run("grep -q 'group_size *= 4' %s", path), 0);
    snprintf(path, sizeof path, "%s/dashboard.png", dir);
    assert_int_equal(run("test -s %s", path), 0);
    snprintf(path, sizeof path, "%s/dashboard.png.tmp", dir);
    assert_int_not_equal(run("test -e %s", path), 0);
    check_samples(dir);
}

/* PARM and ADAM of a checkpoint; META differs (it names the run dir). */
static void load_sections(const char *path, Checkpoint *c) {
    char err[512];
    if (ckpt_read(c, path, err, sizeof err) != 0) fail_msg("%s", err);
    assert_non_null(ckpt_get(c, "PARM"));
    assert_non_null(ckpt_get(c, "ADAM"));
}

/* Same PARM/ADAM sections and STEP step, version and ranks in two
 * checkpoints (STEP's last word, its flags, says how the actors' state was
 * captured, which differs between the synchronous and asynchronous modes
 * by design). */
static void assert_same_training_state(const char *p1, const char *p2) {
    Checkpoint a, b;
    load_sections(p1, &a);
    load_sections(p2, &b);
    const char *tags[] = {"PARM", "ADAM", "STEP"};
    for (int i = 0; i < 3; i++) {
        const CkptSection *x = ckpt_get(&a, tags[i]), *y = ckpt_get(&b, tags[i]);
        assert_non_null(x);
        assert_non_null(y);
        assert_int_equal(x->len, y->len);
        size_t n = strcmp(tags[i], "STEP") == 0 ? 20 : x->len;
        if (memcmp(x->data, y->data, n) != 0) fail_msg("%s differs: %s vs %s", tags[i], p1, p2);
    }
    ckpt_free(&a);
    ckpt_free(&b);
}

static void test_same_seed_bit_identical(void **state) {
    (void)state;
    char d1[300], d2[300], p1[400], p2[400];
    snprintf(d1, sizeof d1, "%s/c1", tmp);
    snprintf(d2, sizeof d2, "%s/c2", tmp);
    assert_int_equal(train(d1, ""), 0);
    assert_int_equal(train(d2, ""), 0);
    snprintf(p1, sizeof p1, "%s/final.ckpt", d1);
    snprintf(p2, sizeof p2, "%s/final.ckpt", d2);
    assert_same_training_state(p1, p2);
    /* and training moved the weights away from the SFT start */
    Checkpoint a, s;
    load_sections(p1, &a);
    char ps[400];
    snprintf(ps, sizeof ps, "%s/a/sft.ckpt", tmp);
    char err[512];
    if (ckpt_read(&s, ps, err, sizeof err) != 0) fail_msg("%s", err);
    const CkptSection *x = ckpt_get(&a, "PARM"), *y = ckpt_get(&s, "PARM");
    assert_int_equal(x->len, y->len);
    assert_true(memcmp(x->data, y->data, x->len) != 0);
    ckpt_free(&a);
    ckpt_free(&s);
}

/* An actor that sends corrupt messages: the learner counts and drops them,
 * keeps training on the good groups, and finishes. */
static void test_corrupt_messages_counted_and_dropped(void **state) {
    (void)state;
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/e", tmp);
    assert_int_equal(run("GRPO_TEST_CORRUPT_EVERY=3 mpirun --oversubscribe -x GRPO_TEST_CORRUPT_EVERY "
                         "-np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt grpo.steps=3 "
                         "grpo.prompts_per_step=4 grpo.group_size=4 %s > %s.log 2>&1",
                         bin, dir, tmp, TINY, dir),
                     0);
    long bad = -1;
    int n = 0;
    json_t *lines = read_metrics(dir), *o;
    size_t li;
    json_array_foreach(lines, li, o) {
        if (jint(o, "step") > 0) {
            bad = (long)jint(o, "bad_messages");
            n++;
        }
    }
    json_decref(lines);
    assert_int_equal(n, 3);
    /* 2 actors x 2 groups x 3 steps = 12 messages, every 3rd of each actor corrupt */
    assert_int_equal(bad, 4);
    snprintf(path, sizeof path, "%s.log", dir);
    assert_int_equal(run("grep -q 'dropped a bad group message from rank' %s", path), 0);
}

static const char *RESUME_ARGS = "grpo.steps=30 grpo.prompts_per_step=4 grpo.group_size=4 "
                                 "grpo.checkpoint_every=2 grpo.eval_every=0";

/* A run stopped by SIGUSR1 checkpoints and exits 75; then a resumed run
 * whose learner is killed in the middle of writing a checkpoint (the test
 * hook _exit(9)s like kill -9) leaves the previous checkpoint loadable; the
 * next resume finishes with weights and optimizer state bit-identical to an
 * uninterrupted run. A resume with a run-defining change is refused. */
static void test_signal_resume_and_atomicity(void **state) {
    (void)state;
    char straight[300], cut[300], p1[400], p2[400];
    snprintf(straight, sizeof straight, "%s/r1", tmp);
    snprintf(cut, sizeof cut, "%s/r2", tmp);
    assert_int_equal(run("mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt "
                         "%s %s > %s.log 2>&1",
                         bin, straight, tmp, RESUME_ARGS, TINY, straight),
                     0);
    /* stopped by SIGUSR1 once a few steps are logged */
    int rc = run("mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt %s %s "
                 "> %s.log 2>&1 & pid=$!; "
                 "for i in $(seq 600); do n=$(grep -c '\"version\"' %s/metrics.jsonl 2>/dev/null); "
                 "[ \"${n:-0}\" -ge 5 ] && break; sleep 0.05; done; kill -USR1 $pid; wait $pid",
                 bin, cut, tmp, RESUME_ARGS, TINY, cut, cut);
    assert_int_equal(rc, 75);
    snprintf(p1, sizeof p1, "%s.log", cut);
    assert_int_equal(run("grep -q 'signal 10: checkpointed step' %s", p1), 0);
    /* resume, but the learner dies in the middle of writing its next checkpoint */
    rc = run("GRPO_CKPT_CRASH_AFTER_BYTES=5000 mpirun --oversubscribe -x GRPO_CKPT_CRASH_AFTER_BYTES "
             "-np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt %s %s >> %s.log 2>&1",
             bin, cut, tmp, RESUME_ARGS, TINY, cut);
    assert_int_not_equal(rc, 0);
    assert_int_equal(run("ls %s/*.tmp.* > /dev/null 2>&1", cut), 0); /* the torn temp file */
    /* a run-defining change is refused, naming the key */
    rc = run("mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt %s %s "
             "grpo.group_size=2 > %s.refused.log 2>&1",
             bin, cut, tmp, RESUME_ARGS, TINY, cut);
    assert_int_not_equal(rc, 0);
    snprintf(p1, sizeof p1, "%s.refused.log", cut);
    assert_int_equal(run("grep -q 'refusing to resume.*group_size: 4 -> 2' %s", p1), 0);
    /* resume from the last complete checkpoint and finish */
    assert_int_equal(run("mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt "
                         "%s %s >> %s.log 2>&1",
                         bin, cut, tmp, RESUME_ARGS, TINY, cut),
                     0);
    snprintf(p1, sizeof p1, "%s.log", cut);
    assert_int_equal(run("grep -q 'resume: continuing from' %s", p1), 0);
    /* synchronous checkpoints hold the actors' exact state: no warning */
    assert_int_equal(run("grep -q 'not bit-exact' %s", p1), 1);
    snprintf(p1, sizeof p1, "%s/final.ckpt", straight);
    snprintf(p2, sizeof p2, "%s/final.ckpt", cut);
    assert_same_training_state(p1, p2);
}

/* [grpo] algo = ppo end to end: the run finishes and logs the value
 * model's metrics every step; a copy of its step-2 checkpoint resumed in
 * another run.dir finishes bit-identical to it: the policy, its AdamW,
 * the value model (VPRM), its AdamW (VADM) and the KL state (PPOS); and
 * with two data-parallel learners it runs, the learners in step. */
static void test_ppo_train_and_resume_bit_exact(void **state) {
    (void)state;
    char straight[300], cut[300], p1[400], p2[400];
    snprintf(straight, sizeof straight, "%s/ppo1", tmp);
    snprintf(cut, sizeof cut, "%s/ppo2", tmp);
    const char *ppo = "grpo.algo=ppo grpo.checkpoint_every=2 grpo.keep_checkpoints=5 "
                      "grpo.beta=0.02 ppo.kl_target=0.5";
    assert_int_equal(train(straight, ppo), 0);
    const char *keys[] = {"value_loss", "explained_variance", "value_clip_frac", "return_mean",
                          "adv_mean", "adv_std", "kl_seq", "beta", "kl"};
    json_t *lines = read_metrics(straight), *o;
    size_t li;
    int n = 0;
    json_array_foreach(lines, li, o) {
        if (jint(o, "step") == 0) continue;
        n++;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            json_t *v = json_object_get(o, keys[k]);
            /* explained_variance is null when every return is equal */
            if (!v || (!json_is_number(v) && strcmp(keys[k], "explained_variance") != 0))
                fail_msg("PPO metrics line %d lacks %s", n, keys[k]);
        }
        printf("ppo step %d: value_loss %.4g explained_variance %.3g beta %.4g reward %.3f\n", n,
               jnum(o, "value_loss"), jnum(o, "explained_variance"), jnum(o, "beta"),
               jnum(o, "reward_mean"));
    }
    json_decref(lines);
    assert_int_equal(n, 4);
    assert_int_equal(run("grep -q 'PPO value model from' %s.log", straight), 0);
    assert_int_equal(run("grep -q '| vloss ' %s.log", straight), 0);
    assert_int_equal(run("mkdir -p %s && cp %s/ckpt-00000002.ckpt %s/", cut, straight, cut), 0);
    assert_int_equal(train(cut, ppo), 0);
    assert_int_equal(run("grep -q 'resume: continuing from' %s.log", cut), 0);
    snprintf(p1, sizeof p1, "%s/final.ckpt", straight);
    snprintf(p2, sizeof p2, "%s/final.ckpt", cut);
    assert_same_training_state(p1, p2);
    Checkpoint a, b;
    char err[512];
    if (ckpt_read(&a, p1, err, sizeof err) != 0 || ckpt_read(&b, p2, err, sizeof err) != 0)
        fail_msg("%s", err);
    const char *tags[] = {"VCNF", "VPRM", "VADM", "PPOS"};
    for (int i = 0; i < 4; i++) {
        const CkptSection *x = ckpt_get(&a, tags[i]), *y = ckpt_get(&b, tags[i]);
        if (!x || !y) fail_msg("final.ckpt lacks %s", tags[i]);
        assert_int_equal(x->len, y->len);
        if (memcmp(x->data, y->data, x->len) != 0)
            fail_msg("%s differs: %s vs %s", tags[i], p1, p2);
    }
    ckpt_free(&a);
    ckpt_free(&b);
    /* two data-parallel learners + 2 actors: every step the other learner
     * checks that its policy equals the lead's bit for bit (it dies
     * otherwise), and the run finishes */
    assert_int_equal(run("mpirun --oversubscribe -np 4 %s train run.dir=%s/ppo3 "
                         "grpo.init=%s/a/sft.ckpt grpo.steps=3 grpo.prompts_per_step=4 "
                         "grpo.group_size=4 grpo.minibatches=2 grpo.learners=2 grpo.algo=ppo "
                         "grpo.beta=0.02 %s > %s/ppo3.log 2>&1", bin, tmp, tmp, TINY, tmp),
                     0);
    assert_int_equal(run("grep -q '2 data-parallel learners' %s/ppo3.log", tmp), 0);
    assert_int_equal(run("test $(grep -c '\"value_loss\"' %s/ppo3/metrics.jsonl) -eq 3", tmp), 0);
}

/* Async with max_staleness = 0 reproduces the synchronous run bit for bit;
 * with max_staleness = 1 staleness never exceeds 1 (checked from the
 * metrics) and the run finishes. */
static void test_async_staleness(void **state) {
    (void)state;
    char d0[300], d1[300], sy[300], p1[400], p2[400];
    snprintf(sy, sizeof sy, "%s/sync", tmp);
    snprintf(d0, sizeof d0, "%s/async0", tmp);
    snprintf(d1, sizeof d1, "%s/async1", tmp);
    assert_int_equal(train(sy, "grpo.deadline_s=60"), 0);
    assert_int_equal(train(d0, "grpo.async=1 grpo.max_staleness=0 grpo.deadline_s=60"), 0);
    assert_int_equal(train(d1, "grpo.async=1 grpo.max_staleness=1 grpo.deadline_s=60"), 0);
    snprintf(p1, sizeof p1, "%s/final.ckpt", sy);
    snprintf(p2, sizeof p2, "%s/final.ckpt", d0);
    assert_same_training_state(p1, p2);
    int n = 0, saw_stale = 0;
    json_t *lines = read_metrics(d1), *o;
    size_t li;
    json_array_foreach(lines, li, o) {
        if (jint(o, "step") > 0) {
            n++;
            json_int_t mx = jint(o, "staleness_max");
            assert_true(mx >= 0 && mx <= 1);
            saw_stale |= mx == 1;
            assert_int_equal(jint(o, "stale_dropped"), 0);
            assert_true(json_number_value(json_object_get(o, "logp_diff_max")) <= 1e-4 || mx > 0);
        }
    }
    json_decref(lines);
    assert_int_equal(n, 4);
    assert_true(saw_stale); /* the actors did run ahead of the learner */
}

/* An actor stopped with SIGSTOP: the learner names the rank, writes a
 * checkpoint and exits non-zero within the deadline instead of hanging. */
static void test_stalled_actor_detected(void **state) {
    (void)state;
    char dir[300], log[400];
    snprintf(dir, sizeof dir, "%s/stall", tmp);
    double t0 = (double)time(NULL);
    int rc = run("mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt "
                 "grpo.steps=100000 grpo.prompts_per_step=4 grpo.group_size=4 grpo.eval_every=0 "
                 "grpo.checkpoint_every=0 grpo.deadline_s=3 %s > %s.log 2>&1 & mp=$!; "
                 "for i in $(seq 600); do n=$(grep -c '\"version\"' %s/metrics.jsonl 2>/dev/null); "
                 "[ \"${n:-0}\" -ge 3 ] && break; sleep 0.05; done; "
                 "for p in $(pgrep -f '^%s train run.dir=%s '); do "
                 "tr '\\0' '\\n' < /proc/$p/environ | grep -qx OMPI_COMM_WORLD_RANK=2 && pid=$p; done; "
                 "[ -n \"$pid\" ] || { kill $mp; exit 99; }; "
                 "kill -STOP $pid; wait $mp; rc=$?; kill -9 $pid 2>/dev/null; exit $rc",
                 bin, dir, tmp, TINY, dir, dir, bin, dir);
    double took = (double)time(NULL) - t0;
    assert_int_not_equal(rc, 0);
    assert_true(took < 60);
    snprintf(log, sizeof log, "%s.log", dir);
    assert_int_equal(run("grep -q 'learner: actor rank 2 \\(does not answer\\|has sent nothing\\)' %s", log), 0);
    assert_int_equal(run("grep -q 'learner: actor rank 1 does not answer' %s", log), 1);
    assert_int_equal(run("grep -q 'wrote .*ckpt-.*ckpt (step' %s", log), 0);
    assert_int_equal(run("ls %s/ckpt-*.ckpt > /dev/null 2>&1", dir), 0);
    /* the actors hold no state (keyed rollouts): that checkpoint resumes
     * exactly, with any number of actors, and says nothing else */
    assert_int_equal(run("grep -q 'not bit-exact' %s", log), 1);
}

/* A checkpoint written in asynchronous mode (the groups in flight are
 * lost) says so when written, and a resume from it warns that it is not
 * bit-exact. */
static void test_async_resume_says_it_is_not_bit_exact(void **state) {
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/async_resume", tmp);
    const char *args = "grpo.async=1 grpo.max_staleness=1 grpo.checkpoint_every=2 grpo.deadline_s=60";
    assert_int_equal(train(dir, args), 0);
    assert_int_equal(run("grep -q 'ckpt-00000002.ckpt (asynchronous mode) .*not bit-exact' %s.log",
                         dir),
                     0);
    /* resume from step 2 */
    assert_int_equal(run("rm %s/ckpt-00000004.ckpt && mv %s.log %s.first.log", dir, dir, dir), 0);
    assert_int_equal(train(dir, args), 0);
    assert_int_equal(run("grep -q 'resume: continuing from .*ckpt-00000002.ckpt' %s.log", dir), 0);
    assert_int_equal(run("grep -q 'resume: warning: this resume is not bit-exact: .*"
                         "ckpt-00000002.ckpt: .*asynchronous mode' %s.log",
                         dir),
                     0);
}

/* Every message corrupt: the run stops after grpo.max_empty_steps empty
 * steps with status 5, a checkpoint and a message, instead of "training"
 * on nothing and exiting 0. */
static void test_consecutive_empty_steps_stop_the_run(void **state) {
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/empty", tmp);
    int rc = run("GRPO_TEST_CORRUPT_EVERY=1 mpirun --oversubscribe -x GRPO_TEST_CORRUPT_EVERY "
                 "-np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt grpo.steps=10 "
                 "grpo.prompts_per_step=4 grpo.group_size=4 grpo.eval_every=0 %s > %s.log 2>&1",
                 bin, dir, tmp, TINY, dir);
    assert_int_equal(rc, 5);
    /* 2 actors x 2 groups x 3 steps, all dropped */
    assert_int_equal(run("grep -q 'learner: 3 consecutive steps with no valid group (12 bad "
                         "messages, 0 stale dropped so far): the actors.* data is unusable' %s.log",
                         dir),
                     0);
    assert_int_equal(run("test -s %s/ckpt-00000003.ckpt", dir), 0);
    json_t *lines = read_metrics(dir);
    assert_int_equal(json_array_size(lines), 1 + 3);
    json_decref(lines);
}

/* The reproduction: every checkpoint of a finished run damaged.
 * Resuming must not silently start over from step 0 (and truncate
 * metrics.jsonl); with grpo.restart=1 it does, keeping the damaged files
 * and the old metrics aside, and the checkpoint it reports writing on
 * SIGUSR1 exists, so the requeued job continues from it. */
static void test_unloadable_checkpoints_never_restart_silently(void **state) {
    (void)state;
    char dir[300], log[400];
    snprintf(dir, sizeof dir, "%s/bad_ckpts", tmp);
    snprintf(log, sizeof log, "%s.log", dir);
    const char *args = "grpo.steps=300 grpo.prompts_per_step=4 grpo.group_size=4 "
                       "grpo.checkpoint_every=2 grpo.eval_every=0";
    const char *cmd = "mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt %s %s";
    char base[1200];
    snprintf(base, sizeof base, cmd, bin, dir, tmp, args, TINY);
    assert_int_equal(run("%s > %s 2>&1", base, log), 0);
    assert_int_equal(run("for f in %s/ckpt-*.ckpt; do printf XXXXXXXX | "
                         "dd of=$f bs=1 seek=100000 conv=notrunc 2>/dev/null; done",
                         dir),
                     0);
    /* refused, naming the key; nothing touched */
    assert_int_equal(run("%s > %s 2>&1", base, log), 2);
    assert_int_equal(run("grep -q 'holds 3 training checkpoints and none loads.*grpo.restart=1' %s",
                         log),
                     0);
    json_t *lines = read_metrics(dir);
    assert_int_equal(json_array_size(lines), 1 + 300);
    json_decref(lines);
    assert_int_equal(run("ls %s/*.corrupt > /dev/null 2>&1", dir), 2);
    /* asked to restart: it does, and is stopped by SIGUSR1 a few steps in */
    int rc = run("%s grpo.restart=1 > %s 2>&1 & pid=$!; "
                 "for i in $(seq 600); do n=$(grep -c '^step ' %s 2>/dev/null); "
                 "[ \"${n:-0}\" -ge 5 ] && break; sleep 0.05; done; kill -USR1 $pid; wait $pid",
                 base, log, log);
    assert_int_equal(rc, 75);
    assert_int_equal(run("f=$(sed -n 's/^signal 10: checkpointed step [0-9]* to \\(.*\\.ckpt\\);.*/\\1/p' "
                         "%s); echo \"reported: $f\"; test -n \"$f\" && test -s \"$f\"",
                         log),
                     0);
    assert_int_equal(run("test $(ls %s/ckpt-*.ckpt.corrupt | wc -l) = 3", dir), 0);
    assert_int_equal(run("test $(wc -l < %s/metrics.jsonl.before-restart) = 301", dir), 0);
    /* the requeued job continues from it and finishes */
    assert_int_equal(run("%s > %s 2>&1", base, log), 0);
    assert_int_equal(run("grep -q 'resume: continuing from' %s", log), 0);
}

/* A second training into a run.dir in use is refused at once, naming the
 * holder, and every rank of it stops with status 2; the first goes on. */
static void test_second_run_into_a_busy_run_dir_is_refused(void **state) {
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/busy", tmp);
    const char *args = "grpo.steps=100000 grpo.prompts_per_step=4 grpo.group_size=4 "
                       "grpo.checkpoint_every=0 grpo.eval_every=0";
    double t0 = (double)time(NULL);
    int rc = run("mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt %s %s "
                 "> %s.log 2>&1 & pid=$!; "
                 "for i in $(seq 600); do n=$(grep -c '^step ' %s.log 2>/dev/null); "
                 "[ \"${n:-0}\" -ge 2 ] && break; sleep 0.05; done; "
                 "timeout 60 mpirun --oversubscribe -np 3 %s train run.dir=%s "
                 "grpo.init=%s/a/sft.ckpt %s %s > %s.second.log 2>&1; rc2=$?; "
                 "kill -USR1 $pid; wait $pid; rc1=$?; echo \"second $rc2, first $rc1\"; "
                 "[ $rc1 = 75 ] && exit $rc2; exit 99",
                 bin, dir, tmp, args, TINY, dir, dir, bin, dir, tmp, args, TINY, dir);
    assert_int_equal(rc, 2);
    assert_true((double)time(NULL) - t0 < 60);
    assert_int_equal(run("grep -q 'error: run.dir %s is in use by pid [0-9]* on host .* "
                         "(lock file %s/.lock); use another run.dir' %s.second.log",
                         dir, dir, dir),
                     0);
    assert_int_equal(run("grep -q 'timed out' %s.second.log", dir), 1);
}

/* A full disk (a 64 KiB tmpfs as run.dir, in a private mount namespace)
 * stops the run with status 7 and a message naming the file and the
 * reason, and metrics.jsonl still ends with a complete line. */
static void test_full_disk_stops_the_run_cleanly(void **state) {
    (void)state;
    char dir[300], copy[320];
    snprintf(dir, sizeof dir, "%s/full", tmp);
    snprintf(copy, sizeof copy, "%s/full_copy", tmp);
    if (run("mkdir -p %s %s && unshare -m sh -c 'mount -t tmpfs -o size=64k tmpfs %s' "
            "> /dev/null 2>&1",
            dir, copy, dir) != 0)
        skip(); /* needs root (unshare + mount) */
    int rc = run("unshare -m sh -c 'mount -t tmpfs -o size=64k tmpfs %s || exit 99; "
                 "mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt "
                 "grpo.steps=300 grpo.prompts_per_step=4 grpo.group_size=4 grpo.eval_every=0 "
                 "grpo.checkpoint_every=0 %s > %s.log 2>&1; rc=$?; cp -a %s/. %s; exit $rc'",
                 dir, bin, dir, tmp, TINY, dir, dir, copy);
    assert_int_equal(rc, 7);
    assert_int_equal(run("grep -q 'error: run directory not writable: cannot append to "
                         "%s/metrics.jsonl: No space left on device' %s.log",
                         dir, dir),
                     0);
    assert_int_equal(run("grep -q 'stopping with status 7' %s.log", dir), 0);
    assert_int_equal(run("test \"$(tail -c 1 %s/metrics.jsonl | od -An -c | tr -d ' ')\" = '\\n'",
                         copy),
                     0);
    json_t *lines = read_metrics(copy); /* fails on a line that is not JSON */
    assert_true(json_array_size(lines) > 1);
    json_decref(lines);
}

/* Issue 13 item 10: a [model] override that the loaded checkpoint (dim 32)
 * contradicts is refused by train (every rank stops, status 2) and eval,
 * instead of running the checkpoint's model while recording the override;
 * without it, config.ini records the shape that ran. */
static void test_model_override_that_cannot_apply_is_refused(void **state) {
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/override", tmp);
    assert_int_equal(train(dir, "model.dim=64"), 2);
    assert_int_equal(run("grep -q 'model.dim = 64 was given, but the model comes from %s/a/sft.ckpt, "
                         "whose dim is 32' %s.log",
                         tmp, dir),
                     0);
    assert_int_equal(run("timeout 60 %s eval --checkpoint %s/a/sft.ckpt model.n_layers=3 eval.prompts=4 "
                         "> %s.eval.log 2>&1",
                         bin, tmp, dir),
                     1);
    assert_int_equal(run("grep -q 'model.n_layers = 3 was given' %s.eval.log", dir), 0);
    /* no override: the recorded config is the checkpoint's shape, not [model]'s default */
    snprintf(dir, sizeof dir, "%s/override_ok", tmp);
    assert_int_equal(run("mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt "
                         "grpo.steps=1 grpo.prompts_per_step=4 grpo.group_size=4 eval.prompts=4 "
                         "> %s.log 2>&1",
                         bin, dir, tmp, dir),
                     0);
    assert_int_equal(run("grep -q '^dim  *= 32 ' %s/config.ini", dir), 0);
    assert_int_equal(run("grep -q '^hidden_dim  *= 64 ' %s/config.ini", dir), 0);
}

static void test_refuses_more_actors_than_prompts(void **state) {
    (void)state;
    char dir[300], log[400];
    snprintf(dir, sizeof dir, "%s/d", tmp);
    int rc = run("mpirun --oversubscribe -np 6 %s train run.dir=%s grpo.init=%s/a/sft.ckpt "
                 "grpo.prompts_per_step=4 %s > %s.log 2>&1",
                 bin, dir, tmp, TINY, dir);
    assert_int_not_equal(rc, 0);
    snprintf(log, sizeof log, "%s.log", dir);
    assert_int_equal(run("grep -q '5 actors but \\[grpo\\] prompts_per_step = 4' %s", log), 0);
}

/* A reference model with a NaN weight (a valid checkpoint: its checksum
 * covers the bytes, not what they mean) makes every KL term NaN: the
 * learner skips each update (logged as nonfinite_skipped, non-finite
 * numbers as null), and stops after grpo.max_nonfinite_steps steps in a row
 * with status 6 instead of writing NaN into the weights. */
static void test_nonfinite_reference_stops(void **state) {
    (void)state;
    char dir[300], src[400], bad[400], path[400], err[512];
    snprintf(dir, sizeof dir, "%s/nan", tmp);
    snprintf(src, sizeof src, "%s/a/sft.ckpt", tmp);
    snprintf(bad, sizeof bad, "%s/nan_ref.ckpt", tmp);
    Checkpoint c;
    if (ckpt_read(&c, src, err, sizeof err) != 0) fail_msg("%s", err);
    Model m;
    Tokenizer *tok = malloc(sizeof *tok);
    if (ckpt_get_model(&c, src, &m, tok, err, sizeof err) != 0) fail_msg("%s", err);
    m.w.rms_final[0] = NAN;
    ckpt_put_model(&c, &m, tok);
    if (ckpt_write(&c, bad, err, sizeof err) != 0) fail_msg("%s", err);
    ckpt_free(&c);
    model_free(&m);
    free(tok);
    int rc = run("mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s grpo.ref=%s "
                 "grpo.beta=0.01 grpo.max_nonfinite_steps=2 grpo.steps=6 grpo.prompts_per_step=4 "
                 "grpo.group_size=4 grpo.eval_every=0 %s > %s.log 2>&1",
                 bin, dir, src, bad, TINY, dir);
    assert_int_equal(rc, 6);
    int n = 0;
    json_t *lines = read_metrics(dir), *o;
    size_t li;
    json_array_foreach(lines, li, o) {
        if (jint(o, "step") == 0) continue;
        n++;
        assert_int_equal(jint(o, "nonfinite_skipped"), 1);
        assert_int_equal(jint(o, "nonfinite_in_a_row"), n);
        assert_true(json_is_null(json_object_get(o, "grad_norm")));
        assert_true(json_is_null(json_object_get(o, "kl")));
    }
    json_decref(lines);
    assert_int_equal(n, 2);
    snprintf(path, sizeof path, "%s.log", dir);
    assert_int_equal(run("grep -q '2 steps in a row had a non-finite gradient.*status 6' %s", path), 0);
    snprintf(path, sizeof path, "%s/final.ckpt", dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

/* sampler.logprob = truncated with top-k on: the actors ship log-probs of
 * the kept set and the learner's recompute matches them on every step. */
static void test_truncated_logprob_end_to_end(void **state) {
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/trunc", tmp);
    assert_int_equal(train(dir, "grpo.steps=2 grpo.eval_every=0 sampler.top_k=3 "
                                "sampler.top_p=0.95 sampler.logprob=truncated"),
                     0);
    int n = 0;
    json_t *lines = read_metrics(dir), *o;
    size_t li;
    json_array_foreach(lines, li, o) {
        if (jint(o, "step") == 0) continue;
        n++;
        double d = json_number_value(json_object_get(o, "logp_diff_max"));
        printf("truncated step %d: max |logp_learner - logp_actor| = %.3g\n", n, d);
        assert_true(d <= 1e-4);
    }
    json_decref(lines);
    assert_int_equal(n, 2);
}

/* summary.json of dir, parsed; the caller json_decref's it. */
static json_t *read_summary(const char *dir) {
    char path[400];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o) fail_msg("%s: %s", path, je.text);
    return o;
}

/* grpo.steps=100000 with time_limit_s = 2: the run ends long before the
 * last step (a tiny step takes about 3 ms: 1000 steps fit in 3 s on a
 * quiet machine, so the count leaves room for any speed) with status 0,
 * final.ckpt, a summary.json and a final table that say it stopped at the
 * time limit, and a train group in samples.jsonl at
 * every evaluation step (the one that stopped included). The training
 * time is in the checkpoint: a resume with the same limit takes no step,
 * one with a limit of 3 s continues the clock from where it was. */
static void test_time_limit_stops_early_and_resumes(void **state) {
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/timed", tmp);
    const char *cmd = "mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt "
                      "grpo.steps=100000 grpo.prompts_per_step=4 grpo.group_size=4 "
                      "grpo.eval_every=5 grpo.time_limit_s=%d %s >> %s.log 2>&1";
    assert_int_equal(run(cmd, bin, dir, tmp, 2, TINY, dir), 0);
    assert_int_equal(run("test -s %s/final.ckpt", dir), 0);
    json_t *sm = read_summary(dir);
    long done = (long)jint(sm, "steps_done");
    printf("time limit 2 s: %ld of 100000 steps, %.2f s of training\n", done,
           jnum(sm, "train_seconds"));
    assert_string_equal(json_string_value(json_object_get(sm, "stop")), "time_limit");
    assert_int_equal(jint(sm, "steps"), 100000);
    assert_true(done >= 1 && done < 100000);
    assert_true(jnum(sm, "train_seconds") >= 2.0);
    assert_true(jnum(sm, "time_limit_s") == 2.0);
    json_decref(sm);
    assert_int_equal(run("grep -q 'stopped at the time limit: .*time_limit_s = 2 reached after "
                         "%ld of 100000 steps' %s.log", done, dir),
                     0);
    assert_int_equal(run("test -s %s/ckpt-%08ld.ckpt", dir, done), 0);
    /* a train group at every evaluation step, the last one included (as
     * many as the machine's speed gives: 1302 steps in 2 s on a fast core) */
    const int cap = (int)(done / 5) + 2;
    long *steps = malloc(sizeof(long) * cap);
    assert_non_null(steps);
    int n = check_train_samples(dir, 4, steps, cap);
    assert_int_equal(n, (int)(done / 5) + (done % 5 != 0));
    assert_true(n <= cap && steps[n - 1] == done);
    free(steps);
    /* resumed with the same limit: no step, the final evaluation, status 0 */
    assert_int_equal(run(cmd, bin, dir, tmp, 2, TINY, dir), 0);
    assert_int_equal(run("grep -q 'time limit: the checkpoint holds .* no new step after step "
                         "%ld of 100000' %s.log", done, dir),
                     0);
    sm = read_summary(dir);
    assert_int_equal(jint(sm, "steps_done"), done);
    json_decref(sm);
    /* a longer limit continues the clock: the first step after the resume
     * already has the 2 s before it */
    assert_int_equal(run(cmd, bin, dir, tmp, 3, TINY, dir), 0);
    sm = read_summary(dir);
    long done2 = (long)jint(sm, "steps_done");
    printf("time limit 3 s after resume: %ld steps, %.2f s of training\n", done2,
           jnum(sm, "train_seconds"));
    assert_string_equal(json_string_value(json_object_get(sm, "stop")), "time_limit");
    assert_true(done2 > done && done2 < 100000);
    assert_true(jnum(sm, "train_seconds") >= 3.0);
    json_decref(sm);
    json_t *lines = read_metrics(dir), *o;
    size_t li;
    int seen = 0;
    json_array_foreach(lines, li, o) {
        if (jint(o, "step") != done + 1) continue;
        seen = 1;
        assert_true(jnum(o, "elapsed_s") >= 2.0);
    }
    json_decref(lines);
    assert_true(seen);
}

/* An external verifier ([task] verifier) that crashes on every 5th request
 * each of its processes reads: the run finishes; every step's completions
 * it failed on are counted by reason in metrics.jsonl (reward_failed, the
 * reward_status object) and the progress line, the rest are scored; no
 * verifier process outlives the run. */
static void test_external_verifier_failures_are_counted(void **state) {
    (void)state;
    char dir[300], log[400];
    snprintf(dir, sizeof dir, "%s/xv", tmp);
    snprintf(log, sizeof log, "%s.log", dir);
    const char *tests = getenv("GRPO_TESTS_DIR");
    if (!tests) tests = "tests";
    assert_int_equal(run("mpirun --oversubscribe -np 3 %s train run.dir=%s grpo.init=%s/a/sft.ckpt "
                         "grpo.steps=3 grpo.prompts_per_step=4 grpo.group_size=4 grpo.eval_every=0 "
                         "'task.verifier=/usr/bin/python3 %s/verifiers/faulty.py crash 5' "
                         "task.verifier_procs=2 %s > %s 2>&1",
                         bin, dir, tmp, tests, TINY, log),
                     0);
    json_t *lines = read_metrics(dir), *o;
    size_t li;
    long failed = 0, scored = 0;
    int steps = 0;
    json_array_foreach(lines, li, o) {
        if (jint(o, "step") < 1) continue;
        steps++;
        const json_t *st = json_object_get(o, "reward_status");
        assert_true(json_is_object(st));
        /* crashes are the only failure this verifier has */
        assert_int_equal(jint(o, "reward_failed"), json_integer_value(json_object_get(st, "verifier_crash")));
        assert_int_equal(json_object_size(st), jint(o, "reward_failed") ? 1 : 0);
        failed += (long)jint(o, "reward_failed");
        scored += (long)jint(o, "completions") - (long)jint(o, "reward_failed");
    }
    json_decref(lines);
    assert_int_equal(steps, 3);
    /* 48 completions over two actors of two processes each: every process
     * meets its 5th request at least once, and most requests are answered */
    printf("external verifier: %ld of 48 completions failed (crash), %ld scored\n", failed, scored);
    assert_true(failed >= 2);
    assert_true(scored > failed);
    assert_int_equal(run("grep -q 'unscored' %s", log), 0);
    assert_int_equal(run("grep -q 'exited or closed its stdout before replying' %s", log), 0);
    /* [.]: the pattern must not match the shell that runs pgrep */
    assert_int_not_equal(run("pgrep -f 'faulty[.]py crash 5' > /dev/null"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_metrics_and_logprob_match),
        cmocka_unit_test(test_same_seed_bit_identical),
        cmocka_unit_test(test_corrupt_messages_counted_and_dropped),
        cmocka_unit_test(test_signal_resume_and_atomicity),
        cmocka_unit_test(test_ppo_train_and_resume_bit_exact),
        cmocka_unit_test(test_async_staleness),
        cmocka_unit_test(test_stalled_actor_detected),
        cmocka_unit_test(test_refuses_more_actors_than_prompts),
        cmocka_unit_test(test_model_override_that_cannot_apply_is_refused),
        cmocka_unit_test(test_async_resume_says_it_is_not_bit_exact),
        cmocka_unit_test(test_consecutive_empty_steps_stop_the_run),
        cmocka_unit_test(test_unloadable_checkpoints_never_restart_silently),
        cmocka_unit_test(test_second_run_into_a_busy_run_dir_is_refused),
        cmocka_unit_test(test_full_disk_stops_the_run_cleanly),
        cmocka_unit_test(test_nonfinite_reference_stops),
        cmocka_unit_test(test_truncated_logprob_end_to_end),
        cmocka_unit_test(test_time_limit_stops_early_and_resumes),
        cmocka_unit_test(test_external_verifier_failures_are_counted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
