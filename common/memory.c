#include "memory.h"

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

double memory_needed(const ModelConfig *c, MemoryRole role, int rows, int T, int kv_slots) {
    size_t sizes[MODEL_NUM_TENSORS];
    double p = (double)model_tensor_sizes(c, sizes) * sizeof(float);
    double D = c->dim, L = c->n_layers, HF = c->hidden_dim, V = c->vocab_size;
    double kvd = (double)c->dim / c->n_heads * c->n_kv_heads;
    /* per token and layer the forward keeps ~12 D + 3 HF floats (norms,
     * q k v, attention out, residuals; SwiGLU's h1, h3 and output), plus T attention weights
     * per head, plus T attention-score gradients (one layer and head at a
     * time: attention_packed.c's dscore, up to rows * T * T), plus at the head two V-wide rows (logits and their
     * gradient) for an LM, or a value and its gradient for a scalar head
     * (forward_state_new allocates no V-wide rows for one) */
    double head = c->head == MODEL_HEAD_SCALAR ? 2 : 2 * V;
    double act = (double)rows * T * (L * (12 * D + 3 * HF + (double)c->n_heads * T) + T + head) * 4;
    double kv = (double)kv_slots * c->max_seq_len * L * kvd * 2 * 4 + (double)kv_slots * V * 8;
    switch (role) {
    case ROLE_SFT: return 4 * p + act;       /* params, grads, m, v */
    case ROLE_LEARNER: return 5 * p + act;   /* + the frozen reference */
    case ROLE_ACTOR: return 2 * p + kv;      /* weights + the broadcast back buffer */
    case ROLE_EVAL: return p + kv;           /* weights, no optimizer state */
    case ROLE_SCORE: return p + act;         /* frozen weights run forward (reward model) */
    }
    return p;
}

int memory_local_ranks(void) {
    const char *s = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    int n = s ? atoi(s) : 1;
    return n > 0 ? n : 1;
}

void memory_read_limits(MemoryLimits *l) {
    char err[MEMORY_PATH_MAX + 128];
    l->as_limit = memory_as_limit();
    double vm = memory_status_bytes("VmSize"), heap = memory_heap_held();
    l->mapped = vm > heap ? vm - heap : 0;
    if (memory_cgroup_limit("/proc/self/cgroup", "/sys/fs/cgroup", &l->cgroup, err, sizeof err) != 0)
        die("memory pre-flight: %s", err);
    l->physical = memory_physical();
}

/* Address space the estimate does not see: glibc's per-thread malloc
 * arenas, allocator slack and rounding, stdio and small buffers. */
static const double AS_SLACK = 64.0 * (1 << 20);

/* The ranks on a node share the cgroup and RAM with the system, page cache
 * and the launcher; only this fraction is planned for. */
static const double SHARED_USABLE = 0.9;

int memory_fits(const MemoryLimits *l, double need, int ranks_on_node, char *why, size_t len) {
    const double MiB = 1 << 20;
    double as_need = l->mapped + need + AS_SLACK, node_need = need * ranks_on_node;
    if (l->as_limit > 0 && as_need > l->as_limit) {
        set_err(why, len,
                "needs ~%.0f MiB of address space (%.0f MiB for the model, activations and "
                "caches, %.0f MiB mapped already: libraries, OpenBLAS buffers, MPI) but RLIMIT_AS "
                "(ulimit -v) allows %.0f MiB",
                as_need / MiB, need / MiB, l->mapped / MiB, l->as_limit / MiB);
        return -1;
    }
    if (l->cgroup.bytes > 0 && node_need > SHARED_USABLE * l->cgroup.bytes) {
        set_err(why, len,
                "needs ~%.0f MiB, and %d rank(s) on this node need ~%.0f MiB, but the cgroup "
                "memory limit (v%d %s) allows %.0f MiB (%.0f%% of it planned for)",
                need / MiB, ranks_on_node, node_need / MiB, l->cgroup.version, l->cgroup.file,
                l->cgroup.bytes / MiB, 100 * SHARED_USABLE);
        return -1;
    }
    if (l->physical > 0 && node_need > SHARED_USABLE * l->physical) {
        set_err(why, len,
                "needs ~%.0f MiB, and %d rank(s) on this node need ~%.0f MiB, but the node has "
                "%.0f MiB of physical memory (%.0f%% of it planned for)",
                need / MiB, ranks_on_node, node_need / MiB, l->physical / MiB,
                100 * SHARED_USABLE);
        return -1;
    }
    return 0;
}

void memory_check_or_die(const ModelConfig *c, MemoryRole role, int rows, int T, int kv_slots,
                         int ranks_on_node) {
    static const char *names[] = {"sft", "learner", "actor", "eval", "score"};
    MemoryLimits l;
    memory_read_limits(&l);
    char why[MEMORY_PATH_MAX + 512];
    double need = memory_needed(c, role, rows, T, kv_slots);
    if (memory_fits(&l, need, ranks_on_node, why, sizeof why) == 0) return;
    die("refusing to start: one %s rank of this model (dim %d, %d layers, hidden %d, vocab %d) %s; "
        "use a smaller model or batch, fewer ranks per node, or raise the limit",
        names[role], c->dim, c->n_layers, c->hidden_dim, c->vocab_size, why);
}

void memory_check_need_or_die(double need, const char *what, int ranks_on_node) {
    MemoryLimits l;
    memory_read_limits(&l);
    char why[MEMORY_PATH_MAX + 512];
    if (memory_fits(&l, need, ranks_on_node, why, sizeof why) == 0) return;
    die("refusing to start: %s %s; use smaller models or batches, fewer ranks per node, or raise "
        "the limit", what, why);
}
