/* pipeline.c: the driver of `grpo pipeline` (pipeline.h): the base command
 * line, the checks before any stage runs, and the stages in order, each
 * skipped when finished, run as a child otherwise, then evaluated and
 * marked finished. */
#include "pipeline.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "pipeline_child.h"
#include "pipeline_eval.h"
#include "pipeline_record.h"
#include "pipeline_report.h"
#include "pipeline_stages.h"
#include "run_lock.h"
#include "run_settings.h"
#include "util.h"

enum { EXIT_REQUEUE_ME = 75, EXIT_BAD_USAGE = 2 };

typedef struct {
    StageContext ctx;
    const Config *cfg;
    Config *second;  /* the config of the second task (its evaluation) */
    Config *neutral; /* the base config as the stages see it: [pipeline] at its defaults */
    int selected[PIPELINE_N_STAGES], done[PIPELINE_N_STAGES];
    StageRecord rec[PIPELINE_N_STAGES];
} Pipeline;

/* The user's --config files and overrides, which every stage gets first;
 * [pipeline] keys are the driver's and run.dir is the root, so neither is
 * passed on. Options that name one stage's files do not apply. */
static int base_args(const CliArgs *a, Argv *base) {
    argv_init(base);
    for (int i = 2; i < a->argc; i++) {
        const char *w = a->argv[i];
        if (!strcmp(w, "--config") && i + 1 < a->argc) {
            argv_push(base, w);
            argv_push(base, a->argv[++i]);
        } else if (strchr(w, '=') && w[0] != '-') {
            if (strncmp(w, "pipeline.", 9) != 0 && strncmp(w, "run.dir=", 8) != 0)
                argv_push(base, w);
        } else {
            fprintf(stderr, "error: grpo pipeline: option %s does not apply (each stage's files go "
                            "into its directory under run.dir); give --config FILE and "
                            "section.key=value overrides\n", w);
            return -1;
        }
    }
    return 0;
}

/* The config stage s runs with, as the pipeline can know it before the
 * stage starts: the base with the stage's override strings. 0, or -1 with
 * err naming the [pipeline] key. */
static int stage_config(const Pipeline *P, int s, Config *c, char *err, size_t errlen) {
    const PipelineSettings *ps = P->ctx.ps;
    config_copy(c, P->cfg);
    const char *key = NULL, *items = NULL;
    switch (s) {
    case ST_BASE: key = "base"; items = ps->base; break;
    case ST_COLD: key = "cold_start"; items = ps->cold_start; break;
    case ST_SCOLD: key = "student_cold_start"; items = ps->student_cold_start; break;
    case ST_GRPO: key = "grpo"; items = ps->grpo; break;
    case ST_RS: key = "rejection_sample"; items = ps->rejection_sample; break;
    case ST_MIX: key = "sft_mix"; items = ps->sft_mix; break;
    case ST_FINAL: key = "final_rl"; items = ps->final_rl; break;
    case ST_TSAMP: key = "teacher_samples"; items = ps->teacher_samples; break;
    case ST_DISTILL: key = "distill"; items = ps->distill; break;
    case ST_SRL: key = "student_rl"; items = ps->student_rl; break;
    }
    if ((s == ST_DISTILL || s == ST_SCOLD || s == ST_SRL) &&
        pipeline_apply_overrides(c, "student", ps->student, err, errlen) != 0)
        return -1;
    if (key && pipeline_apply_overrides(c, key, items, err, errlen) != 0) return -1;
    return config_validate(c, err, errlen);
}

/* The commands of stage s as one text, one command per line (malloc'd). */
static char *stage_command_text(const Pipeline *P, int s, Argv cmds[STAGE_MAX_COMMANDS], int *n) {
    *n = pipeline_stage_commands(&P->ctx, s, cmds);
    char *all = strdup("");
    if (!all) die("out of memory");
    for (int i = 0; i < *n; i++) {
        char *one = argv_join(&cmds[i]), *joined = NULL;
        if (asprintf(&joined, "%s%s%s", all, i ? "\n" : "", one) < 0) die("out of memory");
        free(one);
        free(all);
        all = joined;
    }
    return all;
}

/* The words of a that b lacks, and of b that a lacks, into out. */
static void word_diff(const char *a, const char *b, char *out, size_t cap) {
    Argv wa, wb;
    argv_init(&wa);
    argv_init(&wb);
    argv_push_words(&wa, a);
    argv_push_words(&wb, b);
    snprintf(out, cap, "then:");
    for (int pass = 0; pass < 2; pass++) {
        const Argv *x = pass ? &wb : &wa, *y = pass ? &wa : &wb;
        if (pass) strncat(out, "; now:", cap - strlen(out) - 1);
        for (int i = 0; i < x->argc; i++) {
            int found = 0;
            for (int j = 0; j < y->argc && !found; j++) found = !strcmp(x->argv[i], y->argv[j]);
            if (found) continue;
            strncat(out, " ", cap - strlen(out) - 1);
            strncat(out, x->argv[i], cap - strlen(out) - 1);
        }
    }
    argv_free(&wa);
    argv_free(&wb);
}

/* 0 if finished stage s would run with the same command and base config
 * today; 1 with why otherwise. */
static int stage_changed(const Pipeline *P, int s, char *why, size_t cap) {
    Argv cmds[STAGE_MAX_COMMANDS];
    int n;
    char *now = stage_command_text(P, s, cmds, &n);
    for (int i = 0; i < n; i++) argv_free(&cmds[i]);
    int changed = 0;
    if (strcmp(now, P->rec[s].command) != 0) {
        char diff[3000];
        word_diff(P->rec[s].command, now, diff, sizeof diff);
        set_err(why, cap, "it ran\n    %s\n  and would now run\n    %s\n  (%s)", P->rec[s].command,
                now, diff);
        changed = 1;
    }
    free(now);
    if (changed) return 1;
    char path[1300], err[1200];
    pipeline_stage_path(P->ctx.root, s, "base-config.ini", path, sizeof path);
    Config *then = config_new_like(P->cfg);
    if (config_load_file(then, path, err, sizeof err) != 0) {
        set_err(why, cap, "its recorded config does not load: %s", err);
        changed = 1;
    } else {
        /* [pipeline] reaches a stage only through its command, compared
         * above: a changed [pipeline] default is not a changed config */
        pipeline_settings_neutral(then);
        char rd[4000], other[4000];
        config_diff(then, P->neutral, rd, sizeof rd, other, sizeof other);
        if (rd[0] || other[0]) {
            set_err(why, cap, "the same command now means a different config (an edited --config "
                              "file? %s holds the one it ran with): %s%s%s", path, rd,
                    rd[0] && other[0] ? ", " : "", other);
            changed = 1;
        }
    }
    config_free(then);
    return changed;
}

/* Moves stage s's directory aside, so it starts over. */
static void move_aside(const Pipeline *P, int s) {
    char dir[1300], to[1400];
    pipeline_stage_path(P->ctx.root, s, NULL, dir, sizeof dir);
    snprintf(to, sizeof to, "%s.replaced-%ld", dir, (long)time(NULL));
    if (rename(dir, to) == 0) printf("pipeline: %s moved aside to %s\n", dir, to);
    else if (errno != ENOENT) die("pipeline: cannot move %s aside to %s: %s", dir, to, strerror(errno));
}

/* The finished stages: read, and checked against what this run would do.
 * Returns 0, or the exit status. */
static int load_finished(Pipeline *P) {
    char err[1500];
    int invalid[PIPELINE_N_STAGES] = {0}, any = 0;
    for (int s = 0; s < PIPELINE_N_STAGES; s++) {
        char dir[1300];
        pipeline_stage_path(P->ctx.root, s, NULL, dir, sizeof dir);
        int r = pipeline_record_read(dir, &P->rec[s], err, sizeof err);
        if (r < 0) {
            fprintf(stderr, "error: pipeline: %s\n", err);
            return EXIT_BAD_USAGE;
        }
        P->done[s] = r == 1;
        P->ctx.wall[s] = P->done[s] ? P->rec[s].wall : -1;
    }
    for (int s = 0; s < PIPELINE_N_STAGES; s++) {
        for (int k = 0; k < STAGE_MAX_NEEDS; k++)
            if (pipeline_stages[s].needs[k] >= 0) invalid[s] |= invalid[pipeline_stages[s].needs[k]];
        char why[9000];
        if (!P->done[s] || invalid[s] || !stage_changed(P, s, why, sizeof why)) continue;
        if (!P->ctx.ps->rerun_changed) {
            fprintf(stderr, "error: pipeline: %s is finished, but %s\n  Refusing to mix its "
                            "results with a changed pipeline: restore the config, use another "
                            "run.dir, or set pipeline.rerun_changed=1 to re-run it and the "
                            "stages that depend on it (their directories are moved aside).\n",
                    pipeline_stages[s].dir, why);
            return EXIT_BAD_USAGE;
        }
        printf("pipeline: %s changed: %s\n", pipeline_stages[s].dir, why);
        invalid[s] = any = 1;
    }
    for (int s = 0; any && s < PIPELINE_N_STAGES; s++) {
        if (!invalid[s]) continue;
        if (P->done[s]) pipeline_record_free(&P->rec[s]);
        P->done[s] = 0;
        P->ctx.wall[s] = -1;
        move_aside(P, s);
    }
    return 0;
}

/* Every selected stage's inputs are finished or will be made first. */
static int check_needs(const Pipeline *P) {
    for (int s = 0; s < PIPELINE_N_STAGES; s++) {
        if (!P->selected[s] || P->done[s]) continue;
        for (int k = 0; k < STAGE_MAX_NEEDS; k++) {
            int n = pipeline_stages[s].needs[k];
            if (n >= 0 && !P->done[n] && !P->selected[n]) {
                fprintf(stderr, "error: pipeline: [pipeline] stages: %s needs %s, which is "
                                "neither finished nor selected\n",
                        pipeline_stages[s].dir, pipeline_stages[n].dir);
                return EXIT_BAD_USAGE;
            }
        }
    }
    return 0;
}

/* Evaluates (or counts) what stage s left and writes its stage.json.
 * Returns 0 or the exit status. */
static int finish_stage(Pipeline *P, int s, char *command, double wall, int attempts) {
    const StageDef *d = &pipeline_stages[s];
    char dir[1300], out[1300], err[1500];
    pipeline_stage_path(P->ctx.root, s, NULL, dir, sizeof dir);
    pipeline_stage_path(P->ctx.root, s, d->output, out, sizeof out);
    StageRecord r = {command, wall, attempts, 0, {0}};
    r.ev.records = -1;
    if (d->is_checkpoint) {
        pipeline_evaluate(P->cfg, P->second, out, &r.ev);
        printf("pipeline: %s: reasoning greedy accuracy %.3f (format %.3f, mean length %.1f) on "
               "%d prompts; second task %.3f on %d prompts (%.1f s)\n",
               d->dir, r.ev.acc, r.ev.format, r.ev.mean_len, r.ev.prompts, r.ev.second_acc,
               r.ev.second_prompts, r.ev.seconds);
    } else if (s != ST_DATA || access(out, F_OK) == 0) {
        r.ev.records = pipeline_count_lines(out);
        if (r.ev.records < 0) {
            fprintf(stderr, "error: pipeline: %s exited 0 but left no %s\n", d->dir, out);
            return 1;
        }
        if (r.ev.records == 0) {
            fprintf(stderr, "error: pipeline: %s wrote no record to %s: the next stages would "
                            "have no data (train longer, or sample more: [pipeline] grpo, "
                            "rejection_sample)\n", d->dir, out);
            return 1;
        }
        printf("pipeline: %s: %ld records in %s\n", d->dir, r.ev.records, out);
    }
    if (pipeline_record_write(dir, d->dir, &r, err, sizeof err) != 0) {
        fprintf(stderr, "error: pipeline: %s\n", err);
        return 7;
    }
    P->rec[s] = r;
    P->rec[s].command = strdup(command);
    P->done[s] = 1;
    P->ctx.wall[s] = wall;
    return 0;
}

/* Runs stage s to its end. Returns 0 when it finished, else the exit
 * status to stop with. */
static int run_stage(Pipeline *P, int s) {
    const StageDef *d = &pipeline_stages[s];
    char dir[1300], path[1300], err[1500], prefix[64];
    pipeline_stage_path(P->ctx.root, s, NULL, dir, sizeof dir);
    make_dirs_or_die(dir);
    char *neutral = config_to_string(P->neutral);
    pipeline_stage_path(P->ctx.root, s, "base-config.ini", path, sizeof path);
    int rc = atomic_file_write(path, neutral, strlen(neutral), err, sizeof err);
    free(neutral);
    Argv cmds[STAGE_MAX_COMMANDS];
    int n;
    char *text = stage_command_text(P, s, cmds, &n);
    size_t tl = strlen(text);
    char *line = xmalloc(tl + 2);
    memcpy(line, text, tl);
    line[tl] = '\n';
    pipeline_stage_path(P->ctx.root, s, "command.txt", path, sizeof path);
    if (rc == 0) rc = atomic_file_write(path, line, tl + 1, err, sizeof err);
    xfree(line);
    if (rc != 0) {
        fprintf(stderr, "error: pipeline: %s\n", err);
        free(text);
        for (int i = 0; i < n; i++) argv_free(&cmds[i]);
        return 7;
    }
    double wall;
    int attempts;
    pipeline_attempts_read(dir, &wall, &attempts);
    printf("pipeline: %s%s\n", d->dir, attempts ? " (continuing an interrupted attempt)" : "");
    snprintf(prefix, sizeof prefix, "[%s] ", d->dir);
    pipeline_stage_path(P->ctx.root, s, "log.txt", path, sizeof path);
    int status = 0;
    for (int i = 0; i < n && status == 0; i++) {
        if (i && pipeline_stop_signal()) {
            status = EXIT_REQUEUE_ME; /* between two commands of one stage */
            break;
        }
        char *shown = argv_join(&cmds[i]);
        printf("pipeline: %s: %s\n", d->dir, shown);
        free(shown);
        double secs = 0;
        status = pipeline_child_run(cmds[i].argv, d->mpi, path, prefix, &secs);
        wall += secs;
    }
    for (int i = 0; i < n; i++) argv_free(&cmds[i]);
    attempts++;
    if (status == 0) status = finish_stage(P, s, text, wall, attempts);
    else if (pipeline_attempts_write(dir, wall, attempts, err, sizeof err) != 0)
        fprintf(stderr, "warning: pipeline: %s\n", err);
    free(text);
    if (status == EXIT_REQUEUE_ME)
        fprintf(stderr, "pipeline: %s stopped with status 75 %s; run the same command again to "
                        "continue\n", d->dir, d->is_checkpoint ? "after its checkpoint"
                                                                : "without writing (it starts over)");
    else if (status != 0)
        fprintf(stderr, "error: pipeline: %s failed with status %d; its log: %s\n", d->dir, status,
                path);
    else
        printf("pipeline: %s finished in %.1f s\n", d->dir, wall);
    return status;
}

/* The pipeline's directory: run.dir when given, else runs/pipeline (the
 * default runs/demo is the demo's). */
static void root_dir(const Config *cfg, char *out, size_t cap) {
    snprintf(out, cap, "%s", config_was_set(cfg, "run", "dir") ? run_settings(cfg)->dir
                                                                 : "runs/pipeline");
}

/* Every config the pipeline will use, checked before any stage runs. */
static int check_configs(Pipeline *P) {
    char err[2000];
    P->second = config_new_like(P->cfg);
    config_copy(P->second, P->cfg);
    if (pipeline_apply_overrides(P->second, "second_task", P->ctx.ps->second_task, err,
                                 sizeof err) != 0 ||
        config_validate(P->second, err, sizeof err) != 0) {
        fprintf(stderr, "error: pipeline: the second task's config: %s\n", err);
        return EXIT_BAD_USAGE;
    }
    char rd[2000], other[2000];
    config_diff(P->cfg, P->second, rd, sizeof rd, other, sizeof other);
    if (!rd[0] && !other[0])
        fprintf(stderr, "warning: pipeline: [pipeline] second_task = '%s' changes nothing: the "
                        "second task is the reasoning task\n", P->ctx.ps->second_task);
    Config *c = config_new_like(P->cfg);
    int rc = 0;
    for (int s = 0; s < PIPELINE_N_STAGES && rc == 0; s++)
        if (stage_config(P, s, c, err, sizeof err) != 0) {
            fprintf(stderr, "error: pipeline: the config of %s: %s\n", pipeline_stages[s].dir, err);
            rc = EXIT_BAD_USAGE;
        }
    config_free(c);
    P->neutral = config_new_like(P->cfg);
    config_copy(P->neutral, P->cfg);
    pipeline_settings_neutral(P->neutral);
    if (config_set_value(P->neutral, "run", "dir", P->ctx.root, err, sizeof err) != 0) {
        fprintf(stderr, "error: pipeline: %s\n", err);
        rc = EXIT_BAD_USAGE;
    }
    return rc;
}

/* The stages in order; 0 when every selected one is finished. */
static int run_stages(Pipeline *P) {
    for (int s = 0; s < PIPELINE_N_STAGES; s++) {
        if (!P->selected[s]) continue;
        if (P->done[s]) {
            printf("pipeline: %s done (%.1f s), skipped\n", pipeline_stages[s].dir, P->rec[s].wall);
            continue;
        }
        if (pipeline_stop_signal()) break;
        int rc = run_stage(P, s);
        if (rc) return rc;
    }
    if (pipeline_stop_signal()) {
        fprintf(stderr, "pipeline: stopped by signal %d between stages; run the same command "
                        "again to continue\n", pipeline_stop_signal());
        return EXIT_REQUEUE_ME;
    }
    return 0;
}

int pipeline_command(Config *cfg, const CliArgs *a) {
    static char root[CFG_STR_MAX], exe[PATH_MAX];
    Pipeline P;
    memset(&P, 0, sizeof P);
    P.cfg = cfg;
    P.ctx.ps = pipeline_settings(cfg);
    Argv base;
    if (base_args(a, &base) != 0) return EXIT_BAD_USAGE;
    P.ctx.base = &base;
    root_dir(cfg, root, sizeof root);
    P.ctx.root = root;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) die("pipeline: readlink /proc/self/exe failed: %s", strerror(errno));
    exe[n] = 0;
    P.ctx.exe = exe;
    char err[1500];
    if (pipeline_parse_stages(P.ctx.ps->stages, P.selected, err, sizeof err) != 0) die("%s", err);
    int rc = check_configs(&P);
    RunLock lock = {-1};
    if (rc == 0) {
        make_dirs_or_die(root);
        rc = run_lock_take(&lock, root);
    }
    if (rc == 0) rc = load_finished(&P);
    if (rc == 0) rc = check_needs(&P);
    if (rc == 0) {
        pipeline_catch_signals();
        printf("pipeline: %s (%s)\n", root, P.ctx.ps->stages);
        rc = run_stages(&P);
    }
    if (rc == 0) {
        if (pipeline_report(root, P.done, P.rec, err, sizeof err) != 0) {
            fprintf(stderr, "error: pipeline: %s\n", err);
            rc = 7;
        } else {
            pipeline_plot(root);
        }
    }
    for (int s = 0; s < PIPELINE_N_STAGES; s++)
        if (P.done[s]) pipeline_record_free(&P.rec[s]);
    config_free(P.second);
    config_free(P.neutral);
    argv_free(&base);
    run_lock_release(&lock);
    return rc;
}
