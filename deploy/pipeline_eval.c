/* pipeline_eval.c: a stage's evaluation (pipeline_eval.h). The tasks come
 * from the configs, the model shape from the checkpoint (students are
 * smaller than the [model] of the config). */
#include "pipeline_eval.h"

#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "eval.h"
#include "run_settings.h"
#include "sampling.h"
#include "util.h"

/* Greedy evaluation of m on cfg's task and sampler limits. */
static void greedy(const Config *cfg, const Model *m, const Tokenizer *tok, const char *path,
                   EvalResult *r) {
    char err[600];
    Task *t = task_from_config(cfg, run_settings(cfg)->seed, err, sizeof err);
    if (!t) die("pipeline: evaluating %s: %s", path, err);
    SamplerConfig sc = sampler_config_from(sampling_settings(cfg));
    if (task_check_fits(t, m->cfg.max_seq_len, sc.max_new_tokens, err, sizeof err) != 0)
        die("pipeline: evaluating %s: %s", path, err);
    evaluate(m, tok, t, &sc, eval_settings(cfg)->prompts, 0, run_settings(cfg)->seed, r);
    t->destroy(t);
}

void pipeline_evaluate(const Config *base, const Config *second, const char *path, StageEval *out) {
    double t0 = now_seconds();
    Model m;
    Tokenizer *tok = xcalloc(1, sizeof *tok);
    ckpt_load_model_or_die(path, &m, tok);
    EvalResult r;
    memset(out, 0, sizeof *out);
    greedy(base, &m, tok, path, &r);
    out->have = 1;
    out->acc = r.greedy_acc;
    out->format = r.greedy_format;
    out->mean_len = r.mean_len;
    out->prompts = r.n_prompts;
    greedy(second, &m, tok, path, &r);
    out->second_acc = r.greedy_acc;
    out->second_prompts = r.n_prompts;
    out->records = -1;
    model_free(&m);
    tokenizer_free(tok);
    xfree(tok);
    out->seconds = now_seconds() - t0;
}

long pipeline_count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long n = 0;
    int blank = 1, c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') {
            n += !blank;
            blank = 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            blank = 0;
        }
    }
    n += !blank;
    fclose(f);
    return n;
}
