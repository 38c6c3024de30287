/* test_task_review.c: the review task's hidden preference on hand-made
 * completions, its verifier's components and weights, the splits, the
 * demonstrator's variety and what over-optimised completions score; the
 * synthetic labeler (choices, ties, noise rate, determinism, refusals);
 * rm-data's collection from the demonstrator and from a model in
 * process; and `grpo rm-data` end to end on a tiny SFT checkpoint, its
 * files parsed back and checked against the hidden preference. */
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

#include "labeler.h"
#include "rm_data.h"
#include "task.h"
#include "task_review.h"
#include "util.h"

static char tmp[256];
static const char *bin;
static const char *TINY =
    "task.name=review model.dim=32 model.n_layers=2 model.n_heads=4 model.n_kv_heads=2 "
    "model.hidden_dim=64 model.max_seq_len=64 sampler.max_new_tokens=48 run.seed=7";

static Task *make_review(float w_preference) {
    TaskParams p;
    task_params_default(&p);
    p.review_w_preference = w_preference;
    char err[300];
    Task *t = task_create("review", &p, 7, err, sizeof err);
    if (!t) fail_msg("%s", err);
    return t;
}

static TaskItem topic(void) {
    TaskItem it;
    memset(&it, 0, sizeof it);
    strcpy(it.prompt, "fresh tea: ");
    it.id = task_item_id(it.prompt);
    return it;
}

static int raw_of(const char *c) {
    ReviewScore s;
    if (!review_score(c, 1, &s)) fail_msg("'%s' should be well formed", c);
    return s.raw;
}

static void test_preference_values(void **st) {
    (void)st;
    ReviewScore s;
    assert_int_equal(review_score("good", 1, &s), 1);
    assert_int_equal(s.raw, 1);
    assert_float_equal(s.score, 1 / (1 + exp(-1.0 / 3)), 1e-6);
    assert_int_equal(raw_of("it is"), 0);
    assert_float_equal(review_score_of_raw(0), 0.5, 1e-7);
    assert_int_equal(raw_of("so bad and dull"), -2);
    assert_int_equal(raw_of("nice but cold"), 0);
    /* two uses of a word are free, a third costs 3 */
    assert_int_equal(raw_of("good good"), 2);
    assert_int_equal(raw_of("good good good"), 0);
    review_score("good good good good", 1, &s);
    assert_int_equal(s.repeats_over, 2);
    assert_int_equal(s.raw, 4 - 6);
    /* the optimum: eight positive words, none thrice */
    assert_int_equal(raw_of("good nice warm fun kind neat good nice"), 8);
    /* a ninth and tenth word cost 2 each */
    review_score("good nice warm fun kind neat good nice warm fun", 1, &s);
    assert_int_equal(s.words, 10);
    assert_int_equal(s.words_over, 2);
    assert_int_equal(s.raw, 10 - 4);
    /* the score rises with raw and stays in (0, 1) */
    for (int r = -30; r < 30; r++) {
        assert_true(review_score_of_raw(r) < review_score_of_raw(r + 1));
        assert_true(review_score_of_raw(r) > 0 && review_score_of_raw(r) < 1);
    }
    /* malformed: score 0 */
    const char *bad[] = {"", " good", "good ", "good  nice", "tea", "Good", "good,nice", "goodnice"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(review_score(bad[i], 1, &s), 0);
        assert_float_equal(s.score, 0, 0);
    }
    assert_int_equal(review_score("good", 0, &s), 0); /* cut at the length limit */
}

static void test_verify_components(void **st) {
    (void)st;
    Task *t = make_review(0);
    assert_int_equal(t->n_components, 2);
    assert_string_equal(t->component_names[0], "accuracy");
    assert_string_equal(t->component_names[1], "preference");
    TaskItem it = topic();
    Reward r;
    t->verify(t, &it, "so good", 1, &r);
    assert_int_equal(r.correct, 1);
    assert_float_equal(r.value[0], 1, 0);
    assert_float_equal(r.value[1], review_score_of_raw(1), 1e-7);
    assert_float_equal(r.total, 1, 1e-6); /* w_preference 0: reported, not paid */
    t->verify(t, &it, "so good!", 1, &r);
    assert_int_equal(r.correct, 0);
    assert_float_equal(r.total, 0, 0);
    t->destroy(t);
    t = make_review(2);
    t->verify(t, &it, "so good", 1, &r);
    assert_float_equal(r.total, 1 + 2 * review_score_of_raw(1), 1e-6);
    t->destroy(t);
}

/* The tokenizer check and the length check name what is missing. */
static void test_tokenizer_and_fits(void **st) {
    (void)st;
    Task *t = make_review(0);
    Tokenizer tok;
    tokenizer_init_char(&tok);
    char err[400];
    assert_int_equal(task_check_tokenizer(t, &tok, err, sizeof err), 0);
    tok.byte_to_id[(unsigned char)':'] = -1;
    assert_int_equal(task_check_tokenizer(t, &tok, err, sizeof err), -1);
    assert_non_null(strstr(err, "task review"));
    /* the defaults (32, 8) are too short; 64 and 48 fit */
    assert_int_equal(task_check_fits(t, 32, 8, err, sizeof err), -1);
    assert_non_null(strstr(err, "max_new_tokens"));
    assert_int_equal(task_check_fits(t, 64, 48, err, sizeof err), 0);
    t->destroy(t);
    TaskParams p;
    task_params_default(&p);
    p.review_demo_words = 9;
    assert_null(task_create("review", &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "review_demo_words = 9"));
}

/* Train and eval prompts never meet; the eval split is listed exactly. */
static void test_splits_disjoint(void **st) {
    (void)st;
    Task *t = make_review(0);
    uint64_t *keys;
    int n = t->eval_split(t, &keys);
    assert_true(n >= 5 && n <= 60); /* about 20 of 1024 at eval_permille 20 */
    TaskItem it;
    char (*eval_prompts)[TASK_MAX_TEXT] = xmalloc(sizeof *eval_prompts * (size_t)n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(t->eval_item(t, keys[i], &it), 0);
        assert_true(task_id_is_eval(it.id, 20));
        strcpy(eval_prompts[i], it.prompt);
    }
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(t->sample(t, SPLIT_TRAIN, 3, (uint64_t)i, &it), 0);
        assert_false(task_id_is_eval(it.id, 20));
        for (int k = 0; k < n; k++) assert_string_not_equal(it.prompt, eval_prompts[k]);
    }
    for (int i = 0; i < 200; i++) {
        assert_int_equal(t->sample(t, SPLIT_EVAL, 3, (uint64_t)i, &it), 0);
        int found = 0;
        for (int k = 0; k < n && !found; k++) found = !strcmp(it.prompt, eval_prompts[k]);
        assert_true(found);
    }
    /* deterministic in (seed, split, stream, index) */
    TaskItem a, b;
    t->sample(t, SPLIT_TRAIN, 9, 41, &a);
    t->sample(t, SPLIT_TRAIN, 9, 41, &b);
    assert_string_equal(a.prompt, b.prompt);
    xfree(eval_prompts);
    xfree(keys);
    t->destroy(t);
}

/* The demonstrator: always well formed, within 1..6 words, and its
 * completions differ in the preference (so comparisons can rank them);
 * over-optimised completions score far below its best. Prints the
 * measurements the README quotes. */
static void test_demonstrator_variety(void **st) {
    (void)st;
    Task *t = make_review(0);
    TaskItem it = topic();
    Rng rng;
    rng_seed(&rng, 11, 0);
    enum { N = 4000 };
    double sum = 0, sq = 0, lo = 1, hi = 0;
    int by_len[9] = {0}, thrice = 0;
    char out[TASK_MAX_TEXT];
    for (int i = 0; i < N; i++) {
        assert_int_equal(t->demonstrate(t, &it, &rng, out, sizeof out), 0);
        ReviewScore s;
        assert_int_equal(review_score(out, 1, &s), 1);
        assert_true(s.words >= 1 && s.words <= 6);
        by_len[s.words]++;
        thrice += s.repeats_over > 0;
        sum += s.score;
        sq += (double)s.score * s.score;
        lo = fmin(lo, s.score);
        hi = fmax(hi, s.score);
    }
    double mean = sum / N, sd = sqrt(sq / N - mean * mean);
    for (int w = 1; w <= 6; w++) assert_true(by_len[w] > N / 10);
    assert_true(sd > 0.05);
    assert_true(lo < 0.3 && hi > 0.7);
    assert_true(fabs(mean - 0.5) < 0.02); /* as many positive as negative words */
    assert_true(thrice < N / 20);         /* the repeat penalty is rarely seen */
    const char *hack[] = {"good good good good good good good good",
                          "good nice warm fun kind neat good nice warm fun kind neat",
                          "good good good good good good good good good good good"};
    printf("demonstrator: %d completions, preference mean %.4f sd %.4f min %.4f max %.4f, "
           "%.3f with a word used thrice\n",
           N, mean, sd, lo, hi, (double)thrice / N);
    for (size_t i = 0; i < sizeof hack / sizeof hack[0]; i++) {
        ReviewScore s;
        review_score(hack[i], 1, &s);
        printf("  '%s': raw %d, preference %.4f\n", hack[i], s.raw, s.score);
        assert_true(s.score < review_score_of_raw(8));
    }
    ReviewScore s;
    review_score(hack[0], 1, &s);
    assert_true(s.score < mean); /* repeating the best word is worse than the demonstrator */
    t->destroy(t);
}

static void test_labeler_choices(void **st) {
    (void)st;
    Task *t = make_review(0);
    TaskItem it = topic();
    Labeler l;
    char err[300];
    assert_int_equal(labeler_init(&l, t, 0, 5, err, sizeof err), 0);
    int flipped = 7;
    assert_int_equal(labeler_compare(&l, &it, "good", 1, "bad", 1, 0, &flipped), LABEL_FIRST);
    assert_int_equal(flipped, 0);
    assert_int_equal(labeler_compare(&l, &it, "bad", 1, "so good", 1, 1, NULL), LABEL_SECOND);
    /* identical, equally preferred, both malformed: ties */
    assert_int_equal(labeler_compare(&l, &it, "good", 1, "good", 1, 2, NULL), LABEL_TIE);
    assert_int_equal(labeler_compare(&l, &it, "it is", 1, "so", 1, 3, NULL), LABEL_TIE);
    assert_int_equal(labeler_compare(&l, &it, "xyz", 1, "good", 0, 4, NULL), LABEL_TIE);
    /* a well-formed completion, even a bad one, beats a malformed one */
    assert_int_equal(labeler_compare(&l, &it, "good!", 1, "bad poor", 1, 5, NULL), LABEL_SECOND);
    /* over-optimised: the repeated best word loses to a plain review */
    assert_int_equal(labeler_compare(&l, &it, "good good good good good", 1, "nice", 1, 6, NULL),
                     LABEL_SECOND);
    assert_int_equal(l.compared, 7);
    assert_int_equal(l.ties, 3);
    assert_int_equal(l.flips, 0);
    assert_float_equal(labeler_true_score(&l, &it, "good", 1), review_score_of_raw(1), 1e-7);
    /* refusals: a task with no hidden preference, noise above a coin */
    TaskParams p;
    task_params_default(&p);
    Task *arith = task_create("arith", &p, 1, err, sizeof err);
    assert_int_equal(labeler_init(&l, arith, 0, 5, err, sizeof err), -1);
    assert_non_null(strstr(err, "task arith reports no \"preference\" component"));
    arith->destroy(arith);
    assert_int_equal(labeler_init(&l, t, 0.6f, 5, err, sizeof err), -1);
    assert_non_null(strstr(err, "label_noise = 0.6"));
    assert_int_equal(labeler_init(&l, t, -0.1f, 5, err, sizeof err), -1);
    t->destroy(t);
}

/* Over 20000 pairs at noise 0.2 the flip rate is 0.2 within 0.02 (its
 * sd is 0.0028: seven sd, and the seed is fixed); each pair's label
 * depends on (seed, pair) alone: the same in any order, another seed
 * flips other pairs. */
static void test_labeler_noise_and_determinism(void **st) {
    (void)st;
    Task *t = make_review(0);
    TaskItem it = topic();
    Labeler a, b, c;
    char err[300];
    assert_int_equal(labeler_init(&a, t, 0.2f, 5, err, sizeof err), 0);
    assert_int_equal(labeler_init(&b, t, 0.2f, 5, err, sizeof err), 0);
    assert_int_equal(labeler_init(&c, t, 0.2f, 6, err, sizeof err), 0);
    enum { N = 20000 };
    int wrong = 0, differ = 0;
    for (int i = 0; i < N; i++) {
        Label la = labeler_compare(&a, &it, "good", 1, "bad", 1, (uint64_t)i, NULL);
        wrong += la != LABEL_FIRST;
        /* b labels the same pairs backwards in order */
        Label lb = labeler_compare(&b, &it, "good", 1, "bad", 1, (uint64_t)(N - 1 - i), NULL);
        (void)lb;
        differ += labeler_compare(&c, &it, "good", 1, "bad", 1, (uint64_t)i, NULL) != la;
    }
    assert_int_equal(a.flips, (uint64_t)wrong);
    assert_int_equal(a.flips, b.flips); /* the same set of pairs, in another order */
    double rate = (double)wrong / N;
    printf("labeler: noise 0.2, flip rate %.4f over %d pairs\n", rate, N);
    assert_true(fabs(rate - 0.2) < 0.02);
    assert_true(differ > N / 5); /* another seed, other flips */
    for (int i = 0; i < 50; i++) {
        Labeler x;
        labeler_init(&x, t, 0.2f, 5, err, sizeof err);
        int fa, fx;
        Label l1 = labeler_compare(&a, &it, "good", 1, "bad", 1, (uint64_t)i * 97, &fa);
        Label l2 = labeler_compare(&x, &it, "good", 1, "bad", 1, (uint64_t)i * 97, &fx);
        assert_int_equal(l1, l2);
        assert_int_equal(fa, fx);
    }
    /* noise 0: never a flip; ties take no flip */
    Labeler z;
    labeler_init(&z, t, 0, 5, err, sizeof err);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(labeler_compare(&z, &it, "bad", 1, "good", 1, (uint64_t)i, NULL),
                         LABEL_SECOND);
    labeler_init(&z, t, 0.5f, 5, err, sizeof err);
    for (int i = 0; i < 100; i++)
        assert_int_equal(labeler_compare(&z, &it, "good", 1, "good", 1, (uint64_t)i, NULL),
                         LABEL_TIE);
    assert_int_equal(z.flips, 0);
    t->destroy(t);
}

/* The collection from the demonstrator: the pairs asked for, the counts
 * add up, each chosen truly preferred at noise 0, prompts from the split
 * asked, the same pairs twice, and a longer run extends a shorter one. */
static void test_collect_demos(void **st) {
    (void)st;
    Task *t = make_review(0);
    Labeler l;
    char err[300];
    labeler_init(&l, t, 0, 3, err, sizeof err);
    RmSource src = rm_source_demos(t, 3);
    RmPairs a = {0}, b = {0}, e = {0};
    assert_int_equal(rm_collect(t, SPLIT_TRAIN, 500, &src, &l, &a, err, sizeof err), 0);
    assert_int_equal(a.n, 500);
    assert_int_equal(a.counts.candidates, 500 + a.counts.ties);
    assert_true(a.counts.ties > 50 && a.counts.ties < 300); /* about a quarter of pairs tie */
    assert_int_equal(a.counts.completions, 2 * a.counts.candidates);
    assert_int_equal(a.counts.well_formed, a.counts.completions);
    assert_int_equal(a.counts.flips, 0);
    for (int i = 0; i < a.n; i++) {
        ReviewScore c, r;
        review_score(a.p[i].chosen, 1, &c);
        review_score(a.p[i].rejected, 1, &r);
        assert_true(c.raw > r.raw);
        assert_false(task_id_is_eval(task_item_id(a.p[i].prompt), 20));
    }
    labeler_init(&l, t, 0, 3, err, sizeof err);
    assert_int_equal(rm_collect(t, SPLIT_TRAIN, 700, &src, &l, &b, err, sizeof err), 0);
    for (int i = 0; i < a.n; i++) {
        assert_string_equal(a.p[i].prompt, b.p[i].prompt);
        assert_string_equal(a.p[i].chosen, b.p[i].chosen);
        assert_string_equal(a.p[i].rejected, b.p[i].rejected);
    }
    assert_int_equal(rm_collect(t, SPLIT_EVAL, 100, &src, &l, &e, err, sizeof err), 0);
    for (int i = 0; i < e.n; i++) assert_true(task_id_is_eval(task_item_id(e.p[i].prompt), 20));
    /* the JSON lines parse back to the same pairs, three fields each */
    size_t len;
    char *text = rm_pairs_jsonl(&a, &len);
    assert_int_equal(strlen(text), len);
    char *line = text;
    for (int i = 0; i < a.n; i++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)(nl - line), 0, &je);
        assert_non_null(o);
        assert_int_equal(json_object_size(o), 3);
        assert_string_equal(json_string_value(json_object_get(o, "prompt")), a.p[i].prompt);
        assert_string_equal(json_string_value(json_object_get(o, "chosen")), a.p[i].chosen);
        assert_string_equal(json_string_value(json_object_get(o, "rejected")), a.p[i].rejected);
        json_decref(o);
        line = nl + 1;
    }
    assert_int_equal(*line, 0);
    xfree(text);
    char path[64];
    rm_eval_path("d/pairs.jsonl", "", path, sizeof path);
    assert_string_equal(path, "d/pairs.eval.jsonl");
    rm_eval_path("pairs", "", path, sizeof path);
    assert_string_equal(path, "pairs.eval.jsonl");
    rm_eval_path("pairs.jsonl", "x.jsonl", path, sizeof path);
    assert_string_equal(path, "x.jsonl");
    rm_pairs_free(&a);
    rm_pairs_free(&b);
    rm_pairs_free(&e);
    rm_source_free(&src);
    t->destroy(t);
}

/* A policy in process (random weights) under a greedy sampler: a
 * prompt's two completions are identical, every pair ties, and the
 * collection gives up naming the ties and the likely cause. (Sampled
 * pairs from a trained policy: the end-to-end test.) */
static void test_collect_policy_in_process(void **st) {
    (void)st;
    Tokenizer tok;
    tokenizer_init_char(&tok);
    ModelConfig mc = {.vocab_size = tok.vocab_size, .dim = 32, .n_layers = 1, .n_heads = 4,
                      .n_kv_heads = 2, .hidden_dim = 48, .max_seq_len = 64, .tied_embeddings = 1,
                      .rope_theta = 10000, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &mc);
    model_init_weights(&m, 5);
    Task *t = make_review(0);
    Labeler l;
    char err[400];
    labeler_init(&l, t, 0, 3, err, sizeof err);
    SamplerConfig sc = {.temperature = 0, .top_p = 1.0f, .max_new_tokens = 48};
    RmSource src = rm_source_policy(&m, &tok, &sc, 3);
    RmPairs g = {0};
    assert_int_equal(rm_collect(t, SPLIT_TRAIN, 5, &src, &l, &g, err, sizeof err), -1);
    assert_non_null(strstr(err, "only 0 of 5 training pairs after"));
    assert_non_null(strstr(err, "temperature 0"));
    assert_int_equal(g.n, 0);
    assert_int_equal(g.counts.ties, g.counts.candidates);
    rm_pairs_free(&g);
    rm_source_free(&src);
    t->destroy(t);
    model_free(&m);
}

/* Reads a pairs file: each line three non-empty strings, chosen well
 * formed and (when rejected was not cut at the length limit, 48 tokens)
 * truly preferred at noise 0, prompts of the split expected. Returns the
 * count of lines, and of lines whose label disagrees with the truth. */
static int check_pairs(const char *path, int want_eval, int *disagree) {
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char line[4096];
    int n = 0;
    *disagree = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("%s line %d: not JSON: %s", path, n + 1, je.text);
        assert_int_equal(json_object_size(o), 3);
        const char *p = json_string_value(json_object_get(o, "prompt"));
        const char *c = json_string_value(json_object_get(o, "chosen"));
        const char *r = json_string_value(json_object_get(o, "rejected"));
        assert_true(p && c && r && *p && *c);
        assert_int_equal(task_id_is_eval(task_item_id(p), 20), want_eval);
        ReviewScore sc, sr;
        review_score(c, 1, &sc);
        review_score(r, strlen(r) < 48, &sr);
        *disagree += !(sc.score > sr.score);
        json_decref(o);
        n++;
    }
    fclose(f);
    return n;
}

static void test_rm_data_end_to_end(void **st) {
    (void)st;
    char ckpt[300], out[300], held[300], log[300], again[300];
    snprintf(ckpt, sizeof ckpt, "%s/a/sft.ckpt", tmp);
    snprintf(out, sizeof out, "%s/pairs.jsonl", tmp);
    snprintf(held, sizeof held, "%s/pairs.eval.jsonl", tmp);
    snprintf(again, sizeof again, "%s/again.jsonl", tmp);
    snprintf(log, sizeof log, "%s/rm.log", tmp);
    assert_int_equal(run("%s rm-data --checkpoint %s --out %s rm_data.pairs=300 "
                         "rm_data.eval_pairs=40 %s > %s 2>&1",
                         bin, ckpt, out, TINY, log),
                     0);
    int dis, dis_eval;
    assert_int_equal(check_pairs(out, 0, &dis), 300);
    assert_int_equal(check_pairs(held, 1, &dis_eval), 40);
    assert_int_equal(dis + dis_eval, 0);
    assert_int_equal(run("grep -q 'train: wrote 300 pairs to %s; .* ties skipped' %s", out, log), 0);
    assert_int_equal(run("grep -q 'held-out: wrote 40 pairs to %s' %s", held, log), 0);
    assert_int_equal(run("grep -q 'hidden preference mean' %s", log), 0);
    /* the same run again: the same file */
    assert_int_equal(run("%s rm-data --checkpoint %s --out %s rm_data.pairs=300 "
                         "rm_data.eval_pairs=0 %s > %s 2>&1",
                         bin, ckpt, again, TINY, log),
                     0);
    assert_int_equal(run("cmp -s %s %s", out, again), 0);
    assert_int_equal(run("test -e %s/again.eval.jsonl", tmp), 1); /* eval_pairs=0: none */
    /* noise: some labels flipped and counted; the held-out file stays true */
    assert_int_equal(run("%s rm-data --checkpoint %s --out %s rm_data.pairs=300 "
                         "rm_data.eval_pairs=40 rm_data.label_noise=0.25 %s > %s 2>&1",
                         bin, ckpt, again, TINY, log),
                     0);
    check_pairs(again, 0, &dis);
    assert_true(dis > 30 && dis < 130); /* 75 expected */
    assert_int_equal(run("grep -q 'train: .* %d labels flipped' %s", dis, log), 0);
    check_pairs(held, 1, &dis_eval);
    assert_int_equal(dis_eval, 0);
    /* demos: no checkpoint */
    assert_int_equal(run("%s rm-data rm_data.source=demos --out %s rm_data.pairs=100 %s > %s 2>&1",
                         bin, again, TINY, log),
                     0);
    assert_int_equal(check_pairs(again, 0, &dis), 100);
    assert_int_equal(dis, 0);
    assert_int_equal(run("grep -q 'source demos' %s", log), 0);
    /* usage and setup errors, each named */
    assert_int_equal(run("%s rm-data --checkpoint %s %s > %s 2>&1", bin, ckpt, TINY, log), 2);
    assert_int_equal(run("grep -q 'rm-data needs --out FILE.jsonl and --checkpoint' %s", log), 0);
    assert_int_equal(run("%s rm-data --out %s %s > %s 2>&1", bin, again, TINY, log), 2);
    assert_int_equal(run("%s rm-data rm_data.source=demos --checkpoint %s --out %s %s > %s 2>&1",
                         bin, ckpt, again, TINY, log),
                     2);
    assert_int_equal(run("grep -q 'drop --checkpoint' %s", log), 0);
    assert_int_equal(run("%s rm-data rm_data.source=demos --out %s task.name=arith > %s 2>&1",
                         bin, again, log),
                     1);
    assert_int_equal(run("grep -q 'task arith reports no \"preference\" component' %s", log), 0);
    assert_int_equal(run("%s rm-data --checkpoint %s --out %s/no/such/dir.jsonl rm_data.pairs=4 "
                         "%s > %s 2>&1",
                         bin, ckpt, tmp, TINY, log),
                     7);
    assert_int_equal(run("grep -q 'cannot write %s/no/such/dir.jsonl' %s", tmp, log), 0);
    assert_int_equal(run("%s rm-data --checkpoint %s --out %s %s sampler.temperature=0 "
                         "rm_data.pairs=4 > %s 2>&1",
                         bin, ckpt, again, TINY, log),
                     1);
    assert_int_equal(run("grep -q 'every pair ties' %s && grep -q 'nothing written' %s", log, log),
                     0);
    /* the shipped config loads */
    const char *tests_dir = getenv("GRPO_TESTS_DIR");
    assert_int_equal(run("%s config --config %s/../deploy/review.ini > %s 2>&1", bin,
                         tests_dir ? tests_dir : "tests", log),
                     0);
    assert_int_equal(run("grep -q '^name *= review' %s", log), 0);
}

static int setup(void **state) {
    (void)state;
    bin = grpo_bin();
    /* a tiny SFT model of the demonstrator: about 5 s */
    return make_sft_fixture(tmp, sizeof tmp, "review", bin,
                            "sft.steps=600 sft.batch_size=32 eval.prompts=16 eval.pass_k=2", TINY);
}

static int teardown(void **state) {
    (void)state;
    remove_test_dir(tmp);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preference_values),
        cmocka_unit_test(test_verify_components),
        cmocka_unit_test(test_tokenizer_and_fits),
        cmocka_unit_test(test_splits_disjoint),
        cmocka_unit_test(test_demonstrator_variety),
        cmocka_unit_test(test_labeler_choices),
        cmocka_unit_test(test_labeler_noise_and_determinism),
        cmocka_unit_test(test_collect_demos),
        cmocka_unit_test(test_collect_policy_in_process),
        cmocka_unit_test(test_rm_data_end_to_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
