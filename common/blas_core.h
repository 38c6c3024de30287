/* blas_core.h: what OpenBLAS's kernel set can do, for the choice between
 * it and the project's gemm (model_kernels.c gemm_fastest). A leaf: the
 * kernels need it, and blas_setup.c (which reaches up to memory.c and
 * model.c) must not be on their way. */
#ifndef COMMON_BLAS_CORE_H
#define COMMON_BLAS_CORE_H

/* 1 if OpenBLAS kernel set core (openblas_get_corename()) runs AVX-512
 * sgemm kernels (SkylakeX, Cooperlake, SapphireRapids), 0 otherwise
 * (Haswell, Zen, ...: 256-bit FMA, at most half an AVX-512 core's peak). */
int blas_core_has_avx512(const char *core);
/* blas_core_has_avx512 of the kernel set this process's OpenBLAS runs,
 * looked up once (the set is fixed when the library loads): gemm_fastest
 * asks on every product, attention's small ones included. */
int blas_kernels_avx512(void);

#endif
