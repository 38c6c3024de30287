/* pipeline_record.h: <stage>/stage.json, the mark of a finished stage:
 * its name, the command it ran, its wall time over every attempt, its exit
 * status and its evaluation; written atomically once the stage's child
 * exited 0 and its output was evaluated, so a stage with it is finished
 * and one without it is not. Interrupted attempts leave their wall time in
 * <stage>/attempts.txt, so a resumed stage's wall time is the whole. */
#ifndef DEPLOY_PIPELINE_RECORD_H
#define DEPLOY_PIPELINE_RECORD_H

#include <stddef.h>

#include "pipeline_eval.h"

typedef struct {
    char *command;   /* the commands, one per line (malloc'd) */
    double wall;     /* seconds of the stage's children, every attempt */
    int attempts;
    int exit_status;
    StageEval ev;
} StageRecord;

/* Writes dir/stage.json. 0, or -1 with err naming the file. */
int pipeline_record_write(const char *dir, const char *stage, const StageRecord *r, char *err,
                          size_t errlen);
/* Reads dir/stage.json: 1 and r filled, 0 if there is none, or -1 with
 * err naming the file and what is wrong. */
int pipeline_record_read(const char *dir, StageRecord *r, char *err, size_t errlen);
void pipeline_record_free(StageRecord *r);

/* The wall time and number of the earlier, unfinished attempts of the
 * stage in dir (0 and 0 if none). */
void pipeline_attempts_read(const char *dir, double *wall, int *attempts);
/* Records them after an attempt that did not finish. 0, or -1 with err. */
int pipeline_attempts_write(const char *dir, double wall, int attempts, char *err, size_t errlen);

#endif
