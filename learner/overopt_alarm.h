/* overopt_alarm.h: the over-optimisation alarm. A learned reward (a reward
 * model's score) can keep rising while the preference it was learned from
 * falls: the policy has found what the model gets wrong. Where the true
 * score is known as a reward component (the synthetic labeler's hidden
 * preference, or a verifier's accuracy) the learner feeds both per-step
 * means here; the alarm raises when, over the last `window` steps, the
 * proxy's trend (Theil-Sen: the median
 * pairwise slope, which one wild step cannot move) rose by at least min_rise while the truth's
 * fell by at least min_fall (trend = slope x (window - 1), in the
 * components' own units, [0, 1]).
 *
 * Trends, not two endpoints: one noisy step must not raise it. The alarm
 * reports its state every step; it warns once when it turns on and once
 * when it clears, never every step. The [alarm] section names the two
 * components; it is off when either is not among the run's components. */
#ifndef LEARNER_OVEROPT_ALARM_H
#define LEARNER_OVEROPT_ALARM_H

#include "config.h"

enum { OVEROPT_MAX_WINDOW = 64 };

typedef struct {
    char proxy[32];   /* component the policy is trained on ["rm"] */
    char truth[32];   /* component it should stand for ["preference"] */
    int window;       /* steps the trends are fitted over [10] */
    float min_rise, min_fall; /* [0.02, 0.02] */
} AlarmSettings;

extern const CfgSection alarm_section;
static inline const AlarmSettings *alarm_settings(const Config *c) {
    return config_get(c, &alarm_section);
}

typedef struct {
    int proxy_i, truth_i;          /* component indices; -1: the alarm is off */
    int window;
    double min_rise, min_fall;
    double proxy[OVEROPT_MAX_WINDOW], truth[OVEROPT_MAX_WINDOW]; /* ring of the last steps */
    long n;                        /* steps fed */
    int on;                        /* raised at the last step */
    long raised;                   /* steps it was on, in all */
    double proxy_trend, truth_trend; /* at the last step (0 until window steps) */
} OveroptAlarm;

/* Sets a up from s, looking the two component names up among names[0..n).
 * 1 if the alarm is live, 0 if off (a name not found). */
int overopt_alarm_init(OveroptAlarm *a, const AlarmSettings *s, const char *const *names, int n);

/* Feeds one step's component means (comp_mean[REWARD component index]).
 * Returns +1 when the alarm turns on at this step, -1 when it clears, 0
 * otherwise (a->on holds the state). */
int overopt_alarm_feed(OveroptAlarm *a, const double *comp_mean);

/* Theil-Sen slope of y[0..n) against 0..n-1, n <= OVEROPT_MAX_WINDOW
 * (0 for n < 2). */
double overopt_trend_slope(const double *y, int n);

#endif
