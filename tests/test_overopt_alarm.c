/* test_overopt_alarm.c: the over-optimisation alarm (learner/overopt_alarm.h)
 * on made-up component trajectories: a proxy rising (or saturated) while
 * the truth falls raises it once; both rising, a flat truth, the proxy
 * falling with the truth, one noisy step, or a missing component do not;
 * it clears when the truth recovers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "overopt_alarm.h"

static const char *const names[] = {"accuracy", "preference", "rm"};

static AlarmSettings settings(int window) {
    AlarmSettings s = {.proxy = "rm", .truth = "preference", .window = window, .min_fall = 0.03f};
    return s;
}

/* Feeds steps of (truth, proxy); returns how many times it turned on, and
 * the first step it was on in *first (-1 if never). */
static int feed(OveroptAlarm *a, const double *truth, const double *proxy, int n, int *first) {
    int turned_on = 0;
    if (first) *first = -1;
    for (int i = 0; i < n; i++) {
        double c[3] = {1, truth[i], proxy[i]};
        if (overopt_alarm_feed(a, c) == 1) {
            turned_on++;
            if (first && *first < 0) *first = i;
        }
    }
    return turned_on;
}

static void test_raises_once_when_proxy_rises_and_truth_falls(void **state) {
    (void)state;
    OveroptAlarm a;
    AlarmSettings s = settings(5);
    assert_int_equal(overopt_alarm_init(&a, &s, names, 3), 1);
    double truth[30], proxy[30];
    for (int i = 0; i < 30; i++) {
        proxy[i] = 0.5 + 0.01 * i;
        truth[i] = i < 10 ? 0.4 + 0.01 * i : 0.49 - 0.01 * (i - 9); /* peaks at step 9 */
    }
    int first;
    assert_int_equal(feed(&a, truth, proxy, 30, &first), 1);
    /* the smoothed truth peaks at steps 9-11 and is 0.03 down about 3 steps later */
    assert_true(first >= 13 && first <= 16);
    assert_int_equal(a.on, 1);
    assert_true(a.truth_drop >= 0.03 && a.proxy_change > 0);
    /* the truth recovers: it clears, once */
    int cleared = 0;
    for (int i = 0; i < 20; i++) {
        double c[3] = {1, 0.4 + 0.01 * i, 0.8};
        cleared += overopt_alarm_feed(&a, c) == -1;
    }
    assert_int_equal(cleared, 1);
    assert_int_equal(a.on, 0);
}

/* The learned reward at its top (a sigmoid-mapped score at 1) while the
 * truth slides down slowly: what a trend test misses. */
static void test_raises_when_proxy_saturates(void **state) {
    (void)state;
    OveroptAlarm a;
    AlarmSettings s = settings(10);
    overopt_alarm_init(&a, &s, names, 3);
    double truth[200], proxy[200];
    for (int i = 0; i < 200; i++) {
        proxy[i] = i < 50 ? 0.6 + 0.008 * i : 1.0;
        truth[i] = i < 80 ? 0.5 + 0.0025 * i : 0.7 - 0.0005 * (i - 80);
    }
    int first;
    assert_int_equal(feed(&a, truth, proxy, 200, &first), 1);
    assert_true(first > 80);
    assert_true(a.on);
}

static void test_quiet_when_both_rise_flat_or_fall_together(void **state) {
    (void)state;
    OveroptAlarm a;
    AlarmSettings s = settings(5);
    double truth[40], proxy[40];
    for (int i = 0; i < 40; i++) {
        proxy[i] = 0.5 + 0.01 * i;
        truth[i] = 0.3 + 0.005 * i;
    }
    overopt_alarm_init(&a, &s, names, 3);
    assert_int_equal(feed(&a, truth, proxy, 40, NULL), 0);
    for (int i = 0; i < 40; i++) truth[i] = 0.4;
    overopt_alarm_init(&a, &s, names, 3);
    assert_int_equal(feed(&a, truth, proxy, 40, NULL), 0);
    /* both fall: a worse policy, not one gaming the reward */
    for (int i = 0; i < 40; i++) {
        truth[i] = 0.7 - 0.01 * i;
        proxy[i] = 0.9 - 0.02 * i;
    }
    overopt_alarm_init(&a, &s, names, 3);
    assert_int_equal(feed(&a, truth, proxy, 40, NULL), 0);
    assert_int_equal(a.raised, 0);
}

static void test_one_noisy_step_does_not_raise(void **state) {
    (void)state;
    OveroptAlarm a;
    AlarmSettings s = settings(10);
    overopt_alarm_init(&a, &s, names, 3);
    double truth[40], proxy[40];
    for (int i = 0; i < 40; i++) {
        proxy[i] = 0.5 + 0.01 * i;
        truth[i] = 0.4 + 0.003 * i;
    }
    truth[25] = 0.2; /* one bad batch: the mean of 10 moves 0.02 */
    assert_int_equal(feed(&a, truth, proxy, 40, NULL), 0);
}

static void test_off_without_both_components(void **state) {
    (void)state;
    OveroptAlarm a;
    AlarmSettings s = settings(5);
    assert_int_equal(overopt_alarm_init(&a, &s, names, 2), 0); /* no "rm" */
    double c[3] = {1, 0, 1};
    for (int i = 0; i < 20; i++) assert_int_equal(overopt_alarm_feed(&a, c), 0);
    snprintf(s.truth, sizeof s.truth, "rm"); /* the same component twice */
    assert_int_equal(overopt_alarm_init(&a, &s, names, 3), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raises_once_when_proxy_rises_and_truth_falls),
        cmocka_unit_test(test_raises_when_proxy_saturates),
        cmocka_unit_test(test_quiet_when_both_rise_flat_or_fall_together),
        cmocka_unit_test(test_one_noisy_step_does_not_raise),
        cmocka_unit_test(test_off_without_both_components),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
