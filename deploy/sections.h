/* sections.h: the config sections the grpo binary runs with, each owned
 * by the module that reads it. A new module with keys adds its section to
 * the list in sections.c, and nothing else outside its own room. */
#ifndef DEPLOY_SECTIONS_H
#define DEPLOY_SECTIONS_H

#include "config.h"

/* A config with every section of the grpo binary, at its defaults. */
Config *grpo_config_new(void);

#endif
