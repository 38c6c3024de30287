#include "plan.h"

#include <stdio.h>

const char *const phase_names[PHASE_COUNT] = {"generate", "verify", "send", "wait",
                                              "learn",    "bcast",  "eval"};

const char *const layout_names[] = {"separate", "colocated", NULL};
_Static_assert(sizeof layout_names / sizeof *layout_names == LAYOUT_COUNT + 1,
               "a name per layout");

/* learners and layout change who computes what, not what is computed (the
 * runs are the same up to float summation order), so they are not keys
 * that define a run: a checkpoint resumes under another split. */
#define T TrainPlan
static const CfgKey keys[] = {
    CFG_I(T, "learners", learners, "1", 1, 1 << 16, 0,
          "data-parallel learner ranks K (separate layout: ranks 0..K-1 learn, the rest act)"),
    CFG_E(T, "layout", layout, "separate", layout_names, 0,
          "separate (learners and actors) or colocated (every rank acts, then learns)"),
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

Roles plan_roles(const TrainPlan *p, int rank, int size) {
    Roles r;
    if (p->layout == LAYOUT_COLOCATED) {
        r.n_learners = r.n_actors = size;
        r.first_actor = 0;
    } else {
        r.n_learners = p->learners < size ? p->learners : size;
        r.first_actor = r.n_learners;
        r.n_actors = size - r.n_learners;
    }
    r.learner = rank < r.n_learners ? rank : -1;
    r.actor = rank >= r.first_actor ? rank - r.first_actor : -1;
    return r;
}

void plan_actor_slots(const TrainPlan *p, int a, int n_actors, int *lo, int *hi) {
    const int B = p->prompts_per_step, base = B / n_actors, extra = B % n_actors;
    *lo = a * base + (a < extra ? a : extra);
    *hi = *lo + base + (a < extra);
}

int plan_quota(const TrainPlan *p, int rank, int size) {
    Roles r = plan_roles(p, rank, size);
    if (r.actor < 0) return 0;
    int lo, hi;
    plan_actor_slots(p, r.actor, r.n_actors, &lo, &hi);
    return hi - lo;
}

void plan_init_path(const TrainPlan *p, const char *run_dir, char *out, size_t cap) {
    if (p->init[0]) snprintf(out, cap, "%s", p->init);
    else snprintf(out, cap, "%s/sft.ckpt", run_dir);
}

int plan_eval_due(const TrainPlan *p, long step) {
    return (p->eval_every > 0 && step % p->eval_every == 0) || step == p->steps;
}

int plan_check_ranks(const TrainPlan *p, int size, char *why, size_t cap) {
    const int colocated = p->layout == LAYOUT_COLOCATED;
    if (!colocated && size < p->learners + 1) {
        snprintf(why, cap, "grpo train needs at least %d ranks (%d learner%s + actors): mpirun -np "
                 "%d ..., or [grpo] layout = colocated (every rank acts and learns)",
                 p->learners + 1, p->learners, p->learners > 1 ? "s" : "", p->learners + 2);
        return -1;
    }
    Roles r = plan_roles(p, 0, size);
    if (r.n_actors > p->prompts_per_step) {
        snprintf(why, cap,
                 "%d actors but [grpo] prompts_per_step = %d: every actor needs at least one "
                 "prompt per step; use fewer ranks or more prompts",
                 r.n_actors, p->prompts_per_step);
        return -1;
    }
    if (r.n_learners > p->prompts_per_step) {
        snprintf(why, cap, "%d learners but [grpo] prompts_per_step = %d: every learner needs at "
                 "least one group per step", r.n_learners, p->prompts_per_step);
        return -1;
    }
    if (p->async && (colocated || r.n_learners > 1)) {
        snprintf(why, cap, "[grpo] async = 1 runs with one learner in the separate layout only "
                 "(got %s, %d learners): use async = 0", layout_names[p->layout], r.n_learners);
        return -1;
    }
    return 0;
}
