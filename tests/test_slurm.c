/* The SLURM batch scripts (deploy/slurm/) on a real, throw-away single-node
 * cluster: deploy/slurm/cluster.sh brings up munged, slurmctld and slurmd in
 * a scratch folder (group setup) and tears them down (group teardown, always).
 * The tests submit the project's own batch scripts with a tiny model and
 * check each job's final state (scontrol, then `sacct -c` once scontrol has
 * forgotten it), exit code, metrics and checkpoints:
 *   - grpo_single_node.sbatch: mpirun inside the allocation;
 *   - grpo_multi_node.sbatch on one node: srun --mpi=pmix;
 *   - grpo_sweep.sbatch: a job array over 1, 2, 3 actors sharing one SFT
 *     model that the first task writes;
 *   - requeue/resume equivalence: scancel --signal=USR1 mid-run, checkpoint,
 *     requeue, automatic resume, same final weights as an uninterrupted job;
 *   - elastic resume: kill -9 of an actor rank mid-run; the script relaunches
 *     with one rank fewer inside the allocation, the run resumes from the
 *     learner's last completed step and ends with the uninterrupted job's
 *     weights (the kill-to-training time is printed), with mpirun
 *     (single-node script) and with srun (multi-node script on one node);
 *     GRPO_MAX_RELAUNCH=0 fails the job as before, and so does losing the
 *     last actor (no relaunch below 2 ranks);
 *   - SIGTERM to every process of the job (scancel --full, as at the time
 *     limit) with a model whose checkpoint takes over a second: written
 *     whole, exit 75, requeued; SIGTERM to the multi-node script's batch
 *     shell: the same through srun.
 *   - grpo_pipeline.sbatch: the whole R1 pipeline (tiny) in one job; and
 *     scancel --signal=USR1 during its grpo stage: requeued, the next
 *     incarnation skips the finished stages and the grpo stage resumes
 *     from its checkpoint.
 * Skips (cmocka skip) unless run as root with the SLURM packages installed
 * (WITH_SLURM=1 bash deploy/install-deps.sh); GRPO_REQUIRE_SLURM=1 turns that
 * skip into a failure, for CI that installs them. KEEP_TEST_DIRS=1 keeps the
 * job folders (the cluster is always torn down). GRPO_SLURM_TESTS=PATTERN
 * runs only the tests whose names match (cmocka wildcards). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_shell.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"

static char tmp[256];      /* this run's folder: job run dirs and outputs */
static char scratch[300];  /* the cluster's scratch folder, inside tmp */
static char root[1024];    /* the repository (deploy/slurm lives there) */
static const char *bin;
static const char *skip_why; /* non-NULL: SLURM is not usable here */
static int cluster_started, cluster_ok;

static const char *TINY =
    "model.dim=32 model.n_layers=2 model.n_heads=4 model.n_kv_heads=2 model.hidden_dim=64 "
    "task.max_digits=2 eval.prompts=16 eval.pass_k=2 run.seed=7";
static const char *GRPO_SHORT = "grpo.prompts_per_step=4 grpo.group_size=4";

enum { JOB_DEADLINE_S = 90 };

/* The pipeline's tiny reasoning task and models: tests/test_pipeline.c's
 * BASE (all 11 stages in about 8 s outside SLURM) without pipeline.ranks,
 * which grpo_pipeline.sbatch sets from SLURM_NTASKS. */
static const char *PIPE_BASE =
    "task.name=arith_cot task.cot_digits=1 task.cot_mul_digits=1 task.eval_permille=200 "
    "model.max_seq_len=56 sampler.max_new_tokens=51 model.dim=32 model.n_layers=2 "
    "model.n_heads=4 model.n_kv_heads=2 model.hidden_dim=64 eval.prompts=16 eval.pass_k=1 "
    "eval.samples=0 sft.batch_size=16 sft.eval_every=0 sft.lr=5e-3 grpo.prompts_per_step=2 "
    "grpo.group_size=4 grpo.eval_every=5 grpo.checkpoint_every=2 distill.batch_size=8 "
    "distill.eval_every=0 distill.heldout=8 pipeline.demos=200 pipeline.second_demos=100 "
    "pipeline.base=sft.steps=30 pipeline.cold_start=sft.steps=300 "
    "pipeline.student_cold_start=sft.steps=30 "
    "'pipeline.rejection_sample=rs.prompts=64 rs.k=4' pipeline.sft_mix=sft.steps=50 "
    "'pipeline.final_rl=grpo.steps=4 reward.scorers=length:0.1' "
    "'pipeline.teacher_samples=rs.prompts=256 rs.k=4' pipeline.distill=sft.steps=40 "
    "'pipeline.student=model.dim=16 model.n_layers=1 model.n_heads=2 model.n_kv_heads=1 "
    "model.hidden_dim=32' pipeline.student_rl=grpo.steps=4 "
    "'pipeline.second_task=task.name=arith task.max_digits=1 sampler.max_new_tokens=4'";

static const char *const PIPE_STAGES[] = {
    "0-data",          "1-base",           "2-cold-start", "3-grpo",
    "4-rejection-sample", "5-sft-mix",     "6-final-rl",   "7-teacher-samples",
    "8-distill",       "9-student-cold-start", "10-student-rl"};
enum { PIPE_N_STAGES = 11 };


/* Runs a shell command and returns its standard output (at most n-1 bytes)
 * in out; returns the exit status. */
static int capture(char *out, size_t n, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return 127;
    size_t len = fread(out, 1, n - 1, p);
    out[len] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int have_command(const char *name) {
    return run("command -v %s > /dev/null 2>&1 || test -x /usr/sbin/%s", name, name) == 0;
}

static int setup(void **state) {
    (void)state;
    bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    const char *tests_dir = getenv("GRPO_TESTS_DIR");
    if (tests_dir) snprintf(root, sizeof root, "%s/..", tests_dir);
    else if (!getcwd(root, sizeof root)) return -1;

    if (geteuid() != 0) {
        skip_why = "not root: the throw-away SLURM cluster runs munged, slurmctld and slurmd as root";
    } else {
        const char *need[] = {"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sacct"};
        for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
            if (!have_command(need[i]))
                skip_why = "SLURM packages missing (slurmctld slurmd slurm-client munge): "
                           "install with 'WITH_SLURM=1 bash deploy/install-deps.sh'";
    }
    if (skip_why) {
        printf("test_slurm: skipping: %s\n", skip_why);
        return 0;
    }

    snprintf(tmp, sizeof tmp, "/tmp/grpo_test_slurm_%d", (int)getpid());
    snprintf(scratch, sizeof scratch, "%s/cluster", tmp);
    if (run("rm -rf %s && mkdir -p %s && chmod 0755 %s", tmp, tmp, tmp) != 0) return -1;

    /* client commands and the jobs (sbatch exports the environment) find the
     * cluster and the repository through these */
    char conf[400];
    snprintf(conf, sizeof conf, "%s/slurm.conf", scratch);
    setenv("SLURM_CONF", conf, 1);
    setenv("GRPO_ROOT", root, 1);
    setenv("GRPO_BIN", bin, 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    /* ports of our own, away from a developer's cluster on 6817/6818 */
    char port[16];
    int base = 20000 + 2 * (int)(getpid() % 5000);
    snprintf(port, sizeof port, "%d", base);
    setenv("SLURM_CTLD_PORT", port, 1);
    snprintf(port, sizeof port, "%d", base + 1);
    setenv("SLURM_SLURMD_PORT", port, 1);

    /* one tiny SFT model, made outside SLURM, shared by the jobs */
    if (run("%s sft run.dir=%s/a sft.steps=150 sft.batch_size=32 %s > %s/sft.log 2>&1", bin, tmp,
            TINY, tmp) != 0) {
        run("tail -n 20 %s/sft.log", tmp);
        return -1;
    }

    cluster_started = 1;
    double t0 = now_s();
    cluster_ok = run("bash %s/deploy/slurm/cluster.sh up %s > %s/cluster.log 2>&1", root, scratch,
                     tmp) == 0;
    printf("test_slurm: cluster up in %.1f s: %s (log %s/cluster.log)\n", now_s() - t0,
           cluster_ok ? "ok" : "FAILED", tmp);
    if (!cluster_ok) run("cat %s/cluster.log", tmp);

    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (cluster_started) {
        if (getenv("KEEP_TEST_DIRS")) run("cp -r %s/log %s/cluster-log 2>/dev/null", scratch, tmp);
        if (run("bash %s/deploy/slurm/cluster.sh down %s >> %s/cluster.log 2>&1", root, scratch,
                tmp) != 0) {
            printf("test_slurm: cluster.sh down failed:\n");
            run("tail -n 20 %s/cluster.log", tmp);
        }
    }
    if (tmp[0] && !getenv("KEEP_TEST_DIRS")) run("rm -rf %s", tmp);
    return 0;
}

/* Skips (or, with GRPO_REQUIRE_SLURM=1, fails) when SLURM is not usable. */
#define REQUIRE_CLUSTER()                                                              \
    do {                                                                               \
        if (skip_why) {                                                                \
            const char *req = getenv("GRPO_REQUIRE_SLURM");                            \
            if (req && strcmp(req, "1") == 0) fail_msg("GRPO_REQUIRE_SLURM=1 but %s", skip_why); \
            skip();                                                                    \
        }                                                                              \
        if (!cluster_ok) fail_msg("cluster.sh up failed: see %s/cluster.log above", tmp); \
    } while (0)

/* sbatch --parsable ARGS from the repository root; returns the job id (the
 * array job id for an array) or -1. */
static long submit(const char *fmt, ...) {
    char args[3072], out[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int rc = capture(out, sizeof out, "cd %s && sbatch --parsable %s 2>&1", root, args);
    if (rc != 0) {
        printf("sbatch failed (%d): %s\n", rc, out);
        return -1;
    }
    long id = strtol(out, NULL, 10);
    printf("submitted job %ld: sbatch %s\n", id, args);
    return id > 0 ? id : -1;
}

/* Waits until job id has left the queue (squeue: not pending, running,
 * requeued or completing), for at most secs seconds. Returns 0, or -1 on
 * the deadline. */
static int wait_gone(long id, int secs) {
    double t0 = now_s();
    char out[4096];
    for (;;) {
        /* an id that slurmctld already purged makes squeue fail: gone too */
        int rc = capture(out, sizeof out, "squeue -h -r -j %ld -o %%T 2>/dev/null", id);
        if (rc != 0 || out[0] == '\0') return 0;
        if (now_s() - t0 > secs) {
            printf("job %ld still queued after %d s: %s", id, secs, out);
            return -1;
        }
        usleep(250 * 1000);
    }
}

/* The final state (COMPLETED ...) and exit code ("0:0") of a finished job:
 * from `scontrol show job` while it remembers the job (MinJobAge), else from
 * the job-completion file through `sacct -c`. Returns 0 when found. */
static int job_result(long id, char *st, size_t stn, char *ec, size_t ecn) {
    char out[8192];
    st[0] = ec[0] = '\0';
    if (capture(out, sizeof out, "scontrol show job -o %ld 2>/dev/null", id) == 0) {
        const char *s = strstr(out, "JobState="), *e = strstr(out, " ExitCode=");
        if (s && e) {
            sscanf(s + 9, "%63s", st);
            sscanf(e + 10, "%15s", ec);
            if (strlen(st) < stn && strlen(ec) < ecn) return 0;
        }
    }
    if (capture(out, sizeof out, "sacct -c -n -P -o JobID,State,ExitCode 2>/dev/null | grep '^%ld|'",
                id) == 0) {
        char idbuf[32];
        char s[64], e[16];
        if (sscanf(out, "%31[^|]|%63[^|]|%15s", idbuf, s, e) == 3) {
            snprintf(st, stn, "%s", s);
            snprintf(ec, ecn, "%s", e);
            return 0;
        }
    }
    return -1;
}

static void show_job_output(const char *dir) {
    printf("---- job output in %s:\n", dir);
    run("tail -n 25 %s/slurm-*.out %s/slurm-*.err 2>/dev/null", dir, dir);
}

/* Waits for job id and asserts it ended COMPLETED with exit code 0:0. */
static void assert_job_completed(long id, const char *outdir) {
    assert_true(id > 0);
    double t0 = now_s();
    if (wait_gone(id, JOB_DEADLINE_S) != 0) {
        show_job_output(outdir);
        run("scontrol show job %ld", id);
        fail_msg("job %ld did not finish within %d s", id, JOB_DEADLINE_S);
    }
    char st[64], ec[16];
    if (job_result(id, st, sizeof st, ec, sizeof ec) != 0) {
        show_job_output(outdir);
        fail_msg("job %ld: neither scontrol nor sacct -c knows its final state", id);
    }
    printf("job %ld: %s, exit code %s, %.1f s after submission\n", id, st, ec, now_s() - t0);
    if (strcmp(st, "COMPLETED") != 0 || strcmp(ec, "0:0") != 0) show_job_output(outdir);
    assert_string_equal(st, "COMPLETED");
    assert_string_equal(ec, "0:0");
}

/* Training-step lines (those with a "version") of dir/metrics.jsonl; the last
 * one's step goes to *last. The step-0 evaluation line is not counted.
 * Polled while the learner appends: a line goes out in one write(2), but a
 * concurrent read can still see only its start (the file's size grows page
 * by page during the write, and a ~1.1 KB line crosses a 4 KiB boundary
 * about one time in four), so a last line without its '\n' is one still
 * being written and is not counted yet; its newline is the event waited
 * for. assert_run_finished checks that a finished run's file ends whole. */
static int count_steps(const char *dir, long *last) {
    char path[512], line[16384];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    *last = -1;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n') {
            if (feof(f)) break; /* the line being appended */
            fail_msg("%s: a line longer than %zu bytes", path, sizeof line - 1);
        }
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        assert_non_null(o);
        if (json_object_get(o, "version")) {
            n++;
            *last = (long)json_integer_value(json_object_get(o, "step"));
        }
        json_decref(o);
    }
    fclose(f);
    return n;
}

static void assert_run_finished(const char *dir, int steps) {
    long last;
    int n = count_steps(dir, &last);
    printf("%s: %d training steps in metrics.jsonl, last step %ld\n", dir, n, last);
    /* finished: no incomplete last line (count_steps would skip one) */
    assert_int_equal(run("tail -c 1 %s/metrics.jsonl | od -An -tx1 | grep -qx ' 0a'", dir), 0);
    assert_int_equal(n, steps);
    assert_int_equal(last, steps);
    assert_int_equal(run("test -s %s/final.ckpt", dir), 0);
    assert_int_equal(run("test -s %s/summary.json", dir), 0);
}

/* grpo_single_node.sbatch: 3 tasks, mpirun inside the allocation, the SFT
 * step skipped because <run.dir>/sft.ckpt exists. */
static void test_single_node_batch_completes(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/single", tmp);
    assert_int_equal(run("mkdir -p %s && cp %s/a/sft.ckpt %s/", dir, tmp, dir), 0);
    long id = submit("-o %s/slurm-%%j.out -e %s/slurm-%%j.err deploy/slurm/grpo_single_node.sbatch "
                     "run.dir=%s grpo.steps=6 %s %s",
                     dir, dir, dir, GRPO_SHORT, TINY);
    assert_job_completed(id, dir);
    assert_run_finished(dir, 6);
    assert_int_equal(run("grep -q 'SLURM_RESTART_COUNT=0' %s/slurm-%ld.out", dir, id), 0);
    assert_int_equal(run("grep -q 'sft.ckpt exists: no SFT' %s/slurm-%ld.out", dir, id), 0);
    assert_int_equal(run("grep -q 'learner rank 0 + 2 actors' %s/slurm-%ld.out", dir, id), 0);
    /* the job-completion file (sacct -c) agrees with scontrol */
    assert_int_equal(run("sacct -c -n -P -o JobID,State,ExitCode | grep -qx '%ld|COMPLETED|0:0'", id), 0);
}

/* grpo_multi_node.sbatch squeezed onto our one node: srun --mpi=pmix starts
 * the 3 ranks; the start checkpoint comes from grpo.init. */
static void test_multi_node_script_srun_pmix(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/multi", tmp);
    assert_int_equal(run("mkdir -p %s", dir), 0);
    long id = submit("--nodes=1 --ntasks-per-node=3 -o %s/slurm-%%j.out -e %s/slurm-%%j.err "
                     "deploy/slurm/grpo_multi_node.sbatch run.dir=%s grpo.init=%s/a/sft.ckpt "
                     "grpo.steps=3 %s %s",
                     dir, dir, dir, tmp, GRPO_SHORT, TINY);
    assert_job_completed(id, dir);
    assert_run_finished(dir, 3);
    assert_int_equal(run("grep -q 'srun --mpi=pmix' %s/slurm-%ld.out", dir, id), 0);
    assert_int_equal(run("grep -q 'learner rank 0 + 2 actors' %s/slurm-%ld.out", dir, id), 0);
    assert_int_equal(run("test ! -e %s/sft.ckpt", dir), 0); /* no SFT: grpo.init given */
}

/* grpo_sweep.sbatch: array tasks 0-2 -> 1, 2, 3 actors, each its own run dir;
 * the first task to run writes the shared SFT model (a short one here). */
static void test_sweep_array(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    char base[300];
    snprintf(base, sizeof base, "%s/sweep", tmp);
    assert_int_equal(run("mkdir -p %s", base), 0);
    long id = submit("-o %s/slurm-%%A_%%a.out -e %s/slurm-%%A_%%a.err deploy/slurm/grpo_sweep.sbatch "
                     "run.dir=%s sft.steps=20 sft.batch_size=16 grpo.steps=2 %s %s",
                     base, base, base, GRPO_SHORT, TINY);
    assert_true(id > 0);
    if (wait_gone(id, JOB_DEADLINE_S) != 0) {
        show_job_output(base);
        fail_msg("array job %ld did not finish within %d s", id, JOB_DEADLINE_S);
    }
    char out[16384];
    capture(out, sizeof out, "scontrol show job %ld 2>/dev/null", id);
    int done = 0;
    for (const char *p = out; (p = strstr(p, "JobState=COMPLETED")); p++) done++;
    if (done != 3) {
        printf("%s", out);
        show_job_output(base);
    }
    assert_int_equal(done, 3);
    assert_int_equal(run("test -s %s/sft.ckpt", base), 0);
    assert_int_equal(run("grep -l 'running grpo sft' %s/slurm-*.out | wc -l | grep -qx 1", base), 0);
    for (int a = 1; a <= 3; a++) {
        char dir[400];
        snprintf(dir, sizeof dir, "%s/actors%d", base, a);
        assert_run_finished(dir, 2);
        assert_int_equal(run("grep -q 'learner rank 0 + %d actor' %s/slurm-%ld_%d.out", a, base, id,
                             a - 1),
                         0);
    }
}

/* PARM, ADAM and STEP of two checkpoints are byte for byte equal; with
 * step_only, STEP's step and policy version only (its first 16 bytes: the
 * rank count and flags that follow say how the run was split). */
static void assert_same_state(const char *p1, const char *p2, int step_only) {
    Checkpoint a, b;
    char err[512];
    if (ckpt_read(&a, p1, err, sizeof err) != 0) fail_msg("%s", err);
    if (ckpt_read(&b, p2, err, sizeof err) != 0) fail_msg("%s", err);
    const char *tags[] = {"PARM", "ADAM", "STEP"};
    for (int i = 0; i < 3; i++) {
        const CkptSection *x = ckpt_get(&a, tags[i]), *y = ckpt_get(&b, tags[i]);
        if (!x || !y) fail_msg("section %s missing", tags[i]);
        assert_int_equal(x->len, y->len);
        size_t n = step_only && strcmp(tags[i], "STEP") == 0 && x->len > 16 ? 16 : x->len;
        if (memcmp(x->data, y->data, n) != 0)
            fail_msg("%s differs between %s and %s", tags[i], p1, p2);
    }
    ckpt_free(&a);
    ckpt_free(&b);
}

static void assert_same_weights(const char *p1, const char *p2) { assert_same_state(p1, p2, 0); }

/* Waits for job id, just sent SIGUSR1, to be requeued (pending again, one
 * restart) and lets it start again at once. */
static void release_requeued(long id, const char *dir) {
    char out[8192];
    double t0 = now_s();
    for (;;) {
        capture(out, sizeof out, "scontrol show job -o %ld", id);
        if (strstr(out, "JobState=PENDING") && strstr(out, "Restarts=1")) break;
        if (now_s() - t0 > JOB_DEADLINE_S) {
            printf("%s", out);
            show_job_output(dir);
            fail_msg("job %ld was not requeued after SIGUSR1", id);
        }
        usleep(250 * 1000);
    }
    /* Skip the two-minute requeue hold, but not at once: slurmd refuses to
     * launch a job id it killed within the same second ("Job N already
     * killed, do not launch batch job": the job ends FAILED). Wait for the
     * old incarnation to finish completing, then two seconds more. */
    t0 = now_s();
    for (;;) {
        capture(out, sizeof out, "squeue -h -j %ld -o %%T", id);
        if (strncmp(out, "PENDING", 7) == 0) break;
        if (now_s() - t0 > JOB_DEADLINE_S) fail_msg("job %ld stuck in %s", id, out);
        usleep(250 * 1000);
    }
    sleep(2);
    assert_int_equal(run("scontrol update JobId=%ld StartTime=now", id), 0);
}

/* Requeue on signal, end to end on the real cluster:
 *   1. job A: grpo_single_node.sbatch, N = 100 steps, uninterrupted.
 *   2. job B: the same arguments in another run dir. Once B's metrics.jsonl
 *      has 20 training steps, `scancel --batch --signal=USR1 B`: the batch
 *      shell's trap forwards USR1 to mpirun, mpirun to every rank; the
 *      learner checkpoints and exits 75 (non-zero); the script runs
 *      `scontrol requeue`. The test waits for B to be pending again with
 *      Restarts=1 (and done completing, plus 2 s), skips SLURM's two-minute
 *      requeue hold with `scontrol update JobId=B StartTime=now`, and waits
 *      for B to complete.
 *   3. Checks: B ended COMPLETED 0:0; its appended output shows both
 *      SLURM_RESTART_COUNT=0 and =1; a training checkpoint exists;
 *      metrics.jsonl has steps 1..N, each once; and A's and B's final.ckpt have byte-identical PARM, ADAM
 *      and STEP sections (resume restores weights, optimizer moments, step
 *      and every RNG, so an interrupted run equals an uninterrupted one). */
static void test_requeue_resume_equivalence(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    enum { N = 100, SIGNAL_AFTER = 20 };
    char da[300], db[300];
    snprintf(da, sizeof da, "%s/requeue_a", tmp);
    snprintf(db, sizeof db, "%s/requeue_b", tmp);
    assert_int_equal(run("mkdir -p %s %s", da, db), 0);
    const char *fmt = "-o %s/slurm-%%j.out -e %s/slurm-%%j.err deploy/slurm/grpo_single_node.sbatch "
                      "run.dir=%s grpo.init=%s/a/sft.ckpt grpo.steps=%d grpo.checkpoint_every=5 "
                      "grpo.eval_every=0 %s %s";

    long a = submit(fmt, da, da, da, tmp, N, GRPO_SHORT, TINY);
    assert_job_completed(a, da);
    assert_run_finished(da, N);

    long b = submit(fmt, db, db, db, tmp, N, GRPO_SHORT, TINY);
    assert_true(b > 0);
    double t0 = now_s();
    long last = -1;
    while (count_steps(db, &last) < SIGNAL_AFTER) {
        if (now_s() - t0 > JOB_DEADLINE_S) {
            show_job_output(db);
            fail_msg("job %ld never reached step %d", b, SIGNAL_AFTER);
        }
        usleep(100 * 1000);
    }
    assert_true(last < N); /* still running: the signal lands mid-run */
    assert_int_equal(run("scancel --batch --signal=USR1 %ld", b), 0);

    release_requeued(b, db);
    assert_int_equal(run("test -s %s/latest.ckpt || ls %s/ckpt-*.ckpt > /dev/null 2>&1", db, db), 0);
    assert_job_completed(b, db);

    assert_int_equal(run("grep -q 'SLURM_RESTART_COUNT=0' %s/slurm-%ld.out", db, b), 0);
    assert_int_equal(run("grep -q 'SLURM_RESTART_COUNT=1' %s/slurm-%ld.out", db, b), 0);
    assert_int_equal(count_steps(db, &last), N);
    assert_int_equal(last, N);
    char pa[400], pb[400];
    snprintf(pa, sizeof pa, "%s/final.ckpt", da);
    snprintf(pb, sizeof pb, "%s/final.ckpt", db);
    assert_same_weights(pa, pb);
}

/* The same arguments as test_requeue_resume_equivalence's jobs (N steps, a
 * checkpoint every 5), for the elastic-resume tests: sbatch options, then
 * the script, then its run dir. */
static const char *ELASTIC_FMT =
    "%s -o %s/slurm-%%j.out -e %s/slurm-%%j.err deploy/slurm/%s "
    "run.dir=%s grpo.init=%s/a/sft.ckpt grpo.steps=%d grpo.checkpoint_every=5 "
    "grpo.eval_every=0 %s %s";
/* the uninterrupted run is test_requeue_resume_equivalence's (its N): a
 * tiny step takes about 3 ms, so 80 steps (~0.3 s) are left after the kill
 * at step 20 */
enum { ELASTIC_N = 100 };

/* Waits until dir's metrics.jsonl has `steps` training steps (job id still
 * running), then SIGKILLs the `grpo train` process whose initial
 * environment has RANK_VAR=rank (OMPI_COMM_WORLD_RANK under mpirun,
 * SLURM_PROCID under srun) and whose command line names dir. Returns the
 * last step logged before the kill; *t_kill gets the time of the kill. */
static long kill_rank_mid_run(long id, const char *dir, int steps, const char *rank_var, int rank,
                              double *t_kill) {
    double t0 = now_s();
    long last = -1;
    while (count_steps(dir, &last) < steps) {
        if (now_s() - t0 > JOB_DEADLINE_S) {
            show_job_output(dir);
            fail_msg("job %ld never reached step %d", id, steps);
        }
        usleep(20 * 1000);
    }
    char out[256];
    capture(out, sizeof out,
            "for p in $(pgrep -x grpo); do "
            "tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -qx %s=%d && "
            "tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q -- 'run.dir=%s ' && echo $p; "
            "done",
            rank_var, rank, dir);
    long pid = strtol(out, NULL, 10);
    if (pid <= 0 || strchr(out, '\n') != out + strlen(out) - 1) {
        show_job_output(dir);
        fail_msg("job %ld: not exactly one rank-%d process of %s: '%s'", id, rank, dir, out);
    }
    count_steps(dir, &last);
    assert_int_equal(run("kill -9 %ld", pid), 0);
    *t_kill = now_s();
    printf("job %ld: kill -9 of rank %d (pid %ld) after step %ld\n", id, rank, pid, last);
    return last;
}

/* Appends " N" to buf (cap bytes) while it fits. */
static void append_num(char *buf, size_t cap, long v) {
    size_t len = strlen(buf);
    if (len + 24 < cap) snprintf(buf + len, cap - len, " %ld", v);
}

/* dir/metrics.jsonl has one training-step line for each step 1..n, in
 * order; fails naming the steps missing or logged again. */
static void assert_steps_once(const char *dir, int n) {
    char path[512], line[16384], missing[512] = "", repeated[512] = "";
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long expect = 1;
    int ok = 1;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        assert_non_null(o);
        if (json_object_get(o, "version")) {
            long st = (long)json_integer_value(json_object_get(o, "step"));
            for (; expect < st; expect++, ok = 0) append_num(missing, sizeof missing, expect);
            if (st < expect) {
                ok = 0;
                append_num(repeated, sizeof repeated, st);
            } else {
                expect = st + 1;
            }
        }
        json_decref(o);
    }
    fclose(f);
    if (expect != n + 1) ok = 0;
    if (!ok)
        fail_msg("%s: training steps not 1..%d once each: missing [%s ], logged again [%s ], "
                 "last %ld",
                 path, n, missing, repeated, expect - 1);
}

/* Elastic resume, end to end (common.sh: grpo_launch_elastic), with the
 * script given (sbatch options opts): job id runs ELASTIC_N synchronous
 * steps with 3 ranks; once 20 are logged, kill -9 of rank 2 (an actor).
 * The launcher stops the other ranks (the learner checkpoints its last
 * completed step on their SIGTERM) and exits 137; the script prints "rank
 * lost: relaunching with 2 ranks" and starts `grpo train` again in the same
 * allocation (the line launcher_2 shows), which resumes. Checks: the job
 * ends COMPLETED 0:0 without a requeue; its output has the relaunch and a
 * learner with 1 actor; the resume starts from a step no earlier than the
 * last one logged before the kill (no trained step lost); metrics.jsonl
 * has steps 1..N, each once; and the final weights and AdamW state (PARM,
 * ADAM, and STEP's step and version) equal the uninterrupted 3-rank run's (test_requeue_resume_equivalence's job A
 * when it ran, with the same arguments; else one submitted here): sampling
 * is keyed by seed, step, prompt and completion, not by rank. Prints the
 * time from the kill to the relaunch line and to the relaunched run's
 * first training step (its first new metrics.jsonl line). */
static void elastic_kill_and_resume(const char *name, const char *opts, const char *script,
                                    const char *rank_var, const char *launcher_2) {
    enum { KILL_AFTER = 20 };
    char da[300], db[300], out[400];
    snprintf(da, sizeof da, "%s/requeue_a", tmp);
    snprintf(db, sizeof db, "%s/%s", tmp, name);
    if (run("test -s %s/final.ckpt", da) != 0) {
        snprintf(da, sizeof da, "%s/elastic_a", tmp);
        if (run("test -s %s/final.ckpt", da) != 0) {
            assert_int_equal(run("mkdir -p %s", da), 0);
            long a = submit(ELASTIC_FMT, "", da, da, "grpo_single_node.sbatch", da, tmp, ELASTIC_N,
                            GRPO_SHORT, TINY);
            assert_job_completed(a, da);
            assert_run_finished(da, ELASTIC_N);
        }
    }
    assert_int_equal(run("mkdir -p %s", db), 0);
    long b = submit(ELASTIC_FMT, opts, db, db, script, db, tmp, ELASTIC_N, GRPO_SHORT, TINY);
    assert_true(b > 0);
    snprintf(out, sizeof out, "%s/slurm-%ld.out", db, b);

    double t_kill;
    long at_kill = kill_rank_mid_run(b, db, KILL_AFTER, rank_var, 2, &t_kill);
    assert_true(at_kill < ELASTIC_N); /* mid-run */

    /* the relaunch line, then the relaunched run's first training step */
    double t_relaunch = -1, t_train = -1;
    int before = -1;
    long last = -1;
    char q[64];
    while (t_train < 0) {
        if (t_relaunch < 0 &&
            run("grep -q 'rank lost: relaunching with 2 ranks' %s 2>/dev/null", out) == 0) {
            t_relaunch = now_s() - t_kill;
            before = count_steps(db, &last); /* every rank of the first launch is gone */
        }
        if (t_relaunch >= 0 && count_steps(db, &last) > before) t_train = now_s() - t_kill;
        int rc = capture(q, sizeof q, "squeue -h -j %ld -o %%T 2>/dev/null", b);
        if (t_train < 0 && (rc != 0 || q[0] == '\0' || now_s() - t_kill > JOB_DEADLINE_S)) {
            show_job_output(db);
            fail_msg("job %ld: no training step after the kill (relaunch line %s)", b,
                     t_relaunch < 0 ? "missing" : "seen");
        }
        usleep(20 * 1000);
    }
    printf("job %ld (%s): kill -9 -> 'rank lost: relaunching' %.2f s, -> first training step of "
           "the relaunched run %.2f s\n",
           b, script, t_relaunch, t_train);

    assert_job_completed(b, db);
    assert_int_equal(run("grep -q 'learner rank 0 + 2 actors' %s", out), 0);
    assert_int_equal(run("grep -q 'learner rank 0 + 1 actor' %s", out), 0);
    assert_int_equal(run("grep -q 'SLURM_RESTART_COUNT=1' %s", out), 1); /* no requeue */
    assert_int_equal(run("grep -q -- '%s' %s", launcher_2, out), 0);
    /* the resume starts at or after the last step logged before the kill */
    char line[512];
    assert_int_equal(capture(line, sizeof line,
                             "grep -o 'resume: continuing from .* (step [0-9]*' %s | tail -n 1", out),
                     0);
    const char *s = strstr(line, "(step ");
    if (!s) fail_msg("job %ld: no resume line in %s", b, out);
    long resumed = strtol(s + 6, NULL, 10);
    printf("job %ld: resumed from step %ld (last step logged at the kill: %ld)\n", b, resumed,
           at_kill);
    assert_true(resumed >= at_kill);
    char pa[400], pb[400];
    snprintf(pa, sizeof pa, "%s/final.ckpt", da);
    snprintf(pb, sizeof pb, "%s/final.ckpt", db);
    assert_same_state(pa, pb, 1);
    printf("job %ld: final weights and AdamW state equal the uninterrupted run's\n", b);
    assert_steps_once(db, ELASTIC_N);
}

/* grpo_single_node.sbatch: mpirun -np 3, then -np 2. */
static void test_elastic_resume_after_actor_kill(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    elastic_kill_and_resume("elastic_b", "", "grpo_single_node.sbatch", "OMPI_COMM_WORLD_RANK",
                            "mpirun --oversubscribe -np 2 ");
}

/* grpo_multi_node.sbatch on our one node: srun --ntasks=3, then 2 (srun's
 * --kill-on-bad-exit gives the other ranks SIGTERM, SIGKILL after
 * KillWait). */
static void test_elastic_multi_node_srun(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    elastic_kill_and_resume("elastic_srun", "--nodes=1 --ntasks-per-node=3",
                            "grpo_multi_node.sbatch", "SLURM_PROCID",
                            "srun --mpi=pmix --kill-on-bad-exit=1 --nodes=1 --ntasks=2 ");
}

/* Two lost actors: 3 ranks, kill -9 of rank 2 -> relaunched with 2; kill -9
 * of the last actor -> 1 rank would be left, fewer than a learner and an
 * actor: the job fails (FAILED 137:0) saying so, after one relaunch. */
static void test_elastic_floor_of_two_ranks(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/elastic_floor", tmp);
    assert_int_equal(run("mkdir -p %s", dir), 0);
    long id = submit(ELASTIC_FMT, "", dir, dir, "grpo_single_node.sbatch", dir, tmp, 1000,
                     GRPO_SHORT, TINY);
    assert_true(id > 0);
    double t_kill;
    kill_rank_mid_run(id, dir, 10, "OMPI_COMM_WORLD_RANK", 2, &t_kill);
    /* the 2-rank run: its learner says so, then it trains on */
    double t0 = now_s();
    while (run("grep -q 'learner rank 0 + 1 actor' %s/slurm-%ld.out 2>/dev/null", dir, id) != 0) {
        if (now_s() - t0 > JOB_DEADLINE_S) {
            show_job_output(dir);
            fail_msg("job %ld: no 2-rank relaunch", id);
        }
        usleep(50 * 1000);
    }
    long last = -1;
    count_steps(dir, &last);
    kill_rank_mid_run(id, dir, (int)last + 10, "OMPI_COMM_WORLD_RANK", 1, &t_kill);
    if (wait_gone(id, JOB_DEADLINE_S) != 0) {
        show_job_output(dir);
        fail_msg("job %ld did not end after the second kill", id);
    }
    char st[64], ec[16];
    assert_int_equal(job_result(id, st, sizeof st, ec, sizeof ec), 0);
    printf("job %ld: %s, exit code %s, %.1f s after the second kill\n", id, st, ec,
           now_s() - t_kill);
    if (strcmp(st, "FAILED") != 0) show_job_output(dir);
    assert_string_equal(st, "FAILED");
    assert_string_equal(ec, "137:0");
    assert_int_equal(run("grep -c 'rank lost: relaunching with 2 ranks' %s/slurm-%ld.out | grep -qx 1",
                         dir, id),
                     0);
    assert_int_equal(run("grep -q 'with 2 ranks: fewer than 2 (the learners and an actor) would be "
                         "left: not relaunched' %s/slurm-%ld.err",
                         dir, id),
                     0);
}

/* GRPO_MAX_RELAUNCH=0: a lost rank fails the job as before elastic resume
 * (FAILED, exit code 137, no relaunch, no requeue), naming why. */
static void test_elastic_relaunch_limit(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/elastic_limit", tmp);
    assert_int_equal(run("mkdir -p %s", dir), 0);
    long id = submit(ELASTIC_FMT, "--export=ALL,GRPO_MAX_RELAUNCH=0", dir, dir,
                     "grpo_single_node.sbatch", dir, tmp, 1000, GRPO_SHORT, TINY);
    assert_true(id > 0);
    double t_kill;
    long at_kill = kill_rank_mid_run(id, dir, 10, "OMPI_COMM_WORLD_RANK", 1, &t_kill);
    assert_true(at_kill < 1000);
    if (wait_gone(id, JOB_DEADLINE_S) != 0) {
        show_job_output(dir);
        fail_msg("job %ld did not end after the kill", id);
    }
    char st[64], ec[16];
    assert_int_equal(job_result(id, st, sizeof st, ec, sizeof ec), 0);
    printf("job %ld: %s, exit code %s, %.1f s after the kill\n", id, st, ec, now_s() - t_kill);
    if (strcmp(st, "FAILED") != 0) show_job_output(dir);
    assert_string_equal(st, "FAILED");
    assert_string_equal(ec, "137:0");
    assert_int_equal(run("grep -q 'after 0 relaunches (GRPO_MAX_RELAUNCH=0): giving up' "
                         "%s/slurm-%ld.err",
                         dir, id),
                     0);
    assert_int_equal(run("grep -q 'relaunching' %s/slurm-%ld.out", dir, id), 1);
}

/* Waits until job id has logged `steps` training steps in dir, runs
 * `scancel ARGS id`, and waits for the job to be requeued (pending again,
 * Restarts=1). Then checks that the script saw the learner's exit status 75
 * and that dir holds exactly one loadable training checkpoint and no temp
 * file, and cancels the requeued job. */
static void term_and_expect_requeue(long id, const char *dir, int steps, const char *scancel_args) {
    assert_true(id > 0);
    double t0 = now_s();
    long last = -1;
    while (count_steps(dir, &last) < steps) {
        if (now_s() - t0 > JOB_DEADLINE_S) {
            show_job_output(dir);
            fail_msg("job %ld never reached step %d", id, steps);
        }
        usleep(50 * 1000);
    }
    t0 = now_s();
    assert_int_equal(run("scancel %s %ld", scancel_args, id), 0);
    char out[8192];
    double t_ckpt = -1;
    for (;;) {
        if (t_ckpt < 0 && run("ls %s/ckpt-*.ckpt > /dev/null 2>&1", dir) == 0) t_ckpt = now_s() - t0;
        capture(out, sizeof out, "scontrol show job -o %ld", id);
        if (strstr(out, "JobState=PENDING") && strstr(out, "Restarts=1")) break;
        if (now_s() - t0 > JOB_DEADLINE_S) {
            printf("%s", out);
            show_job_output(dir);
            fail_msg("job %ld was not requeued after scancel %s", id, scancel_args);
        }
        usleep(50 * 1000);
    }
    printf("job %ld: checkpoint written %.2f s after scancel %s, requeued after %.2f s\n", id,
           t_ckpt, scancel_args, now_s() - t0);
    run("scancel %ld", id);
    wait_gone(id, JOB_DEADLINE_S);
    const char *want = "stopped by SIGTERM (exit 75) before the end: scontrol requeue";
    if (run("grep -q '%s' %s/slurm-%ld.out", want, dir, id) != 0) show_job_output(dir);
    assert_int_equal(run("grep -q '%s' %s/slurm-%ld.out", want, dir, id), 0);
    assert_int_equal(run("ls %s/*.tmp.* > /dev/null 2>&1", dir), 2); /* no temp file */
    assert_int_equal(capture(out, sizeof out, "ls %s/ckpt-*.ckpt", dir), 0);
    out[strcspn(out, "\n")] = '\0'; /* the first (and only) one */
    Checkpoint c;
    char err[700];
    if (ckpt_read(&c, out, err, sizeof err) != 0) fail_msg("%s", err);
    assert_non_null(ckpt_get(&c, "ADAM"));
    ckpt_free(&c);
}

/* SIGTERM to every process of a RUNNING job, the way slurmd delivers it at
 * the time limit, on scancel and on preemption (scancel --full
 * --signal=TERM: the batch shell, mpirun and every rank), with a
 * ~17M-parameter model whose checkpoint takes the learner more than a
 * second. mpirun must not kill the ranks before the checkpoint is on disk:
 * the learner exits 75 (the script says so), the job is requeued, and the
 * run dir holds a loadable checkpoint and no temp file. The requeued job is
 * then cancelled (resuming is test_requeue_resume_equivalence's). */
static void test_term_full_checkpoints(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    static const char *BIG = "model.dim=512 model.n_layers=6 model.n_heads=8 model.n_kv_heads=4 "
                             "model.hidden_dim=1376 eval.prompts=4 eval.pass_k=1 run.seed=7";
    char dir[300];
    snprintf(dir, sizeof dir, "%s/term_full", tmp);
    assert_int_equal(run("%s sft run.dir=%s sft.steps=1 sft.batch_size=4 sft.eval_every=0 %s > "
                         "%s.sft.log 2>&1",
                         bin, dir, BIG, dir),
                     0);
    long id = submit("-o %s/slurm-%%j.out -e %s/slurm-%%j.err deploy/slurm/grpo_single_node.sbatch "
                     "run.dir=%s grpo.steps=50 grpo.prompts_per_step=2 grpo.group_size=2 "
                     "grpo.eval_every=0 grpo.checkpoint_every=100 %s",
                     dir, dir, dir, BIG);
    term_and_expect_requeue(id, dir, 2, "--full --signal=TERM");
}

/* grpo_multi_node.sbatch, SIGTERM to the batch shell alone: its trap must
 * reach srun as USR1, since srun answers a TERM by SIGKILLing the ranks at
 * once ("srun: forcing job termination"). */
static void test_multi_node_term_to_batch_shell(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/multi_term", tmp);
    assert_int_equal(run("mkdir -p %s", dir), 0);
    long id = submit("--nodes=1 --ntasks-per-node=3 -o %s/slurm-%%j.out -e %s/slurm-%%j.err "
                     "deploy/slurm/grpo_multi_node.sbatch run.dir=%s grpo.init=%s/a/sft.ckpt "
                     "grpo.steps=1000 grpo.eval_every=0 grpo.checkpoint_every=2000 %s %s",
                     dir, dir, dir, tmp, GRPO_SHORT, TINY);
    term_and_expect_requeue(id, dir, 5, "--batch --signal=TERM");
}

/* What a finished pipeline leaves in dir: stage.json in every stage,
 * summary.json listing all 11. */
static void assert_pipeline_finished(const char *dir) {
    for (int s = 0; s < PIPE_N_STAGES; s++)
        if (run("test -s %s/%s/stage.json", dir, PIPE_STAGES[s]) != 0)
            fail_msg("no %s/%s/stage.json", dir, PIPE_STAGES[s]);
    char path[400];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    json_error_t je;
    json_t *sum = json_load_file(path, 0, &je);
    if (!sum) fail_msg("%s: %s", path, je.text);
    assert_int_equal(json_array_size(json_object_get(sum, "stages")), PIPE_N_STAGES);
    json_decref(sum);
}

/* grpo_pipeline.sbatch with 2 tasks: all 11 stages in one job; the MPI
 * stages start with the pipeline's own launcher and -np from
 * SLURM_NTASKS. */
static void test_pipeline_batch_completes(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    double t0 = now_s();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/pipeline", tmp);
    assert_int_equal(run("mkdir -p %s", dir), 0);
    long id = submit("--ntasks=2 -o %s/slurm-%%j.out -e %s/slurm-%%j.err "
                     "deploy/slurm/grpo_pipeline.sbatch run.dir=%s pipeline.grpo=grpo.steps=40 %s",
                     dir, dir, dir, PIPE_BASE);
    assert_job_completed(id, dir);
    assert_pipeline_finished(dir);
    assert_int_equal(run("grep -q 'SLURM_RESTART_COUNT=0' %s/slurm-%ld.out", dir, id), 0);
    assert_int_equal(run("grep -q -- '^mpirun --oversubscribe -np 2 ' "
                         "%s/3-grpo/command.txt",
                         dir),
                     0);
    assert_int_equal(run("grep -q 'learner rank 0 + 1 actor' %s/3-grpo/log.txt", dir), 0);
    assert_int_equal(run("sacct -c -n -P -o JobID,State,ExitCode | grep -qx '%ld|COMPLETED|0:0'", id), 0);
    printf("test_pipeline_batch_completes: %.1f s\n", now_s() - t0);
}

/* grpo_pipeline.sbatch, SIGUSR1 to the batch shell while the grpo stage
 * trains (200 steps, a checkpoint every 2): the trap passes USR1 to the
 * pipeline, the pipeline to mpirun, mpirun to the ranks; the learner
 * checkpoints and exits 75, the pipeline exits 75, and the script requeues
 * the job. The next incarnation (SLURM_RESTART_COUNT=1) skips stages 0-2,
 * 3-grpo resumes from its checkpoint and logs every step once, and the job
 * ends COMPLETED with the whole pipeline done. */
static void test_pipeline_requeue_resumes(void **state) {
    (void)state;
    REQUIRE_CLUSTER();
    enum { GRPO_STEPS = 200 };
    double t_start = now_s();
    char dir[300], grpo[400];
    snprintf(dir, sizeof dir, "%s/pipeline_requeue", tmp);
    snprintf(grpo, sizeof grpo, "%s/3-grpo", dir);
    assert_int_equal(run("mkdir -p %s", dir), 0);
    long id = submit("--ntasks=2 -o %s/slurm-%%j.out -e %s/slurm-%%j.err "
                     "deploy/slurm/grpo_pipeline.sbatch run.dir=%s "
                     "'pipeline.grpo=grpo.steps=%d grpo.eval_every=0' %s",
                     dir, dir, dir, GRPO_STEPS, PIPE_BASE);
    assert_true(id > 0);
    double t0 = now_s();
    while (run("ls %s/ckpt-*.ckpt > /dev/null 2>&1", grpo) != 0) {
        if (now_s() - t0 > JOB_DEADLINE_S) {
            show_job_output(dir);
            fail_msg("job %ld: no checkpoint in %s within %d s", id, grpo, JOB_DEADLINE_S);
        }
        usleep(100 * 1000);
    }
    long last = -1;
    count_steps(grpo, &last);
    printf("job %ld: first 3-grpo checkpoint %.1f s after submission (step %ld logged)\n", id,
           now_s() - t0, last);
    assert_int_equal(run("test -e %s/stage.json", grpo), 1); /* still running */
    assert_int_equal(run("scancel --batch --signal=USR1 %ld", id), 0);
    release_requeued(id, dir);
    assert_job_completed(id, dir);

    char out[400];
    snprintf(out, sizeof out, "%s/slurm-%ld.out", dir, id);
    if (run("grep -q 'stopped by SIGUSR1 (exit 75) before the end: scontrol requeue' %s", out) != 0)
        show_job_output(dir);
    assert_int_equal(run("grep -q 'stopped by SIGUSR1 (exit 75) before the end: scontrol requeue' %s",
                         out),
                     0);
    assert_int_equal(run("grep -q '3-grpo stopped with status 75' %s/slurm-%ld.err", dir, id), 0);
    assert_int_equal(run("grep -q 'SLURM_RESTART_COUNT=0' %s", out), 0);
    assert_int_equal(run("grep -q 'SLURM_RESTART_COUNT=1' %s", out), 0);
    /* the second incarnation: stages 0-2 skipped, 3-grpo continued */
    assert_int_equal(run("sed -n '/SLURM_RESTART_COUNT=1/,$p' %s | grep -c "
                         "'^pipeline: [0-2]-[a-z-]* done (.*s), skipped$' | grep -qx 3",
                         out),
                     0);
    assert_int_equal(run("sed -n '/SLURM_RESTART_COUNT=1/,$p' %s | "
                         "grep -q '^pipeline: 3-grpo (continuing an interrupted attempt)$'",
                         out),
                     0);
    assert_int_equal(run("grep -q 'resume: continuing from %s/ckpt-' %s/log.txt", grpo, grpo), 0);
    assert_int_equal(run("grep -q '\"attempts\": 2' %s/stage.json", grpo), 0);
    assert_int_equal(count_steps(grpo, &last), GRPO_STEPS);
    assert_int_equal(last, GRPO_STEPS);
    assert_pipeline_finished(dir);
    printf("test_pipeline_requeue_resumes: %.1f s\n", now_s() - t_start);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_node_batch_completes),
        cmocka_unit_test(test_multi_node_script_srun_pmix),
        cmocka_unit_test(test_sweep_array),
        cmocka_unit_test(test_requeue_resume_equivalence),
        cmocka_unit_test(test_elastic_resume_after_actor_kill),
        cmocka_unit_test(test_elastic_multi_node_srun),
        cmocka_unit_test(test_elastic_relaunch_limit),
        cmocka_unit_test(test_elastic_floor_of_two_ranks),
        cmocka_unit_test(test_term_full_checkpoints),
        cmocka_unit_test(test_multi_node_term_to_batch_shell),
        cmocka_unit_test(test_pipeline_batch_completes),
        cmocka_unit_test(test_pipeline_requeue_resumes),
    };
    /* GRPO_SLURM_TESTS=PATTERN (cmocka wildcards * and ?) runs only the
     * matching tests, e.g. GRPO_SLURM_TESTS='test_elastic*' */
    const char *only = getenv("GRPO_SLURM_TESTS");
    if (only && *only) cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, setup, teardown);
}
