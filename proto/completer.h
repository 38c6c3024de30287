/* completer.h: sampling completions from a model, as a callback, for
 * trainers in learner/ that need a model's samples but must not depend on
 * the sampler, which is the actors' (distillation samples the teacher's
 * completions; deploy/main.c wires in the actors' implementation,
 * actors/local_completer.h, as it wires the Evaluator into SFT). */
#ifndef PROTO_COMPLETER_H
#define PROTO_COMPLETER_H

#include "model.h"
#include "rng.h"
#include "tokenizer.h"

typedef struct {
    /* Samples one completion from m for each of n prompts (prompts[i]:
     * prompt_lens[i] token ids, BOS first), drawing from rng. Row i of out
     * (max_new ints per row) gets the completion's tokens, EOS included
     * when the model emitted it, and len[i] its length (<= max_new, and
     * prompt + completion <= m's max_seq_len, so the sequence fits one
     * training forward). */
    void (*run)(const void *ctx, const Model *m, const Tokenizer *tok, const int *const *prompts,
                const int *prompt_lens, int n, int max_new, Rng *rng, int *out, int *len);
    const void *ctx;
} Completer;

#endif
