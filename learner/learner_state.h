/* learner_state.h: the learner's state and its step's metrics, the types
 * grpo_step.c (the step) and ppo_step.c (what PPO adds to it) both work
 * on. Types only: the step's functions are in grpo_step.h, the token
 * layout helpers both use in learner_tokens.h. */
#ifndef LEARNER_LEARNER_STATE_H
#define LEARNER_LEARNER_STATE_H

#include "batch.h"
#include "config.h"
#include "grpo_settings.h"
#include "grpo_loss.h"
#include "model.h"
#include "optim.h"
#include "plan.h"
#include "sampling.h"
#include "task.h"
#include "sample_dist.h"
#include "update.h"
#include "wire.h"

typedef struct {
    int n_groups, n_completions;
    double reward_mean, reward_std;
    double comp_mean[REWARD_MAX_COMPONENTS], comp_std[REWARD_MAX_COMPONENTS];
    int n_components;
    double accuracy;           /* mean of component 0 */
    double zero_var_frac;      /* groups whose rewards are all equal */
    double kl;                 /* mean k3 KL per token, first pass */
    double clip_low, clip_high;/* clipped token fractions over all inner steps */
    double ratio_max_dev;      /* max |rho - 1| over all inner steps */
    double entropy;            /* mean per completion token, first pass */
    double len_mean;
    int len_max;
    double truncated_frac;
    /* completions whose reward is 0 because a verifier program or the
     * sandbox failed on them, by RewardStatus (task.h); [0] unused */
    int status_count[REWARD_STATUS_COUNT];
    int status_failed;         /* their sum */
    double logp_diff_max, logp_diff_mean; /* |learner recompute - actor| */
    double objective;          /* J of the first pass */
    double grad_norm;          /* last optimizer step, before clipping */
    int nonfinite_skipped;     /* optimizer updates skipped: NaN/inf gradient */
    long nonfinite_in_a_row;   /* steps in a row, this one included, that skipped one */
    float lr;
    long tokens;               /* completion tokens in the batch */
    long learner_tokens;       /* positions the forwards ran: the policy's and the
                                * reference's packed ones (a group's prompt once, no
                                * padding: SeqBatch.layout), PPO's value model's rows'
                                * own (no padding either) */
    double t_forward, t_backward, t_optim;
    double t_allreduce;        /* summing the gradients over the learners (in t_optim) */
    double staleness_mean;     /* learner version - group version */
    int staleness_max;
    int staleness_hist[8];     /* groups by staleness 0..6, 7+ */
    /* importance ratio pi_learner / pi_actor of the shipped tokens at the
     * start of the step (1 on-policy; spreads with staleness) */
    double is_mean, is_min, is_max, is_truncated_frac;
    /* [grpo] algo = ppo (ppo_step.h); ppo = 0 and the rest 0 otherwise */
    int ppo;
    double value_loss;         /* first epoch's clipped value loss */
    double value_clip_frac;    /* tokens whose clipped term won, all updates */
    double explained_variance; /* of V_old against the returns; NaN if Var(R) = 0 */
    double return_mean;        /* mean value target per token */
    double adv_mean, adv_std;  /* GAE advantages per token, before whitening */
    double kl_seq;             /* k1 KL per sequence (what the controller sees) */
    double beta;               /* KL coefficient this step used */
} StepMetrics;

/* A minibatch: groups [g0, g1) of the sorted batch, rows [row0, row0 + rows),
 * ntok completion tokens from tok0 in the per-token arrays. Its groups are
 * split into S' gradient shards of about equal tokens (S' = [grpo]
 * grad_shards rounded up to a multiple of the learners K; learner j of K
 * takes the j-th K-th of them), and each shard's forwards and backwards
 * run in ceil(micro_batches / S') chunks (at most its rows: about
 * micro_batches chunks per minibatch over all the learners, whatever K):
 * consecutive runs of the shard's rows in batch order (grpo_step.c:
 * chunk_rows), whole groups while the shard has at least as many groups as
 * chunks, so a group's rows share their prompt's positions in one forward
 * (SeqBatch.layout); padding costs nothing there. */
typedef struct {
    int g0, g1, row0, rows;
    long tok0, ntok;
    int sh0, nsh;      /* this learner's shards: L->shards[sh0 .. sh0 + nsh) */
} Minibatch;

/* A gradient shard: a contiguous run of `groups` whole groups of a
 * minibatch, rows [row0, row0 + rows) of the batch, run in `chunks`
 * pieces (L->order[row0 .. row0 + rows) is the batch order). Its
 * gradient is computed from zero and the shards' gradients are added in
 * a fixed binary tree (grpo_step.c: shard_done), so the gradient's bits
 * depend on the shards, not on which learner computed which. */
typedef struct {
    int row0, rows, chunks, groups;
} Shard;

/* Data-parallel learners (learner.c sets this up over MPI; K = 1 makes no
 * call). Every learner holds the whole batch and computes its advantages,
 * statistics and the loss's normalisers from all of it, but runs the
 * forwards and backwards of its share only: of each minibatch's groups
 * [g0, g1), learner j of K takes the j-th K-th of its S' shards, runs of
 * whole groups cut at about equal shares of the minibatch's tokens
 * (prompt + completion per row; equal lengths: equal group counts).
 * Before every optimizer update the K gradients are summed (sum_floats,
 * one call over the flat gradient buffer), so every learner applies the
 * same AdamW update to the same weights; the per-token statistics are
 * summed (sum_doubles) and maximised (max_doubles) once per step. The
 * calls are collective: every learner makes them in the same order. */
typedef struct {
    int index, count;
    void (*sum_floats)(void *ctx, float *buf, size_t n);
    void (*sum_doubles)(void *ctx, double *buf, int n);
    void (*max_doubles)(void *ctx, double *buf, int n);
    void *ctx;
} LearnerPeers;

struct PpoState; /* ppo_step.h */

typedef struct {
    Model *policy;
    const Model *ref;          /* frozen reference (may equal the start) */
    const TrainPlan *plan;       /* [grpo] keys every rank agrees on */
    const GrpoSettings *gs;      /* the learner's [grpo] keys */
    const SamplingSettings *ss;  /* [sampler]: the distribution log-probs are under */
    SampleDist dist;             /* what log-probs are under ([sampler] settings) */
    AdamW opt;
    long step;                 /* steps taken */
    long opt_steps;            /* optimizer updates taken */
    ForwardState *fs;
    SeqBatch batch;
    int max_rows, max_tok;
    float *logp, *entropy;     /* (max_rows, max_seq_len) forward outputs */
    float *cur, *old, *refp, *w; /* (max_tok) per completion token */
    float *prox, *isw;         /* (max_tok) truncated importance weighting */
    float *adv;                /* (max_rows) */
    int *len;                  /* (max_rows) */
    long *tok_of;              /* (max_rows) row's first entry in the per-token arrays */
    int *row_group;            /* (max_rows) row's group in sorted */
    int64_t *row_off;          /* (max_rows) row's offset in its group's tokens */
    int *order;                /* (max_rows) rows in chunk order (Minibatch) */
    Group *sorted;             /* (max groups) the last step's, shallow copies */
    int n_sorted;
    Minibatch *mbs;            /* (max_minibatches) this step's split */
    int max_minibatches;       /* min(minibatches, prompts_per_step) */
    Shard *shards;             /* (max_minibatches * local shards) this learner's */
    int n_shards;              /* S' per minibatch over all learners */
    float **gsum;              /* the shard tree: partial sums, by level (lazily allocated) */
    int *glevel, gtop, gcap;
    NonfiniteTally nonfinite;  /* steps that skipped an update (update.h) */
    LearnerPeers peers;        /* alone by default: {0, 1} */
    int busy;                  /* inside learner_step: weights and AdamW state half updated */
    /* tests and diagnostics: when set, the first update of the next
     * learner_step copies its gradient (summed over the learners, before
     * clipping) here (n_params floats), and the pointer is cleared */
    float *grad_out;
    struct PpoState *ppo;      /* algo = ppo: the value model, its state (ppo_attach); else NULL */
} Learner;

#endif
