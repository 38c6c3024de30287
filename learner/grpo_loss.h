/* grpo_loss.h: the GRPO objective (group advantages, clipped surrogate, k3
 * KL, loss normalisation) and its per-token weights for the model backward.
 *
 * The model's backward takes per-token weights w_t and produces the gradient
 * of L = -sum_t w_t * logp_t. This module sets w_t = dJ/dlogp_t, where J is
 * the objective to maximise, so that backward yields grad(-J). It never
 * touches the model: everything here is a pure function of plain arrays.
 * Formulas and worked numbers: learner/grpo_loss.c and ../shared/GRPO.md.
 *
 * Flattened per-token arrays follow the batch: sequence i owns seq_len[i]
 * consecutive entries (completion tokens only), sequences in order. */
#ifndef LEARNER_GRPO_LOSS_H
#define LEARNER_GRPO_LOSS_H

/* Std used to scale group advantages. */
typedef enum {
    ADV_STD_POPULATION, /* sqrt(sum (r - mean)^2 / G) */
    ADV_STD_SAMPLE,     /* sqrt(sum (r - mean)^2 / (G - 1)) */
    ADV_STD_NONE,       /* no division: A = r - mean ("Dr. GRPO") */
    ADV_STD_COUNT
} AdvStd;

/* Policy-gradient estimator. */
typedef enum {
    ALGO_GRPO,               /* group-normalised advantage, clipped ratio */
    ALGO_REINFORCE,          /* A = r (no baseline), unclipped ratio */
    ALGO_REINFORCE_BASELINE, /* A = r - group mean, unclipped ratio */
    ALGO_PPO,                /* per-token GAE advantages from a value model
                              * (ppo_step.h), clipped ratio; group_advantages
                              * is not used for it */
    ALGO_COUNT
} PgAlgo;

/* How the per-token terms are averaged into J. */
typedef enum {
    NORM_SEQUENCE, /* (1/n_seqs) sum_i (1/|o_i|) sum_t: each completion weighs the same */
    NORM_TOKEN,    /* (1/total tokens) sum_i sum_t: each token weighs the same */
    NORM_CONSTANT, /* 1/(n_seqs * max_new_tokens) sum_i sum_t: no length bias at all */
    NORM_COUNT
} LossNorm;

/* Allowed config names, indexed by the enum value, NULL-terminated (for
 * parsing and for "allowed values" in error messages). */
extern const char *const pg_algo_names[];   /* grpo, reinforce, reinforce_baseline, ppo */
extern const char *const adv_std_names[];   /* population, sample, none */
extern const char *const loss_norm_names[]; /* sequence, token, constant */

/* Enum value for a config name, or -1 if s is not one of the names. */
int pg_algo_parse(const char *s);
int adv_std_parse(const char *s);
int loss_norm_parse(const char *s);
/* Config name of an enum value (static string; "?" if out of range). */
const char *pg_algo_name(int v);
const char *adv_std_name(int v);
const char *loss_norm_name(int v);

/* Writes the G advantages of one group's rewards to adv (caller-owned, G
 * floats). Returns 1 if all rewards are equal (no learning signal: GRPO
 * and baseline advantages are then exactly 0), else 0. G >= 1. Not for
 * ALGO_PPO, whose advantages are per token (a CHECK). */
int group_advantages(const float *rewards, int G, PgAlgo algo, AdvStd std, float eps, float *adv);

/* clip(rho, 1 - eps_low, 1 + eps_high). */
double grpo_clip_ratio(double rho, double eps_low, double eps_high);

/* One token's surrogate term and its derivative. */
typedef struct {
    double rho;      /* exp(logp - logp_old) */
    double obj;      /* min(rho A, clip(rho) A), or rho A when unclipped */
    double dobj;     /* d obj / d logp: rho A, or 0 where the clip is active */
    int clip_low;    /* A < 0 and rho < 1 - eps_low: clip active, no gradient */
    int clip_high;   /* A > 0 and rho > 1 + eps_high: clip active, no gradient */
} PgToken;

/* Surrogate term of one token with advantage adv; clip = 0 gives the plain
 * rho * A (REINFORCE variants). At rho exactly on a bound the two terms of
 * the min are equal and the unclipped one (with its gradient) is taken. */
PgToken grpo_token_surrogate(double logp, double logp_old, double adv, double eps_low,
                             double eps_high, int clip);

/* k3 KL estimate exp(d) - d - 1 with d = logp_ref - logp (>= 0, 0 iff
 * equal); writes d kl / d logp = 1 - exp(d) to *dkl if dkl is non-NULL. */
double grpo_kl_k3(double logp, double logp_ref, double *dkl);

/* Options of the batch objective. Start from grpo_loss_config_defaults()
 * and set fields, so options added later default to "off". */
typedef struct {
    PgAlgo algo;         /* GRPO clips the ratio; REINFORCE variants do not */
    float eps_low;       /* clip lower bound 1 - eps_low */
    float eps_high;      /* clip upper bound 1 + eps_high */
    float beta;          /* k3 KL weight; 0 = logp_ref may be NULL */
    LossNorm norm;
    int max_new_tokens;  /* NORM_CONSTANT's per-sequence length, > 0 */
    /* Normaliser overrides for gradient accumulation, 0 = this call's own
     * counts. Set them to the whole minibatch's counts when it is passed in
     * several pieces: the pieces' J and weights then add up to the whole. */
    int norm_seqs;       /* replaces n_seqs (NORM_SEQUENCE, NORM_CONSTANT) */
    long norm_tokens;    /* replaces the token count (NORM_TOKEN) */
    /* Truncated importance weighting (off-policy correction for stale
     * actors): per-token weights min(pi_prox / pi_behaviour, cap) that
     * multiply the surrogate term (not the KL). The caller then passes the
     * learner's own recomputed log-probs as logp_old (the proximal policy)
     * and computes these weights from them and the actors' shipped
     * log-probs. NULL = no weighting. */
    const float *is_weight;
    /* Per-token advantages (PPO's GAE, one float per token in the layout
     * of logp): the surrogate of token t uses adv_tok[t] and the
     * per-sequence adv argument is ignored (it may be NULL). NULL = each
     * sequence's adv[i] broadcast to its tokens (GRPO, REINFORCE). */
    const float *adv_tok;
} GrpoLossConfig;

/* Typical GRPO settings: eps 0.2/0.2, beta 0.04, sequence normalisation,
 * max_new_tokens 1 (set it when using NORM_CONSTANT), no overrides. */
GrpoLossConfig grpo_loss_config_defaults(void);

/* Diagnostics of one call (means are over its tokens). */
typedef struct {
    double objective;     /* J of this call (sums across pieces with overrides) */
    double kl_mean;       /* mean k3 per token; 0 when logp_ref is NULL */
    double clip_frac_low; /* fraction of tokens with clip_low */
    double clip_frac_high;/* fraction of tokens with clip_high */
    double ratio_mean;    /* mean rho */
    double ratio_max_dev; /* max |rho - 1| */
    long n_tokens;
} GrpoLossStats;

/* Computes J = sum_i c_i sum_t [obj_t - beta kl_t] over n_seqs sequences
 * (c_i from cfg->norm) and writes w_t = dJ/dlogp_t to w (caller-owned, one
 * float per token). logp_ref may be NULL when beta == 0; if given with
 * beta == 0, KL is still measured for stats. adv holds one value per
 * sequence (or cfg->adv_tok one per token). Zero-length sequences add
 * nothing to J but still count in n_seqs. stats may be NULL. */
void grpo_loss_compute(float *w, GrpoLossStats *stats, const GrpoLossConfig *cfg,
                       const float *logp, const float *logp_old, const float *logp_ref,
                       const float *adv, const int *seq_len, int n_seqs);

/* Folds s into acc (token-weighted means, summed objective, max deviation),
 * e.g. across minibatches or ranks. Start acc zeroed. */
void grpo_stats_merge(GrpoLossStats *acc, const GrpoLossStats *s);

#endif
