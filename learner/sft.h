/* sft.h: the supervised warm start: fine-tune a fresh model on the task's
 * imperfect demonstrator, then report held-out accuracy. */
#ifndef LEARNER_SFT_H
#define LEARNER_SFT_H

#include "config.h"

/* Trains per cfg ([model], [task], [sft]), holding run.dir's lock
 * (run_lock.h), writes the checkpoint to out_path, prints progress and the
 * final held-out evaluation. Returns 0, EXIT_USAGE when run.dir is in use
 * by another run, or EXIT_RUN_DIR when the lock or the checkpoint cannot be
 * written (learner.h); other setup errors stop the program with a message. */
int sft_run(const Config *cfg, const char *out_path);

#endif
