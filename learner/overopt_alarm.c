/* overopt_alarm.c: see overopt_alarm.h. */
#include "overopt_alarm.h"

#include <string.h>

#include "util.h"

#define T AlarmSettings
static const CfgKey keys[] = {
    CFG_S(T, "proxy", proxy, "rm", 0,
          "reward component the policy is trained on (a reward-model scorer's name)"),
    CFG_S(T, "truth", truth, "preference", 0,
          "component holding the true score (reported, not trained on): the alarm is off "
          "unless both components are in the run"),
    CFG_I(T, "window", window, "10", 1, OVEROPT_MAX_WINDOW, 0,
          "steps each smoothed value averages"),
    CFG_F(T, "min_fall", min_fall, "0.03", 1e-3, 1, 0,
          "raise when the smoothed truth is this far below its best while the smoothed proxy "
          "is no lower than this below its value there"),
};
#undef T

const CfgSection alarm_section = CFG_SECTION("alarm", AlarmSettings, keys, NULL, NULL);

static int find(const char *const *names, int n, const char *want) {
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], want) == 0) return i;
    return -1;
}

int overopt_alarm_init(OveroptAlarm *a, const AlarmSettings *s, const char *const *names, int n) {
    memset(a, 0, sizeof *a);
    a->window = s->window;
    a->min_fall = s->min_fall;
    a->proxy_i = find(names, n, s->proxy);
    a->truth_i = find(names, n, s->truth);
    if (a->proxy_i < 0 || a->truth_i < 0 || a->proxy_i == a->truth_i) a->proxy_i = a->truth_i = -1;
    return a->proxy_i >= 0;
}

int overopt_alarm_feed(OveroptAlarm *a, const double *comp_mean) {
    if (a->proxy_i < 0) return 0;
    int slot = (int)(a->n % a->window);
    if (a->n >= a->window) {
        a->proxy_sum -= a->proxy[slot];
        a->truth_sum -= a->truth[slot];
    }
    a->proxy[slot] = comp_mean[a->proxy_i];
    a->truth[slot] = comp_mean[a->truth_i];
    a->proxy_sum += a->proxy[slot];
    a->truth_sum += a->truth[slot];
    a->n++;
    if (a->n < a->window) return 0;
    /* the sums drift by rounding over a long run: recompute them now and then */
    if (a->n % (16 * a->window) == 0) {
        a->proxy_sum = a->truth_sum = 0;
        for (int i = 0; i < a->window; i++) {
            a->proxy_sum += a->proxy[i];
            a->truth_sum += a->truth[i];
        }
    }
    double proxy = a->proxy_sum / a->window, truth = a->truth_sum / a->window;
    if (a->n == a->window || truth > a->best_truth) {
        a->best_truth = truth;
        a->proxy_at_best = proxy;
    }
    a->truth_drop = a->best_truth - truth;
    a->proxy_change = proxy - a->proxy_at_best;
    int was = a->on;
    if (!was)
        a->on = a->truth_drop >= a->min_fall && a->proxy_change > -a->min_fall;
    else /* hysteresis: one step at the threshold must not flap it on and off */
        a->on = a->truth_drop > a->min_fall / 2 && a->proxy_change > -a->min_fall;
    a->raised += a->on;
    return a->on == was ? 0 : a->on ? 1 : -1;
}
