/* sft_demos.h: `grpo demos`, the task's imperfect demonstrator written out
 * as SFT data: the R1 pipeline's small cold-start set, and a second task's
 * data for a mixture (grpo sft --data new.jsonl --data demos.jsonl:0.3).
 *
 * Items come from the training split, sample(SPLIT_TRAIN, SFT_DEMOS_STREAM,
 * k) for k = 0, 1, ..., keeping each prompt's first occurrence, so the
 * prompts are distinct; the demonstrator's mistakes come from one Rng of
 * (run.seed, SFT_DEMOS_RNG_STREAM) in file order. The file is therefore a
 * function of [task] and run.seed alone: the same seed gives a byte-identical
 * file. Each line is {"prompt": ..., "completion": ..., "source":
 * "demonstrator"}, what `grpo sft --data` reads (sft_data.h). */
#ifndef LEARNER_SFT_DEMOS_H
#define LEARNER_SFT_DEMOS_H

#include <stddef.h>

#include "cli.h"
#include "config.h"
#include "task.h"

enum { SFT_DEMOS_STREAM = 0xDE50, SFT_DEMOS_RNG_STREAM = 0xDE51 };

typedef struct {
    int n;            /* demonstrations written */
    int wrong;        /* of them, the verifier rejects (finished = 1) */
    int exhausted;    /* 1: the split has fewer than the asked distinct prompts */
} SftDemosStats;

/* The JSON lines of up to n demonstrations of t with seed (malloc'd text,
 * its length in *len); st gets the counts. Dies naming the item when the
 * task has no demonstrator or a text is not UTF-8. */
char *sft_demos_jsonl(const Task *t, int n, uint64_t seed, size_t *len, SftDemosStats *st);

/* `grpo demos --out FILE.jsonl [-n N]`: N ([sft] demos when -n is absent;
 * -n is capped at 4096 by the shared command line, sft.demos=N is not)
 * demonstrations written atomically to FILE. Returns 0, EXIT_USAGE without
 * --out, or 7 (as an unwritable run directory) when FILE cannot be written. */
int demos_command(Config *cfg, const CliArgs *a);

#endif
