/* kl_controller.h: the KL coefficient beta of PPO with the KL in the reward,
 * fixed or adapted to a KL target (Ziegler et al. 2019, "Fine-Tuning
 * Language Models from Human Preferences", section 2.2).
 *
 * The state is the struct KlController: all doubles, so a checkpoint saves
 * it as KL_CTL_STATE_DOUBLES numbers (kl_controller_pack) and restores it
 * with validation (kl_controller_unpack). Math: learner/kl_controller.c. */
#ifndef LEARNER_KL_CONTROLLER_H
#define LEARNER_KL_CONTROLLER_H

#include <stddef.h>

typedef enum {
    KL_CTL_FIXED,    /* "fixed": beta never changes */
    KL_CTL_ADAPTIVE, /* "adaptive": beta follows the KL target */
    KL_CTL_COUNT
} KlCtlMode;

/* Allowed config names, indexed by the enum value, NULL-terminated. */
extern const char *const kl_ctl_mode_names[]; /* fixed, adaptive */
/* Enum value for a config name, or -1 if s is not one of the names. */
int kl_ctl_mode_parse(const char *s);
/* Config name of an enum value (static string; "?" if out of range). */
const char *kl_ctl_mode_name(int v);

/* Bound on the proportional error KL/target - 1 (Ziegler et al.: 0.2), so
 * one outlier batch moves beta by at most 20% of n_steps/horizon. */
#define KL_CTL_ERROR_CLIP 0.2

/* Controller state; every field a double so it serialises as a few numbers. */
typedef struct {
    double mode;    /* KlCtlMode as a double (0 fixed, 1 adaptive) */
    double beta;    /* current coefficient, > 0; the only field updates change */
    double target;  /* KL target per sequence in nats (sum over tokens of k1), > 0 */
    double horizon; /* samples over which a persistent error changes beta by
                     * about 20% (Ziegler: 10000), > 0 */
} KlController;

#define KL_CTL_STATE_DOUBLES 4
_Static_assert(sizeof(KlController) == KL_CTL_STATE_DOUBLES * sizeof(double),
               "KlController is KL_CTL_STATE_DOUBLES doubles");

/* A controller starting at beta. Returns 0, or -1 with err naming the bad
 * value (beta <= 0 or non-finite; adaptive with target or horizon <= 0). */
int kl_controller_init(KlController *c, KlCtlMode mode, double beta, double target,
                       double horizon, char *err, size_t err_len);

/* Updates beta from the KL measured over a batch of n_steps samples
 * (kl: mean over its sequences of sum_t k1, PpoRewardStats.kl_seq_mean)
 * and returns the new beta. Fixed mode returns beta unchanged; so does a
 * non-finite kl (a broken batch must not wreck the coefficient). n_steps
 * is in the unit of horizon (samples) and must be < horizon /
 * KL_CTL_ERROR_CLIP for beta to stay positive (checked). */
double kl_controller_update(KlController *c, double kl, long n_steps);

/* Copies the state to out / restores it from in (KL_CTL_STATE_DOUBLES
 * doubles, the order of the struct). unpack validates as init does and
 * returns -1 with err naming the bad field, leaving c unchanged. */
void kl_controller_pack(const KlController *c, double *out);
int kl_controller_unpack(KlController *c, const double *in, char *err, size_t err_len);

#endif
