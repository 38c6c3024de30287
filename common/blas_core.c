/* blas_core.c: see blas_core.h. */
#include "blas_core.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stddef.h>
#include <strings.h>

int blas_core_has_avx512(const char *core) {
    static const char *const avx512_cores[] = {"skylakex", "cooperlake", "sapphirerapids"};
    for (size_t i = 0; core && i < sizeof avx512_cores / sizeof avx512_cores[0]; i++)
        if (strcasecmp(core, avx512_cores[i]) == 0) return 1;
    return 0;
}

int blas_kernels_avx512(void) {
    static atomic_int known = -1; /* -1: not looked up; threads may race to the same value */
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    if (v < 0) {
        v = blas_core_has_avx512(openblas_get_corename());
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v;
}
