/* reward_model.h: a reward model learned from comparisons (RLHF step 2),
 * the transformer with a scalar head (model.h: MODEL_HEAD_SCALAR) read at
 * the last token of prompt + completion. rm-train (learner/rm_train.c)
 * trains it with the Bradley-Terry loss; the actors score completions with
 * a frozen copy (scorer.c: rm:PATH), loaded once, never broadcast.
 *
 * The token sequence a reward is read from is built by one function,
 * reward_model_tokens, for training and scoring alike: BOS, the prompt's
 * tokens, the completion's tokens, EOS, cut to the model's max_seq_len
 * from the left of the prompt never (a pair too long is refused by the
 * reader, a completion too long to score is scored on its first tokens
 * and said so by the return value). */
#ifndef COMMON_REWARD_MODEL_H
#define COMMON_REWARD_MODEL_H

#include <stddef.h>

#include "model.h"
#include "tokenizer.h"

/* Writes the sequence the reward of (prompt, completion) is read at into
 * out[0..cap) and returns its length; -1 if it does not fit in cap
 * (out then holds the first cap tokens); -2 if the prompt or completion
 * has a character tok cannot encode (out then unspecified). The prompt is
 * encoded as the sampler's prompts are (encode_prompt: BOS, then
 * tokenizer_encode), the completion as text that continues it
 * (tokenizer_encode_cont), then EOS. */
int reward_model_tokens(const Tokenizer *tok, const char *prompt, const char *completion, int *out,
                        int cap);

typedef struct RewardModel RewardModel;

/* Loads the reward model checkpoint at path (a MODEL_HEAD_SCALAR model and
 * its tokenizer, ckpt_read_scalar_model) for scoring batches of up to
 * max_batch pairs (>= 1; sizes the scratch: see reward_model_score for
 * how a batch runs). NULL with err naming the file and what is wrong
 * (missing, not a reward model: a policy checkpoint is refused). */
RewardModel *reward_model_open(const char *path, int max_batch, char *err, size_t errlen);
void reward_model_close(RewardModel *rm);
const Model *reward_model_model(const RewardModel *rm);
const Tokenizer *reward_model_tokenizer(const RewardModel *rm);

/* Scores n (prompt, completion) pairs into out[0..n): the raw reward
 * (unbounded; the scorer maps it into [0, 1]), the value at each
 * sequence's last token (its EOS) by model_forward_values, the forward
 * rm-train trains through. Sequences longer than the model are scored on
 * their first max_seq_len tokens. Deterministic: the same pair gets the
 * same score, bit for bit, whatever else is in the batch. That is why
 * each pair runs as its own forward of its own length (B = 1, no
 * padding) rather than right-padded beside the others: sgemm's rounding
 * depends on the matrix shape (OpenBLAS 0.3.21: a pair padded to a
 * longer neighbour's length, or stacked with it, moves by an ulp), and a
 * reward must not depend on which completions were sampled with it.
 * Rows within a pair are still one sgemm. Dies naming the checkpoint and
 * the text if a character is outside the reward model's vocabulary (its
 * tokenizer is not the one it is asked to score). */
void reward_model_score(RewardModel *rm, const char *const *prompts,
                        const char *const *completions, int n, float *out);

#endif
