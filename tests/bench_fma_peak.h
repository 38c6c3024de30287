/* bench_fma_peak.h: the one-core FMA ceiling, measured, for the benches
 * that quote "% of sgemm". OpenBLAS's sgemm is the practical limit only
 * when its kernel set is as wide as the CPU: with OPENBLAS_CORETYPE=Haswell
 * on an AVX-512 core with two 512-bit FMA pipes (a Zen 5, say) it runs
 * 256-bit kernels at half the ceiling, and "% of sgemm" overstates how
 * close a row is to the machine. This prints the ceiling beside it.
 * Header-only, static inline. */
#ifndef TESTS_BENCH_FMA_PEAK_H
#define TESTS_BENCH_FMA_PEAK_H

#include <immintrin.h>

#include "bench_common.h"

/* 16 independent chains (enough to cover FMA latency x pipes on any core
 * here) of n steps each, over registers only. */
#define FMA_PEAK_LOOP(VEC, SET1, FMA, ADD, REDUCE)                                       \
    VEC x[16];                                                                           \
    const VEC m = SET1(0.999999f), a = SET1(1e-7f);                                      \
    for (int i = 0; i < 16; i++) x[i] = SET1(1.0f + i * 1e-3f);                         \
    for (long k = 0; k < n; k++)                                                         \
        for (int i = 0; i < 16; i++) x[i] = FMA(x[i], m, a);                             \
    for (int i = 1; i < 16; i++) x[0] = ADD(x[0], x[i]);                                 \
    return REDUCE(x[0]);

__attribute__((target("avx512f"))) static inline float fma_chains_avx512(long n) {
    FMA_PEAK_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_reduce_add_ps)
}

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
    float t[8];
    _mm256_storeu_ps(t, v);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}

__attribute__((target("avx2,fma"))) static inline float fma_chains_avx2(long n) {
    FMA_PEAK_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, hsum256)
}
#undef FMA_PEAK_LOOP

/* GFLOP/s (by CPU time) of the widest FMA this CPU has, median of reps
 * runs of about 0.1 s; width gets its vector bits (512, 256, or 0 with
 * no FMA, when it returns 0). */
static inline double bench_fma_peak(int reps, int *width) {
    __builtin_cpu_init();
    const int w = __builtin_cpu_supports("avx512f") ? 512
                  : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 256
                                                                                    : 0;
    *width = w;
    if (!w) return 0;
    const long n = 4000000;
    double t[16];
    volatile float sink = 0;
    for (int r = 0; r < reps && r < 16; r++) {
        const double c0 = cpu_seconds();
        sink += w == 512 ? fma_chains_avx512(n) : fma_chains_avx2(n);
        t[r] = 2.0 * 16 * (w / 32) * (double)n * 1e-9 / (cpu_seconds() - c0);
    }
    (void)sink;
    return median(t, reps < 16 ? reps : 16);
}

#endif
