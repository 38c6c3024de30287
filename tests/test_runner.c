/* The test runner itself (tests/run_tests.sh), on fake build folders whose
 * "test binaries" are scripts printing cmocka's output: the summary counts
 * skips ("N passed, M failed, K skipped"), also a skip inside a binary that
 * otherwise passes, and with CI=true a skip fails the run unless the
 * allow-list names it with a reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp[256];
static const char *tests_dir;

/* cmocka 1.1's output for a group of two tests, one of them skipped */
static const char *ONE_SKIP =
    "[==========] Running 2 test(s).\n"
    "[ RUN      ] test_a\n"
    "[       OK ] test_a\n"
    "[ RUN      ] test_needs_x\n"
    "[  SKIPPED ] test_needs_x\n"
    "[==========] 2 test(s) run.\n"
    "[  PASSED  ] 1 test(s).\n"
    "[  SKIPPED ] 1 test(s), listed below:\n"
    "[  SKIPPED ] test_needs_x\n"
    "\n"
    " 1 SKIPPED TEST(S)\n";

static const char *ALL_PASS =
    "[==========] Running 2 test(s).\n"
    "[ RUN      ] test_b\n"
    "[       OK ] test_b\n"
    "[ RUN      ] test_c\n"
    "[       OK ] test_c\n"
    "[==========] 2 test(s) run.\n"
    "[  PASSED  ] 2 test(s).\n";

/* Writes an executable fake test binary printing out and exiting 0. */
static void fake(const char *name, const char *out) {
    char path[400];
    snprintf(path, sizeof path, "%s/build/tests/%s", tmp, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\ncat <<'EOF'\n%sEOF\n", out);
    fclose(f);
    assert_int_equal(run("chmod +x %s", path), 0);
}

static void allow(const char *text) {
    char path[400];
    snprintf(path, sizeof path, "%s/allow.txt", tmp);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    tests_dir = getenv("GRPO_TESTS_DIR");
    if (!tests_dir) tests_dir = "tests";
    snprintf(tmp, sizeof tmp, "/tmp/grpo_test_runner_%d", (int)getpid());
    if (run("mkdir -p %s/build/tests", tmp) != 0) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    remove_test_dir(tmp);
    return 0;
}

/* Runs the runner on the fake build folder (without the caller's
 * TEST_FILTER), with CI set to ci ("" = unset); returns its exit status,
 * output in tmp/runner.log. */
static int runner(const char *ci) {
    char env[64] = "";
    if (ci[0]) snprintf(env, sizeof env, "CI=%s", ci);
    int rc = run("env -u TEST_FILTER -u CI %s GRPO_EXPECTED_SKIPS=%s/allow.txt bash %s/run_tests.sh "
                 "%s/build > %s/runner.log 2>&1",
                 env, tmp, tests_dir, tmp, tmp);
    /* indented, so that the outer runner does not count these lines */
    run("sed 's/^/    | /' %s/runner.log", tmp);
    return rc;
}

/* text must not hold a double quote, '$' or '`' */
static int log_has(const char *text) {
    return run("grep -qF \"%s\" %s/runner.log", text, tmp) == 0;
}

static void test_skip_counted_in_passing_binary(void **state) {
    (void)state;
    fake("test_fake_all", ALL_PASS);
    fake("test_fake_skip", ONE_SKIP);
    allow("# none\n");
    assert_int_equal(runner(""), 0);
    assert_true(log_has("3 passed, 0 failed, 1 skipped"));
    assert_true(log_has("skipped: test_fake_skip:test_needs_x"));
}

static void test_ci_fails_on_unexpected_skip(void **state) {
    (void)state;
    allow("# none\n");
    assert_int_not_equal(runner("true"), 0);
    assert_true(log_has("3 passed, 0 failed, 1 skipped"));
    assert_true(log_has("CI=true: 1 unexpected skip(s) fail the run: test_fake_skip:test_needs_x"));
    /* CI is "true" only when it says so */
    assert_int_equal(runner("false"), 0);
}

static void test_ci_accepts_listed_skip(void **state) {
    (void)state;
    allow("# binary:test reason\n"
          "test_fake_skip:test_needs_x  needs hardware X, which CI does not have\n");
    assert_int_equal(runner("true"), 0);
    assert_true(log_has("3 passed, 0 failed, 1 skipped"));
    assert_true(log_has("(expected: needs hardware X, which CI does not have)"));
    /* another test of the same name in another binary is not covered */
    fake("test_fake_skip2", ONE_SKIP);
    assert_int_not_equal(runner("true"), 0);
    assert_true(log_has("4 passed, 0 failed, 2 skipped"));
    assert_true(log_has("unexpected skip(s) fail the run: test_fake_skip2:test_needs_x"));
    run("rm -f %s/build/tests/test_fake_skip2", tmp);
}

static void test_allow_list_entry_needs_reason(void **state) {
    (void)state;
    allow("test_fake_skip:test_needs_x\n");
    assert_int_equal(runner("true"), 2);
    assert_true(log_has("allow.txt:1: expected 'test_binary:test_name reason', found "
                        "'test_fake_skip:test_needs_x'"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skip_counted_in_passing_binary),
        cmocka_unit_test(test_ci_fails_on_unexpected_skip),
        cmocka_unit_test(test_ci_accepts_listed_skip),
        cmocka_unit_test(test_allow_list_entry_needs_reason),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
