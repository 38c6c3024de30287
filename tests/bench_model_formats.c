/* bench_model_formats.c: time and peak memory of grpo import / export on
 * the llama2.c stories15M shape (dim 288, 6 layers, 6 heads, hidden 768,
 * max_seq_len 256, tied) with its 32000-token vocabulary: 15.2M
 * parameters, 61 MB of float32, of which 9.2M are the embedding.
 *
 * Each operation runs in a fresh child process so its ru_maxrss is its own
 * peak: the baseline child only builds the model in memory; the writers
 * build it and write one format (streamed: peak should stay near the
 * model); the readers only read the file back (mmap'd, each tensor's
 * pages dropped once converted: peak should be near the model plus its
 * largest tensor). Wall time is one run, fsync included (the disk cache is
 * warm after the write). Files go to $TMPDIR (default /tmp) and are
 * removed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model_formats.h"
#include "util.h"

static ModelConfig stories15m_32k(void) {
    ModelConfig c = {.vocab_size = 32000, .dim = 288, .n_layers = 6, .n_heads = 6,
                     .n_kv_heads = 6, .hidden_dim = 768, .max_seq_len = 256,
                     .tied_embeddings = 1, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    return c;
}

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

enum { OP_BASE, OP_W_LEGACY, OP_W_V1, OP_W_HF, OP_R_LEGACY, OP_R_V1, OP_R_HF, N_OPS };
static const char *const op_name[N_OPS] = {"model in memory only", "write llama2.c legacy",
                                           "write llama2.c v1", "write hf (safetensors F32)",
                                           "read llama2.c legacy", "read llama2.c v1",
                                           "read hf"};

static char dir[300];

static int child(int op) {
    ModelConfig c = stories15m_32k();
    Model m;
    char err[1000], path[400];
    snprintf(path, sizeof path, "%s/%s", dir,
             op == OP_W_LEGACY || op == OP_R_LEGACY ? "legacy.bin"
             : op == OP_W_V1 || op == OP_R_V1       ? "v1.bin"
                                                    : "hf");
    int rc = 0;
    double t0 = wall();
    if (op <= OP_W_HF) {
        model_init(&m, &c);
        model_init_weights(&m, 1);
        t0 = wall();
        if (op == OP_W_LEGACY) rc = llama2c_write(&m, LLAMA2C_LEGACY, path, err, sizeof err);
        if (op == OP_W_V1) rc = llama2c_write(&m, LLAMA2C_V1, path, err, sizeof err);
        if (op == OP_W_HF) rc = hf_write_dir(&m, path, 1, 2, err, sizeof err);
    } else if (op == OP_R_HF) {
        rc = hf_read_dir(path, &m, NULL, err, sizeof err);
    } else {
        rc = llama2c_read(path, &m, NULL, err, sizeof err);
    }
    double dt = wall() - t0;
    if (rc != 0) {
        fprintf(stderr, "bench_model_formats: %s\n", err);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  %-28s %7.3f s   peak RSS %7.1f MB   (model %zu params, %.1f MB)\n", op_name[op],
           op == OP_BASE ? 0.0 : dt, ru.ru_maxrss / 1024.0, m.n_params, 4e-6 * m.n_params);
    fflush(stdout);
    model_free(&m);
    return 0;
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/bench_formats_XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(dir)) die("mkdtemp %s failed", dir);
    printf("stories15M shape, vocab 32000 (dim 288, 6 layers, hidden 768, seq 256, tied):\n");
    int status = 0;
    for (int op = 0; op < N_OPS; op++) {
        fflush(stdout);
        pid_t p = fork();
        if (p == 0) _exit(child(op));
        int ws;
        waitpid(p, &ws, 0);
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) status = 1;
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) status = 1;
    return status;
}
