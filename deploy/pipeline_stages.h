/* pipeline_stages.h: the stage table of `grpo pipeline` and each stage's
 * command line, built from the user's config and overrides (the base),
 * the stage's [pipeline] overrides, and the paths that wire it to the
 * stages before it (last, so nothing cuts the wire). */
#ifndef DEPLOY_PIPELINE_STAGES_H
#define DEPLOY_PIPELINE_STAGES_H

#include <stddef.h>

#include "pipeline.h"
#include "pipeline_argv.h"

enum {
    ST_DATA, ST_BASE, ST_COLD, ST_GRPO, ST_RS, ST_MIX, ST_FINAL, ST_TSAMP, ST_DISTILL, ST_SCOLD,
    ST_SRL,
    PIPELINE_N_STAGES
};
enum { STAGE_MAX_NEEDS = 3, STAGE_MAX_COMMANDS = 2 };

typedef struct {
    const char *dir;    /* "3-grpo": its directory under the root */
    const char *name;   /* "grpo": how [pipeline] stages names it */
    const char *label;  /* for the table */
    int mpi;            /* 1: started through [pipeline] launcher */
    const char *output; /* the file it leaves in its directory */
    int is_checkpoint;  /* 1: output is a checkpoint (evaluated), 0: JSON lines (counted) */
    int needs[STAGE_MAX_NEEDS]; /* earlier stages it reads from; -1 = none */
} StageDef;

extern const StageDef pipeline_stages[PIPELINE_N_STAGES];

/* [pipeline] stages ("all", or a comma list of names, each with or
 * without its number: "grpo" or "3-grpo") into selected[]. 0, or -1 with
 * err naming the bad entry and the known names. */
int pipeline_parse_stages(const char *list, int selected[PIPELINE_N_STAGES], char *err,
                          size_t errlen);

typedef struct {
    const char *exe;  /* this binary (/proc/self/exe) */
    const char *root; /* the pipeline's directory */
    const Argv *base; /* the user's --config FILE and overrides, in order */
    const PipelineSettings *ps;
    double wall[PIPELINE_N_STAGES]; /* recorded wall time of finished stages, -1 unknown */
} StageContext;

/* <root>/<stage dir>[/file] into out. */
void pipeline_stage_path(const char *root, int s, const char *file, char *out, size_t cap);

/* The commands of stage s, run in order, into cmds (argv_init'd here;
 * the caller frees them). Returns how many. */
int pipeline_stage_commands(const StageContext *c, int s, Argv cmds[STAGE_MAX_COMMANDS]);

/* The whole wall time of the student's RL stage: distillation's (the
 * teacher's samples and the student's SFT on them) minus the student's own
 * cold start, at least 1 s (c->wall of the three must be known). */
double pipeline_student_rl_budget(const StageContext *c);

#endif
