/* The SLURM batch scripts' signal path, without SLURM: the real
 * deploy/slurm/grpo_single_node.sbatch runs under plain bash (SLURM reads
 * the #SBATCH lines; bash skips them) with a stand-in scontrol that reports
 * the job state and records requeues. The model has ~17M parameters, so a
 * training checkpoint is ~210 MB and the learner needs more than a second
 * from the signal to the renamed file (the step in progress, the snapshot,
 * copying and checksumming, the write and fsync): longer than Open MPI 4.1's
 * mpirun gives the ranks once it gets a SIGTERM itself (SIGCONT, 1 s,
 * SIGTERM, 1 s, SIGKILL; odls_base_sigkill_timeout), after which it exits 1.
 *   - SIGTERM to the batch shell alone (scancel --batch --signal=TERM): the
 *     learner checkpoints and exits 75, the script requeues the RUNNING job;
 *   - SIGTERM to every process of the job at once, which is what slurmd
 *     does at the time limit, on scancel and on preemption: checkpoint,
 *     exit 75, no requeue (job state TIMEOUT);
 *   - a resume whose learner dies in the middle of a checkpoint write
 *     leaves a temp file; the next resume deletes it and finishes from the
 *     signal's checkpoint.
 * The time from the signal to the checkpoint, its size and the exit status
 * are printed. KEEP_TEST_DIRS=1 keeps the folder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_shell.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"

static char tmp[256];
static char root[1024]; /* the repository: deploy/slurm lives there */
static const char *bin;

/* ~17.5M parameters (V small, D 512, 6 layers, SwiGLU 1376). */
static const char *MODEL =
    "model.dim=512 model.n_layers=6 model.n_heads=8 model.n_kv_heads=4 model.hidden_dim=1376 "
    "eval.prompts=4 eval.pass_k=1 run.seed=7";
/* checkpoint_every beyond steps: the only training checkpoint before the
 * end is the one the signal asks for. */
static const char *GRPO = "grpo.steps=6 grpo.prompts_per_step=2 grpo.group_size=2 "
                          "grpo.eval_every=0 grpo.checkpoint_every=100";
enum { SIGNAL_AFTER_STEPS = 2, DEADLINE_S = 120 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int setup(void **state) {
    (void)state;
    bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    const char *tests_dir = getenv("GRPO_TESTS_DIR");
    if (tests_dir) snprintf(root, sizeof root, "%s/..", tests_dir);
    else if (!getcwd(root, sizeof root)) return -1;
    snprintf(tmp, sizeof tmp, "/tmp/grpo_test_preempt_%d", (int)getpid());
    if (run("rm -rf %s && mkdir -p %s/bin", tmp, tmp) != 0) return -1;

    /* scontrol as the batch script uses it: `show job -o ID` and `requeue ID` */
    char path[400];
    snprintf(path, sizeof path, "%s/bin/scontrol", tmp);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "#!/bin/sh\n"
               "case \"$1\" in\n"
               "  show) echo \"JobId=$SLURM_JOB_ID JobState=${FAKE_JOB_STATE:-RUNNING}\" ;;\n"
               "  requeue) echo \"requeue $2\" >> \"$FAKE_SCONTROL_LOG\" ;;\n"
               "  *) exit 1 ;;\n"
               "esac\n");
    fclose(f);
    chmod(path, 0755);
    char p[4096];
    snprintf(p, sizeof p, "%s/bin:%s", tmp, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", p, 1);
    setenv("SLURM_JOB_ID", "4242", 1);
    setenv("SLURM_NTASKS", "3", 1);
    setenv("GRPO_ROOT", root, 1);
    setenv("GRPO_BIN", bin, 1);

    /* one SFT step: only the size matters */
    return run("%s sft run.dir=%s/a sft.steps=1 sft.batch_size=4 sft.eval_every=0 %s > %s/sft.log "
               "2>&1",
               bin, tmp, MODEL, tmp);
}

static int teardown(void **state) {
    (void)state;
    remove_test_dir(tmp);
    return 0;
}

/* Starts the batch script in the background (its own process group, as a
 * job has) with extra_env in its environment and extra_args after the
 * usual ones; its output goes to <dir>.out. Returns the batch shell's pid. */
static pid_t start_job(const char *dir, const char *state, const char *extra_env,
                       const char *extra_args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd %s && exec env FAKE_JOB_STATE=%s FAKE_SCONTROL_LOG=%s.scontrol %s "
             "bash deploy/slurm/grpo_single_node.sbatch run.dir=%s grpo.init=%s/a/sft.ckpt "
             "%s %s %s >> %s.out 2>&1",
             root, state, dir, extra_env, dir, tmp, GRPO, MODEL, extra_args, dir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The parent pid of pid from /proc (0 if gone). */
static pid_t parent_of(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *r = strrchr(buf, ')'); /* the command name may hold anything */
    int ppid = 0;
    if (!r || sscanf(r + 1, " %*c %d", &ppid) != 1) return 0;
    return (pid_t)ppid;
}

/* Fills out with top and all its descendants (at most cap); returns the count. */
static int process_tree(pid_t top, pid_t *out, int cap) {
    int n = 0;
    out[n++] = top;
    for (int grew = 1; grew;) {
        grew = 0;
        DIR *d = opendir("/proc");
        assert_non_null(d);
        for (struct dirent *e; (e = readdir(d));) {
            pid_t p = (pid_t)atoi(e->d_name);
            if (p <= 0) continue;
            int known = 0;
            for (int i = 0; i < n; i++) known |= out[i] == p;
            if (known) continue;
            pid_t pp = parent_of(p);
            for (int i = 0; i < n && !known; i++) known = out[i] == pp;
            if (known) {
                if (n == cap) fail_msg("more than %d processes under %d", cap, (int)top);
                out[n++] = p;
                grew = 1;
            }
        }
        closedir(d);
    }
    return n;
}

/* The number of training checkpoints ckpt-*.ckpt in dir; the oldest one's
 * path goes to out ("" if none). */
static int find_ckpts(const char *dir, char *out, size_t n) {
    char pat[400];
    snprintf(pat, sizeof pat, "%s/ckpt-*.ckpt", dir);
    glob_t g;
    out[0] = '\0';
    int k = 0;
    if (glob(pat, 0, NULL, &g) == 0) { /* sorted: zero-padded step numbers */
        k = (int)g.gl_pathc;
        snprintf(out, n, "%s", g.gl_pathv[0]);
    }
    globfree(&g);
    return k;
}

static int count_temps(const char *dir) {
    char pat[400];
    snprintf(pat, sizeof pat, "%s/*.tmp.*", dir);
    glob_t g;
    int n = glob(pat, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    globfree(&g);
    return n;
}

/* SIGKILLs pid and everything under it and reaps pid: a failed test leaves
 * no training running. */
static void kill_job(pid_t pid) {
    pid_t all[64];
    int n = process_tree(pid, all, 64);
    for (int i = 0; i < n; i++) kill(all[i], SIGKILL);
    int st;
    waitpid(pid, &st, 0);
}

/* Waits for the batch shell pid; returns its exit status (128 + signal if
 * killed). Until then, notes when dir's training checkpoint appears
 * (*t_ckpt, seconds after t0; -1 if it never does). */
static int wait_job(pid_t pid, const char *dir, double t0, double *t_ckpt) {
    char ck[600];
    *t_ckpt = -1;
    for (;;) {
        if (*t_ckpt < 0) {
            if (find_ckpts(dir, ck, sizeof ck) > 0) *t_ckpt = now_s() - t0;
        }
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            if (*t_ckpt < 0 && find_ckpts(dir, ck, sizeof ck) > 0) *t_ckpt = now_s() - t0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        if (now_s() - t0 > DEADLINE_S) {
            kill_job(pid);
            run("tail -n 30 %s.out", dir);
            fail_msg("the batch script did not finish within %d s", DEADLINE_S);
        }
        usleep(20 * 1000);
    }
}

/* Runs the batch script until SIGNAL_AFTER_STEPS steps are logged, sends
 * SIGTERM to the batch shell alone or to every process of the job, and
 * waits. Checks that a loadable training checkpoint exists, without temp
 * files, and returns the script's exit status. */
static int term_job(const char *dir, const char *state, int whole_job) {
    pid_t pid = start_job(dir, state, "", "");
    double t0 = now_s();
    while (steps_logged(dir) < SIGNAL_AFTER_STEPS) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            run("tail -n 30 %s.out", dir);
            fail_msg("the batch script ended before step %d", SIGNAL_AFTER_STEPS);
        }
        if (now_s() - t0 > DEADLINE_S) {
            kill_job(pid);
            fail_msg("no step %d after %d s", SIGNAL_AFTER_STEPS, DEADLINE_S);
        }
        usleep(20 * 1000);
    }
    pid_t all[64];
    int n = whole_job ? process_tree(pid, all, 64) : 1;
    all[0] = pid;
    t0 = now_s();
    for (int i = 0; i < n; i++) kill(all[i], SIGTERM);
    double t_ckpt;
    int rc = wait_job(pid, dir, t0, &t_ckpt);
    double t_exit = now_s() - t0;

    char ck[600];
    int n_ckpt = find_ckpts(dir, ck, sizeof ck);
    struct stat sb;
    long long size = ck[0] && stat(ck, &sb) == 0 ? (long long)sb.st_size : -1;
    printf("SIGTERM to %s (%d processes): %s (%lld bytes) written %.2f s after the signal; "
           "batch script exit %d after %.2f s\n",
           whole_job ? "every process of the job" : "the batch shell", n, ck[0] ? ck : "no checkpoint",
           size, t_ckpt, rc, t_exit);
    if (!ck[0] || count_temps(dir) != 0) run("tail -n 30 %s.out; ls -la %s", dir, dir);
    assert_int_equal(n_ckpt, 1);
    assert_int_equal(count_temps(dir), 0);
    Checkpoint c;
    char err[700];
    if (ckpt_read(&c, ck, err, sizeof err) != 0) fail_msg("%s", err);
    assert_non_null(ckpt_get(&c, "ADAM"));
    ckpt_free(&c);
    /* the learner's own word that the signal stopped it, not a kill */
    assert_int_equal(run("grep -q 'checkpointed step .*exiting with status 75' %s.out", dir), 0);
    return rc;
}

/* scancel --batch --signal=TERM: only the batch shell gets the signal; its
 * trap passes it on; the job is still RUNNING, so it is requeued. */
static void test_term_to_batch_shell(void **state) {
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/shell", tmp);
    int rc = term_job(dir, "RUNNING", 0);
    if (rc != 0) run("tail -n 30 %s.out", dir);
    assert_int_equal(rc, 0); /* requeued: the script's work is done */
    assert_int_equal(run("grep -q 'stopped by SIGTERM (exit 75) before the end: scontrol requeue "
                         "4242' %s.out",
                         dir),
                     0);
    assert_int_equal(run("grep -qx 'requeue 4242' %s.scontrol", dir), 0);
}

/* The time limit (or scancel, or preemption): SIGTERM to the batch shell,
 * mpirun and every rank at once. The job is TIMEOUT: no requeue, exit 75.
 * Then a resume dies mid-write (the crash hook, like the SIGKILL the old
 * scripts let mpirun send), and the next resume removes its temp file and
 * finishes from the signal's checkpoint. */
static void test_term_to_whole_job_then_resume(void **state) {
    (void)state;
    char dir[300], ck[600];
    snprintf(dir, sizeof dir, "%s/whole", tmp);
    int rc = term_job(dir, "TIMEOUT", 1);
    if (rc != 75) run("tail -n 30 %s.out", dir);
    assert_int_equal(rc, 75);
    assert_int_equal(run("grep -q 'job state TIMEOUT: not requeued' %s.out", dir), 0);
    assert_int_not_equal(run("test -e %s.scontrol", dir), 0);
    assert_int_equal(find_ckpts(dir, ck, sizeof ck), 1);

    /* a resume whose learner dies 20 MB into its next checkpoint, one step
     * on (checkpoint_every does not define the run) */
    double t_ckpt, t0 = now_s();
    pid_t pid = start_job(dir, "RUNNING", "GRPO_CKPT_CRASH_AFTER_BYTES=20000000",
                          "grpo.checkpoint_every=1");
    rc = wait_job(pid, dir, t0, &t_ckpt);
    assert_int_not_equal(rc, 0);
    assert_int_equal(count_temps(dir), 1);
    char still[600];
    assert_int_equal(find_ckpts(dir, still, sizeof still), 1); /* only the signal's */
    assert_string_equal(still, ck);

    /* the next incarnation cleans up, resumes and finishes */
    t0 = now_s();
    pid = start_job(dir, "RUNNING", "", "");
    rc = wait_job(pid, dir, t0, &t_ckpt);
    if (rc != 0 || count_temps(dir) != 0) run("tail -n 30 %s.out; ls -la %s", dir, dir);
    assert_int_equal(rc, 0);
    assert_int_equal(count_temps(dir), 0);
    assert_int_equal(run("grep -q '^removed %s/ckpt-.*\\.ckpt\\.tmp\\.[0-9]* (20000000 bytes)' "
                         "%s.out",
                         dir, dir),
                     0);
    assert_int_equal(run("grep -q 'resume: continuing from %s' %s.out", ck, dir), 0);
    assert_int_equal(run("test -s %s/final.ckpt && test -s %s/summary.json", dir, dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_term_to_batch_shell),
        cmocka_unit_test(test_term_to_whole_job_then_resume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
