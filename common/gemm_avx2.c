/* gemm_avx2.c: gemm.c compiled again for AVX2 + FMA, under the names
 * name_avx2 (kernel_names.h); the Makefile gives this file the target
 * flags, kernel_dispatch.c decides at load time whether it runs. */
#define KERNEL_ISA avx2
#include "gemm.c"
