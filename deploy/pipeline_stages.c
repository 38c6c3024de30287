/* pipeline_stages.c: the stage table and the stages' command lines
 * (pipeline_stages.h). */
#include "pipeline_stages.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

const StageDef pipeline_stages[PIPELINE_N_STAGES] = {
    {"0-data", "data", "demonstrations", 0, "reasoning.jsonl", 0, {-1, -1, -1}},
    /* the second task's own SFT, the reference its accuracy after the
     * mixtures is held to. The cold start does not start from it: from
     * this base (lr 2e-3) the reasoning never took (0.002 after 1000
     * steps, loss 0.49 against 0.075 from fresh weights) and the second
     * skill was lost anyway (0.997 -> 0.038; measured) */
    {"1-base", "base", "task-2 sft (reference)", 0, "sft.ckpt", 1, {ST_DATA, -1, -1}},
    {"2-cold-start", "cold-start", "cold start (sft)", 0, "sft.ckpt", 1, {ST_DATA, -1, -1}},
    {"3-grpo", "grpo", "grpo", 1, "final.ckpt", 1, {ST_COLD, -1, -1}},
    {"4-rejection-sample", "rejection-sample", "rejection sampling", 1, "rs.jsonl", 0,
     {ST_GRPO, -1, -1}},
    {"5-sft-mix", "sft-mix", "sft on samples + task 2", 0, "sft.ckpt", 1, {ST_RS, ST_GRPO, ST_DATA}},
    {"6-final-rl", "final-rl", "final rl", 1, "final.ckpt", 1, {ST_MIX, -1, -1}},
    /* distillation as R1-Distill does it: the final teacher's verified
     * samples (as stage 4), and a fresh quarter-size student's SFT on them;
     * the baseline is the same student from nothing by its own cold start
     * and GRPO, in the same wall time */
    {"7-teacher-samples", "teacher-samples", "teacher's samples", 1, "rs.jsonl", 0,
     {ST_FINAL, -1, -1}},
    {"8-distill", "distill", "student distilled", 0, "sft.ckpt", 1, {ST_TSAMP, -1, -1}},
    {"9-student-cold-start", "student-cold-start", "student cold start", 0, "sft.ckpt", 1,
     {ST_DATA, -1, -1}},
    {"10-student-rl", "student-rl", "student rl (baseline)", 1, "final.ckpt", 1,
     {ST_SCOLD, ST_TSAMP, ST_DISTILL}},
};

int pipeline_parse_stages(const char *list, int selected[PIPELINE_N_STAGES], char *err,
                          size_t errlen) {
    int all = strcmp(list, "all") == 0;
    for (int s = 0; s < PIPELINE_N_STAGES; s++) selected[s] = all;
    if (all) return 0;
    int any = 0;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        int found = -1;
        for (int s = 0; s < PIPELINE_N_STAGES; s++) {
            const StageDef *d = &pipeline_stages[s];
            if ((strlen(d->name) == n && !strncmp(p, d->name, n)) ||
                (strlen(d->dir) == n && !strncmp(p, d->dir, n)))
                found = s;
        }
        if (found < 0) {
            char known[400] = "";
            for (int s = 0; s < PIPELINE_N_STAGES; s++) {
                strncat(known, s ? ", " : "", sizeof known - strlen(known) - 1);
                strncat(known, pipeline_stages[s].name, sizeof known - strlen(known) - 1);
            }
            set_err(err, errlen, "[pipeline] stages = '%s': unknown stage '%.*s'; known: all, %s",
                    list, (int)n, p, known);
            return -1;
        }
        selected[found] = any = 1;
        p += n;
        if (*p == ',') p++;
    }
    if (!any) {
        set_err(err, errlen, "[pipeline] stages is empty (all, or a comma list of stages)");
        return -1;
    }
    return 0;
}

void pipeline_stage_path(const char *root, int s, const char *file, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s/%s%s%s", root, pipeline_stages[s].dir, file ? "/" : "",
                     file ? file : "");
    if (n < 0 || (size_t)n >= cap) die("pipeline: path of %s under %s is too long", file ? file : "", root);
}

double pipeline_student_rl_budget(const StageContext *c) {
    double t = c->wall[ST_TSAMP] + c->wall[ST_DISTILL] - c->wall[ST_SCOLD];
    return t < 1 ? 1 : t;
}

/* Starts a command: the launcher's words for an MPI stage ({ranks}
 * replaced), then this binary and the subcommand. */
static void begin(const StageContext *c, int s, Argv *a, const char *sub) {
    argv_init(a);
    if (pipeline_stages[s].mpi) {
        Argv w;
        argv_init(&w);
        argv_push_words(&w, c->ps->launcher);
        char ranks[16];
        snprintf(ranks, sizeof ranks, "%d", c->ps->ranks);
        for (int i = 0; i < w.argc; i++) {
            const char *hit = strstr(w.argv[i], "{ranks}");
            if (hit)
                argv_pushf(a, "%.*s%s%s", (int)(hit - w.argv[i]), w.argv[i], ranks, hit + 7);
            else
                argv_push(a, w.argv[i]);
        }
        argv_free(&w);
    }
    argv_push(a, c->exe);
    argv_push(a, sub);
    argv_push_all(a, c->base);
}

/* run.dir=<root>/<stage dir>, the last word: each stage writes its own. */
static void end(const StageContext *c, int s, Argv *a) {
    char dir[1200];
    pipeline_stage_path(c->root, s, NULL, dir, sizeof dir);
    argv_pushf(a, "run.dir=%s", dir);
}

/* "<root>/<stage dir>/<file>" as one word with a prefix (an option's
 * value or a key=). */
static void push_path(const StageContext *c, Argv *a, const char *prefix, int s, const char *file) {
    char p[1200];
    pipeline_stage_path(c->root, s, file, p, sizeof p);
    argv_pushf(a, "%s%s", prefix, p);
}

/* --data <first> --data <0>/second.jsonl:<w>: a mixture with the second
 * task (the cold starts', and stage 5's, which restores it). */
static void push_mixture(const StageContext *c, Argv *a, int first_stage, const char *first,
                         float second_weight) {
    char p[1200];
    argv_push(a, "--data");
    push_path(c, a, "", first_stage, first);
    pipeline_stage_path(c->root, ST_DATA, "second.jsonl", p, sizeof p);
    argv_push(a, "--data");
    argv_pushf(a, "%s:%g", p, (double)second_weight);
}

int pipeline_stage_commands(const StageContext *c, int s, Argv cmds[STAGE_MAX_COMMANDS]) {
    const PipelineSettings *ps = c->ps;
    Argv *a = &cmds[0];
    switch (s) {
    case ST_DATA:
        /* sft.demos, not -n: the shared -n stops at 4096 */
        begin(c, s, a, "demos");
        argv_push(a, "--out");
        push_path(c, a, "", ST_DATA, "reasoning.jsonl");
        argv_pushf(a, "sft.demos=%d", ps->demos);
        end(c, s, a);
        begin(c, s, &cmds[1], "demos");
        argv_push_words(&cmds[1], ps->second_task);
        argv_push(&cmds[1], "--out");
        push_path(c, &cmds[1], "", ST_DATA, "second.jsonl");
        argv_pushf(&cmds[1], "sft.demos=%d", ps->second_demos);
        end(c, s, &cmds[1]);
        return 2;
    case ST_BASE:
        begin(c, s, a, "sft");
        argv_push_words(a, ps->base);
        argv_push(a, "--data");
        push_path(c, a, "", ST_DATA, "second.jsonl");
        end(c, s, a);
        return 1;
    case ST_COLD:
    case ST_SCOLD:
        begin(c, s, a, "sft");
        if (s == ST_SCOLD) argv_push_words(a, ps->student);
        argv_push_words(a, s == ST_SCOLD ? ps->student_cold_start : ps->cold_start);
        push_mixture(c, a, ST_DATA, "reasoning.jsonl", ps->second_weight);
        end(c, s, a);
        return 1;
    case ST_GRPO:
    case ST_FINAL:
    case ST_SRL:
        begin(c, s, a, "train");
        if (s == ST_SRL) argv_push_words(a, ps->student);
        argv_push_words(a, s == ST_GRPO ? ps->grpo : s == ST_FINAL ? ps->final_rl : ps->student_rl);
        push_path(c, a, "grpo.init=", s == ST_GRPO ? ST_COLD : s == ST_FINAL ? ST_MIX : ST_SCOLD,
                  "sft.ckpt");
        if (s == ST_SRL) argv_pushf(a, "grpo.time_limit_s=%.1f", pipeline_student_rl_budget(c));
        end(c, s, a);
        return 1;
    case ST_RS:
    case ST_TSAMP:
        begin(c, s, a, "rejection-sample");
        argv_push_words(a, s == ST_RS ? ps->rejection_sample : ps->teacher_samples);
        argv_push(a, "--checkpoint");
        push_path(c, a, "", s == ST_RS ? ST_GRPO : ST_FINAL, "final.ckpt");
        argv_push(a, "--out");
        push_path(c, a, "", s, "rs.jsonl");
        end(c, s, a);
        return 1;
    case ST_MIX:
        begin(c, s, a, "sft");
        argv_push_words(a, ps->sft_mix);
        push_mixture(c, a, ST_RS, "rs.jsonl", ps->mix_second_weight);
        push_path(c, a, "sft.init=", ST_GRPO, "final.ckpt");
        end(c, s, a);
        return 1;
    case ST_DISTILL:
        begin(c, s, a, "sft");
        argv_push_words(a, ps->student);
        argv_push_words(a, ps->distill);
        argv_push(a, "--data");
        push_path(c, a, "", ST_TSAMP, "rs.jsonl");
        end(c, s, a);
        return 1;
    }
    die("pipeline: no stage %d", s);
}
