/* The memory pre-flight: the limit readers (cgroup v2 and v1 files on a
 * fixture directory, RLIMIT_AS), the verdict that names the limit that
 * binds, the activation estimate by head kind against what
 * forward_state_new allocates, and end to end: `grpo sft`, `grpo eval`, `grpo sample` and
 * `grpo train` under `ulimit -v` exit non-zero within seconds with a message
 * naming RLIMIT_AS, where OpenBLAS used to retry its buffer mmap forever
 * (`timeout` turns such a spin into a failure instead of a hung test). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "memory.h"
#include "memory_limits.h"

static char tmp[256];
static const char *bin;

static const char *TINY =
    "model.dim=32 model.n_layers=2 model.n_heads=4 model.n_kv_heads=2 model.hidden_dim=64 "
    "task.max_digits=2 eval.prompts=16 eval.pass_k=2 run.seed=7";

/* Below what OpenBLAS's first buffer needs on top of the loaded binary
 * (~55 MiB mapped at start-up + 128 MiB), above what loading needs. */
static const long BLAS_STARVED_KB = 150000;
/* A kill switch for the old behaviour: a spin is stopped and fails. */
enum { SPIN_TIMEOUT_S = 60 };

static int setup(void **state) {
    (void)state;
    bin = grpo_bin();
    /* a checkpoint for eval and sample; sequences of 256 make every KV-cache
     * slot 64 KiB */
    return make_sft_fixture(tmp, sizeof tmp, "memory", bin,
                            "sft.steps=2 sft.batch_size=8 model.max_seq_len=256", TINY);
}

static int teardown(void **state) {
    (void)state;
    remove_test_dir(tmp);
    return 0;
}

/* Writes text to tmp/fixture/rel, creating its directories. */
static void put(const char *rel, const char *text) {
    char path[600];
    snprintf(path, sizeof path, "%s/fixture/%s", tmp, rel);
    assert_int_equal(run("mkdir -p \"$(dirname '%s')\"", path), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The limit memory_cgroup_limit finds for the fixture; fails the test on an
 * error. */
static CgroupLimit fixture_limit(void) {
    char proc[400], root[400], err[MEMORY_PATH_MAX + 128];
    snprintf(proc, sizeof proc, "%s/fixture/proc_self_cgroup", tmp);
    snprintf(root, sizeof root, "%s/fixture/sys_fs_cgroup", tmp);
    CgroupLimit l;
    if (memory_cgroup_limit(proc, root, &l, err, sizeof err) != 0) fail_msg("%s", err);
    return l;
}

static void fresh_fixture(void) { assert_int_equal(run("rm -rf %s/fixture", tmp), 0); }

static void test_cgroup_v2_tightest_ancestor(void **state) {
    (void)state;
    fresh_fixture();
    put("proc_self_cgroup", "0::/job_7/step_0/task_1\n");
    put("sys_fs_cgroup/job_7/memory.max", "2147483648\n");
    put("sys_fs_cgroup/job_7/step_0/memory.max", "3221225472\n");
    put("sys_fs_cgroup/job_7/step_0/task_1/memory.max", "max\n");
    CgroupLimit l = fixture_limit();
    assert_int_equal(l.version, 2);
    assert_true(l.bytes == 2147483648.0);
    assert_non_null(strstr(l.file, "sys_fs_cgroup/job_7/memory.max"));
    assert_null(strstr(l.file, "step_0"));
}

static void test_cgroup_v2_unlimited(void **state) {
    (void)state;
    fresh_fixture();
    put("proc_self_cgroup", "0::/user.slice\n");
    put("sys_fs_cgroup/user.slice/memory.max", "max\n");
    CgroupLimit l = fixture_limit();
    assert_int_equal(l.version, 0);
    assert_true(l.bytes == 0);
}

/* A container without a cgroup namespace sees its own cgroup at the mount
 * root, under a path that does not exist there. */
static void test_cgroup_invisible_path_uses_visible_ancestor(void **state) {
    (void)state;
    fresh_fixture();
    put("proc_self_cgroup", "0::/system.slice/docker-abc.scope\n");
    put("sys_fs_cgroup/memory.max", "268435456\n");
    CgroupLimit l = fixture_limit();
    assert_int_equal(l.version, 2);
    assert_true(l.bytes == 268435456.0);
}

/* Hybrid hierarchy: the v2 line has no memory controller, v1 holds it. */
static void test_cgroup_v1_fallback(void **state) {
    (void)state;
    fresh_fixture();
    put("proc_self_cgroup",
        "12:cpu,cpuacct:/slurm/uid_0/job_9\n"
        "4:blkio,memory:/slurm/uid_0/job_9\n"
        "0::/slurm/uid_0/job_9\n");
    put("sys_fs_cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys_fs_cgroup/memory/slurm/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys_fs_cgroup/memory/slurm/uid_0/job_9/memory.limit_in_bytes", "536870912\n");
    CgroupLimit l = fixture_limit();
    assert_int_equal(l.version, 1);
    assert_true(l.bytes == 536870912.0);
    assert_non_null(strstr(l.file, "memory/slurm/uid_0/job_9/memory.limit_in_bytes"));
}

static void test_cgroup_v1_unlimited_and_missing_file(void **state) {
    (void)state;
    fresh_fixture();
    put("proc_self_cgroup", "9:memory:/\n");
    put("sys_fs_cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    CgroupLimit l = fixture_limit();
    assert_true(l.bytes == 0);
    char err[256], missing[400];
    snprintf(missing, sizeof missing, "%s/fixture/no_such_file", tmp);
    assert_int_equal(memory_cgroup_limit(missing, "/nonexistent", &l, err, sizeof err), 0);
    assert_true(l.bytes == 0);
}

static void test_cgroup_malformed_names_file(void **state) {
    (void)state;
    fresh_fixture();
    put("proc_self_cgroup", "0::/a\n");
    put("sys_fs_cgroup/a/memory.max", "lots\n");
    char proc[400], root[400], err[MEMORY_PATH_MAX + 128];
    snprintf(proc, sizeof proc, "%s/fixture/proc_self_cgroup", tmp);
    snprintf(root, sizeof root, "%s/fixture/sys_fs_cgroup", tmp);
    CgroupLimit l;
    assert_int_equal(memory_cgroup_limit(proc, root, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "sys_fs_cgroup/a/memory.max"));
    assert_non_null(strstr(err, "'lots'"));
}

static void test_cgroup_path_too_long(void **state) {
    (void)state;
    fresh_fixture();
    static char line[MEMORY_PATH_MAX + 64];
    int n = snprintf(line, sizeof line, "0::");
    while (n < MEMORY_PATH_MAX + 8) n += snprintf(line + n, sizeof line - n, "/abcdefg");
    snprintf(line + n, sizeof line - n, "\n");
    put("proc_self_cgroup", line);
    char proc[400], root[400], err[MEMORY_PATH_MAX + 128];
    snprintf(proc, sizeof proc, "%s/fixture/proc_self_cgroup", tmp);
    snprintf(root, sizeof root, "%s/fixture/sys_fs_cgroup", tmp);
    CgroupLimit l;
    assert_int_equal(memory_cgroup_limit(proc, root, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 4096 bytes"));
}

static void test_rlimit_as_read(void **state) {
    (void)state;
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
    /* above any address space a process (even under ASan) maps, so the
     * test process keeps working while it is set */
    rlim_t want = old.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 60 : old.rlim_max;
    struct rlimit r = {want, old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_AS, &r), 0);
    double got = memory_as_limit();
    assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
    if (want == RLIM_INFINITY) assert_true(got == 0);
    else assert_true(got == (double)want);
    if (old.rlim_cur == RLIM_INFINITY) assert_true(memory_as_limit() == 0);
}

static void test_fits_names_the_binding_limit(void **state) {
    (void)state;
    const double MiB = 1 << 20;
    char why[MEMORY_PATH_MAX + 512];
    MemoryLimits l = {0};
    l.physical = 16384 * MiB;
    assert_int_equal(memory_fits(&l, 1000 * MiB, 4, why, sizeof why), 0);

    l.as_limit = 400 * MiB;
    l.mapped = 300 * MiB;
    assert_int_equal(memory_fits(&l, 200 * MiB, 1, why, sizeof why), -1);
    assert_non_null(strstr(why, "RLIMIT_AS (ulimit -v) allows 400 MiB"));
    assert_non_null(strstr(why, "300 MiB mapped already"));

    l.as_limit = 0;
    l.cgroup.bytes = 1024 * MiB;
    l.cgroup.version = 2;
    snprintf(l.cgroup.file, sizeof l.cgroup.file, "/sys/fs/cgroup/job_1/memory.max");
    assert_int_equal(memory_fits(&l, 300 * MiB, 4, why, sizeof why), -1);
    assert_non_null(strstr(why, "4 rank(s) on this node need ~1200 MiB"));
    assert_non_null(strstr(why, "/sys/fs/cgroup/job_1/memory.max) allows 1024 MiB"));
    assert_int_equal(memory_fits(&l, 300 * MiB, 2, why, sizeof why), 0);

    l.cgroup.bytes = 0;
    assert_int_equal(memory_fits(&l, 8000 * MiB, 2, why, sizeof why), -1);
    assert_non_null(strstr(why, "16384 MiB of physical memory"));
}

/* Runs cmd (with `ulimit -v kb` in front, OPENBLAS_NUM_THREADS set when
 * blas_env) under timeout into tmp/name.log; asserts a non-zero exit that
 * is not the timeout's, and that the log holds expect. */
static void refused(const char *name, long kb, int blas_env, const char *expect, const char *cmd) {
    char log[400];
    snprintf(log, sizeof log, "%s/%s.log", tmp, name);
    int rc = run("%s sh -c 'ulimit -v %ld && exec timeout %d %s' > %s 2>&1",
                 blas_env ? "OPENBLAS_NUM_THREADS=1" : "", kb, SPIN_TIMEOUT_S, cmd, log);
    printf("%s: exit %d\n", name, rc);
    run("cat %s", log);
    assert_int_not_equal(rc, 0);
    assert_int_not_equal(rc, 124); /* the timeout: OpenBLAS spinning */
    assert_int_equal(run("grep -q '%s' %s", expect, log), 0);
}

#if defined(__SANITIZE_ADDRESS__)
/* ASan reserves terabytes of shadow address space at start-up, so no ASan
 * binary can run under `ulimit -v` at all (the plain suite runs these). */
#define SKIP_UNDER_ASAN()                                                       \
    do {                                                                         \
        printf("skipped: an ASan binary cannot start under ulimit -v\n");       \
        skip();                                                                  \
    } while (0)
#else
#define SKIP_UNDER_ASAN() (void)0
#endif

static void test_sft_refused_under_rlimit_as(void **state) {
    (void)state;
    SKIP_UNDER_ASAN();
    char cmd[1200];
    /* too little for OpenBLAS's buffers: once with the default thread pool
     * (its threads map theirs while the library loads), once without */
    snprintf(cmd, sizeof cmd, "%s sft run.dir=%s/s1 sft.steps=5 %s", bin, tmp, TINY);
    refused("sft_blas_pool", BLAS_STARVED_KB, 0, "RLIMIT_AS (ulimit -v) allows", cmd);
    refused("sft_blas", BLAS_STARVED_KB, 1, "RLIMIT_AS (ulimit -v) allows", cmd);
    /* enough for OpenBLAS, far too little for a model of ~100M parameters */
    snprintf(cmd, sizeof cmd,
             "%s sft run.dir=%s/s2 sft.steps=5 model.dim=1024 model.n_layers=8 "
             "model.hidden_dim=2816",
             bin, tmp);
    refused("sft_model", 1000000, 1,
            "refusing to start: one sft rank .* but RLIMIT_AS (ulimit -v) allows 977 MiB", cmd);
}

static void test_eval_and_sample_refused_under_rlimit_as(void **state) {
    (void)state;
    SKIP_UNDER_ASAN();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s eval --checkpoint %s/a/sft.ckpt eval.prompts=16", bin, tmp);
    refused("eval_blas_pool", BLAS_STARVED_KB, 0, "RLIMIT_AS (ulimit -v) allows", cmd);
    /* 4096 samples per prompt: a KV cache of ~260 MiB */
    snprintf(cmd, sizeof cmd, "%s eval --checkpoint %s/a/sft.ckpt eval.prompts=4 eval.pass_k=4096",
             bin, tmp);
    refused("eval_cache", 300000, 1,
            "refusing to start: one eval rank .* but RLIMIT_AS (ulimit -v) allows 293 MiB", cmd);
    snprintf(cmd, sizeof cmd, "%s sample --checkpoint %s/a/sft.ckpt --prompt 12+34= -n 4096",
             bin, tmp);
    refused("sample_cache", 300000, 1,
            "refusing to start: one eval rank .* but RLIMIT_AS (ulimit -v) allows 293 MiB", cmd);
}

/* Every rank checks before MPI_Init; mpirun stops the job. */
static void test_train_refused_under_rlimit_as(void **state) {
    (void)state;
    SKIP_UNDER_ASAN();
    char log[400];
    snprintf(log, sizeof log, "%s/train.log", tmp);
    int rc = run("timeout %d mpirun --oversubscribe -np 2 sh -c 'ulimit -v %ld && exec %s train "
                 "run.dir=%s/t grpo.init=%s/a/sft.ckpt grpo.steps=2 grpo.prompts_per_step=2 "
                 "grpo.group_size=2 %s' > %s 2>&1",
                 SPIN_TIMEOUT_S, BLAS_STARVED_KB, bin, tmp, tmp, TINY, log);
    printf("train: exit %d\n", rc);
    run("cat %s", log);
    assert_int_not_equal(rc, 0);
    assert_int_not_equal(rc, 124);
    assert_int_equal(run("grep -q 'RLIMIT_AS (ulimit -v) allows' %s", log), 0);
}

/* Bytes the allocator gained while forward_state_new(c, B, T) ran (its
 * buffers are large enough to be mmapped chunks), or 0 where the heap is
 * not glibc's (ASan). */
static double forward_state_bytes(const ModelConfig *c, int B, int T) {
    double h0 = memory_heap_held();
    ForwardState *s = forward_state_new(c, B, T);
    double got = memory_heap_held() - h0;
    forward_state_free(s);
    return got;
}

/* The estimate follows the head kind: a scalar model's activations have
 * no V-wide rows (forward_state_new allocates none: measured), and
 * memory_needed's activation term is within 1.5x of what forward_state_new
 * allocates for either head at a vocabulary large enough that the logits
 * would dominate. */
static void test_estimate_by_head(void **state) {
    (void)state;
    /* buffers of >= 256 KiB each: mmapped, so the heap count sees them */
    ModelConfig lm = {.vocab_size = 8192, .dim = 128, .n_layers = 1, .n_heads = 4,
                      .n_kv_heads = 2, .hidden_dim = 256, .max_seq_len = 64,
                      .tied_embeddings = 0, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    ModelConfig sc = lm;
    sc.head = MODEL_HEAD_SCALAR;
    const int B = 8, T = 64;
    size_t sz[MODEL_NUM_TENSORS];
    double p_lm = 4.0 * model_tensor_sizes(&lm, sz), p_sc = 4.0 * model_tensor_sizes(&sc, sz);
    double est_lm = memory_needed(&lm, ROLE_SCORE, B, T, 0) - p_lm;
    double est_sc = memory_needed(&sc, ROLE_SCORE, B, T, 0) - p_sc;
    double logit_rows = 2.0 * B * T * lm.vocab_size * 4;
    assert_true(est_lm - est_sc >= 0.99 * logit_rows);
    /* the training roles count the scalar head's parameters, not V x D */
    assert_true(memory_needed(&sc, ROLE_SFT, B, T, 0) <
                memory_needed(&lm, ROLE_SFT, B, T, 0) - 4 * (p_lm - p_sc) - 0.99 * logit_rows);
    double got_sc = forward_state_bytes(&sc, B, T), got_lm = forward_state_bytes(&lm, B, T);
    printf("  activations B=%d T=%d V=%d: LM %.2f MiB allocated, %.2f estimated; scalar %.2f "
           "allocated, %.2f estimated\n",
           B, T, lm.vocab_size, got_lm / (1 << 20), est_lm / (1 << 20), got_sc / (1 << 20),
           est_sc / (1 << 20));
    if (got_lm <= 0 || got_sc <= 0) skip(); /* no glibc heap accounting (ASan) */
    assert_true(got_lm - got_sc >= 0.99 * logit_rows);
    assert_true(est_lm <= 1.5 * got_lm && got_lm <= 1.5 * est_lm);
    assert_true(est_sc <= 1.5 * got_sc && got_sc <= 1.5 * est_sc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cgroup_v2_tightest_ancestor),
        cmocka_unit_test(test_cgroup_v2_unlimited),
        cmocka_unit_test(test_cgroup_invisible_path_uses_visible_ancestor),
        cmocka_unit_test(test_cgroup_v1_fallback),
        cmocka_unit_test(test_cgroup_v1_unlimited_and_missing_file),
        cmocka_unit_test(test_cgroup_malformed_names_file),
        cmocka_unit_test(test_cgroup_path_too_long),
        cmocka_unit_test(test_rlimit_as_read),
        cmocka_unit_test(test_fits_names_the_binding_limit),
        cmocka_unit_test(test_estimate_by_head),
        cmocka_unit_test(test_sft_refused_under_rlimit_as),
        cmocka_unit_test(test_eval_and_sample_refused_under_rlimit_as),
        cmocka_unit_test(test_train_refused_under_rlimit_as),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
