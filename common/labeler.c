/* labeler.c: the synthetic labeler (labeler.h). */
#include "labeler.h"

#include <string.h>

#include "rng.h"
#include "util.h"

int labeler_init(Labeler *l, const Task *t, float noise, uint64_t seed, char *err, size_t errlen) {
    memset(l, 0, sizeof *l);
    l->component = -1;
    for (int i = 0; i < t->n_components; i++)
        if (t->component_names[i] && strcmp(t->component_names[i], "preference") == 0)
            l->component = i;
    if (l->component < 0) {
        set_err(err, errlen,
                "task %s reports no \"preference\" component: the synthetic labeler needs a task "
                "with a hidden preference ([task] name = review, or an external verifier whose "
                "verifier_components include preference)",
                t->name);
        return -1;
    }
    if (!(noise >= 0 && noise <= 0.5f)) {
        set_err(err, errlen, "label_noise = %g: expected a probability in 0..0.5 (0.5 labels at "
                "random; more would prefer the worse completion)", noise);
        return -1;
    }
    l->task = t;
    l->noise = noise;
    l->seed = seed;
    return 0;
}

float labeler_true_score(const Labeler *l, const TaskItem *item, const char *completion,
                         int finished) {
    VerifyJob job = {item, completion, finished};
    Reward r;
    task_verify_batch(l->task, &job, 1, &r);
    return r.value[l->component];
}

Label labeler_compare(Labeler *l, const TaskItem *item, const char *a, int a_finished,
                      const char *b, int b_finished, uint64_t pair, int *flipped) {
    return labeler_compare_scores(l, labeler_true_score(l, item, a, a_finished),
                                  labeler_true_score(l, item, b, b_finished), pair, flipped);
}

Label labeler_compare_scores(Labeler *l, float sa, float sb, uint64_t pair, int *flipped) {
    if (flipped) *flipped = 0;
    l->compared++;
    if (sa == sb) {
        l->ties++;
        return LABEL_TIE;
    }
    Label label = sa > sb ? LABEL_FIRST : LABEL_SECOND;
    if (l->noise > 0) {
        Rng r;
        rng_seed(&r, l->seed, pair ^ 0x4C4142454CULL); /* "LABEL": not the sampler's streams */
        if (rng_uniform(&r) < l->noise) {
            label = label == LABEL_FIRST ? LABEL_SECOND : LABEL_FIRST;
            l->flips++;
            if (flipped) *flipped = 1;
        }
    }
    return label;
}
