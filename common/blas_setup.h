/* blas_setup.h: OpenBLAS's thread count and buffers, and its kernel set. */
#ifndef COMMON_BLAS_SETUP_H
#define COMMON_BLAS_SETUP_H

#include <stddef.h>

/* Sets OpenBLAS's thread count (one per MPI rank by default) and maps its
 * per-thread buffers now, with one small sgemm; when the address space
 * (RLIMIT_AS) cannot hold them, stops with a message naming RLIMIT_AS
 * instead of letting OpenBLAS retry the mmap forever. Call it at start-up,
 * before MPI_Init or any other thread exists, and before any BLAS call. */
void blas_set_threads(int n);
/* OpenBLAS kernel set in use, e.g. "Haswell" or "SkylakeX". */
const char *blas_corename(void);
/* One line for logs and benchmarks: the model kernels in use
 * (kernel_describe), OpenBLAS's kernel set, OPENBLAS_CORETYPE as the user
 * set it (never changed here) and the BLAS threads per rank, e.g.
 * "kernels avx512 (CPU: avx512f avx2 fma), OpenBLAS SkylakeX,
 * OPENBLAS_CORETYPE unset, 1 BLAS thread per rank". */
void blas_describe(char *buf, size_t n);

#endif
