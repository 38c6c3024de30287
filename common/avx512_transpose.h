/* avx512_transpose.h: the 16 x 16 float transpose that turns rows of a
 * matrix into lines of a packed panel, for the weight packing of decoding
 * (model_kernels.c matmul_pack) and the panel copy of the training gemm
 * (gemm.c). Only on an instance compiled for AVX-512. */
#ifndef COMMON_AVX512_TRANSPOSE_H
#define COMMON_AVX512_TRANSPOSE_H

#if defined(__AVX512F__)
#include <immintrin.h>

/* Transposes the 16 x 16 block r (rows of 16 floats) in place: r[j] gets
 * column j. Unpacks pair rows, shuffles make 4-row columns within 128-bit
 * chunks, then the chunks are transposed 4 x 4. Data movement only. */
static inline __attribute__((always_inline)) void transpose16x16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* u[4i + e], chunk c: rows 4i .. 4i+3 at column 4c + e */
        u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int e = 0; e < 4; e++) {
        const __m512 v0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x44);
        const __m512 v1 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xEE);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x44);
        const __m512 v3 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xEE);
        r[e] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + e] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        r[8 + e] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + e] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
}

#endif

#endif
