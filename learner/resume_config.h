/* resume_config.h: may a resume checkpoint continue under this config?
 * The one-process trainers (sft, rm-train) keep their effective config in
 * the checkpoint's META section; resuming with a run-defining key changed
 * would silently train something else, so it is refused by name. */
#ifndef LEARNER_RESUME_CONFIG_H
#define LEARNER_RESUME_CONFIG_H

#include <stddef.h>

#include "checkpoint.h"
#include "config.h"

/* 0 if the config saved in meta (META text of the checkpoint at path)
 * trains as cfg does, the harmless differences listed in harmless; else -1
 * with err naming the changed keys and how to start over (`again`, e.g.
 * "to start this SFT over"), or saying the saved config does not load. */
int resume_config_check(const char *path, const CkptSection *meta, const Config *cfg,
                        const char *again, char *harmless, size_t harmless_len, char *err,
                        size_t errlen);

#endif
