/* bench_model.c: model throughput against the machine's sgemm, one BLAS
 * thread. Prints the OpenBLAS kernel set, sgemm GFLOP/s on a large square
 * product, then per model size the training tokens/s and GFLOP/s (FLOPs
 * from model_train_flops_per_token) and the KV-cache decode tokens/s at 16
 * and 64 slots (2 FLOPs per matmul parameter plus attention per token), and
 * full sampling, generate() at 16 and 64 sequences (the same FLOPs per model
 * row, over the rows it actually ran: prefill and decode), each as a
 * fraction of sgemm. Every figure is the median of several runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "model.h"
#include "rng.h"
#include "sampler.h"
#include "tokenizer.h"
#include "blas_setup.h"
#include "util.h"

#include "bench_common.h"
#include "bench_model_common.h"

int main(void) {
    blas_set_threads(1);
    char compute[256];
    blas_describe(compute, sizeof compute);
    printf("%s\n", compute);
    Tokenizer *tok = xmalloc(sizeof *tok);
    tokenizer_init_char(tok);
    sgemm_init(&ref, 2048);
    printf("sgemm 2048^3: %.1f GFLOP/s (median of 5; each figure below is a median of ratios to "
           "an sgemm run just before it)\n", bench_sgemm(5));

    struct { const char *name; int D, L, NH, HF; } sizes[2] = {
        {"~1M", 128, 4, 4, 352}, {"~4M", 256, 4, 8, 688}};
    for (int i = 0; i < 2; i++) {
        ModelConfig c = {.vocab_size = 98, .dim = sizes[i].D, .n_layers = sizes[i].L,
                         .n_heads = sizes[i].NH, .n_kv_heads = sizes[i].NH,
                         .hidden_dim = sizes[i].HF, .max_seq_len = 64, .tied_embeddings = 0,
                         .rope_theta = 10000.0f, .norm_eps = 1e-5f};
        Model m;
        model_init(&m, &c);
        model_init_weights(&m, 1);
        model_alloc_grads(&m);
        printf("%s model: D=%d L=%d NH=%d HF=%d V=%d, %.2fM params, %.1f MFLOP/train token\n",
               sizes[i].name, c.dim, c.n_layers, c.n_heads, c.hidden_dim, c.vocab_size,
               m.n_params * 1e-6, model_train_flops_per_token(&c, 64) * 1e-6);
        bench_train(&m, 32, 64, 5, NULL);
        bench_train(&m, 64, 64, 3, NULL);
        bench_decode(&m, 16, 64, 8, 5);
        bench_decode(&m, 64, 64, 8, 5);
        bench_sample(&m, tok, 4, 4, 5);
        bench_sample(&m, tok, 16, 4, 5);
        model_free(&m);
    }
    xfree(tok);
    sgemm_free(&ref);
    return 0;
}
