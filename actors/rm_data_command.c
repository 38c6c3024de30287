/* rm_data_command.c: `grpo rm-data --out FILE.jsonl [--checkpoint FILE]`
 * (rm_data.h): the pairs of both splits, the files written atomically
 * (whole or absent), and the counts printed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "atomic_file.h"
#include "checkpoint.h"
#include "memory.h"
#include "rm_data.h"
#include "run_settings.h"
#include "util.h"

/* Writes ps to path; 0, or -1 with the error printed. */
static int write_pairs(const RmPairs *ps, const char *path) {
    size_t len;
    char err[600];
    char *text = rm_pairs_jsonl(ps, &len);
    int rc = atomic_file_write(path, text, len, err, sizeof err);
    if (rc != 0) fprintf(stderr, "error: rm-data: %s\n", err);
    xfree(text);
    return rc;
}

static double rate(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0; }

/* One line per split: what was written, what was skipped and flipped, and
 * what the sampled completions are truly worth (for the user: the file
 * never holds a score). */
static void print_counts(const char *what, const char *path, const RmPairs *ps, float noise) {
    const RmCounts *c = &ps->counts;
    const uint64_t labelled = c->candidates - c->ties;
    double n = c->completions ? (double)c->completions : 1, mean = c->score_sum / n;
    double var = c->score_sq / n - mean * mean;
    printf("rm-data: %s: wrote %d pairs to %s; %llu candidate pairs, %llu ties skipped (%.3f), "
           "%llu labels flipped (%.3f of %llu labelled, label_noise %g)\n",
           what, ps->n, path, (unsigned long long)c->candidates, (unsigned long long)c->ties,
           rate(c->ties, c->candidates), (unsigned long long)c->flips, rate(c->flips, labelled),
           (unsigned long long)labelled, noise);
    printf("rm-data: %s: the %llu sampled completions: well formed %.3f, hidden preference "
           "mean %.4f sd %.4f\n",
           what, (unsigned long long)c->completions, rate(c->well_formed, c->completions), mean,
           sqrt(var > 0 ? var : 0));
}

int rm_data_command(Config *cfg, const CliArgs *a) {
    const RmDataSettings *rs = rm_data_settings(cfg);
    const int demos = rs->source == RM_SOURCE_DEMOS;
    /* usage errors: status 2, before any work */
    if (!a->out || (!demos && !a->checkpoint)) {
        fprintf(stderr, "error: rm-data needs --out FILE.jsonl and --checkpoint FILE (the "
                        "policy to sample), or rm_data.source=demos (the task's demonstrator, "
                        "no checkpoint)\n");
        return 2;
    }
    if (demos && a->checkpoint) {
        fprintf(stderr, "error: rm-data: rm_data.source = demos samples no policy: drop "
                        "--checkpoint %s, or set rm_data.source=policy\n", a->checkpoint);
        return 2;
    }
    char eval_path[CFG_STR_MAX + 16];
    rm_eval_path(a->out, rs->eval_out, eval_path, sizeof eval_path);
    if (rs->eval_pairs > 0 && strcmp(eval_path, a->out) == 0) {
        fprintf(stderr, "error: rm-data: rm_data.eval_out = '%s' is --out itself\n", a->out);
        return 2;
    }
    double t0 = now_seconds();
    const uint64_t seed = run_settings(cfg)->seed;
    char err[600];
    Model m;
    Tokenizer *tok = xcalloc(1, sizeof *tok);
    if (!demos) {
        ckpt_load_model_or_die(a->checkpoint, &m, tok);
        if (model_config_adopt(cfg, &m.cfg, a->checkpoint, err, sizeof err) != 0) die("%s", err);
        memory_check_or_die(&m.cfg, ROLE_EVAL, 0, 0, 2 * RM_BATCH_PROMPTS, 1);
    }
    Task *task = task_from_config(cfg, seed, err, sizeof err);
    if (!task) die("%s", err);
    Labeler train_lab, eval_lab;
    if (labeler_init(&train_lab, task, rs->label_noise, seed, err, sizeof err) != 0 ||
        labeler_init(&eval_lab, task, 0, seed, err, sizeof err) != 0)
        die("rm-data: %s", err);
    RmSource src;
    SamplerConfig sc = sampler_config_from(sampling_settings(cfg));
    if (demos) {
        if (!task->demonstrate) die("rm-data: task %s has no demonstrator", task->name);
        src = rm_source_demos(task, seed);
    } else {
        if (task_check_tokenizer(task, tok, err, sizeof err) != 0) die("%s", err);
        if (task_check_fits(task, m.cfg.max_seq_len, sc.max_new_tokens, err, sizeof err) != 0)
            die("%s", err);
        if (sc.temperature == 0)
            fprintf(stderr, "warning: [sampler] temperature = 0 (greedy): a prompt's two "
                            "completions are identical, every pair ties\n");
        src = rm_source_policy(&m, tok, &sc, seed);
    }
    RmPairs train = {0}, held = {0};
    int rc = 0;
    if (rm_collect(task, SPLIT_TRAIN, rs->pairs, &src, &train_lab, &train, err, sizeof err) != 0 ||
        (rs->eval_pairs > 0 &&
         rm_collect(task, SPLIT_EVAL, rs->eval_pairs, &src, &eval_lab, &held, err, sizeof err) !=
             0)) {
        fprintf(stderr, "error: %s; nothing written\n", err);
        rc = 1;
    } else if (write_pairs(&train, a->out) != 0 ||
               (rs->eval_pairs > 0 && write_pairs(&held, eval_path) != 0)) {
        rc = 7; /* as rejection-sample's output that cannot be written */
    } else {
        printf("rm-data: task %s, source %s%s%s, run.seed %llu\n", task->name,
               rm_source_names[rs->source], demos ? "" : " ", demos ? "" : a->checkpoint,
               (unsigned long long)seed);
        print_counts("train", a->out, &train, rs->label_noise);
        if (rs->eval_pairs > 0) print_counts("held-out", eval_path, &held, 0);
        printf("rm-data: done in %.1f s\n", now_seconds() - t0);
    }
    rm_pairs_free(&train);
    rm_pairs_free(&held);
    rm_source_free(&src);
    task->destroy(task);
    if (!demos) model_free(&m);
    tokenizer_free(tok);
    xfree(tok);
    return rc;
}
