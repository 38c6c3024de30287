/* reward_mix.c: the hybrid reward and the [reward] section (why gated:
 * reward_mix.h). */
#include "reward_mix.h"

#include "util.h"

static int validate(const Config *cfg, const void *settings, char *err, size_t errlen) {
    ScorerSet s;
    return scorer_set_parse(((const RewardSettings *)settings)->scorers, &s, err, errlen);
}

#define T RewardSettings
static const CfgKey keys[] = {
    CFG_S(T, "scorers", scorers, "", 1,
          "extra scorers NAME:WEIGHT, comma separated (length = brevity, rm:PATH:WEIGHT = a "
          "reward model checkpoint, sigmoid of its reward), added to the "
          "verifier's reward of correct completions only"),
};
#undef T

const CfgSection reward_section = CFG_SECTION("reward", RewardSettings, keys, NULL, validate);

void reward_mix_apply(const Task *t, const ScorerSet *scorers, const TaskItem *item,
                      const char *completion, const int *tokens, int n_tokens, int finished,
                      Reward *r) {
    CHECK(r->n == t->n_components);
    if (!scorers) return;
    CHECK(r->n + scorers->n <= REWARD_MAX_COMPONENTS);
    float bonus = 0;
    for (int i = 0; i < scorers->n; i++) {
        float v = scorer_value(scorers, i, item->prompt, completion, tokens, n_tokens, finished);
        r->value[r->n++] = v;
        bonus += scorers->s[i].weight * v;
    }
    if (r->correct) r->total += bonus;
}

void reward_mix_score(const Task *t, const ScorerSet *scorers, const TaskItem *item,
                      const char *completion, const int *tokens, int n_tokens, int finished,
                      Reward *out) {
    const VerifyJob job = {item, completion, finished};
    task_verify_batch(t, &job, 1, out);
    reward_mix_apply(t, scorers, item, completion, tokens, n_tokens, finished, out);
}

int reward_mix_names(const Task *t, const ScorerSet *scorers,
                     const char *names[REWARD_MAX_COMPONENTS]) {
    int n = 0;
    for (int q = 0; q < t->n_components; q++) names[n++] = t->component_names[q];
    for (int i = 0; scorers && i < scorers->n; i++) {
        CHECK(n < REWARD_MAX_COMPONENTS);
        names[n++] = scorers->s[i].name;
    }
    return n;
}
