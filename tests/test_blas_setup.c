/* test_blas_setup.c: the thread setup every rank makes at start
 * (blas_setup.c):
 *   - blas_fit_threads: never more OpenBLAS threads per rank than the
 *     node's CPUs over its ranks, nor than the CPUs the rank may run on,
 *     never fewer than one;
 *   - blas_set_threads applies it: with 2 ranks on the node
 *     (OMPI_COMM_WORLD_LOCAL_SIZE=2) and blas_threads = 2 on a 2-CPU
 *     machine each rank runs 1 thread, so two ranks' pools never spin on
 *     one core;
 *   - blas_describe_threads names the build, the thread counts and the CPUs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "blas_core.h"
#include "blas_setup.h"

static void test_fit_threads(void **state) {
    (void)state;
    assert_int_equal(blas_fit_threads(1, 1, 2, 2), 1);
    assert_int_equal(blas_fit_threads(2, 1, 2, 2), 2);  /* one rank may use both cores */
    assert_int_equal(blas_fit_threads(2, 2, 2, 2), 1);  /* two ranks: one each */
    assert_int_equal(blas_fit_threads(2, 2, 2, 1), 1);  /* bound to one core */
    assert_int_equal(blas_fit_threads(8, 1, 4, 0), 4);  /* affinity unknown: the node's */
    assert_int_equal(blas_fit_threads(4, 2, 8, 2), 2);  /* bound to 2 of 8 */
    assert_int_equal(blas_fit_threads(2, 5, 2, 2), 1);  /* more ranks than cores: still 1 */
    assert_int_equal(blas_fit_threads(0, 0, 1, 0), 1);
}

static void test_two_ranks_get_one_thread_each(void **state) {
    (void)state;
    setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
    cpu_set_t set;
    const int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    const int online = (int)sysconf(_SC_NPROCESSORS_ONLN);
    blas_set_threads(2);
    const int want = blas_fit_threads(2, 2, online, allowed);
    printf("  %d CPUs online, %d allowed, 2 ranks on the node: blas_threads 2 -> %d\n", online,
           allowed, openblas_get_num_threads());
    assert_int_equal(openblas_get_num_threads(), want);
    if (online <= 3) assert_int_equal(openblas_get_num_threads(), 1);
    unsetenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    blas_set_threads(1);
    assert_int_equal(openblas_get_num_threads(), 1);
}

static void test_describe(void **state) {
    (void)state;
    char line[512];
    blas_describe_threads(line, sizeof line);
    printf("  %s\n", line);
    assert_non_null(strstr(line, "OpenBLAS "));
    assert_non_null(strstr(line, " build), 1 thread;"));
    assert_non_null(strstr(line, "threads in the process; CPUs "));
    assert_non_null(strstr(line, "OMP_NUM_THREADS="));
}

/* The kernel sets that decide whether the AVX-512 training matmuls leave
 * their wide shapes to OpenBLAS (model_kernels.c own_gemm). */
static void test_core_has_avx512(void **state) {
    (void)state;
    assert_int_equal(blas_core_has_avx512("SkylakeX"), 1);
    assert_int_equal(blas_core_has_avx512("Cooperlake"), 1);
    assert_int_equal(blas_core_has_avx512("SapphireRapids"), 1);
    assert_int_equal(blas_core_has_avx512("Haswell"), 0);
    assert_int_equal(blas_core_has_avx512("Zen"), 0);
    assert_int_equal(blas_core_has_avx512("Skylake"), 0);
    assert_int_equal(blas_core_has_avx512(NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_threads),
        cmocka_unit_test(test_two_ranks_get_one_thread_each),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_core_has_avx512),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
