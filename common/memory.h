/* memory.h: refuse a run that cannot fit in this node's memory before any
 * rank starts work, instead of dying in the middle of a step. */
#ifndef COMMON_MEMORY_H
#define COMMON_MEMORY_H

#include <stddef.h>

#include "model.h"

typedef enum { ROLE_SFT, ROLE_LEARNER, ROLE_ACTOR } MemoryRole;

/* Bytes one rank of this role needs, roughly: parameter copies (policy,
 * gradients, AdamW m and v, reference) plus activations for batch rows of
 * T tokens, or the KV cache and logits for kv_slots sequences. */
double memory_needed(const ModelConfig *c, MemoryRole role, int rows, int T, int kv_slots);

/* Dies with a message naming the sizes if ranks_on_node ranks of this need
 * do not fit in the node's physical memory. */
void memory_check_or_die(const ModelConfig *c, MemoryRole role, int rows, int T, int kv_slots,
                         int ranks_on_node);

/* Ranks of this job on this node (Open MPI's local size; 1 outside MPI). */
int memory_local_ranks(void);

#endif
