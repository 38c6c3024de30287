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
/* One line on this process's threads, for start-up logs and benchmarks:
 * the kernel set, how OpenBLAS was built (pthreads, OpenMP or sequential:
 * an OpenMP build would bring a second pool), the threads it runs kernels
 * on, the process's thread count, the CPUs it may run on and
 * OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, e.g. "OpenBLAS SkylakeX
 * (pthreads build), 1 thread; 3 threads in the process; CPUs 0-1;
 * OPENBLAS_NUM_THREADS=(unset) OMP_NUM_THREADS=(unset)". */
void blas_describe(char *out, size_t n);

#endif
