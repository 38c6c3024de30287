/* memory.h: refuse a run that cannot fit in the memory this process may
 * use, before any rank starts work, instead of dying (or, for OpenBLAS
 * under RLIMIT_AS, spinning) in the middle of a step. Limits that count:
 * RLIMIT_AS (address space, per process), the cgroup's memory limit and
 * physical RAM (shared by the ranks on a node). */
#ifndef COMMON_MEMORY_H
#define COMMON_MEMORY_H

#include <stddef.h>

#include "memory_limits.h"
#include "model.h"

/* ROLE_SCORE: a frozen model run forward only (training-shaped
 * activations, no gradients or optimizer): the reward model an actor's
 * rm: scorer holds, to add to the actor's own need. */
typedef enum { ROLE_SFT, ROLE_LEARNER, ROLE_ACTOR, ROLE_EVAL, ROLE_SCORE } MemoryRole;

/* Bytes one rank of this role needs, roughly: parameter copies (policy,
 * gradients, AdamW m and v, reference) plus activations for batch rows of
 * T tokens, or the KV cache and logits for kv_slots sequences. Counts what
 * the rank has allocated already too (a loaded model). The head kind
 * (c->head) counts: a scalar model has no V-wide logit rows. */
double memory_needed(const ModelConfig *c, MemoryRole role, int rows, int T, int kv_slots);

typedef struct {
    double as_limit;     /* RLIMIT_AS in bytes, 0 = unlimited */
    double mapped;       /* address space mapped now outside the C heap: libraries,
                          * OpenBLAS buffers, MPI segments, thread stacks */
    CgroupLimit cgroup;  /* bytes 0 = none */
    double physical;     /* RAM in bytes, 0 = unknown */
} MemoryLimits;

/* The limits of this process now (/proc/self/cgroup under /sys/fs/cgroup);
 * dies naming a cgroup file it cannot parse. */
void memory_read_limits(MemoryLimits *l);

/* 0 if ranks_on_node ranks that need `need` bytes each fit within l; else
 * -1 and a sentence for why ("needs ~X MiB ... but RLIMIT_AS (ulimit -v)
 * allows Y MiB"), naming the first limit that binds: RLIMIT_AS, then the
 * cgroup's, then physical RAM. */
int memory_fits(const MemoryLimits *l, double need, int ranks_on_node, char *why, size_t len);

/* Dies with a message naming the sizes and the limit that binds if
 * ranks_on_node ranks of this need do not fit (memory_fits). */
void memory_check_or_die(const ModelConfig *c, MemoryRole role, int rows, int T, int kv_slots,
                         int ranks_on_node);

/* The same for a rank that holds several models (a PPO learner's policy
 * and value model, an actor's policy and reward model): need is the sum
 * of their memory_needed; what names the rank and its models for the
 * message ("the learner rank of this PPO run (policy dim 64 ...)"). */
void memory_check_need_or_die(double need, const char *what, int ranks_on_node);

/* Ranks of this job on this node (Open MPI's local size; 1 outside MPI). */
int memory_local_ranks(void);

#endif
