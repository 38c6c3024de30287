/* local_completer.c: local_completer.h over the batched KV-cache sampler. */
#include "local_completer.h"

#include <string.h>

#include "sampler.h"
#include "sampling.h"
#include "util.h"

/* A cache per call: the caller's batches are small and the model may be
 * any size, so nothing is kept between calls (no hidden state). */
static void run_local(const void *ctx, const Model *m, const Tokenizer *tok,
                      const int *const *prompts, const int *prompt_lens, int n, int max_new,
                      Rng *rng, int *out, int *len) {
    const Config *cfg = ctx;
    CHECK(n >= 1 && max_new >= 1);
    SamplerConfig sc = sampler_config_from(sampling_settings(cfg));
    sc.max_new_tokens = max_new;
    KVCache *cache = kv_cache_new(&m->cfg, n, m->cfg.max_seq_len);
    Completions c;
    completions_alloc(&c, n, max_new);
    generate(m, cache, prompts, prompt_lens, n, 1, &sc, tok, rng, &c);
    for (int i = 0; i < n; i++) {
        len[i] = c.len[i];
        memcpy(out + (size_t)i * max_new, c.tokens + (size_t)i * max_new,
               sizeof(int) * (size_t)c.len[i]);
    }
    completions_free(&c);
    kv_cache_free(cache);
}

Completer local_completer(const Config *cfg) { return (Completer){run_local, cfg}; }
