/* overopt_alarm.h: the over-optimisation alarm. A learned reward (a reward
 * model's score) can keep rising, or stay at its top, while the preference
 * it was learned from falls: the policy has found what the model gets
 * wrong. Where the true score is known as a reward component (the
 * synthetic labeler's hidden preference, or a verifier's accuracy) the
 * learner feeds both per-step means here.
 *
 * Both are smoothed (the mean of the last `window` steps: one noisy batch
 * must not raise it). The alarm raises when the smoothed truth has fallen
 * at least min_fall below its best so far while the smoothed proxy stands
 * no lower than min_fall below where it was at that best: the proxy says
 * "as good or better", the truth says "worse". A rise-while-fall trend
 * test alone would miss the common case where the learned reward saturates
 * (a sigmoid-mapped score at 1) while the truth slides down slowly.
 *
 * It reports its state every step; it warns once when it turns on and once
 * when it clears (the truth back within min_fall / 2 of its best, or the
 * proxy falling with it). The [alarm] section names the two components; it
 * is off when either is not among the run's components. On resume it
 * starts over (its state is a diagnostic, not part of the run). */
#ifndef LEARNER_OVEROPT_ALARM_H
#define LEARNER_OVEROPT_ALARM_H

#include "config.h"

enum { OVEROPT_MAX_WINDOW = 1024 };

typedef struct {
    char proxy[32];   /* component the policy is trained on ["rm"] */
    char truth[32];   /* component it should stand for ["preference"] */
    int window;       /* steps each smoothed value averages [10] */
    float min_fall;   /* [0.03] in the components' units, [0, 1] */
} AlarmSettings;

extern const CfgSection alarm_section;
static inline const AlarmSettings *alarm_settings(const Config *c) {
    return config_get(c, &alarm_section);
}

typedef struct {
    int proxy_i, truth_i;          /* component indices; -1: the alarm is off */
    int window;
    double min_fall;
    double proxy[OVEROPT_MAX_WINDOW], truth[OVEROPT_MAX_WINDOW]; /* ring of the last steps */
    double proxy_sum, truth_sum;   /* of the ring's values */
    long n;                        /* steps fed */
    double best_truth;             /* best smoothed truth so far */
    double proxy_at_best;          /* smoothed proxy at that step */
    double truth_drop;             /* best_truth - smoothed truth (>= 0) */
    double proxy_change;           /* smoothed proxy - proxy_at_best */
    int on;                        /* raised at the last step */
    long raised;                   /* steps it was on, in all */
} OveroptAlarm;

/* Sets a up from s, looking the two component names up among names[0..n).
 * 1 if the alarm is live, 0 if off (a name not found, or both the same). */
int overopt_alarm_init(OveroptAlarm *a, const AlarmSettings *s, const char *const *names, int n);

/* Feeds one step's component means (comp_mean[reward component index]).
 * Returns +1 when the alarm turns on at this step, -1 when it clears, 0
 * otherwise (a->on holds the state). Nothing is judged before `window`
 * steps. */
int overopt_alarm_feed(OveroptAlarm *a, const double *comp_mean);

#endif
