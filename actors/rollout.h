/* rollout.h: what an actor does between weight updates: take its slots of
 * the step's prompts, sample G completions each with the batched KV-cache
 * decoder, score every completion (the verifier plus the [reward]
 * scorers, reward_mix.h), and pack each prompt's group into a
 * wire Group. No MPI here: the actor loop and one-process tests share it. */
#ifndef ACTORS_ROLLOUT_H
#define ACTORS_ROLLOUT_H

#include <stdint.h>

#include "model.h"
#include "reward_mix.h"
#include "sampler.h"
#include "task.h"
#include "tokenizer.h"
#include "wire.h"

enum { ROLLER_TEXT_MAX = TASK_MAX_TEXT * 2 };

typedef struct {
    const Model *m;
    const Tokenizer *tok;
    const Task *task;
    const ScorerSet *scorers; /* NULL: the verifier alone */
    SamplerConfig sc;
    int G, max_prompts;
    uint32_t rank;        /* the actor's MPI rank (stamped on its groups) */
    uint64_t seed;
    int prompts_per_step; /* the plan's: a slot's run-wide prompt index */
    Rng *rngs;            /* (max_prompts * G) one stream per completion */
    KVCache *cache;
    Completions comp;
    int *prompt_buf;      /* (max_prompts, max_seq_len) */
    int *prompt_len;      /* (max_prompts) */
    const int **prompts;  /* (max_prompts) rows of prompt_buf, as generate takes them */
    TaskItem *items;      /* (max_prompts) */
    /* the last rollout's completions as the verifier reads them, and their
     * rewards: (max_prompts * G) each */
    size_t text_cap;      /* ROLLER_TEXT_MAX, or what max_new_tokens of the
                           * tokenizer's longest piece need if that is more */
    char *texts;          /* text_cap bytes per completion */
    VerifyJob *jobs;
    Reward *rewards;
} Roller;

/* Sets up an actor's rollout state for up to max_prompts prompts per call,
 * G completions each, of a run with prompts_per_step prompts per step and
 * [run] seed. Borrows m, tok, task and
 * scorers (an open set, or NULL for the verifier's reward alone). Dies
 * naming the file and line if tok cannot encode a prompt of task
 * (task_check_tokenizer), before any rollout. */
void roller_init(Roller *r, const Model *m, const Tokenizer *tok, const Task *task,
                 const ScorerSet *scorers, const SamplerConfig *sc, int G, int max_prompts,
                 int prompts_per_step, uint64_t seed, uint32_t rank);
void roller_free(Roller *r);

/* Rolls out slots [lo, hi) of learner step `step` (hi - lo <= max_prompts)
 * into groups[0 .. hi-lo) (the caller group_free's them), stamped with
 * policy_version. Slot i is the run's training prompt q =
 * (step - 1) * prompts_per_step + i (the group's seq_no), and completion k
 * of it samples from its own stream, keyed by (seed, q, k)
 * (roller_stream_seed): what a group holds depends on the seed, the step,
 * the slot and the weights alone, never on which actor rolled it out or
 * with which other prompts, so the same seed gives the same groups with
 * any number of actors, and a resume needs no actor state. */
void roller_run(Roller *r, long step, int lo, int hi, uint64_t policy_version, Group *groups);

/* The random stream of completion k of the run's training prompt q. */
void roller_stream_seed(Rng *rng, uint64_t seed, uint64_t q, int k);

#endif
