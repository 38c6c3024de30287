#include "plan.h"

#include <stdio.h>

const char *const phase_names[PHASE_COUNT] = {"generate", "verify", "send", "wait",
                                              "learn",    "bcast",  "eval"};

#define T TrainPlan
static const CfgKey keys[] = {
    CFG_I(T, "steps", steps, "200", 0, 1e9, 1, "optimizer steps"),
    CFG_I(T, "prompts_per_step", prompts_per_step, "16", 1, 1 << 20, 1, "groups B per step"),
    CFG_I(T, "group_size", group_size, "8", 1, 4096, 1, "completions G per prompt"),
    CFG_S(T, "init", init, "", 1, "starting checkpoint (\"\" = <dir>/sft.ckpt)"),
    CFG_I(T, "eval_every", eval_every, "10", 0, 1e9, 0, "held-out eval every E steps (0 = end only)"),
    CFG_I(T, "checksum_every", checksum_every, "10", 1, 1e9, 0, "cross-rank weight check every K steps"),
    CFG_I(T, "async", async, "0", 0, 1, 1, "1: actors keep generating while the learner trains"),
    CFG_I(T, "max_staleness", max_staleness, "1", 0, 1000, 1, "async: max policy lag (versions)"),
    CFG_F(T, "deadline_s", deadline_s, "600", 0.5, 1e7, 0, "give up on a silent rank after (s)"),
};
#undef T

const CfgSection plan_section = CFG_SECTION("grpo", TrainPlan, keys, NULL, NULL);

int plan_quota(const TrainPlan *p, int rank, int size) {
    int n_act = size - 1, idx = rank - 1;
    return p->prompts_per_step / n_act + (idx < p->prompts_per_step % n_act);
}

void plan_init_path(const TrainPlan *p, const char *run_dir, char *out, size_t cap) {
    if (p->init[0]) snprintf(out, cap, "%s", p->init);
    else snprintf(out, cap, "%s/sft.ckpt", run_dir);
}

int plan_eval_due(const TrainPlan *p, long step) {
    return (p->eval_every > 0 && step % p->eval_every == 0) || step == p->steps;
}

int plan_check_ranks(const TrainPlan *p, int size, char *why, size_t cap) {
    if (size < 2) {
        snprintf(why, cap, "grpo train needs at least 2 ranks (1 learner + actors): mpirun -np 3 ...");
        return -1;
    }
    if (size - 1 > p->prompts_per_step) {
        snprintf(why, cap,
                 "%d actors but [grpo] prompts_per_step = %d: every actor needs at least one "
                 "prompt per step; use fewer ranks or more prompts",
                 size - 1, p->prompts_per_step);
        return -1;
    }
    return 0;
}
