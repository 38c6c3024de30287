/* test_eval_samples.c: the held-out samples message (proto/eval_samples.h)
 * and samples.jsonl (learner/samples_log.h).
 *
 * A round trip gives back every field; every hostile message (truncated,
 * a trailing byte, a count over its cap, a length running past the end or
 * wrapping around, a NaN reward, a NUL in a text, unsorted indices) is
 * rejected with its own message, leaves the set empty and never crashes.
 * Hostile messages are patched at the offsets the header documents. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval_samples.h"
#include "samples_log.h"
#include "util.h"
#include "wire.h"

/* Three samples with awkward texts: quotes, a newline, an empty completion. */
static void make_set(EvalSampleSet *set) {
    eval_samples_init(set, 2);
    set->version = 0x0123456789ABCDEFull;
    const double r0[2] = {1, 1}, r1[2] = {0, 0.5}, r2[2] = {0, 0};
    eval_samples_add(set, 0, 1, 57, r0, "12+34=", "<think>2+4=6\n1+3=4</think><answer>46</answer>");
    eval_samples_add(set, 3, 0, 2, r1, "say \"hi\"=", "\\\"");
    eval_samples_add(set, 9, 0, 1, r2, "7*8=", "");
}

static void encode(const EvalSampleSet *set, uint8_t **msg, size_t *len) {
    eval_samples_encode(set, msg, len);
}

static void test_round_trip(void **state) {
    (void)state;
    EvalSampleSet a, b;
    make_set(&a);
    uint8_t *msg;
    size_t len;
    encode(&a, &msg, &len);
    eval_samples_init(&b, 0);
    char err[300] = "";
    if (eval_samples_decode(msg, len, &b, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.n_components, 2);
    assert_true(b.version == a.version);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(b.s[i].index, a.s[i].index);
        assert_int_equal(b.s[i].correct, a.s[i].correct);
        assert_int_equal(b.s[i].tokens, a.s[i].tokens);
        assert_string_equal(b.s[i].prompt, a.s[i].prompt);
        assert_string_equal(b.s[i].text, a.s[i].text);
        for (int q = 0; q < 2; q++) assert_true(b.s[i].reward[q] == a.s[i].reward[q]);
    }
    free(msg);
    /* an empty set is a valid 24-byte message */
    EvalSampleSet e;
    eval_samples_init(&e, 2);
    encode(&e, &msg, &len);
    assert_int_equal(len, EVAL_SAMPLES_HEADER);
    assert_int_equal(eval_samples_decode(msg, len, &b, err, sizeof err), 0);
    assert_int_equal(b.n, 0);
    free(msg);
    eval_samples_free(&e);
    eval_samples_free(&a);
    eval_samples_free(&b);
}

/* Decodes msg patched by the caller; expects a rejection whose message
 * contains want, and an empty set. */
static void expect_bad(const uint8_t *msg, size_t len, const char *want) {
    EvalSampleSet b;
    eval_samples_init(&b, 0);
    char err[300] = "";
    assert_int_equal(eval_samples_decode(msg, len, &b, err, sizeof err), -1);
    if (!strstr(err, want)) fail_msg("error '%s' does not say '%s'", err, want);
    assert_int_equal(b.n, 0);
    eval_samples_free(&b);
}

static void test_hostile_messages_rejected(void **state) {
    (void)state;
    EvalSampleSet a;
    make_set(&a);
    uint8_t *msg;
    size_t len;
    encode(&a, &msg, &len);
    uint8_t *m = xmalloc(len + 1);
    const size_t s0 = EVAL_SAMPLES_HEADER; /* first sample */
    const size_t s1 = s0 + EVAL_SAMPLE_FIXED + strlen(a.s[0].prompt) + strlen(a.s[0].text);
#define PATCH(stmt, want)         \
    do {                          \
        memcpy(m, msg, len);      \
        stmt;                     \
        expect_bad(m, len, want); \
    } while (0)
    PATCH(memcpy(m, "GEVL", 4), "not a GSMP message");
    PATCH(wire_put_u32(m + 4, EVAL_SAMPLES_MAX + 1), "more samples than EVAL_SAMPLES_MAX");
    PATCH(wire_put_u32(m + 4, UINT32_MAX), "more samples than EVAL_SAMPLES_MAX");
    PATCH(wire_put_u32(m + 16, TASK_MAX_COMPONENTS + 1), "more reward components");
    PATCH(wire_put_u32(m + 20, 1), "reserved word is not 0");
    PATCH(wire_put_u32(m + 4, 4), "ends inside the fixed part of sample");
    PATCH(wire_put_u32(m + 4, 2), "trailing bytes");
    PATCH(wire_put_u32(m + s0 + 4, 2), "correct is neither 0 nor 1");
    PATCH(wire_put_u32(m + s0 + 12, EVAL_SAMPLE_TEXT_MAX + 1), "longer than EVAL_SAMPLE_TEXT_MAX");
    PATCH(wire_put_u32(m + s0 + 16, UINT32_MAX), "longer than EVAL_SAMPLE_TEXT_MAX");
    PATCH(wire_put_u32(m + s0 + 16, (uint32_t)len), "run past the end");
    PATCH(wire_put_f64(m + s0 + 20, NAN), "non-finite reward");
    PATCH(wire_put_f64(m + s0 + 28, INFINITY), "non-finite reward");
    PATCH(m[s0 + EVAL_SAMPLE_FIXED + 1] = 0, "NUL byte");
    PATCH(wire_put_u32(m + s1, 0), "not strictly increasing");
    /* every truncation, and one byte too many */
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(m, msg, len);
        EvalSampleSet b;
        eval_samples_init(&b, 0);
        char err[300];
        if (eval_samples_decode(m, cut, &b, err, sizeof err) == 0)
            fail_msg("a message cut to %zu of %zu bytes decoded", cut, len);
        assert_int_equal(b.n, 0);
        eval_samples_free(&b);
    }
    memcpy(m, msg, len);
    m[len] = 'x';
    expect_bad(m, len + 1, "trailing bytes");
    expect_bad(NULL, 0, "not a GSMP message");
    /* any single flipped byte: decoded or refused, never a crash */
    for (size_t i = 0; i < len; i++) {
        memcpy(m, msg, len);
        m[i] ^= 0xA5;
        EvalSampleSet b;
        eval_samples_init(&b, 0);
        char err[300];
        eval_samples_decode(m, len, &b, err, sizeof err);
        eval_samples_free(&b);
    }
#undef PATCH
    xfree(m);
    free(msg);
    eval_samples_free(&a);
}

/* The actors' shares arrive in any order; the learner's set is by index. */
static void test_merge_sorts_by_index(void **state) {
    (void)state;
    EvalSampleSet all, late, early;
    eval_samples_init(&all, 1);
    eval_samples_init(&late, 1);
    eval_samples_init(&early, 1);
    const double r[1] = {1};
    eval_samples_add(&late, 64, 1, 3, r, "b=", "2");
    eval_samples_add(&late, 65, 1, 3, r, "c=", "3");
    eval_samples_add(&early, 1, 0, 3, r, "a=", "1");
    late.version = early.version = 5;
    eval_samples_merge(&all, &late);
    eval_samples_merge(&all, &early);
    assert_int_equal(all.n, 3);
    assert_int_equal(late.n, 0);
    assert_int_equal(all.s[0].index, 1);
    assert_int_equal(all.s[1].index, 64);
    assert_int_equal(all.s[2].index, 65);
    assert_string_equal(all.s[2].text, "3");
    assert_true(all.version == 5);
    eval_samples_free(&all);
    eval_samples_free(&late);
    eval_samples_free(&early);
}

/* samples.jsonl: one JSON object per sample with the step, the version,
 * the texts (escaped) and each reward component by name; the console gets
 * the first sample on one line. */
static void test_samples_jsonl_lines_parse(void **state) {
    (void)state;
    char dir[] = "/tmp/grpo_test_samples_XXXXXX", path[128], err[600];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    LineFile lf;
    assert_int_equal(linefile_open(&lf, path, 0, err, sizeof err), 0);
    EvalSampleSet a;
    make_set(&a);
    const char *names[] = {"accuracy", "format"};
    char *out = NULL;
    size_t outlen = 0;
    FILE *console = open_memstream(&out, &outlen);
    assert_int_equal(samples_log_write(&lf, names, 12, &a, console, err, sizeof err), 0);
    fclose(console);
    assert_int_equal(linefile_close(&lf, err, sizeof err), 0);
    /* one line, the newline of the think part escaped */
    assert_non_null(strstr(out, "step 12, held-out #0"));
    assert_non_null(strstr(out, "2+4=6\\n1+3=4"));
    assert_non_null(strstr(out, "accuracy 1 format 1"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)outlen);
    free(out);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("line %d is not JSON: %s", n + 1, je.text);
        assert_int_equal(json_integer_value(json_object_get(o, "step")), 12);
        assert_true((uint64_t)json_integer_value(json_object_get(o, "version")) == a.version);
        assert_int_equal(json_integer_value(json_object_get(o, "index")), a.s[n].index);
        assert_string_equal(json_string_value(json_object_get(o, "prompt")), a.s[n].prompt);
        assert_string_equal(json_string_value(json_object_get(o, "completion")), a.s[n].text);
        json_t *r = json_object_get(o, "reward");
        assert_true(json_real_value(json_object_get(r, "format")) == a.s[n].reward[1]);
        assert_non_null(json_object_get(o, "correct"));
        json_decref(o);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 3);
    eval_samples_free(&a);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_hostile_messages_rejected),
        cmocka_unit_test(test_merge_sorts_by_index),
        cmocka_unit_test(test_samples_jsonl_lines_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
