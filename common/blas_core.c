/* blas_core.c: see blas_core.h. */
#include "blas_core.h"

#include <stddef.h>
#include <strings.h>

int blas_core_has_avx512(const char *core) {
    static const char *const avx512_cores[] = {"skylakex", "cooperlake", "sapphirerapids"};
    for (size_t i = 0; core && i < sizeof avx512_cores / sizeof avx512_cores[0]; i++)
        if (strcasecmp(core, avx512_cores[i]) == 0) return 1;
    return 0;
}
