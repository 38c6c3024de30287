/* run_settings.h: the [run] section, what every command reads: the seed,
 * the run directory, and the BLAS threads of each rank. */
#ifndef COMMON_RUN_SETTINGS_H
#define COMMON_RUN_SETTINGS_H

#include <stdint.h>

#include "config.h"

typedef struct {
    uint64_t seed;
    char dir[CFG_STR_MAX];  /* run directory: config, metrics, checkpoints, plots */
    int blas_threads;       /* OpenBLAS threads per rank */
} RunSettings;

extern const CfgSection run_section;

static inline const RunSettings *run_settings(const Config *c) { return config_get(c, &run_section); }

#endif
