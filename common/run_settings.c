#include "run_settings.h"

static const CfgKey keys[] = {
    CFG_U(RunSettings, "seed", seed, "1234", 1, "run seed (actors use seed and rank)"),
    CFG_S(RunSettings, "dir", dir, "runs/demo", 0, "run directory"),
    CFG_I(RunSettings, "blas_threads", blas_threads, "1", 1, 256, 0, "OpenBLAS threads per rank"),
};

const CfgSection run_section = CFG_SECTION("run", RunSettings, keys, NULL, NULL);
