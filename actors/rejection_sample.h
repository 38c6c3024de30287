/* rejection_sample.h: `grpo rejection-sample` (R1 stage 3, STaR / expert
 * iteration): k completions per training prompt from a checkpoint, kept
 * when the verifier accepts them (Reward.correct: for the chain-of-thought
 * tasks that already requires the format), deduplicated, optionally only
 * the shortest correct one per prompt, written as the JSON lines
 * `grpo sft --data` reads: {"prompt", "completion", "reward", "source"}.
 *
 * Prompt i of a run is task->sample(t, SPLIT_TRAIN, RS_STREAM, i). Prompts
 * go in batches of rs_batch_prompts(k); batch b samples from an Rng fixed
 * by (run.seed, b), and each rank takes whole batches (rs_share), so the
 * file is the same whatever the number of ranks. */
#ifndef ACTORS_REJECTION_SAMPLE_H
#define ACTORS_REJECTION_SAMPLE_H

#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "model.h"
#include "rs_records.h"
#include "sampler.h"
#include "task.h"
#include "tokenizer.h"

/* The training-split stream the prompts come from: not 0 (SFT's draws)
 * nor a small number (the actor ranks' rollout streams). */
#define RS_STREAM 0x5253u

/* The [rs] section (rs_settings.c). Sampling itself follows [sampler]. */
typedef struct {
    int prompts;  /* training prompts to sample */
    int k;        /* completions per prompt */
    int shortest; /* 1: keep only the shortest accepted completion per prompt */
} RsSettings;
extern const CfgSection rs_section;
static inline const RsSettings *rs_settings(const Config *c) { return config_get(c, &rs_section); }

/* Prompts per batch for k completions each (KV-cache rows = that x k). */
int rs_batch_prompts(int k);

/* Share [*lo, *hi) of prompts 0..n-1 for rank of size: whole batches. */
void rs_share(int n, int k, int rank, int size, int *lo, int *hi);

/* Scores the k completion texts of one prompt (finished[j]: 1 if it ended
 * on EOS or the stop string, 0 if cut at the length limit) and appends to
 * out each accepted one whose text has not been accepted before for this
 * prompt, with seq j. Counts sampled, accepted (duplicates included: the
 * rate is the verifier's), the prompt and whether it passed, under the
 * prompt's category. */
void rs_filter(const Task *t, const TaskItem *item, uint32_t index, const char *const *texts,
               const int *finished, int k, RsRecords *out, RsStats *st);

/* Drops every record whose (prompt, completion) text pair came earlier,
 * earlier meaning lower (index, seq): the same prompt can be drawn at two
 * indices, or on two ranks. With shortest, keeps for each prompt text only
 * its shortest completion (ties: lowest (index, seq)). The records are
 * left in (index, seq) order. */
void rs_dedupe(RsRecords *rs, int shortest);

/* Called after each batch of rs_sample_share: nonzero stops the share
 * there (a stop signal the ranks agreed on). */
typedef int (*RsBatchDone)(void *ctx);

/* Samples prompts [lo, hi) (lo a multiple of rs_batch_prompts(k)) k times
 * each with sc, filters them with rs_filter into out and st. After each
 * batch calls done(ctx) (done may be NULL); returns 1 if it said stop (out
 * and st then hold only the batches done), else 0. Dies naming the task
 * if its training split is empty. */
int rs_sample_share(const Model *m, const Tokenizer *tok, const Task *t, const SamplerConfig *sc,
                    int lo, int hi, int k, uint64_t seed, RsRecords *out, RsStats *st,
                    RsBatchDone done, void *ctx);

/* The records as JSON lines, source = the checkpoint path: malloc'd text
 * of *len bytes. */
char *rs_jsonl(const RsRecords *rs, const char *source, size_t *len);

/* Prints acceptance overall and per category, the share of prompts with an
 * accepted completion, and how many records were kept. */
void rs_print_stats(FILE *f, const RsStats *st, int kept);

/* `grpo rejection-sample --checkpoint FILE --out FILE.jsonl`, as one
 * process or under mpirun (rs_command.c). */
int rejection_sample_command(Config *cfg, const CliArgs *a);

#endif
