#include "memory.h"

#include <stdlib.h>
#include <unistd.h>

#include "util.h"

double memory_needed(const ModelConfig *c, MemoryRole role, int rows, int T, int kv_slots) {
    size_t sizes[MODEL_NUM_TENSORS];
    double p = (double)model_tensor_sizes(c, sizes) * sizeof(float);
    double D = c->dim, L = c->n_layers, HF = c->hidden_dim, V = c->vocab_size;
    double kvd = (double)c->dim / c->n_heads * c->n_kv_heads;
    /* per token and layer the forward keeps ~12 D + 4 HF floats (norms,
     * q k v, attention out, residuals, SwiGLU), plus T attention weights
     * per head, plus two V-wide rows at the head */
    double act = (double)rows * T * (L * (12 * D + 4 * HF + (double)c->n_heads * T) + 2 * V) * 4;
    double kv = (double)kv_slots * c->max_seq_len * L * kvd * 2 * 4 + (double)kv_slots * V * 8;
    switch (role) {
    case ROLE_SFT: return 4 * p + act;       /* params, grads, m, v */
    case ROLE_LEARNER: return 5 * p + act;   /* + the frozen reference */
    case ROLE_ACTOR: return 2 * p + kv;      /* weights + the broadcast back buffer */
    }
    return p;
}

int memory_local_ranks(void) {
    const char *s = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    int n = s ? atoi(s) : 1;
    return n > 0 ? n : 1;
}

void memory_check_or_die(const ModelConfig *c, MemoryRole role, int rows, int T, int kv_slots,
                         int ranks_on_node) {
    double need = memory_needed(c, role, rows, T, kv_slots);
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (have <= 0 || need * ranks_on_node <= 0.9 * have) return;
    static const char *names[] = {"sft", "learner", "actor"};
    die("refusing to start: a %s rank of this model (dim %d, %d layers, hidden %d, vocab %d) "
        "needs about %.1f GiB, and %d rank(s) on this node need %.1f GiB of its %.1f GiB; use a "
        "smaller model or batch, or fewer ranks per node",
        names[role], c->dim, c->n_layers, c->hidden_dim, c->vocab_size, need / (1 << 30),
        ranks_on_node, need * ranks_on_node / (1 << 30), have / (1 << 30));
}
