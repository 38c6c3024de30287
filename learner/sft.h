/* sft.h: the supervised warm start: fine-tune a fresh model on the task's
 * imperfect demonstrator, then report held-out accuracy. */
#ifndef LEARNER_SFT_H
#define LEARNER_SFT_H

#include "config.h"

/* Trains per cfg ([model], [task], [sft]), writes the checkpoint to
 * out_path, prints progress and the final held-out evaluation. Returns 0,
 * or EXIT_NONFINITE (update.h) without writing anything when [sft]
 * max_nonfinite_steps steps in a row had a non-finite gradient; setup
 * errors stop the program with a message. */
int sft_run(const Config *cfg, const char *out_path);

#endif
