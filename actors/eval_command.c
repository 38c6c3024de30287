/* eval_command.c: `grpo eval --checkpoint FILE` and `grpo sample
 * --checkpoint FILE --prompt TEXT [-n N]`, the sampler's two commands. */
#include <stdio.h>

#include "checkpoint.h"
#include "cli.h"
#include "eval.h"
#include "memory.h"
#include "run_settings.h"
#include "util.h"

/* Loads the checkpoint; [model] then records its shape, and a [model]
 * override that disagrees with it is refused (it could not apply). */
static void load_model(Config *cfg, const char *path, Model *m, Tokenizer *tok) {
    char err[600];
    ckpt_load_model_or_die(path, m, tok);
    if (model_config_adopt(cfg, &m->cfg, path, err, sizeof err) != 0) die("%s", err);
}

int eval_command(Config *cfg, const CliArgs *a) {
    if (!a->checkpoint) die("eval needs --checkpoint FILE");
    Model m;
    Tokenizer *tok = xcalloc(1, sizeof *tok);
    load_model(cfg, a->checkpoint, &m, tok);
    const EvalSettings *es = eval_settings(cfg);
    memory_check_or_die(&m.cfg, ROLE_EVAL, 0, 0, eval_batch_rows(es->pass_k), 1);
    char err[512];
    Task *task = task_from_config(cfg, run_settings(cfg)->seed, err, sizeof err);
    if (!task) die("%s", err);
    if (task_check_fits(task, m.cfg.max_seq_len, sampling_settings(cfg)->max_new_tokens, err,
                        sizeof err) != 0)
        die("%s", err);
    SamplerConfig sc = sampler_config_from(sampling_settings(cfg));
    EvalResult r;
    double t0 = now_seconds();
    evaluate(&m, tok, task, &sc, es->prompts, es->pass_k, run_settings(cfg)->seed, &r);
    eval_print(a->checkpoint, &r, task);
    printf("eval: %.1f s\n", now_seconds() - t0);
    task->destroy(task);
    model_free(&m);
    tokenizer_free(tok);
    xfree(tok);
    return 0;
}

int sample_command(Config *cfg, const CliArgs *a) {
    if (!a->checkpoint || !a->prompt) die("sample needs --checkpoint FILE and --prompt TEXT");
    Model m;
    Tokenizer *tok = xcalloc(1, sizeof *tok);
    load_model(cfg, a->checkpoint, &m, tok);
    int n = a->n;
    memory_check_or_die(&m.cfg, ROLE_EVAL, 0, 0, n + 1, 1);
    int *prompt = xmalloc(sizeof(int) * m.cfg.max_seq_len);
    int plen = encode_prompt(tok, a->prompt, prompt, m.cfg.max_seq_len);
    SamplerConfig sc = sampler_config_from(sampling_settings(cfg));
    KVCache *cache = kv_cache_new(&m.cfg, n + 1, m.cfg.max_seq_len);
    Completions c;
    completions_alloc(&c, n, sc.max_new_tokens);
    Rng rng;
    rng_seed(&rng, run_settings(cfg)->seed, 0x5A);
    const int *prompts[1] = {prompt};
    generate(&m, cache, prompts, &plen, 1, n, &sc, tok, &rng, &c);
    static const char *finish[] = {"eos", "stop", "length"};
    char text[1024];
    for (int i = 0; i < n; i++) {
        completion_text(tok, &c, i, text, sizeof text);
        double lp = 0;
        for (int j = 0; j < c.len[i]; j++) lp += c.logp[(size_t)i * c.max_new + j];
        printf("%s%s\t[%s, %d tokens, logp %.3f]\n", a->prompt, text, finish[c.finish[i]], c.len[i], lp);
    }
    completions_free(&c);
    kv_cache_free(cache);
    xfree(prompt);
    model_free(&m);
    tokenizer_free(tok);
    xfree(tok);
    return 0;
}
