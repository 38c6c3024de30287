/* blas_setup.h: OpenBLAS's thread count and buffers, and its kernel set. */
#ifndef COMMON_BLAS_SETUP_H
#define COMMON_BLAS_SETUP_H

/* Sets OpenBLAS's thread count (one per MPI rank by default) and maps its
 * per-thread buffers now, with one small sgemm; when the address space
 * (RLIMIT_AS) cannot hold them, stops with a message naming RLIMIT_AS
 * instead of letting OpenBLAS retry the mmap forever. Call it at start-up,
 * before MPI_Init or any other thread exists, and before any BLAS call. */
void blas_set_threads(int n);
/* OpenBLAS kernel set in use, e.g. "Haswell" or "SkylakeX". */
const char *blas_corename(void);

#endif
