/* samples_log.h: <run.dir>/samples.jsonl, what a user reads to see what the
 * model writes while it trains: at every held-out evaluation, the greedy
 * completions of the first [eval] samples held-out prompts (the actors make
 * them: eval_samples.h), one JSON object per line:
 *   {"step":10,"version":10,"index":0,"prompt":"...","completion":"...",
 *    "correct":1,"tokens":57,"reward":{"accuracy":1,"format":1}}
 * and a one-sample excerpt on the console. */
#ifndef LEARNER_SAMPLES_LOG_H
#define LEARNER_SAMPLES_LOG_H

#include <stdio.h>

#include "eval_samples.h"
#include "run_files.h"

/* Appends one line per sample of set to f (each write checked, whole lines
 * only: run_files.h) with the component names comp_names[0..n_components),
 * then prints an excerpt of the first sample to console (NULL: none).
 * Returns 0, or -1 with err naming the file and the reason. */
int samples_log_write(LineFile *f, const char *const *comp_names, long step,
                      const EvalSampleSet *set, FILE *console, char *err, size_t errlen);

#endif
