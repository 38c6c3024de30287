/* distill_settings.c: the [distill] section (distill.h). */
#include "distill.h"

#include <math.h>

#include "util.h"

const char *const distill_samples_names[] = {"teacher", "student", "mixed", NULL};
_Static_assert(sizeof distill_samples_names / sizeof *distill_samples_names ==
                   DISTILL_SAMPLES_COUNT + 1,
               "distill_samples_names");

#define T DistillSettings
static const CfgKey keys[] = {
    CFG_S(T, "teacher", teacher, "", 1, "teacher checkpoint (grpo distill --teacher FILE)"),
    CFG_S(T, "init", init, "", 1,
          "checkpoint the student starts from (read-only; its shape is adopted and its tokenizer "
          "must match); \"\" = fresh random weights of the [model] shape"),
    CFG_I(T, "steps", steps, "1000", 0, 1e9, 1, "optimizer steps"),
    CFG_I(T, "batch_size", batch, "32", 1, 1 << 20, 1, "teacher-sampled sequences per step"),
    CFG_OPTIM_KEYS(T, opt, "2e-3", "1e-4", "50", "0.0", "1.0"),
    CFG_F(T, "temperature", temperature, "1.0", 0.05, 20, 1,
          "temperature of the teacher's softmax in the KL (the student's is 1)"),
    CFG_I(T, "heldout", heldout, "64", 1, 1 << 16, 0,
          "held-out prompts, with teacher completions, the KL is reported on"),
    CFG_I(T, "eval_every", eval_every, "100", 0, 1e9, 0,
          "held-out KL every N steps (0: at start and end only)"),
    CFG_I(T, "max_nonfinite_steps", max_nonfinite_steps, "3", 1, 1e9, 0,
          "stop (status 6) after N steps in a row with a NaN/inf gradient"),
    CFG_E(T, "samples", samples, "teacher", distill_samples_names, 1,
          "who samples the completions: teacher, student (on-policy) or mixed"),
    CFG_F(T, "student_share", student_share, "0.5", 0, 1, 1,
          "mixed: share of each batch's rows (the first ones) the student samples"),
};
#undef T

static int validate(const Config *cfg, const void *settings, char *err, size_t errlen) {
    (void)cfg;
    const DistillSettings *s = settings;
    if (s->opt.lr_min > s->opt.lr) {
        set_err(err, errlen, "[distill] lr_min = %g must not exceed lr = %g", s->opt.lr_min,
                s->opt.lr);
        return -1;
    }
    if (s->samples == DISTILL_MIXED) {
        if (!(s->student_share > 0 && s->student_share < 1)) {
            set_err(err, errlen, "[distill] student_share = %g must be in (0, 1) with samples = "
                    "mixed (use samples = teacher or student for all of one)", s->student_share);
            return -1;
        }
        int ns = distill_student_rows(s, s->batch);
        if (ns < 1 || ns > s->batch - 1) {
            set_err(err, errlen, "[distill] student_share = %g of batch_size = %d rows gives %d "
                    "student rows: mixed needs at least one row from each model", s->student_share,
                    s->batch, ns);
            return -1;
        }
    }
    return 0;
}

int distill_student_rows(const DistillSettings *ds, int batch) {
    switch (ds->samples) {
    case DISTILL_STUDENT: return batch;
    case DISTILL_MIXED: return (int)lround((double)ds->student_share * batch);
    default: return 0;
    }
}

const CfgSection distill_section = CFG_SECTION("distill", DistillSettings, keys, NULL, validate);
