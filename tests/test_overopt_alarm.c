/* test_overopt_alarm.c: the over-optimisation alarm (learner/overopt_alarm.h)
 * on made-up component trajectories: a proxy rising while the truth falls
 * raises it once; both rising, a flat truth, a single noisy step, or a
 * missing component do not; it clears when the truth recovers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "overopt_alarm.h"

static const char *const names[] = {"accuracy", "preference", "rm"};

static AlarmSettings settings(void) {
    AlarmSettings s = {.proxy = "rm", .truth = "preference", .window = 5,
                       .min_rise = 0.02f, .min_fall = 0.02f};
    return s;
}

/* Feeds steps of (truth, proxy) pairs; returns how many times it turned on. */
static int feed(OveroptAlarm *a, const double *truth, const double *proxy, int n) {
    int turned_on = 0;
    for (int i = 0; i < n; i++) {
        double c[3] = {1, truth[i], proxy[i]};
        turned_on += overopt_alarm_feed(a, c) == 1;
    }
    return turned_on;
}

static void test_slope(void **state) {
    (void)state;
    double y[] = {1, 3, 5, 7};
    assert_true(fabs(overopt_trend_slope(y, 4) - 2.0) < 1e-12);
    double z[] = {4, 4, 4};
    assert_true(fabs(overopt_trend_slope(z, 3)) < 1e-12);
    assert_true(overopt_trend_slope(y, 1) == 0);
}

static void test_raises_once_when_proxy_rises_and_truth_falls(void **state) {
    (void)state;
    OveroptAlarm a;
    AlarmSettings s = settings();
    assert_int_equal(overopt_alarm_init(&a, &s, names, 3), 1);
    double truth[12], proxy[12];
    for (int i = 0; i < 12; i++) {
        proxy[i] = 0.5 + 0.02 * i;                 /* +0.08 per window of 5 */
        truth[i] = i < 4 ? 0.4 + 0.01 * i : 0.43 - 0.02 * (i - 3); /* turns down at step 4 */
    }
    assert_int_equal(feed(&a, truth, proxy, 12), 1);
    assert_int_equal(a.on, 1);
    assert_true(a.proxy_trend > 0.07 && a.truth_trend < -0.07);
    /* the truth recovers: it clears */
    int cleared = 0;
    for (int i = 0; i < 6; i++) {
        double c[3] = {1, 0.3 + 0.05 * i, 0.8 + 0.02 * i};
        cleared += overopt_alarm_feed(&a, c) == -1;
    }
    assert_int_equal(cleared, 1);
    assert_int_equal(a.on, 0);
}

static void test_quiet_when_both_rise_or_truth_flat(void **state) {
    (void)state;
    OveroptAlarm a;
    AlarmSettings s = settings();
    double truth[20], proxy[20];
    for (int i = 0; i < 20; i++) {
        proxy[i] = 0.5 + 0.02 * i;
        truth[i] = 0.3 + 0.01 * i;
    }
    overopt_alarm_init(&a, &s, names, 3);
    assert_int_equal(feed(&a, truth, proxy, 20), 0);
    for (int i = 0; i < 20; i++) truth[i] = 0.4;
    overopt_alarm_init(&a, &s, names, 3);
    assert_int_equal(feed(&a, truth, proxy, 20), 0);
    assert_int_equal(a.raised, 0);
}

static void test_one_noisy_step_does_not_raise(void **state) {
    (void)state;
    OveroptAlarm a;
    AlarmSettings s = settings();
    s.window = 10;
    overopt_alarm_init(&a, &s, names, 3);
    double truth[30], proxy[30];
    for (int i = 0; i < 30; i++) {
        proxy[i] = 0.5 + 0.01 * i;
        truth[i] = 0.4 + 0.003 * i;
    }
    truth[20] = 0.1; /* one bad step */
    assert_int_equal(feed(&a, truth, proxy, 30), 0);
}

static void test_off_without_both_components(void **state) {
    (void)state;
    OveroptAlarm a;
    AlarmSettings s = settings();
    assert_int_equal(overopt_alarm_init(&a, &s, names, 2), 0); /* no "rm" */
    double c[3] = {1, 0, 1};
    for (int i = 0; i < 20; i++) assert_int_equal(overopt_alarm_feed(&a, c), 0);
    snprintf(s.truth, sizeof s.truth, "rm"); /* the same component twice */
    assert_int_equal(overopt_alarm_init(&a, &s, names, 3), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slope),
        cmocka_unit_test(test_raises_once_when_proxy_rises_and_truth_falls),
        cmocka_unit_test(test_quiet_when_both_rise_or_truth_flat),
        cmocka_unit_test(test_one_noisy_step_does_not_raise),
        cmocka_unit_test(test_off_without_both_components),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
