#include "update.h"

UpdateStats model_update(Model *m, AdamW *opt, const OptimSettings *os, long step, long total) {
    size_t sizes[MODEL_NUM_TENSORS];
    model_tensor_sizes(&m->cfg, sizes);
    ParamGroup groups[MODEL_NUM_TENSORS];
    size_t off = 0;
    for (int i = 0; i < MODEL_NUM_TENSORS; i++) {
        groups[i] = (ParamGroup){off, sizes[i], model_tensor_decays(i)};
        off += sizes[i];
    }
    UpdateStats st;
    st.grad_norm = grad_clip(m->grads, m->n_params, os->grad_clip);
    st.lr = lr_at_step(step, os->warmup, total, os->lr, os->lr_min);
    AdamWConfig ac = {os->beta1, os->beta2, os->eps, os->weight_decay};
    adamw_step(opt, &ac, m->params, m->grads, groups, MODEL_NUM_TENSORS, st.lr);
    model_zero_grads(m);
    return st;
}
