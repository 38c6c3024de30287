/* overopt_alarm.c: see overopt_alarm.h. */
#include "overopt_alarm.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define T AlarmSettings
static const CfgKey keys[] = {
    CFG_S(T, "proxy", proxy, "rm", 0,
          "reward component the policy is trained on (a reward-model scorer's name)"),
    CFG_S(T, "truth", truth, "preference", 0,
          "component holding the true score (reported, not trained on): the alarm is off "
          "unless both components are in the run"),
    CFG_I(T, "window", window, "10", 2, OVEROPT_MAX_WINDOW, 0,
          "steps the two trends are fitted over"),
    CFG_F(T, "min_rise", min_rise, "0.02", 0, 1, 0,
          "the proxy's rise over the window (trend, component units) that counts"),
    CFG_F(T, "min_fall", min_fall, "0.02", 0, 1, 0,
          "the truth's fall over the window that, with the proxy's rise, raises the alarm"),
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
    a->min_rise = s->min_rise;
    a->min_fall = s->min_fall;
    a->proxy_i = find(names, n, s->proxy);
    a->truth_i = find(names, n, s->truth);
    if (a->proxy_i < 0 || a->truth_i < 0 || a->proxy_i == a->truth_i) a->proxy_i = a->truth_i = -1;
    return a->proxy_i >= 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Theil-Sen: the median of the slopes of all pairs of points, which one
 * wild step cannot move (least squares would: a single bad batch at the
 * window's end tilts the fit by a window's worth). */
double overopt_trend_slope(const double *y, int n) {
    if (n < 2) return 0;
    double s[OVEROPT_MAX_WINDOW * (OVEROPT_MAX_WINDOW - 1) / 2];
    int k = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) s[k++] = (y[j] - y[i]) / (j - i);
    qsort(s, k, sizeof *s, cmp_double);
    return k % 2 ? s[k / 2] : 0.5 * (s[k / 2 - 1] + s[k / 2]);
}

/* The last `window` values of ring r in step order. */
static void unroll(const OveroptAlarm *a, const double *r, double *out) {
    for (int i = 0; i < a->window; i++) out[i] = r[(a->n - a->window + i) % a->window];
}

int overopt_alarm_feed(OveroptAlarm *a, const double *comp_mean) {
    if (a->proxy_i < 0) return 0;
    a->proxy[a->n % a->window] = comp_mean[a->proxy_i];
    a->truth[a->n % a->window] = comp_mean[a->truth_i];
    a->n++;
    if (a->n < a->window) return 0;
    double y[OVEROPT_MAX_WINDOW];
    unroll(a, a->proxy, y);
    a->proxy_trend = overopt_trend_slope(y, a->window) * (a->window - 1);
    unroll(a, a->truth, y);
    a->truth_trend = overopt_trend_slope(y, a->window) * (a->window - 1);
    int was = a->on;
    a->on = a->proxy_trend >= a->min_rise && -a->truth_trend >= a->min_fall;
    a->raised += a->on;
    return a->on == was ? 0 : a->on ? 1 : -1;
}
