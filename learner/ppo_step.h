/* ppo_step.h: what [grpo] algo = ppo adds to the learner step
 * (grpo_step.c calls these at its phases when L->ppo is set):
 *
 *   fresh pass (step start): the value model's forward over each chunk
 *       gives V_old per completion token (ppo_chunk_values), beside the
 *       policy's and the reference's log-probs;
 *   advantages (ppo_advantages): per-token rewards (the completion's
 *       reward R at its last token, and with kl_mode = reward -beta k1
 *       per token: ppo_rewards.h), GAE advantages and returns (gae.h),
 *       optionally whitened over the batch's tokens; they replace GRPO's
 *       per-sequence advantage in the clipped surrogate
 *       (GrpoLossConfig.adv_tok);
 *   every minibatch update: per chunk, the value model's forward, the
 *       clipped value loss against the returns (value_loss.h) and its
 *       backward (ppo_chunk_value_loss), then the value model's own
 *       AdamW update (ppo_value_update) after the policy's;
 *   step end (ppo_step_end): explained variance, the KL controller
 *       (kl_controller.h), the metrics.
 *
 * Values are read where log-probs are: the value of completion token t is
 * the value model's output at the position whose next token is o_t
 * (batch_index), so V(t) has seen the prompt and o_<t; V after the last
 * token is 0 (the episode ends). Groups of any size G >= 1 work: the
 * group plays no part in the advantage (G = 1 is ordinary PPO).
 *
 * Data-parallel learners (grpo_step.h: LearnerPeers) each compute their
 * share's values, rewards and GAE; the whitening mean and std, the
 * metrics and the value model's gradient are summed over the learners
 * (sum_doubles, sum_floats over the value model's gradient buffer before
 * its update), so every learner applies the same updates. Unlike the
 * policy's (grad_shards), the value gradient and the whitening are not
 * summed in a fixed tree: K = 1 and K = 2 agree to float rounding, not bit
 * for bit (the learners of one run always agree bit for bit). */
#ifndef LEARNER_PPO_STEP_H
#define LEARNER_PPO_STEP_H

#include <stddef.h>

#include "config.h"
#include "learner_state.h"
#include "kl_controller.h"
#include "model.h"
#include "optim.h"
#include "ppo_rewards.h"
#include "ppo_settings.h"
#include "tokenizer.h"
#include "value_loss.h"

/* Doubles of the PPO state a checkpoint keeps beside the value model and
 * its AdamW (run_state.h: PPOS): the current beta, then the KL
 * controller (KL_CTL_STATE_DOUBLES; zeros when beta is fixed). */
enum { PPO_STATE_DOUBLES = 1 + KL_CTL_STATE_DOUBLES };

struct PpoState {
    const PpoSettings *ps;
    Model *value;              /* borrowed; MODEL_HEAD_SCALAR, with gradients */
    AdamW opt;                 /* the value model's */
    long opt_steps;            /* its updates applied (= opt.t) */
    ForwardState *fs;          /* its activations, (max_rows, policy max_seq_len) */
    float *values;             /* (max_rows, max_seq_len) forward output */
    float *v_old, *v, *dv;     /* (max_tok) rollout-time values, current, dL/dV */
    float *rew, *ret, *adv;    /* (max_tok) per-token rewards, returns, advantages */
    double beta;               /* current KL coefficient */
    int adaptive;              /* kc is in use ([ppo] kl_target > 0) */
    KlController kc;
    double kl_seq;             /* this step's k1 KL per sequence */
    int n_rows, n_minibatches; /* this step's */
    ValueLossStats first, all; /* this step's value loss: first epoch, all updates */
};

/* Loads the value model for cfg: [ppo] value_init, or the policy's
 * starting checkpoint init_path. A scalar-head checkpoint (a reward model)
 * is taken as it is; a policy's trunk gets a fresh zero scalar head
 * (model_swap_head). It must use tok (the policy's tokenizer) and hold
 * sequences of the policy's max_seq_len. Gradients allocated. Writes the
 * path used to path (cap bytes). 0, or -1 with err naming the file. */
int ppo_value_load(const Config *cfg, const char *init_path, const Tokenizer *tok,
                   const ModelConfig *policy, Model *value, char *path, size_t cap, char *err,
                   size_t errlen);

/* Makes L a PPO learner with value model value (borrowed; ppo_value_load):
 * allocates L->ppo; learner_free frees it. cfg's [grpo] algo must be
 * ppo. */
void ppo_attach(Learner *L, Model *value, const Config *cfg);
void ppo_detach(Learner *L);

/* The KL coefficient in force (ppo: [grpo] beta or the controller's). */
double ppo_beta(const Learner *L);

/* Values of the rows L->order[lo, hi) laid out in L->batch, per token into
 * dst (the per-token layout of L->tok_of). */
void ppo_chunk_values(Learner *L, int lo, int hi, float *dst);

/* After the fresh pass (L->cur, L->refp and ppo->v_old of every row):
 * rewards, GAE, whitening into ppo->adv; their statistics into out. */
void ppo_advantages(Learner *L, int M, StepMetrics *out);

/* The clipped value loss of the chunk in L->batch (rows L->order[lo, hi)
 * of minibatch mb) and its backward into the value model's gradient; its
 * statistics into *st. Normalised by the minibatch's tokens, so the
 * chunks add up to the minibatch. */
void ppo_chunk_value_loss(Learner *L, const Minibatch *mb, int lo, int hi, ValueLossStats *st);

/* The value model's optimizer update from its accumulated gradient
 * (total_updates: the schedule's length). A non-finite gradient skips it
 * (update.h) and is counted in out->nonfinite_skipped. */
void ppo_value_update(Learner *L, long total_updates, StepMetrics *out);

/* End of step: the value metrics into out, then the KL controller's
 * update from this step's KL (its new beta is next step's). */
void ppo_step_end(Learner *L, StepMetrics *out);

/* The PPO state a checkpoint keeps (PPO_STATE_DOUBLES doubles), and its
 * restore (validated: -1 with err naming the bad value). */
void ppo_state_pack(const struct PpoState *p, double *out);
int ppo_state_unpack(struct PpoState *p, const double *in, char *err, size_t errlen);

#endif
