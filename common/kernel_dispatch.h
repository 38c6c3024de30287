/* kernel_dispatch.h: which compiled instance of the model kernels runs.
 *
 * Every kernel of model_kernels.h exists three times (kernel_names.h):
 * name_generic (portable C, the build's baseline flags), name_avx2
 * (AVX2 + FMA) and name_avx512 (AVX-512 F/VL/BW/DQ). The public name is
 * bound once, when the program is loaded (a GNU ifunc, as glibc binds
 * memcpy), to the widest instance this CPU runs; one binary therefore
 * runs at full width on an AVX-512 EPYC and correctly on an AVX2-only
 * machine. The choice is fixed for the process and printed by grpo at
 * start and by make bench. OpenBLAS makes its own choice (blas_setup.h);
 * neither changes OPENBLAS_CORETYPE. */
#ifndef COMMON_KERNEL_DISPATCH_H
#define COMMON_KERNEL_DISPATCH_H

#include <stddef.h>

#include "gemm.h"
#include "kernel_names.h"
#include "model_kernels.h"

typedef enum { KERNEL_GENERIC, KERNEL_AVX2, KERNEL_AVX512, KERNEL_N_ISA } KernelIsa;

/* The instance the public kernel names run. */
KernelIsa kernel_isa(void);
/* "generic", "avx2" or "avx512". */
const char *kernel_isa_name(KernelIsa isa);
/* 1 if this CPU can run instance isa (generic always). */
int kernel_isa_supported(KernelIsa isa);
/* Whether decoding should prefetch the KV cache in software (KVCache.
 * prefetch): 1 except on Intel. Measured in sampling, same run, on and
 * off: on AMD Zen 4 (1 MB L2) asking for the next row's keys and values
 * ahead raised ~4M B=16 from 65% to 77% of sgemm; on an AVX-512 Xeon (2 MB
 * L2, a stronger L2 streamer) every software prefetch of the cache cost
 * 5-10% of the sampling time (3-6 points of sgemm), the prefetch
 * instructions stalling on fill buffers. bench_perf_targets measures
 * both ways ("sample KV prefetch"). */
int kernel_kv_prefetch(void);
/* "kernels avx512 (CPU: avx512f avx2 fma; KV prefetch on)": the instance
 * in use, the CPU's vector features and kernel_kv_prefetch()
 * (blas_describe adds OpenBLAS's side). */
void kernel_describe(char *buf, size_t n);

/* Every instance by name, for the tests that compare them and the bench. */
#define KERNEL_DECLARE_INSTANCES(name) \
    extern __typeof__(name) name##_generic, name##_avx2, name##_avx512;
MODEL_KERNEL_LIST(KERNEL_DECLARE_INSTANCES)

#endif
