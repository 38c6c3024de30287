/* config.h: every knob of a run, in one struct, described by one table.
 *
 * The table (config.c) drives everything: INI parsing (inih), command-line
 * overrides ("section.key=value"), validation with messages that name the
 * key and its allowed values, and the effective-config dump written into
 * the run directory. A key marked "run-defining" changes what a run
 * computes (model shape, seed, group size); resuming with a different value
 * is refused. */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "sampler.h"
#include "task.h"

enum { CFG_STR_MAX = 256 };

typedef struct {
    float lr, lr_min;       /* peak and final learning rate (cosine) */
    int warmup;             /* warm-up steps */
    float weight_decay;     /* decoupled, matrices only */
    float beta1, beta2, eps;
    float grad_clip;        /* global-norm clip, 0 = off */
} OptimSettings;

typedef struct {
    /* [run] */
    uint64_t seed;
    char dir[CFG_STR_MAX];        /* run directory: config, metrics, checkpoints, plots */
    int blas_threads;             /* OpenBLAS threads per rank */
    /* [model] (vocab_size comes from the tokenizer) */
    ModelConfig model;
    /* [task] */
    char task_name[64];
    TaskParams task;
    /* [sampler] (actors and sampled evaluation) */
    float temperature;
    int top_k;
    float top_p;
    int max_new_tokens;
    char stop[16];
    int logprob;                  /* LogprobKind (sample_dist.h): full | truncated */
    /* [sft] */
    int sft_steps, sft_batch;
    OptimSettings sft_opt;
    int sft_eval_every;
    int sft_max_nonfinite_steps;  /* stop after this many non-finite steps in a row */
    /* [grpo] */
    int grpo_steps;
    int prompts_per_step;         /* B groups per optimizer step */
    int group_size;               /* G completions per prompt */
    int algo;                     /* PgAlgo */
    int adv_std;                  /* AdvStd */
    float adv_eps;
    float eps_low, eps_high;      /* clip range */
    float beta;                   /* k3 KL weight */
    int loss_norm;                /* LossNorm */
    int inner_epochs;             /* mu */
    int minibatches;              /* per inner epoch */
    OptimSettings grpo_opt;
    char init[CFG_STR_MAX];       /* starting checkpoint ("" = <dir>/sft.ckpt) */
    char ref[CFG_STR_MAX];        /* frozen reference ("" = the starting checkpoint) */
    int eval_every;               /* held-out evaluation every E steps (0 = end only) */
    int checksum_every;           /* verify bit-identical weights on all ranks every K steps */
    int checkpoint_every;         /* write a checkpoint every S steps (0 = end only) */
    int keep_checkpoints;         /* newest K training checkpoints kept */
    int async;                    /* 1: actors generate while the learner trains */
    int max_staleness;            /* async: oldest admissible policy lag, in versions */
    float tis_cap;                /* truncated importance weight cap, 0 = off */
    float deadline_s;             /* every wait gives up (naming who) after this */
    int max_nonfinite_steps;      /* stop after this many non-finite steps in a row */
    /* [eval] */
    int eval_prompts;             /* held-out prompts */
    int pass_k;                   /* samples per prompt for pass@k */
} Config;

/* Fills every field with its default. */
void config_defaults(Config *c);
/* Reads an INI file over c. Returns 0, or -1 with err naming file:line and
 * the key (unknown section/key, bad value, allowed values). */
int config_load_file(Config *c, const char *path, char *err, size_t errlen);
/* Reads INI text (name is used in messages) over c, as config_load_file. */
int config_load_string(Config *c, const char *text, const char *name, char *err, size_t errlen);
/* Applies "section.key=value". Returns 0, or -1 with err. */
int config_set(Config *c, const char *assignment, char *err, size_t errlen);
/* Cross-field checks (e.g. n_kv_heads divides n_heads). 0 or -1 with err. */
int config_validate(const Config *c, char *err, size_t errlen);
/* Writes the effective config as INI (loadable by config_load_file). */
void config_write(const Config *c, FILE *f);
/* The effective config as INI text (malloc'd; the caller frees). */
char *config_to_string(const Config *c);
/* Path of the starting checkpoint: [grpo] init, or <run.dir>/sft.ckpt. */
void config_init_path(const Config *c, char *out, size_t cap);
/* Path of the reference model: [grpo] ref, or the starting checkpoint. */
void config_ref_path(const Config *c, char *out, size_t cap);
/* The [sampler] settings as the sampler takes them. */
SamplerConfig sampler_config_from(const Config *c);
/* Lists the keys whose values differ between a and b; returns how many of
 * them are run-defining, and writes their names (comma separated) to
 * names. Harmless differences are appended to changed. */
int config_diff(const Config *a, const Config *b, char *names, size_t names_len, char *changed,
                size_t changed_len);

#endif
