/* distill.h: token-level distillation (`grpo distill`): a fresh student of
 * the [model] shape learns to match a frozen teacher checkpoint's
 * next-token distributions (the forward KL of distill_loss.h, the mean over
 * completion tokens) on the task's training prompts with completions
 * sampled from the teacher ([distill] samples = teacher), from the student
 * itself at that step (student: on-policy distillation, the teacher scores
 * the student's own trajectories, so the student learns in the states it
 * will actually visit) or both (mixed), then reports held-out accuracy on
 * the task. */
#ifndef LEARNER_DISTILL_H
#define LEARNER_DISTILL_H

#include "batch.h"
#include "cli.h"
#include "completer.h"
#include "config.h"
#include "eval_report.h"
#include "optim.h"
#include "task.h"

/* Who samples a step's completions ([distill] samples). */
typedef enum {
    DISTILL_TEACHER = 0,
    DISTILL_STUDENT,
    DISTILL_MIXED,
    DISTILL_SAMPLES_COUNT
} DistillSamples;
extern const char *const distill_samples_names[];

/* The [distill] section (distill_settings.c). */
typedef struct {
    char teacher[CFG_STR_MAX]; /* teacher checkpoint (--teacher sets it) */
    char init[CFG_STR_MAX];    /* "" = a fresh student, else the checkpoint it starts from */
    int steps, batch;
    OptimSettings opt;
    float temperature;         /* of the teacher's softmax in the KL */
    int heldout;               /* held-out teacher samples the KL is reported on */
    int eval_every;            /* held-out KL every N steps (0: start and end only) */
    int max_nonfinite_steps;
    int samples;               /* DistillSamples */
    float student_share;       /* mixed: the share of a batch's rows the student samples */
} DistillSettings;
extern const CfgSection distill_section;

/* What a run's held-out KL did, for callers that check it learned. */
typedef struct {
    double heldout_kl_first; /* before the first step */
    double heldout_kl_last;  /* after the last */
    /* on the held-out prompts with completions the student samples (fresh
     * ones before the first step and after the last; not comparable
     * across runs, since the sequences depend on the student) */
    double heldout_student_kl_first, heldout_student_kl_last;
    long steps;
} DistillReport;

/* Trains per cfg ([model], [task], [sampler] for the teacher's samples,
 * [distill]) holding run.dir's lock, the student fresh or from [distill]
 * init (its shape recorded in cfg, model_config_adopt), writes the student to out_path
 * (atomically, ckpt_write), prints progress and the held-out evaluation (by
 * eval). Samples the teacher through complete (the sampler is the actors').
 * Returns 0; EXIT_USAGE when run.dir is in use, [distill] teacher is unset
 * or does not load, or its tokenizer is not the student's (the same for
 * [distill] init, or its shape contradicts a [model] override); EXIT_RUN_DIR
 * when the lock or the checkpoint cannot be written; EXIT_NONFINITE
 * without writing when [distill] max_nonfinite_steps steps in a row had a
 * non-finite gradient. report may be NULL. */
int distill_run(Config *cfg, const char *out_path, const Completer *complete,
                const Evaluator *eval, DistillReport *report);

/* How many of a step's batch rows the student samples: 0 (teacher), batch
 * (student), or round(student_share * batch) (mixed; validation keeps it in
 * 1 .. batch - 1). */
int distill_student_rows(const DistillSettings *ds, int batch);

/* What building and scoring a batch works on, sized once for rows
 * sequences of up to L tokens (L: the shorter of the two contexts). */
typedef struct {
    const Model *teacher;
    const Tokenizer *tok;
    const Completer *complete;
    int L, max_new;       /* sequence capacity; completion tokens asked of the sampler */
    int rows;
    int **prompt;         /* (rows) each L ints */
    int *plen;            /* (rows) */
    int *comp, *clen;     /* (rows, max_new), (rows) */
    uint8_t *mask;        /* (rows * L) completion positions of the training batch */
    float *logp;          /* (rows * L) forward's target log-probs (unused) */
    uint8_t *head_mask;   /* (rows * L) mask at the heads' rows (forward_state_logits) */
    float *dlogits;       /* (rows * L, V) at most: a row per head row */
    ForwardState *fs_t, *fs_s;
} DistillWork;

void distill_work_init(DistillWork *w, const Model *teacher, const ModelConfig *student,
                       const Tokenizer *tok, const Completer *complete, int rows, int max_new);
void distill_work_free(DistillWork *w);

/* Fills batch with n prompts of split (items first .. first+n-1 of stream
 * 0), mask (B * T) with its completion positions, and one completion per
 * prompt: rows 0 .. n_student-1 sampled from student, the rest from the
 * teacher, in that order from rng (n_student = 0 is one teacher call on
 * every row). A completion longer than the shorter context L holds is cut
 * to fit: the teacher's distribution is defined at every position kept. */
void distill_fill_batch(DistillWork *w, const Task *task, TaskSplit split, uint64_t first, int n,
                        const Model *student, int n_student, Rng *rng, SeqBatch *batch,
                        uint8_t *mask);

/* Runs teacher and student on batch (model_forward_batch: the heads on
 * its completion positions alone, no padding computed); returns the mean
 * KL over its completion tokens (mask) and, if grad, leaves its logit
 * gradient in w->dlogits, a row per row of forward_state_logits(w->fs_s),
 * for model_backward_logits. */
double distill_batch_kl(DistillWork *w, const Model *student, const SeqBatch *b,
                        const uint8_t *mask, float tau, int grad);

/* Loads the teacher checkpoint at path into m (read-only: nothing is
 * written back), refusing one whose tokenizer differs from tok, the
 * student's (the KL compares distributions over one vocabulary). 0, or -1
 * with err naming the file (and both tokenizers); m is then not built. */
int distill_load_teacher(const char *path, const Tokenizer *tok, Model *m, char *err,
                         size_t errlen);

/* `grpo distill --teacher T.ckpt [--out S.ckpt]`: distill_run into --out
 * or <run.dir>/distill.ckpt. */
int distill_command(Config *cfg, const CliArgs *a, const Completer *complete,
                    const Evaluator *eval);

#endif
