#include "update.h"

#include <math.h>

#include "util.h"

UpdateStats model_update(Model *m, AdamW *opt, const OptimSettings *os, long step, long total) {
    size_t sizes[MODEL_NUM_TENSORS];
    model_tensor_sizes(&m->cfg, sizes);
    ParamGroup groups[MODEL_NUM_TENSORS];
    size_t off = 0;
    for (int i = 0; i < MODEL_NUM_TENSORS; i++) {
        groups[i] = (ParamGroup){off, sizes[i], model_tensor_decays(i)};
        off += sizes[i];
    }
    UpdateStats st = {0};
    /* grad_clip leaves a NaN gradient as it is and may scale an inf one to
     * NaN: either way it is discarded below, so one pass over the gradient
     * both measures and clips it */
    st.grad_norm = grad_clip(m->grads, m->n_params, os->grad_clip);
    st.lr = lr_at_step(step, os->warmup, total, os->lr, os->lr_min);
    st.skipped = !isfinite(st.grad_norm);
    if (!st.skipped) {
        AdamWConfig ac = {os->beta1, os->beta2, os->eps, os->weight_decay};
        adamw_step(opt, &ac, m->params, m->grads, groups, MODEL_NUM_TENSORS, st.lr);
    }
    model_zero_grads(m);
    return st;
}

int nonfinite_tally(NonfiniteTally *t, int skipped, int limit) {
    CHECK(skipped >= 0 && limit >= 1);
    t->total += skipped;
    t->in_a_row = skipped ? t->in_a_row + 1 : 0;
    return t->in_a_row >= limit;
}
