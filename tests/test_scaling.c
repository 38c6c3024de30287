/* Tests of the scaling study (deploy/scaling.sh):
 *   - end to end at a tiny size: a quick SFT of a tiny model, then 1 and 2
 *     actors in sync and async mode with one learner, 2 learners (sync) and
 *     2 colocated ranks, 4 GRPO steps each (the K = 2 and colocated points
 *     are skipped, and must say so, with a binary that lacks grpo.learners /
 *     grpo.layout). Checks the CSV (header, one row per run with the expected
 *     learners, actors, layout and mode, numeric fields where a number is
 *     due, CPU seconds per rank) and that the figure and the model were
 *     written;
 *   - the knee model with K learners (deploy/scaling_model.sh) on a
 *     synthetic CSV against hand-computed predictions, this machine's and a
 *     stated cluster's;
 *   - the per-rank accounting of deploy/scaling_summary.awk on a synthetic
 *     2-learner run (busy seconds per rank from summary.json's phases, CPU
 *     seconds from the .cpu file);
 *   - deploy/slurm/scaling_submit.sh -d (dry run, no SLURM): one job per
 *     grid point with its ranks as tasks, the skipped points, the report. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_shell.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[256];
static const char *bin, *tests_dir;

static const char *TINY =
    "model.dim=32 model.n_layers=2 model.n_heads=4 model.n_kv_heads=2 model.hidden_dim=64 "
    "task.max_digits=2 sft.batch_size=16 grpo.prompts_per_step=4 grpo.group_size=4 "
    "grpo.eval_every=2 eval.prompts=16 eval.pass_k=2 grpo.deadline_s=60 run.seed=7";

static const char *COLUMNS =
    "actors,mode,completions_per_s,gen_tok_per_s,learner_tok_per_s,learner_busy_frac,"
    "actor_idle_frac,staleness_mean,time_to_target_s,wire_bytes,wire_bytes_per_gen_tok,final_acc,"
    "steps,groups_per_step,group_size,train_s,gen_groups_per_actor_s,t_learn_step_s,"
    "t_bcast_step_s,learners,layout,ranks,params,wall_s,cpu_s_total,cpu_s_ranks,cpu_s_learner,"
    "cpu_s_actor,busy_s_learner,busy_s_actor,busy_s_ranks,cpu_util,completions_per_cpu_s,steal_s,"
    "other_cpu_s,t_allreduce_step_s";
enum { NCOL = 36 };


static int setup(void **state) {
    (void)state;
    bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    tests_dir = getenv("GRPO_TESTS_DIR");
    if (!tests_dir) tests_dir = "tests";
    /* absolute: a test cds into its temp dir */
    static char abs_dir[4096];
    if (realpath(tests_dir, abs_dir)) tests_dir = abs_dir;
    snprintf(tmp, sizeof tmp, "/tmp/grpo_test_scaling_%d", (int)getpid());
    return run("mkdir -p %s", tmp);
}

static int teardown(void **state) {
    (void)state;
    remove_test_dir(tmp);
    return 0;
}

/* 1 if s is a number (strtod consumes all of it), 0 otherwise. */
static int is_number(const char *s) {
    if (!*s) return 0;
    char *end;
    strtod(s, &end);
    return *end == '\0';
}

/* Splits line (modified) at commas into f[0..n); returns n. */
static int split_csv(char *line, char **f, int max) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < max;) {
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

/* Reads path into buf (NUL-terminated); returns its length, -1 if absent. */
static long slurp(const char *path, char *buf, long max) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long n = (long)fread(buf, 1, (size_t)max - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

static void test_scaling_script_end_to_end(void **state) {
    (void)state;
    char path[512], line[4096];
    static char skipped[8192];
    int rc = run("GRPO_BIN=%s bash %s/../deploy/scaling.sh -a '1 2' -m 'sync async' -L '1 2' -P 2 "
                 "-s 4 -n 60 -t 0.5 -o %s/out -x '%s' > %s/scaling.log 2>&1",
                 bin, tests_dir, tmp, TINY, tmp);
    if (rc != 0) {
        run("tail -n 30 %s/scaling.log", tmp);
        fail_msg("deploy/scaling.sh exited %d (log %s/scaling.log)", rc, tmp);
    }
    snprintf(path, sizeof path, "%s/out/skipped.txt", tmp);
    assert_true(slurp(path, skipped, sizeof skipped) > 0);
    /* async with 2 learners or colocated is skipped in any case, the sync
     * points only by a binary without the keys */
    const int has_learners = !strstr(skipped, "k2-a1-sync: ");
    const int has_layout = !strstr(skipped, "c2-sync: ");
    assert_non_null(strstr(skipped, "k2-a1-async: "));
    assert_non_null(strstr(skipped, "c2-async: "));
    if (!has_learners) assert_non_null(strstr(skipped, "has no grpo.learners key"));
    if (!has_layout) assert_non_null(strstr(skipped, "has no grpo.layout key"));

    snprintf(path, sizeof path, "%s/out/scaling.csv", tmp);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    line[strcspn(line, "\r\n")] = '\0';
    assert_string_equal(line, COLUMNS);

    /* the CSV's order: separate (K = 1, then K = 2), then colocated; by actors, sync first */
    int want_k[7], want_actors[7], nwant = 0;
    const char *want_mode[7], *want_layout[7];
    const int k1_actors[4] = {1, 1, 2, 2};
    const char *k1_mode[4] = {"sync", "async", "sync", "async"};
    for (int i = 0; i < 4; i++, nwant++) {
        want_k[nwant] = 1; want_actors[nwant] = k1_actors[i];
        want_mode[nwant] = k1_mode[i]; want_layout[nwant] = "separate";
    }
    for (int i = 1; has_learners && i <= 2; i++, nwant++) {
        want_k[nwant] = 2; want_actors[nwant] = i; want_mode[nwant] = "sync"; want_layout[nwant] = "separate";
    }
    if (has_layout) {
        want_k[nwant] = 2; want_actors[nwant] = 2; want_mode[nwant] = "sync"; want_layout[nwant] = "colocated";
        nwant++;
    }
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        char *fld[40];
        int n = split_csv(line, fld, 40);
        assert_true(rows < nwant);
        assert_int_equal(n, NCOL);
        assert_int_equal(atoi(fld[0]), want_actors[rows]);
        assert_string_equal(fld[1], want_mode[rows]);
        assert_int_equal(atoi(fld[19]), want_k[rows]);
        assert_string_equal(fld[20], want_layout[rows]);
        for (int i = 2; i < n; i++) {
            if (i == 8 && fld[i][0] == '\0') continue; /* target never reached: empty */
            if (i == 20) continue;                     /* layout */
            if (i == 35 && fld[i][0] == '\0') continue; /* no t_allreduce in the metrics */
            if (!is_number(fld[i])) fail_msg("row %d column %d is not a number: '%s'", rows + 1, i + 1, fld[i]);
        }
        assert_true(strtod(fld[2], NULL) > 0);                  /* completions/s */
        assert_true(strtod(fld[3], NULL) > 0);                  /* generated tokens/s */
        assert_true(strtod(fld[9], NULL) > 0);                  /* bytes on the wire */
        double busy = strtod(fld[5], NULL), idle = strtod(fld[6], NULL);
        assert_true(busy > 0 && busy <= 1);
        assert_true(idle >= 0 && idle <= 1);
        assert_int_equal(atoi(fld[12]), 4);                     /* steps */
        double stale = strtod(fld[7], NULL);
        if (!strcmp(want_mode[rows], "sync")) assert_true(stale == 0);
        else assert_true(stale >= 0 && stale <= 1);             /* max_staleness = 1 */
        int ranks = atoi(fld[21]);
        assert_int_equal(ranks, !strcmp(want_layout[rows], "colocated") ? want_actors[rows]
                                                                       : want_k[rows] + want_actors[rows]);
        assert_true(atoi(fld[22]) > 0);                         /* parameters */
        /* CPU seconds: the whole launch covers every rank's, each rank used some */
        double wall = strtod(fld[23], NULL), cpu = strtod(fld[24], NULL), cpu_ranks = strtod(fld[25], NULL);
        assert_true(wall > 0 && cpu > 0 && cpu_ranks > 0);
        assert_true(cpu >= 0.9 * cpu_ranks);
        assert_true(strtod(fld[26], NULL) > 0 && strtod(fld[27], NULL) > 0);
        assert_true(strtod(fld[28], NULL) > 0 && strtod(fld[29], NULL) > 0); /* busy s */
        assert_true(strtod(fld[31], NULL) > 0 && strtod(fld[32], NULL) > 0); /* util, compl/CPU-s */
        assert_true(strtod(fld[33], NULL) >= 0);                /* steal (Linux /proc/stat) */
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, nwant);

    assert_int_equal(run("test -s %s/out/scaling.png", tmp), 0);
    assert_int_equal(run("head -c 8 %s/out/scaling.png | grep -q PNG", tmp), 0);
    assert_int_equal(run("grep -q '^knee n\\* = ' %s/out/model.txt", tmp), 0);
    assert_int_equal(run("test -s %s/out/model.dat", tmp), 0);
    assert_int_equal(run("test -s %s/out/model_points.csv && test -s %s/out/model_cluster.csv", tmp, tmp), 0);
    /* -R rebuilds the same CSV from the rows without running anything */
    assert_int_equal(run("cp %s/out/scaling.csv %s/first.csv && bash %s/../deploy/scaling.sh -R -o %s/out "
                         "> %s/report.log 2>&1 && cmp -s %s/first.csv %s/out/scaling.csv",
                         tmp, tmp, tests_dir, tmp, tmp, tmp, tmp), 0);
}

/* Finds the line of a model CSV whose first fields are key (e.g.
 * "2,separate,2,sync,") and splits it into f; returns the field count. */
static int find_line(const char *path, const char *key, char *line, size_t size, char **f) {
    FILE *fp = fopen(path, "r");
    if (!fp) fail_msg("no %s", path);
    int n = 0;
    while (fgets(line, (int)size, fp))
        if (!strncmp(line, key, strlen(key))) { n = split_csv(line, f, 16); break; }
    fclose(fp);
    if (n == 0) fail_msg("%s has no line starting '%s'", path, key);
    return n;
}

static void assert_near(const char *s, double want) {
    double got = strtod(s, NULL);
    if (fabs(got - want) > 1e-4 * fabs(want) + 1e-9) fail_msg("got %s, want %.6g", s, want);
}

/* The knee model with K learners on a synthetic CSV: B = 16 groups of G = 8,
 * g = 10 groups/s, tau_c = 0.8 s, t_bcast = 0, 250000 parameters (1e6
 * gradient bytes), 2 cores; the allreduce at 1e9 bytes/s (8 Gbit/s) and no
 * latency, so t_ar(2) = 2 (1/2) 1e6 / 1e9 = 1 ms and t_ar(4) = 1.5 ms. */
static void test_scaling_model_learners(void **state) {
    (void)state;
    char path[512], line[1024], *f[16];
    snprintf(path, sizeof path, "%s/syn.csv", tmp);
    FILE *c = fopen(path, "w");
    assert_non_null(c);
    fprintf(c, "%s\n", COLUMNS);
    /* actors, mode, completions/s, learners, layout, g, t_learn: the rest fixed */
    const struct { int n; const char *mode; int k; const char *layout; double g, tl; } r[] = {
        {1, "sync", 1, "separate", 10, 0.8},  /* the model's inputs */
        {4, "async", 1, "separate", 5, 0.3},  /* its own g and t_learn are not inputs */
        {2, "sync", 2, "separate", 10, 0.41},
        {2, "sync", 2, "colocated", 10, 0.8},
        {4, "sync", 4, "colocated", 10, 0.8},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        fprintf(c, "%d,%s,1,,,,,,,,,,20,16,8,,%g,%g,0,%d,%s,,250000,,,,,,,,,,\n", r[i].n, r[i].mode,
                r[i].g, r[i].tl, r[i].k, r[i].layout);
    fclose(c);
    int rc = run("LOCAL_GBPS=8 LOCAL_LAT_US=0 NET_GBPS=8 NET_LAT_US=0 NODES=1 NODE_CORES=4 CLUSTER_B=32 "
                 "bash %s/../deploy/scaling_model.sh %s %s/model 2 > %s/model.log 2>&1",
                 tests_dir, path, tmp, tmp);
    if (rc != 0) {
        run("cat %s/model.log", tmp);
        fail_msg("scaling_model.sh exited %d", rc);
    }
    snprintf(path, sizeof path, "%s/model/model_points.csv", tmp);
    /* K=1, 1 actor, sync: 16 / (16/10 + 0.8) = 6.6667 groups/s */
    find_line(path, "1,separate,1,sync,", line, sizeof line, f);
    assert_near(f[5], 8 * 16 / 2.4);
    assert_near(f[7], 16 / (10 * 0.8));                     /* n*(1) = 2 */
    /* K=1, 4 actors, async, 2 cores: min(2 x 10, 16/0.8, 2 / (1/10 + 0.8/16)) = 13.333;
     * uncapped min(4 x 10, 16/0.8) = 20 */
    find_line(path, "1,separate,4,async,", line, sizeof line, f);
    assert_near(f[5], 8 * 2 / 0.15);
    assert_near(f[6], 8 * 20.0);
    /* K=2, 2 actors, sync: tau(2) = 0.8/2 + 0.001 = 0.401, X = 16 / (16/20 + 0.401) */
    find_line(path, "2,separate,2,sync,", line, sizeof line, f);
    assert_near(f[5], 8 * 16 / 1.201);
    assert_near(f[7], 16 / (10 * 0.401));                   /* n*(2) = 3.99 */
    assert_near(f[8], 0.41);                                /* tau measured */
    assert_near(f[9], 0.401);
    /* colocated, 2 ranks: 16 / (16/20 + 0.8/2 + 0.001) */
    find_line(path, "2,colocated,2,sync,", line, sizeof line, f);
    assert_near(f[5], 8 * 16 / 1.201);
    /* colocated, 4 ranks on 2 cores: 16 / (16/20 + 0.8/2 + 0.0015); uncapped
     * 16 / (16/40 + 0.8/4 + 0.0015) */
    find_line(path, "4,colocated,4,sync,", line, sizeof line, f);
    assert_near(f[5], 8 * 16 / 1.2015);
    assert_near(f[6], 8 * 16 / 0.6015);

    /* the cluster (1 node x 4 cores here): broadcast 2 x 1e6 / 1e9 = 2 ms;
     * tau(K) = tau_c/K + t_ar(K) + 0.002 */
    snprintf(path, sizeof path, "%s/model/model_cluster.csv", tmp);
    find_line(path, "16,1,", line, sizeof line, f);
    assert_near(f[4], 16 / (10 * 0.802));
    find_line(path, "16,2,", line, sizeof line, f);
    assert_near(f[2], 0.001);
    assert_near(f[4], 16 / (10 * 0.403));
    find_line(path, "16,4,", line, sizeof line, f);
    assert_near(f[3], 0.2035);
    assert_near(f[4], 16 / (10 * 0.2035));
    assert_int_equal(atoi(f[5]), 4 + 8);                    /* K + ceil(n*) ranks */
    /* B = 32: tau_c scaled to 1.6 s */
    find_line(path, "32,4,", line, sizeof line, f);
    assert_near(f[4], 32 / (10 * 0.4035));

    /* MODEL_INPUTS: the inputs from another CSV's 1-actor sync row (g = 20,
     * tau_c = 0.4), the points still those of the first: K=2, 2 actors,
     * sync: tau(2) = 0.2 + 0.001, X = 16 / (16/40 + 0.201) */
    snprintf(path, sizeof path, "%s/ref.csv", tmp);
    c = fopen(path, "w");
    assert_non_null(c);
    fprintf(c, "%s\n1,sync,1,,,,,,,,,,20,16,8,,20,0.4,0,1,separate,,250000,,,,,,,,,,\n", COLUMNS);
    fclose(c);
    assert_int_equal(run("MODEL_INPUTS=%s LOCAL_GBPS=8 LOCAL_LAT_US=0 bash %s/../deploy/scaling_model.sh "
                         "%s/syn.csv %s/model2 2 > %s/model2.log 2>&1", path, tests_dir, tmp, tmp, tmp), 0);
    snprintf(path, sizeof path, "%s/model2/model_points.csv", tmp);
    find_line(path, "2,separate,2,sync,", line, sizeof line, f);
    assert_near(f[5], 8 * 16 / 0.601);
    assert_near(f[7], 16 / (20 * 0.201));
    assert_int_equal(run("grep -q 'sync run of .*ref.csv' %s/model2/model.txt", tmp), 0);
    /* the 1-actor row of the grid itself is a point, not the inputs, now */
    find_line(path, "1,separate,1,sync,", line, sizeof line, f);
    assert_near(f[5], 8 * 16 / (16 / 20.0 + 0.4));
}

/* scaling_summary.awk on a synthetic run of 2 learners (ranks 0, 1) and 2
 * actors (ranks 2, 3): busy seconds are every phase but wait, the actors'
 * g is groups / their generate + verify seconds, the CPU columns come from
 * the .cpu file. */
static void test_scaling_summary_learners(void **state) {
    (void)state;
    char line[4096], *f[40];
    assert_int_equal(run("cd %s && printf '%%s\\n' "
        "'{\"step\":0,\"eval_greedy_acc\":0.1}' "
        "'{\"step\":1,\"completions\":64,\"groups\":8,\"len_mean\":10,\"t_learn\":0.5,\"t_bcast\":0.1,\"elapsed_s\":2,\"t_allreduce\":0.01}' "
        "'{\"step\":2,\"completions\":64,\"groups\":8,\"len_mean\":10,\"t_learn\":0.7,\"t_bcast\":0.1,\"elapsed_s\":4,\"t_allreduce\":0.03}' "
        "> m.jsonl && printf '%%s\\n' '{\"grpo_greedy_acc\":0.5,\"train_seconds\":4,\"ranks\":4,"
        "\"phases\":{\"generate\":[0,0,1.5,2.5],\"verify\":[0,0,0.5,0.5],\"send\":[0,0,0.1,0.1],"
        "\"wait\":[1,1,1,1],\"learn\":[2,2,0,0],\"bcast\":[0.2,0,0,0],\"eval\":[0.3,0.3,0.3,0.3]}}' "
        "> s.json && printf '0 2 0.5 4\\n1 1.5 0.5 4\\n2 1 0 4\\n3 2 1 4\\ntotal 5 8 1\\nmachine 9.5 0.25\\n' > r.cpu && "
        "awk -v actors=2 -v mode=sync -v learners=2 -v layout=separate -v params=100 -v cores=2 "
        "-f %s/../deploy/scaling_summary.awk m.jsonl s.json r.cpu > row.csv",
        tmp, tests_dir), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/row.csv", tmp);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof line, fp));
    fclose(fp);
    assert_int_equal(split_csv(line, f, 40), NCOL);
    assert_near(f[2], 128 / 4.0);                /* completions / (last elapsed - evals) */
    assert_near(f[5], 2 / 4.0);                  /* learn[0] / train_seconds */
    assert_near(f[16], 16 / (2.0 + 3.0));        /* groups / actors' generate + verify */
    assert_near(f[17], 0.6);                     /* median t_learn */
    assert_int_equal(atoi(f[19]), 2);
    assert_string_equal(f[20], "separate");
    assert_int_equal(atoi(f[21]), 4);
    assert_near(f[23], 5);                       /* wall */
    assert_near(f[24], 9);                       /* launcher: user + sys */
    assert_near(f[25], 2.5 + 2 + 1 + 3);         /* ranks */
    assert_near(f[26], (2.5 + 2) / 2);           /* per learner rank */
    assert_near(f[27], (1 + 3) / 2.0);           /* per actor rank */
    assert_near(f[28], (2.5 + 2.3) / 2);         /* busy per learner: learn + bcast + eval */
    assert_near(f[29], (2.4 + 3.4) / 2);         /* busy per actor: generate + verify + send + eval */
    assert_near(f[30], 2.5 + 2.3 + 2.4 + 3.4);
    assert_near(f[31], 9 / (5.0 * 2));           /* CPU / (wall x cores) */
    assert_near(f[32], 128 / 9.0);
    assert_near(f[33], 0.25);                    /* steal */
    assert_near(f[34], 0.5);                     /* the machine's busy seconds not the run's */
    assert_near(f[35], 0.02);                    /* median t_allreduce, when the metrics have it */
}

static void test_scaling_submit_dry_run(void **state) {
    (void)state;
    char path[512];
    static char out[16384];
    assert_int_equal(run("cd %s/.. && bash deploy/slurm/scaling_submit.sh -d -L '1 2' -a '1 4' -P 2 "
                         "-m 'sync async' -- -w gen -s 30 -o OUTDIR > %s/submit.txt 2>&1",
                         tests_dir, tmp), 0);
    snprintf(path, sizeof path, "%s/submit.txt", tmp);
    assert_true(slurp(path, out, sizeof out) > 0);
    const char *want[] = {
        "--job-name=scal-sft --ntasks=1 ",
        "--job-name=scal-k1-a1-sync --ntasks=2 --dependency=afterok:<sft> --exclusive "
        "deploy/slurm/grpo_scaling.sbatch -w gen -s 30 -o OUTDIR -X -L 1 -a 1 -m sync -P ''",
        "--job-name=scal-k1-a4-async --ntasks=5 ",
        "--job-name=scal-k2-a4-sync --ntasks=6 ",
        "k2-a1-async: not submitted",
        "--job-name=scal-c2-sync --ntasks=2 ",
        "c2-async: not submitted",
        "--dependency=afterany:<k1-a1-sync>:<k1-a1-async>:<k1-a4-sync>:<k1-a4-async>:<k2-a1-sync>:"
        "<k2-a4-sync>:<c2-sync> --export=ALL,CORES=6 deploy/slurm/grpo_scaling.sbatch -w gen -s 30 -o OUTDIR -R",
        "report: job <report> (after 7 grid jobs)",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i])) fail_msg("scaling_submit.sh -d: no '%s' in:\n%s", want[i], out);
    assert_null(strstr(out, "scal-k2-a1-async"));
    /* -c FILE: no SFT job, no dependency on it */
    assert_int_equal(run("cd %s/.. && bash deploy/slurm/scaling_submit.sh -d -L 1 -a 1 -P '' -m sync -- "
                         "-c x.ckpt -o O > %s/submit2.txt 2>&1", tests_dir, tmp), 0);
    snprintf(path, sizeof path, "%s/submit2.txt", tmp);
    assert_true(slurp(path, out, sizeof out) > 0);
    assert_null(strstr(out, "scal-sft"));
    assert_null(strstr(out, "afterok"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scaling_model_learners),
        cmocka_unit_test(test_scaling_summary_learners),
        cmocka_unit_test(test_scaling_submit_dry_run),
        cmocka_unit_test(test_scaling_script_end_to_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
