/* bench_vocab.c: the stories15M shape (D=288, L=6, NH=NKV=6, HF=768,
 * max_seq_len 256, untied head) with a 32000-token SentencePiece-kind
 * vocabulary, beside the same model with the 98-token character vocabulary:
 * the difference between the two rows is the output head (V x D matmul
 * forward and backward, its AdamW update) and the log-softmax over V.
 * Rows are bench_model.c's (bench_model_common.h): train (forward +
 * backward + one AdamW step) at B=4 T=256, KV-cache decode and generate()
 * at 16 and 64 sequences (the V=98 model: 64 only), each as a fraction of
 * an sgemm run just before it; then the head's share of each (1 - the
 * V=32000 tokens/s over the V=98 one). Then the peak RSS (getrusage ru_maxrss) against memory_needed()'s
 * estimate (weights + grads + AdamW m, v + activations) plus the sgemm
 * reference's buffers.
 *
 * The 32k tokenizer is synthesised in memory as a llama2.c tokenizer.bin
 * (<unk>, BOS, EOS, the 256 <0xNN> byte tokens, then distinct made-up
 * syllable pieces, half with a leading space, score = -id) and read by
 * tokenizer_parse_llama2c, so generate() runs its real 32k-vocabulary
 * path (sampling over V, detokenising each piece). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "blas_setup.h"
#include "memory.h"
#include "model.h"
#include "optim.h"
#include "tokenizer.h"
#include "util.h"

#include "bench_common.h"
#include "bench_model_common.h"

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i);
}

/* A SentencePiece-kind tokenizer of exactly V pieces (V <= 259 + 55860). */
static void bench_sp_tokenizer(Tokenizer *t, int V) {
    static const char *syl[30] = {"ka", "to", "ri", "ne", "su", "mo", "la", "pi", "de", "go",
                                  "an", "er", "in", "th", "st", "ou", "ch", "ba", "ve", "lu",
                                  "ze", "fi", "wo", "ha", "ty", "ex", "qu", "or", "al", "en"};
    uint8_t *buf = xmalloc(4 + (size_t)V * 16), *p = buf + 4;
    put_u32(buf, 16);
    for (int id = 0; id < V; id++) {
        char s[16];
        int n;
        if (id == 0) n = sprintf(s, "<unk>");
        else if (id == 1) n = sprintf(s, "\n<s>\n");
        else if (id == 2) n = sprintf(s, "\n</s>\n");
        else if (id < 259) n = sprintf(s, "<0x%02X>", id - 3);
        else { /* k-th piece: 1, 2 then 3 syllables, with and without a space */
            int k = (id - 259) / 2, ns = 1, cnt = 30;
            while (k >= cnt) k -= cnt, ns++, cnt *= 30;
            n = 0;
            if ((id - 259) % 2 == 0) s[n++] = ' ';
            for (int j = 0; j < ns; j++, k /= 30) memcpy(s + n, syl[k % 30], 2), n += 2;
            s[n] = '\0';
        }
        float score = -(float)id;
        memcpy(p, &score, 4);
        put_u32(p + 4, (uint32_t)n);
        memcpy(p + 8, s, (size_t)n);
        p += 8 + n;
    }
    char err[256];
    if (tokenizer_parse_llama2c(t, buf, (size_t)(p - buf), "(bench 32k tokenizer.bin)", err,
                                sizeof err))
        die("%s", err);
    CHECK(t->vocab_size == V);
    xfree(buf);
}

enum { TRAIN_B = 4, TRAIN_T = 256 };

int main(void) {
    blas_set_threads(1);
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS core %s (openblas_get_corename), OPENBLAS_CORETYPE=%s, 1 thread\n",
           blas_corename(), ct ? ct : "(unset)");
    Tokenizer *sp = xcalloc(1, sizeof *sp), *ch = xcalloc(1, sizeof *ch);
    double t0 = now_seconds();
    bench_sp_tokenizer(sp, 32000);
    char desc[128];
    tokenizer_describe(sp, desc, sizeof desc);
    printf("tokenizer: %s, built and parsed in %.0f ms\n", desc, 1e3 * (now_seconds() - t0));
    tokenizer_init_char(ch);
    sgemm_init(&ref, 2048);
    printf("sgemm 2048^3: %.1f GFLOP/s (median of 5; each figure below is a median of ratios to "
           "an sgemm run just before it)\n", bench_sgemm(5));
    double sgemm_mib = 3.0 * 2048 * 2048 * 4 / (1 << 20);

    /* 32k first, so the peak RSS after it is the 32k model's */
    const struct { int V; const Tokenizer *tok; } pts[2] = {{32000, sp}, {98, ch}};
    double tps[2][3]; /* train, decode B=64, sample B=64 */
    for (int i = 0; i < 2; i++) {
        ModelConfig c = {.vocab_size = pts[i].V, .dim = 288, .n_layers = 6, .n_heads = 6,
                         .n_kv_heads = 6, .hidden_dim = 768, .max_seq_len = 256,
                         .tied_embeddings = 0, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
        Model m;
        model_init(&m, &c);
        model_init_weights(&m, 1);
        model_alloc_grads(&m);
        AdamW opt;
        adamw_init(&opt, m.n_params);
        size_t s[MODEL_NUM_TENSORS];
        model_tensor_sizes(&c, s);
        printf("stories15M shape, V=%d: D=%d L=%d NH=%d HF=%d, %zu params (%.2fM; head %.2fM, "
               "embedding %.2fM), %.1f MFLOP/train token at T=%d\n",
               c.vocab_size, c.dim, c.n_layers, c.n_heads, c.hidden_dim, m.n_params,
               m.n_params * 1e-6, s[MODEL_NUM_TENSORS - 1] * 1e-6, s[0] * 1e-6,
               model_train_flops_per_token(&c, TRAIN_T) * 1e-6, TRAIN_T);
        tps[i][0] = bench_train(&m, TRAIN_B, TRAIN_T, 3, &opt);
        if (i == 0) {
            double est = memory_needed(&c, ROLE_SFT, TRAIN_B, TRAIN_T, 0) / (1 << 20);
            printf("  peak RSS after training: %.0f MiB; estimate %.0f MiB (memory_needed: "
                   "4 x %.0f MiB weights/grads/m/v + activations) + %.0f MiB sgemm buffers\n",
                   peak_rss_mib(), est, m.n_params * 4.0 / (1 << 20), sgemm_mib);
        }
        if (i == 0) bench_decode(&m, 16, 64, 8, 3);
        tps[i][1] = bench_decode(&m, 64, 64, 8, 3);
        if (i == 0) bench_sample(&m, pts[i].tok, 4, 4, 3);
        tps[i][2] = bench_sample(&m, pts[i].tok, 16, 4, 3);
        adamw_free(&opt);
        model_free(&m);
    }
    /* time per token at V=32000 minus at V=98, over the V=32000 time */
    const char *what[3] = {"train+adamw B=4 T=256", "decode B=64", "sample B=64"};
    for (int k = 0; k < 3; k++)
        printf("head + log-softmax over V=32000 (V=32000 minus V=98 time per token), %s: "
               "%.0f%% of the time\n", what[k], 100.0 * (1 - tps[0][k] / tps[1][k]));
    printf("peak RSS at exit: %.0f MiB\n", peak_rss_mib());
    tokenizer_free(sp);
    xfree(sp);
    xfree(ch);
    sgemm_free(&ref);
    return 0;
}
