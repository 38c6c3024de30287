/* Held-out evaluation as the actors run it: shares of the held-out set
 * (eval_share) add up to exactly the tally of the whole set evaluated in
 * one process, for any number of actors; the report a tally travels in
 * round-trips bit-exactly and hostile reports are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "eval.h"
#include "eval_report.h"
#include "util.h"

typedef struct {
    Model m;
    Tokenizer tok;
    Task *task;
    SamplerConfig sc;
} Fixture;

static int setup(void **state) {
    Fixture *f = xcalloc(1, sizeof *f);
    tokenizer_init_char(&f->tok);
    ModelConfig mc = {.vocab_size = f->tok.vocab_size, .dim = 32, .n_layers = 1, .n_heads = 4,
                      .n_kv_heads = 2, .hidden_dim = 48, .max_seq_len = 24, .tied_embeddings = 1,
                      .rope_theta = 10000, .norm_eps = 1e-5f};
    model_init(&f->m, &mc);
    model_init_weights(&f->m, 5);
    TaskParams p;
    task_params_default(&p);
    p.eval_permille = 200; /* a held-out split larger than the prompts asked */
    char err[300];
    f->task = task_create("arith", &p, 3, err, sizeof err);
    assert_non_null(f->task);
    f->sc = (SamplerConfig){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .max_new_tokens = 6};
    *state = f;
    return 0;
}

static int teardown(void **state) {
    Fixture *f = *state;
    f->task->destroy(f->task);
    model_free(&f->m);
    xfree(f);
    return 0;
}

static void test_shares_cover_once(void **state) {
    (void)state;
    for (int n = 1; n <= 300; n += 37)
        for (int a = 1; a <= 5; a++) {
            int next = 0;
            for (int i = 0; i < a; i++) {
                int lo, hi;
                eval_share(n, i, a, &lo, &hi);
                assert_int_equal(lo, next);
                assert_true(hi >= lo && hi <= n);
                next = hi;
            }
            assert_int_equal(next, n);
        }
}

static void test_shares_sum_to_whole(void **state) {
    Fixture *f = *state;
    const int n = 150, k = 2;
    TaskEvalSet set;
    char err[300];
    assert_int_equal(task_eval_set(f->task, n, &set, err, sizeof err), 0);
    assert_int_equal(set.n, n);
    EvalTally whole;
    eval_tally(&f->m, &f->tok, f->task, &set, &f->sc, 0, n, k, 99, 0, NULL, &whole);
    assert_true(whole.n_prompts == n);
    for (int a = 2; a <= 3; a++) {
        EvalTally sum;
        memset(&sum, 0, sizeof sum);
        for (int i = 0; i < a; i++) {
            int lo, hi;
            eval_share(n, i, a, &lo, &hi);
            EvalTally t;
            eval_tally(&f->m, &f->tok, f->task, &set, &f->sc, lo, hi, k, 99, 0, NULL, &t);
            eval_tally_add(&sum, &t);
        }
        assert_true(sum.n_prompts == whole.n_prompts);
        assert_true(sum.greedy_ok == whole.greedy_ok);
        assert_true(sum.sampled_ok == whole.sampled_ok);
        assert_true(sum.passed == whole.passed);
        assert_true(sum.len == whole.len);
        for (int q = 0; q < TASK_MAX_COMPONENTS; q++) assert_true(sum.comp[q] == whole.comp[q]);
    }
    task_eval_set_free(&set);
    EvalResult r;
    evaluate(&f->m, &f->tok, f->task, &f->sc, n, k, 99, &r);
    assert_int_equal(r.n_prompts, n);
    assert_true(fabs(r.greedy_acc - whole.greedy_ok / n) < 1e-12);
    assert_true(fabs(r.pass_at_k - whole.passed / n) < 1e-12);
}

static void test_report_round_trip_and_hostile(void **state) {
    (void)state;
    EvalTally t;
    memset(&t, 0, sizeof t); /* padding too: the round trip is compared bytewise */
    t = (EvalTally){.k = 8, .asked = 500, .whole_split = 1, .version = 41, .n_prompts = 64,
                    .greedy_ok = 30, .comp = {30, 60.5, 0, 0}, .len = 211, .sampled_ok = 250,
                    .passed = 50};
    uint8_t b[EVAL_REPORT_BYTES];
    eval_report_encode(&t, b);
    EvalTally u;
    char err[200];
    assert_int_equal(eval_report_decode(b, sizeof b, &u, err, sizeof err), 0);
    assert_int_equal(u.k, 8);
    assert_int_equal(u.asked, 500);
    assert_int_equal(u.whole_split, 1);
    assert_true(u.version == 41);
    const double want[] = {64, 30, 30, 60.5, 0, 0, 211, 250, 50};
    const double got[] = {u.n_prompts, u.greedy_ok, u.comp[0],   u.comp[1], u.comp[2],
                          u.comp[3],   u.len,       u.sampled_ok, u.passed};
    for (int i = 0; i < 9; i++) assert_true(got[i] == want[i]);
    EvalResult r;
    eval_result_from_tally(&u, 2, &r);
    assert_int_equal(r.n_prompts, 64);
    assert_true(fabs(r.sampled_acc - 250.0 / (64 * 8)) < 1e-12);
    /* wrong length, bad magic, a count above the prompts, a NaN */
    assert_int_equal(eval_report_decode(b, sizeof b - 1, &u, err, sizeof err), -1);
    assert_non_null(strstr(err, "96-byte"));
    uint8_t c[EVAL_REPORT_BYTES];
    memcpy(c, b, sizeof c);
    c[0] = 'X';
    assert_int_equal(eval_report_decode(c, sizeof c, &u, err, sizeof err), -1);
    EvalTally bad = t;
    bad.greedy_ok = 65;
    eval_report_encode(&bad, c);
    assert_int_equal(eval_report_decode(c, sizeof c, &u, err, sizeof err), -1);
    assert_non_null(strstr(err, "exceed"));
    bad = t;
    bad.len = NAN;
    eval_report_encode(&bad, c);
    assert_int_equal(eval_report_decode(c, sizeof c, &u, err, sizeof err), -1);
    assert_non_null(strstr(err, "not finite"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shares_cover_once),
        cmocka_unit_test(test_shares_sum_to_whole),
        cmocka_unit_test(test_report_round_trip_and_hostile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
