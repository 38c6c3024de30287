/* rm_data.h: `grpo rm-data`, comparison pairs for a reward model (RLHF
 * step 2) with no outside data: two completions per prompt, from a policy
 * checkpoint (the SFT model, as InstructGPT samples its comparisons) or,
 * needing no model, from the task's demonstrator; labelled by the
 * synthetic labeler (common/labeler.h) by the task's hidden preference;
 * written as the JSON lines `grpo rm-train` reads:
 *     {"prompt": "fresh tea: ", "chosen": "so good", "rejected": "dull"}
 * Nothing else goes in a line: the true scores stay hidden.
 *
 * Two files: the training pairs (--out), from training-split prompts, and
 * held-out pairs (eval_pairs of them), from eval-split prompts, labelled
 * without noise, so a reward model's held-out pairwise accuracy measures
 * its agreement with the hidden preference itself.
 *
 * Candidate pair i of a split is prompt task->sample(split, RM_STREAM, i)
 * with its two completions; a tie (equal true scores, identical texts
 * included) is skipped, and candidates go on until the file has the pairs
 * asked for. Candidates go in batches of RM_BATCH_PROMPTS; batch b samples
 * from an Rng fixed by (run.seed, split, b), and the label noise of
 * candidate i from (run.seed, i), so the files depend only on the
 * checkpoint, the settings and run.seed, and the first N pairs of a
 * longer run are the pairs of a run asked for N. One process (no mpirun):
 * a few thousand pairs of short completions take seconds. */
#ifndef ACTORS_RM_DATA_H
#define ACTORS_RM_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "config.h"
#include "labeler.h"
#include "model.h"
#include "sampler.h"
#include "task.h"
#include "tokenizer.h"

/* The stream the prompts come from: not SFT's (0), rejection sampling's
 * or the actors' rollout streams. */
#define RM_STREAM 0x524Du
enum { RM_BATCH_PROMPTS = 32 };

/* Where the completions come from ([rm_data] source). */
typedef enum { RM_SOURCE_POLICY = 0, RM_SOURCE_DEMOS = 1 } RmSourceKind;
extern const char *const rm_source_names[];

/* The [rm_data] section (rm_data_settings.c); sampling follows [sampler],
 * the seed is [run] seed. */
typedef struct {
    int pairs;         /* training pairs to write */
    int eval_pairs;    /* held-out pairs (0: no held-out file) */
    float label_noise; /* chance of a flipped training label, 0..0.5 */
    int source;        /* RmSourceKind */
    char eval_out[CFG_STR_MAX]; /* held-out file; "" = derived from --out */
} RmDataSettings;
extern const CfgSection rm_data_section;
static inline const RmDataSettings *rm_data_settings(const Config *c) {
    return config_get(c, &rm_data_section);
}

/* Two completions for each prompt of a batch. */
typedef struct RmSource RmSource;
struct RmSource {
    /* Writes completions 2i and 2i+1 of items[i], i < n <= RM_BATCH_PROMPTS,
     * into texts[2i], texts[2i+1] (text_cap bytes each, the text a verifier
     * scores) and finished[2i], finished[2i+1]; stream: the batch's
     * (split, batch number), to seed its randomness from. */
    void (*pairs)(RmSource *s, const TaskItem *items, int n, uint64_t stream, char *const *texts,
                  int *finished);
    size_t text_cap;
    void *ctx;
};

/* The task's demonstrator as a source (t must have one); free with
 * rm_source_free. */
RmSource rm_source_demos(const Task *t, uint64_t seed);
/* Policy m sampled under sc (its stop string cut off, as for the
 * verifier). */
RmSource rm_source_policy(const Model *m, const Tokenizer *tok, const SamplerConfig *sc,
                          uint64_t seed);
void rm_source_free(RmSource *s);

typedef struct {
    char *prompt, *chosen, *rejected; /* owned */
} RmPair;

/* What a collection saw, for the report. */
typedef struct {
    uint64_t candidates, ties, flips;
    uint64_t completions, well_formed;
    double score_sum, score_sq; /* of every sampled completion's true score */
} RmCounts;

typedef struct {
    RmPair *p;
    int n, cap;
    RmCounts counts;
} RmPairs;
void rm_pairs_free(RmPairs *ps);

/* Collects want pairs from split into out (appending), labelled by lab
 * (its noise applies; counts in out->counts). 0, or -1 with err if the
 * split is empty or the candidates tie too often to reach want (a greedy
 * sampler: every pair identical). */
int rm_collect(const Task *t, TaskSplit split, int want, RmSource *src, Labeler *lab,
               RmPairs *out, char *err, size_t errlen);

/* The pairs as JSON lines: malloc'd text of *len bytes. */
char *rm_pairs_jsonl(const RmPairs *ps, size_t *len);

/* The held-out file for training file out: eval_out if set, else out with
 * ".jsonl" replaced by ".eval.jsonl" (or ".eval.jsonl" appended). */
void rm_eval_path(const char *out, const char *eval_out, char *path, size_t cap);

/* `grpo rm-data --out FILE.jsonl [--checkpoint FILE]` (rm_data_command.c). */
int rm_data_command(Config *cfg, const CliArgs *a);

#endif
