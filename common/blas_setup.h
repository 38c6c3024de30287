/* blas_setup.h: OpenBLAS's thread count and buffers, and its kernel set. */
#ifndef COMMON_BLAS_SETUP_H
#define COMMON_BLAS_SETUP_H

#include <stddef.h>

/* Sets OpenBLAS's thread count (one per MPI rank by default) and maps its
 * per-thread buffers now, with one small sgemm; when the address space
 * (RLIMIT_AS) cannot hold them, stops with a message naming RLIMIT_AS
 * instead of letting OpenBLAS retry the mmap forever. n is capped by
 * blas_fit_threads (the node's ranks from OMPI_COMM_WORLD_LOCAL_SIZE, the
 * CPUs from sysconf and sched_getaffinity), with a note on stderr when
 * that lowers it. Call it at start-up, before MPI_Init or any other thread
 * exists, and before any BLAS call. */
void blas_set_threads(int n);
/* The OpenBLAS threads a rank may run when local_ranks ranks share a
 * node's online_cpus and this one may run on allowed_cpus (0: unknown):
 * wanted, at most online_cpus / local_ranks and allowed_cpus, at least 1.
 * More would put two ranks' thread pools (or one pool's threads) on one
 * core, where OpenBLAS's threads spin waiting for each other. */
int blas_fit_threads(int wanted, int local_ranks, int online_cpus, int allowed_cpus);
/* OpenBLAS kernel set in use, e.g. "Haswell" or "SkylakeX". */
const char *blas_corename(void);
/* One line for logs and benchmarks: the model kernels in use
 * (kernel_describe), OpenBLAS's kernel set, OPENBLAS_CORETYPE as the user
 * set it (never changed here) and the BLAS threads per rank, e.g.
 * "kernels avx512 (CPU: avx512f avx2 fma; KV prefetch on), OpenBLAS SkylakeX,
 * OPENBLAS_CORETYPE unset, 1 BLAS thread per rank". */
void blas_describe(char *buf, size_t n);
/* One line on this process's threads, for start-up logs and benchmarks:
 * the kernel set, how OpenBLAS was built (pthreads, OpenMP or sequential:
 * an OpenMP build would bring a second pool), the threads it runs kernels
 * on, the process's thread count, the CPUs it may run on and
 * OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, e.g. "OpenBLAS SkylakeX
 * (pthreads build), 1 thread; 3 threads in the process; CPUs 0-1;
 * OPENBLAS_NUM_THREADS=(unset) OMP_NUM_THREADS=(unset)". */
void blas_describe_threads(char *out, size_t n);

#endif
