/* gemm_avx512.c: gemm.c compiled again for AVX-512 (F/VL/BW/DQ), under the
 * names name_avx512 (kernel_names.h); the Makefile gives this file the
 * target flags, kernel_dispatch.c decides at load time whether it runs. */
#define KERNEL_ISA avx512
#include "gemm.c"
