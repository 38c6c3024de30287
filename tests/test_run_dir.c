/* test_run_dir.c: what the trainer does to its run directory, in one
 * process with a tiny model: checkpoint pruning never deletes the
 * checkpoint just written, resume sets unloadable checkpoints aside and
 * refuses to start over from step 0 unless asked, the STEP flags say when
 * a resume is not bit-exact, the run.dir lock refuses a second writer and
 * names the holder (a dead holder never blocks), metrics lines survive a
 * full disk whole (RLIMIT_FSIZE in a child), and the async checksum ring
 * holds every version a report can still name. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_shell.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checksum_ring.h"
#include "config.h"
#include "run_settings.h"
#include "sections.h"
#include "metrics.h"
#include "run_files.h"
#include "run_lock.h"
#include "run_state.h"
#include "blas_setup.h"
#include "util.h"

static char root[256]; /* per-run scratch directory, removed at the end */

static const ModelConfig SMALL = {.vocab_size = 98, .dim = 16, .n_layers = 2, .n_heads = 4,
                                  .n_kv_heads = 2, .hidden_dim = 24, .max_seq_len = 16,
                                  .tied_embeddings = 1, .rope_theta = 10000.0f, .norm_eps = 1e-5f};

/* A learner's state to checkpoint: model, optimizer, run state, config. */
typedef struct {
    Model m;
    Tokenizer *tok;
    AdamW opt;
    RunState rs;
    Config *cfg;
} Fixture;

static void fixture_init(Fixture *f, const char *dir) {
    memset(f, 0, sizeof *f);
    model_init(&f->m, &SMALL);
    model_init_weights(&f->m, 5);
    f->tok = xmalloc(sizeof *f->tok);
    tokenizer_init_char(f->tok);
    adamw_init(&f->opt, f->m.n_params);
    f->opt.t = 3;
    for (size_t i = 0; i < f->m.n_params; i++) f->opt.m[i] = (float)i * 1e-3f;
    f->rs.n_ranks = 3;
    f->cfg = grpo_config_new();
    char set[400], err[300];
    snprintf(set, sizeof set, "run.dir=%s", dir);
    assert_int_equal(config_set(f->cfg, set, err, sizeof err), 0);
}

static void fixture_free(Fixture *f) {
    config_free(f->cfg);
    model_free(&f->m);
    xfree(f->tok);
    adamw_free(&f->opt);
    run_state_free(&f->rs);
}

/* Saves the training checkpoint of step (keep kept). */
static void save(Fixture *f, long step, int keep) {
    char err[900];
    f->rs.step = step;
    f->rs.version = (uint64_t)step;
    if (run_checkpoint_save(run_settings(f->cfg)->dir, keep, &f->m, f->tok, &f->opt, &f->rs, f->cfg, err,
                            sizeof err) != 0)
        fail_msg("%s", err);
}

static const char *ckpt(const char *dir, long step) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    run_checkpoint_path(dir, step, p, 512);
    return p;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Flips 8 bytes in the middle of a file (the checksum then fails). */
static void corrupt(const char *path) {
    FILE *f = fopen(path, "r+b");
    if (!f) fail_msg("cannot open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long mid = ftell(f) / 2;
    fseek(f, mid, SEEK_SET);
    unsigned char b[8];
    assert_int_equal(fread(b, 1, 8, f), 8);
    for (int i = 0; i < 8; i++) b[i] ^= 0xFF;
    fseek(f, mid, SEEK_SET);
    assert_int_equal(fwrite(b, 1, 8, f), 8);
    fclose(f);
}

static void make_dir(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", root, name);
    assert_int_equal(mkdir(out, 0755), 0);
}

/* A fresh model to resume into (the starting checkpoint's shape). */
static void resume_target(Model *m, AdamW *opt) {
    model_init(m, &SMALL);
    adamw_init(opt, m->n_params);
}

static void test_pruning_keeps_the_checkpoint_just_written(void **state) {
    (void)state;
    char dir[300];
    make_dir(dir, sizeof dir, "prune");
    Fixture f;
    fixture_init(&f, dir);
    /* an earlier run's newest checkpoints, all damaged */
    save(&f, 26, 3);
    save(&f, 28, 3);
    save(&f, 30, 3);
    for (long st = 26; st <= 30; st += 2) corrupt(ckpt(dir, st));
    /* a new checkpoint below them must survive its own pruning */
    save(&f, 2, 3);
    assert_true(exists(ckpt(dir, 2)));
    save(&f, 4, 3);
    save(&f, 6, 3);
    save(&f, 8, 3);
    /* pruning still works among this run's own: the newest 3 remain */
    assert_false(exists(ckpt(dir, 2)));
    assert_true(exists(ckpt(dir, 4)) && exists(ckpt(dir, 6)) && exists(ckpt(dir, 8)));
    fixture_free(&f);
}

static void test_resume_refuses_to_restart_over_unloadable_checkpoints(void **state) {
    (void)state;
    char dir[300], path[600], err[1600];
    make_dir(dir, sizeof dir, "refuse");
    Fixture f;
    fixture_init(&f, dir);
    save(&f, 26, 3);
    save(&f, 28, 3);
    save(&f, 30, 3);
    for (long st = 26; st <= 30; st += 2) corrupt(ckpt(dir, st));
    Model m;
    AdamW opt;
    RunState s = {0};
    Config *saved = grpo_config_new();
    resume_target(&m, &opt);
    err[0] = 0;
    assert_int_equal(run_checkpoint_resume(dir, 0, &m, &opt, &s, saved, path, sizeof path, err,
                                           sizeof err),
                     RESUME_REFUSED);
    printf("refusal: %s\n", err);
    assert_non_null(strstr(err, "none loads"));
    assert_non_null(strstr(err, "[grpo] restart"));
    assert_non_null(strstr(err, ckpt(dir, 30)));
    /* nothing touched: the files are still there for a look */
    for (long st = 26; st <= 30; st += 2) assert_true(exists(ckpt(dir, st)));
    /* asked to: they go aside and the run starts over */
    assert_int_equal(run_checkpoint_resume(dir, 1, &m, &opt, &s, saved, path, sizeof path, err,
                                           sizeof err),
                     RESUME_RESTART);
    for (long st = 26; st <= 30; st += 2) {
        char aside[600];
        snprintf(aside, sizeof aside, "%s.corrupt", ckpt(dir, st));
        assert_false(exists(ckpt(dir, st)));
        assert_true(exists(aside));
    }
    /* with only set-aside files left, the directory counts as fresh */
    assert_int_equal(run_checkpoint_resume(dir, 0, &m, &opt, &s, saved, path, sizeof path, err,
                                           sizeof err),
                     RESUME_NONE);
    /* a second bad file of the same name never replaces the first one aside */
    save(&f, 30, 3);
    corrupt(ckpt(dir, 30));
    assert_int_equal(run_checkpoint_resume(dir, 1, &m, &opt, &s, saved, path, sizeof path, err,
                                           sizeof err),
                     RESUME_RESTART);
    char again[600];
    snprintf(again, sizeof again, "%s.corrupt.1", ckpt(dir, 30));
    assert_true(exists(again));
    run_state_free(&s);
    model_free(&m);
    adamw_free(&opt);
    fixture_free(&f);
}

static void test_resume_loads_newest_good_and_sets_bad_ones_aside(void **state) {
    (void)state;
    char dir[300], path[600], err[1600], aside[600];
    make_dir(dir, sizeof dir, "aside");
    Fixture f;
    fixture_init(&f, dir);
    save(&f, 2, 3);
    save(&f, 4, 3);
    save(&f, 6, 3);
    corrupt(ckpt(dir, 6));
    corrupt(ckpt(dir, 2));
    Model m;
    AdamW opt;
    RunState s = {0};
    Config *saved = grpo_config_new();
    resume_target(&m, &opt);
    assert_int_equal(run_checkpoint_resume(dir, 0, &m, &opt, &s, saved, path, sizeof path, err,
                                           sizeof err),
                     RESUME_LOADED);
    assert_string_equal(path, ckpt(dir, 4));
    assert_int_equal(s.step, 4);
    assert_int_equal(s.n_ranks, 3);
    assert_memory_equal(m.params, f.m.params, 4 * m.n_params);
    assert_memory_equal(opt.m, f.opt.m, 4 * m.n_params);
    /* the newer and the older bad one are both out of the way */
    assert_false(exists(ckpt(dir, 6)));
    assert_false(exists(ckpt(dir, 2)));
    snprintf(aside, sizeof aside, "%s.corrupt", ckpt(dir, 6));
    assert_true(exists(aside));
    snprintf(aside, sizeof aside, "%s.corrupt", ckpt(dir, 2));
    assert_true(exists(aside));
    run_state_free(&s);
    model_free(&m);
    adamw_free(&opt);
    fixture_free(&f);
}

/* Resumes the newest checkpoint of dir into a fresh target; returns its
 * flags and whether the resume is said to be exact. */
static uint32_t resumed_flags(const char *dir, const char **reason) {
    char path[600], err[1600];
    Model m;
    AdamW opt;
    RunState s = {0};
    Config *saved = grpo_config_new();
    resume_target(&m, &opt);
    assert_int_equal(run_checkpoint_resume(dir, 0, &m, &opt, &s, saved, path, sizeof path, err,
                                           sizeof err),
                     RESUME_LOADED);
    uint32_t flags = s.flags;
    *reason = run_state_inexact_reason(&s);
    run_state_free(&s);
    model_free(&m);
    adamw_free(&opt);
    return flags;
}

static void test_step_flags_say_when_a_resume_is_not_exact(void **state) {
    (void)state;
    char dir[300];
    make_dir(dir, sizeof dir, "flags");
    Fixture f;
    fixture_init(&f, dir);
    const char *reason = NULL;
    save(&f, 2, 3); /* synchronous: keyed streams, exact */
    assert_int_equal(resumed_flags(dir, &reason), RUN_STATE_KEYED);
    assert_null(reason);
    f.rs.flags = RUN_STATE_ASYNC;
    save(&f, 4, 3);
    assert_int_equal(resumed_flags(dir, &reason), RUN_STATE_ASYNC | RUN_STATE_KEYED);
    assert_non_null(reason);
    assert_non_null(strstr(reason, "asynchronous"));
    fixture_free(&f);
}

/* Child: takes dir's lock, tells the parent (one byte on w), then waits. */
static pid_t spawn_lock_holder(const char *dir) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        RunLock l;
        char err[600];
        char ok = run_lock_acquire(&l, dir, err, sizeof err) == RUN_LOCK_OK ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1) _exit(1);
        for (;;) pause();
    }
    close(p[1]);
    char ok = 0;
    assert_int_equal(read(p[0], &ok, 1), 1);
    close(p[0]);
    assert_int_equal(ok, 'y');
    return pid;
}

static void test_lock_refuses_a_second_writer_and_names_it(void **state) {
    (void)state;
    char dir[300], err[1000], want[2000], host[256];
    make_dir(dir, sizeof dir, "lock");
    pid_t holder = spawn_lock_holder(dir);
    RunLock l;
    assert_int_equal(run_lock_acquire(&l, dir, err, sizeof err), RUN_LOCK_BUSY);
    printf("refusal: %s\n", err);
    assert_int_equal(gethostname(host, sizeof host), 0);
    snprintf(want, sizeof want, "run.dir %s is in use by pid %d on host %s (lock file %s/.lock)",
             dir, (int)holder, host, dir);
    assert_non_null(strstr(err, want));
    /* a holder killed like kill -9 leaves its lock file, which must not block */
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    assert_true(exists(strcat(strcpy(want, dir), "/.lock")));
    assert_int_equal(run_lock_acquire(&l, dir, err, sizeof err), RUN_LOCK_OK);
    run_lock_release(&l);
    /* a directory that does not exist cannot be locked, and says so */
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no/such/dir", root);
    assert_int_equal(run_lock_acquire(&l, missing, err, sizeof err), RUN_LOCK_ERROR);
    assert_non_null(strstr(err, "cannot create the lock file"));
}

/* `grpo sft` into a run.dir held by another process stops with status 2. */
static void test_sft_refuses_a_locked_run_dir(void **state) {
    (void)state;
    const char *bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    char dir[300], err[1000];
    make_dir(dir, sizeof dir, "sftlock");
    RunLock l;
    assert_int_equal(run_lock_acquire(&l, dir, err, sizeof err), RUN_LOCK_OK);
    int rc = run("%s sft run.dir=%s sft.steps=1 sft.batch_size=2 model.dim=16 model.n_heads=2 "
                 "model.n_kv_heads=2 model.hidden_dim=16 eval.prompts=2 > %s/sft.log 2>&1",
                 bin, dir, dir);
    assert_int_equal(rc, 2);
    assert_int_equal(run("grep -q 'run.dir %s is in use by pid %d on host' %s/sft.log", dir,
                         (int)getpid(), dir),
                     0);
    assert_false(exists(strcat(strcpy(err, dir), "/sft.ckpt")));
    run_lock_release(&l);
}

/* Every line of path parsed as JSON; returns the count, fails on a bad one. */
static int count_json_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char line[16384];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n') fail_msg("%s: line %d is incomplete", path, n + 1);
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("%s: line %d is not JSON: %s", path, n + 1, je.text);
        json_decref(o);
        n++;
    }
    fclose(f);
    return n;
}

enum { FSIZE_LIMIT = 3000 };

/* Child of the full-disk test: logs steps under a file-size limit until a
 * write fails, then reports "<steps logged>\n<error>" on fd and exits. */
static void full_disk_child(const char *dir, int fd) {
    struct rlimit rl = {FSIZE_LIMIT, FSIZE_LIMIT};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
    Config *cfg = grpo_config_new();
    const TaskSettings *ts = task_settings(cfg);
    char err[1000] = "";
    Task *task = task_create(ts->name, &ts->p, run_settings(cfg)->seed, err, sizeof err);
    if (!task) _exit(4);
    MetricsLog ml;
    EvalResult ev;
    memset(&ev, 0, sizeof ev);
    ev.greedy_acc = 0.5;
    ev.n_prompts = 8;
    if (metrics_open(&ml, dir, task, NULL, 0, err, sizeof err) != 0 ||
        metrics_start(&ml, &ev, err, sizeof err) != 0)
        _exit(5);
    int logged = 0;
    for (long step = 1; step <= 1000; step++) {
        StepLog s;
        memset(&s, 0, sizeof s);
        s.step = step;
        s.total_steps = 1000;
        s.version = (unsigned long long)step;
        s.elapsed = (double)step;
        s.m.n_components = task->n_components;
        s.m.reward_mean = 0.25;
        if (metrics_step(&ml, &s, err, sizeof err) != 0) break;
        logged++;
    }
    metrics_close(&ml, NULL, 0);
    /* a whole file that does not fit fails too, leaving nothing behind */
    char big[2 * FSIZE_LIMIT], path[600], err2[1000] = "";
    memset(big, 'x', sizeof big);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    int whole = run_file_write(path, big, sizeof big, err2, sizeof err2);
    dprintf(fd, "%d\n%d\n%s\n%s\n", logged, whole, err, err2);
    task->destroy(task);
    _exit(0);
}

static void test_metrics_survive_a_full_disk_in_whole_lines(void **state) {
    (void)state;
    char dir[300], path[600], out[4096] = "";
    make_dir(dir, sizeof dir, "full");
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        full_disk_child(dir, p[1]);
    }
    close(p[1]);
    size_t got = 0;
    ssize_t r;
    while ((r = read(p[0], out + got, sizeof out - 1 - got)) > 0) got += (size_t)r;
    out[got] = 0;
    close(p[0]);
    int wst = 0;
    waitpid(pid, &wst, 0);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
    printf("child reported:\n%s", out);
    int logged = -1, whole = 0;
    assert_int_equal(sscanf(out, "%d\n%d\n", &logged, &whole), 2);
    assert_true(logged >= 1 && logged < 1000); /* some fit, then the limit */
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char want[700];
    snprintf(want, sizeof want, "cannot append to %s: %s", path, strerror(EFBIG));
    assert_non_null(strstr(out, want));
    /* only whole lines: the starting line and every step that succeeded */
    assert_int_equal(count_json_lines(path), 1 + logged);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size <= FSIZE_LIMIT);
    /* the whole-file write failed cleanly: no target, no temp file */
    assert_int_equal(whole, -1);
    snprintf(want, sizeof want, "cannot write %s/summary.json: write of", dir);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, strerror(EFBIG)));
    snprintf(path, sizeof path, "%s/summary.json", dir);
    assert_false(exists(path));
    assert_int_equal(run("ls %s/*.tmp.* > /dev/null 2>&1", dir), 2);
}

static void test_linefile_cuts_an_incomplete_last_line_on_append(void **state) {
    (void)state;
    char dir[300], path[600], err[1000];
    make_dir(dir, sizeof dir, "partial");
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"step\":1}\n{\"step\":2,\"rew", f); /* a line cut by a crash */
    fclose(f);
    LineFile lf;
    assert_int_equal(linefile_open(&lf, path, 1, err, sizeof err), 0);
    const char line[] = "{\"step\":2}\n";
    assert_int_equal(linefile_append(&lf, line, sizeof line - 1, err, sizeof err), 0);
    assert_int_equal(linefile_close(&lf, err, sizeof err), 0);
    assert_int_equal(count_json_lines(path), 2);
    /* and a file that cannot be opened is named */
    snprintf(path, sizeof path, "%s/no/such/metrics.jsonl", root);
    assert_int_equal(linefile_open(&lf, path, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
}

/* Every version a report can still name (checksum_ring.h: the newest
 * max_staleness + 2, and more) is checkable, whatever checksum_every. */
static void test_checksum_ring_holds_the_staleness_window(void **state) {
    (void)state;
    const int stal[] = {0, 1, 100, 1000}, every[] = {1, 10, 7};
    for (size_t a = 0; a < sizeof stal / sizeof stal[0]; a++)
        for (size_t b = 0; b < sizeof every / sizeof every[0]; b++) {
            ChecksumRing r;
            checksum_ring_init(&r, stal[a], every[b]);
            const uint64_t newest = 5000;
            for (uint64_t v = 0; v <= newest; v++) checksum_ring_put(&r, v, v * 31 + 7);
            uint64_t want = 0;
            for (uint64_t v = newest - (uint64_t)stal[a] - 2; v <= newest; v++) {
                if (v % (uint64_t)every[b]) continue;
                if (checksum_ring_check(&r, v, v * 31 + 7, &want) != RING_MATCH)
                    fail_msg("max_staleness %d, checksum_every %d: version %llu (newest %llu) "
                             "cannot be checked with %d slots",
                             stal[a], every[b], (unsigned long long)v,
                             (unsigned long long)newest, r.n);
                assert_int_equal(checksum_ring_check(&r, v, v * 31 + 8, &want), RING_MISMATCH);
                assert_int_equal(want, v * 31 + 7);
            }
            /* never published, or long gone: unknown, not a mismatch */
            uint64_t later = (newest / (uint64_t)every[b] + 1) * (uint64_t)every[b];
            assert_int_equal(checksum_ring_check(&r, later, 1, &want), RING_UNKNOWN);
            assert_int_equal(checksum_ring_check(&r, 0, 7, &want), RING_UNKNOWN);
            checksum_ring_free(&r);
        }
}

static int setup(void **state) {
    (void)state;
    blas_set_threads(1);
    snprintf(root, sizeof root, "/tmp/grpo_test_run_dir_%d", (int)getpid());
    return mkdir(root, 0755);
}

static int teardown(void **state) {
    (void)state;
    if (!getenv("KEEP_TEST_DIRS")) run("rm -rf %s", root);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pruning_keeps_the_checkpoint_just_written),
        cmocka_unit_test(test_resume_refuses_to_restart_over_unloadable_checkpoints),
        cmocka_unit_test(test_resume_loads_newest_good_and_sets_bad_ones_aside),
        cmocka_unit_test(test_step_flags_say_when_a_resume_is_not_exact),
        cmocka_unit_test(test_lock_refuses_a_second_writer_and_names_it),
        cmocka_unit_test(test_sft_refuses_a_locked_run_dir),
        cmocka_unit_test(test_metrics_survive_a_full_disk_in_whole_lines),
        cmocka_unit_test(test_linefile_cuts_an_incomplete_last_line_on_append),
        cmocka_unit_test(test_checksum_ring_holds_the_staleness_window),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
