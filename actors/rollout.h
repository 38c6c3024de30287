/* rollout.h: what an actor does between weight updates: draw prompts from
 * its own task stream, sample G completions each with the batched KV-cache
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

typedef struct {
    const Model *m;
    const Tokenizer *tok;
    const Task *task;
    const ScorerSet *scorers; /* NULL: the verifier alone */
    SamplerConfig sc;
    int G, max_prompts;
    uint32_t rank;        /* actor rank: its task stream and RNG stream */
    uint64_t seed;
    uint64_t cursor;      /* training items drawn so far (the data cursor) */
    uint64_t seq_no;      /* groups produced so far */
    Rng rng;              /* sampling randomness */
    KVCache *cache;
    Completions comp;
    int *prompt_buf;      /* (max_prompts, max_seq_len) */
    int *prompt_len;      /* (max_prompts) */
    const int **prompts;  /* (max_prompts) rows of prompt_buf, as generate takes them */
    TaskItem *items;      /* (max_prompts) */
} Roller;

/* Sets up an actor's rollout state for up to max_prompts prompts per call,
 * G completions each, seeded by (seed, rank). Borrows m, tok, task and
 * scorers (an open set, or NULL for the verifier's reward alone). Dies
 * naming the file and line if tok cannot encode a prompt of task
 * (task_check_tokenizer), before any rollout. */
void roller_init(Roller *r, const Model *m, const Tokenizer *tok, const Task *task,
                 const ScorerSet *scorers, const SamplerConfig *sc, int G, int max_prompts,
                 uint64_t seed, uint32_t rank);
void roller_free(Roller *r);

/* Draws the next n training prompts, samples and scores G completions of
 * each, and fills groups[0..n) (the caller group_free's them), stamped with
 * policy_version. */
void roller_run(Roller *r, int n, uint64_t policy_version, Group *groups);

/* The resumable state (RNG, cursor, seq_no) as the 48 bytes of wire.h 4b.
 * An all-zero RNG (written where the exact state was not available: async
 * runs, a stalled actor) means: reseed from (seed, rank, cursor). */
void roller_state_save(const Roller *r, uint8_t out[48]);
void roller_state_load(Roller *r, const uint8_t in[48]);

#endif
