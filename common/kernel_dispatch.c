/* kernel_dispatch.c: binds each public kernel name to one instance
 * (kernel_dispatch.h). The binding is a GNU ifunc: the loader calls the
 * resolver once, before main, and every later call goes straight to the
 * instance, with no table or branch on the hot path. Resolvers run before
 * the sanitizers' runtimes are up, so they are built uninstrumented and
 * touch nothing but the CPU's feature bits. */
#include "kernel_dispatch.h"

#include <stdio.h>

/* The features each instance is compiled for (Makefile KERNEL_FLAGS_*):
 * the CPU must have all of them. */
#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))

NO_SANITIZE static int cpu_has_avx2(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
#else
    return 0;
#endif
}

NO_SANITIZE static int cpu_has_avx512(void) {
#if defined(__x86_64__)
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

/* KERNEL_CAP_AVX2 (make BUILD=build-avx2 OPT="-O3 -march=x86-64-v2
 * -DKERNEL_CAP_AVX2"): never bind the AVX-512 instance, so an AVX-512
 * machine runs the whole program as an AVX2-only one would; the tests'
 * numeric bounds are measured both ways. */
NO_SANITIZE static KernelIsa best_isa(void) {
#if defined(KERNEL_CAP_AVX2)
    return cpu_has_avx2() ? KERNEL_AVX2 : KERNEL_GENERIC;
#else
    return cpu_has_avx512() ? KERNEL_AVX512 : cpu_has_avx2() ? KERNEL_AVX2 : KERNEL_GENERIC;
#endif
}

#define KERNEL_RESOLVER(name)                                                              \
    NO_SANITIZE __attribute__((used)) static __typeof__(name) *resolve_##name(void) {      \
        switch (best_isa()) {                                                              \
        case KERNEL_AVX512: return name##_avx512;                                          \
        case KERNEL_AVX2: return name##_avx2;                                              \
        default: return name##_generic;                                                    \
        }                                                                                  \
    }                                                                                      \
    __typeof__(name) name __attribute__((ifunc("resolve_" #name)));
MODEL_KERNEL_LIST(KERNEL_RESOLVER)

KernelIsa kernel_isa(void) { return best_isa(); }

const char *kernel_isa_name(KernelIsa isa) {
    static const char *const names[KERNEL_N_ISA] = {"generic", "avx2", "avx512"};
    return isa >= 0 && isa < KERNEL_N_ISA ? names[isa] : "?";
}

int kernel_isa_supported(KernelIsa isa) {
    switch (isa) {
    case KERNEL_GENERIC: return 1;
    case KERNEL_AVX2: return cpu_has_avx2();
    case KERNEL_AVX512: return cpu_has_avx512();
    default: return 0;
    }
}

int kernel_kv_prefetch(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return !__builtin_cpu_is("intel");
#else
    return 1;
#endif
}

void kernel_describe(char *buf, size_t n) {
    char cpu[64] = "";
#if defined(__x86_64__)
    __builtin_cpu_init();
    snprintf(cpu, sizeof cpu, "%s%s%s", __builtin_cpu_supports("avx512f") ? " avx512f" : "",
             __builtin_cpu_supports("avx2") ? " avx2" : "",
             __builtin_cpu_supports("fma") ? " fma" : "");
#endif
    snprintf(buf, n, "kernels %s (CPU:%s; KV prefetch %s)", kernel_isa_name(kernel_isa()),
             *cpu ? cpu : " no AVX2", kernel_kv_prefetch() ? "on" : "off");
}
