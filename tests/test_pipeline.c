/* grpo pipeline end to end, on a tiny reasoning task (arith_cot with
 * 1-digit operands) and tiny models, in one pipeline directory that the
 * tests share, in order:
 *   - a pipeline killed with SIGTERM during its grpo stage exits 75 (the
 *     learner checkpoints on the SIGUSR1 the pipeline passes to mpirun);
 *     the same command again skips the cold start, the grpo stage's train
 *     resumes from its checkpoint, and the pipeline runs to its end;
 *   - that run left stage.json in every stage, pipeline.tsv with one row
 *     per stage, summary.json with the distillation line, pipeline.png;
 *   - a third run skips every stage and runs no child (the logs stay
 *     byte for byte the same);
 *   - a finished stage whose command would change is refused, naming it;
 *   - a typo in a stage's override string is refused before any stage
 *     runs, naming the [pipeline] key and the item.
 * KEEP_TEST_DIRS=1 keeps the folder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_shell.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmp[256], root[300];
static const char *bin;

/* The reasoning task and the model, sized for a test; the stage
 * overrides keep every stage to a few seconds. The teacher samples 256
 * prompts (0.1 s): at this size the final model's acceptance is well under
 * 1% and moves with float rounding anywhere upstream, and 64 prompts could
 * accept none (the stage then fails, as it must on real runs). */
static const char *BASE =
    "task.name=arith_cot task.cot_digits=1 task.cot_mul_digits=1 task.eval_permille=200 "
    "model.max_seq_len=56 sampler.max_new_tokens=51 model.dim=32 model.n_layers=2 "
    "model.n_heads=4 model.n_kv_heads=2 model.hidden_dim=64 eval.prompts=16 eval.pass_k=1 "
    "eval.samples=0 sft.batch_size=16 sft.eval_every=0 sft.lr=5e-3 grpo.prompts_per_step=2 "
    "grpo.group_size=4 grpo.eval_every=5 grpo.checkpoint_every=2 distill.batch_size=8 "
    "distill.eval_every=0 distill.heldout=8 pipeline.ranks=2 pipeline.demos=200 "
    "pipeline.second_demos=100 "
    "pipeline.base=sft.steps=30 pipeline.cold_start=sft.steps=300 pipeline.student_cold_start=sft.steps=30 pipeline.grpo=grpo.steps=40 "
    "'pipeline.rejection_sample=rs.prompts=64 rs.k=4' pipeline.sft_mix=sft.steps=50 "
    "'pipeline.final_rl=grpo.steps=4 reward.scorers=length:0.1' 'pipeline.teacher_samples=rs.prompts=256 rs.k=4' pipeline.distill=sft.steps=40 "
    "'pipeline.student=model.dim=16 model.n_layers=1 model.n_heads=2 model.n_kv_heads=1 "
    "model.hidden_dim=32' pipeline.student_rl=grpo.steps=4 "
    "'pipeline.second_task=task.name=arith task.max_digits=1 sampler.max_new_tokens=4'";

static const char *const STAGES[] = {"0-data",    "1-base", "2-cold-start", "3-grpo",
                                     "4-rejection-sample", "5-sft-mix", "6-final-rl",
                                     "7-teacher-samples", "8-distill", "9-student-cold-start",
                                     "10-student-rl"};
enum { N_STAGES = 11, DEADLINE_S = 120 };

static int setup(void **state) {
    (void)state;
    bin = getenv("GRPO_BIN");
    if (!bin) bin = "build/grpo";
    snprintf(tmp, sizeof tmp, "/tmp/grpo_test_pipeline_%d", (int)getpid());
    snprintf(root, sizeof root, "%s/p", tmp);
    return run("rm -rf %s && mkdir -p %s", tmp, tmp);
}

static int teardown(void **state) {
    (void)state;
    remove_test_dir(tmp);
    return 0;
}

static int file_exists(const char *dir, const char *stage, const char *file) {
    return run("test -s %s/%s/%s", dir, stage, file) == 0;
}

/* (c), and the run to the end that (a) and (b) read. */
static void test_sigterm_during_grpo_resumes(void **state) {
    (void)state;
    char cmd[4096], grpo[400];
    snprintf(cmd, sizeof cmd, "exec %s pipeline run.dir=%s %s > %s/run1.log 2>&1", bin, root, BASE,
             tmp);
    snprintf(grpo, sizeof grpo, "%s/3-grpo", root);
    pid_t pid = start_sh(cmd);
    time_t t0 = time(NULL);
    while (steps_logged(grpo) < 2 && time(NULL) - t0 < DEADLINE_S) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            run("cat %s/run1.log", tmp);
            fail_msg("the pipeline ended (status %d) before its grpo stage trained 2 steps",
                     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        }
        usleep(100 * 1000);
    }
    assert_true(steps_logged(grpo) >= 2);
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 75) run("tail -30 %s/run1.log", tmp);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 75);
    assert_true(file_exists(root, "2-cold-start", "stage.json"));
    assert_false(file_exists(root, "3-grpo", "stage.json"));
    assert_int_equal(run("grep -q 'passing signal 10' %s/run1.log", tmp), 0);
    assert_int_equal(run("cp %s/2-cold-start/log.txt %s/cold.log", root, tmp), 0);

    assert_int_equal(run("%s pipeline run.dir=%s %s > %s/run2.log 2>&1", bin, root, BASE, tmp), 0);
    assert_int_equal(run("grep -q '^pipeline: 2-cold-start done (.*s), skipped' %s/run2.log", tmp),
                     0);
    assert_int_equal(run("grep -q 'resume: continuing from %s/ckpt-' %s/3-grpo/log.txt", grpo,
                         root),
                     0);
    assert_int_equal(run("cmp -s %s/cold.log %s/2-cold-start/log.txt", tmp, root), 0);
    assert_int_equal(run("grep -q '\"attempts\": 2' %s/3-grpo/stage.json", root), 0);
}

/* (a): what the finished run left. */
static void test_full_run_writes_every_record(void **state) {
    (void)state;
    for (int s = 0; s < N_STAGES; s++) {
        if (!file_exists(root, STAGES[s], "stage.json")) fail_msg("no %s/stage.json", STAGES[s]);
        char path[600];
        snprintf(path, sizeof path, "%s/%s/stage.json", root, STAGES[s]);
        json_error_t je;
        json_t *o = json_load_file(path, 0, &je);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "stage")), STAGES[s]);
        assert_int_equal(json_integer_value(json_object_get(o, "exit_status")), 0);
        assert_true(json_is_string(json_object_get(o, "command")));
        json_t *ev = json_object_get(o, "eval");
        if (s != 0 && strcmp(STAGES[s], "4-rejection-sample") != 0 &&
            strcmp(STAGES[s], "7-teacher-samples") != 0) { /* data files: no eval */
            double acc = json_number_value(json_object_get(json_object_get(ev, "reasoning"),
                                                           "greedy_accuracy"));
            assert_true(acc >= 0 && acc <= 1);
            assert_true(json_is_number(json_object_get(json_object_get(ev, "second_task"),
                                                       "greedy_accuracy")));
            assert_true(file_exists(root, STAGES[s], "command.txt"));
        }
        json_decref(o);
    }
    /* both demonstration files, the cold starts on their mixture, the
     * baseline's RL capped to the wall time distillation took */
    assert_int_equal(run("test $(grep -c . %s/0-data/second.jsonl) -eq 100", root), 0);
    assert_int_equal(run("grep -q '\"records\": 200' %s/0-data/stage.json", root), 0);
    assert_int_equal(run("grep -q -- '--data %s/0-data/second.jsonl:0.3' %s/9-student-cold-start/"
                         "command.txt", root, root), 0);
    /* distillation: the final teacher's samples, a fresh student's SFT on them */
    assert_int_equal(run("grep -q -- '--checkpoint %s/6-final-rl/final.ckpt' "
                         "%s/7-teacher-samples/command.txt", root, root), 0);
    assert_int_equal(run("grep -q -- '--data %s/7-teacher-samples/rs.jsonl' "
                         "%s/8-distill/command.txt", root, root), 0);
    assert_int_equal(run("grep -q 'grpo.init=%s/9-student-cold-start/sft.ckpt' "
                         "%s/10-student-rl/command.txt", root, root), 0);
    assert_int_equal(run("grep -q 'sft.init=%s/3-grpo/final.ckpt' %s/5-sft-mix/command.txt", root,
                         root), 0);
    assert_int_equal(run("grep -q 'grpo.time_limit_s=[0-9]' %s/10-student-rl/command.txt", root), 0);
    /* one row per stage under the header */
    assert_int_equal(run("test $(grep -vc '^#' %s/pipeline.tsv) -eq %d", root, N_STAGES), 0);
    assert_int_equal(run("grep -q '^10\t10-student-rl\t' %s/pipeline.tsv", root), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/summary.json", root);
    json_t *sum = json_load_file(path, 0, NULL);
    assert_non_null(sum);
    assert_int_equal(json_array_size(json_object_get(sum, "stages")), N_STAGES);
    json_t *dist = json_object_get(sum, "distillation");
    assert_non_null(json_object_get(dist, "distilled"));
    assert_non_null(json_object_get(dist, "baseline"));
    assert_true(json_number_value(json_object_get(sum, "total_wall_seconds")) > 0);
    json_decref(sum);
    assert_int_equal(run("grep -q '^distillation: student distilled (7+8)' %s/run2.log", tmp), 0);
    assert_int_equal(run("test -s %s/pipeline.png", root), 0);
}

/* (b): every stage skipped, no child started. */
static void test_rerun_skips_every_stage(void **state) {
    (void)state;
    assert_int_equal(run("cat %s/*/log.txt | md5sum > %s/logs.md5", root, tmp), 0);
    assert_int_equal(run("%s pipeline run.dir=%s %s > %s/run3.log 2>&1", bin, root, BASE, tmp), 0);
    assert_int_equal(run("test $(grep -c '^pipeline: .* done (.*s), skipped$' %s/run3.log) -eq %d",
                         tmp, N_STAGES),
                     0);
    assert_int_equal(run("cat %s/*/log.txt | md5sum | cmp -s - %s/logs.md5", root, tmp), 0);
    /* neither a command nor an evaluation ("pipeline: 3-grpo: ...") */
    assert_int_equal(run("grep -q '^pipeline: [0-9]-[a-z-]*: ' %s/run3.log", tmp), 1);
}

/* A finished stage is never re-run with another command silently. */
static void test_changed_command_refused(void **state) {
    (void)state;
    assert_int_equal(run("%s pipeline run.dir=%s %s 'pipeline.final_rl=grpo.steps=5 "
                         "reward.scorers=length:0.1' > %s/run4.log 2>&1",
                         bin, root, BASE, tmp),
                     2);
    assert_int_equal(run("grep -q '6-final-rl is finished, but it ran' %s/run4.log", tmp), 0);
    assert_int_equal(run("grep -q 'then: grpo.steps=4; now: grpo.steps=5' %s/run4.log", tmp), 0);
    assert_int_equal(run("test -e %s/6-final-rl/stage.json", root), 0);
    assert_int_equal(run("grep -q 'rerun_changed=1' %s/run4.log", tmp), 0);
}

/* (d) */
static void test_override_typo_refused_first(void **state) {
    (void)state;
    assert_int_equal(run("%s pipeline run.dir=%s/q %s pipeline.final_rl=grpo.stepz=3 > %s/run5.log "
                         "2>&1",
                         bin, tmp, BASE, tmp),
                     2);
    assert_int_equal(run("grep -q \"\\[pipeline\\] final_rl: item 'grpo.stepz=3': unknown key "
                         "'stepz' in \\[grpo\\]\" %s/run5.log",
                         tmp),
                     0);
    assert_int_equal(run("test -e %s/q", tmp), 1);
    assert_int_equal(run("%s pipeline run.dir=%s/q %s pipeline.grpo=steps=3 > %s/run6.log 2>&1",
                         bin, tmp, BASE, tmp),
                     2);
    assert_int_equal(run("grep -q \"\\[pipeline\\] grpo: item 'steps=3' is not section.key=value\" "
                         "%s/run6.log",
                         tmp),
                     0);
    assert_int_equal(run("test -e %s/q", tmp), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_during_grpo_resumes),
        cmocka_unit_test(test_full_run_writes_every_record),
        cmocka_unit_test(test_rerun_skips_every_stage),
        cmocka_unit_test(test_changed_command_refused),
        cmocka_unit_test(test_override_typo_refused_first),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
