#include "eval_report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "wire.h"

_Static_assert(TASK_MAX_COMPONENTS == 4, "the GEVL layout holds exactly 4 component sums");

void eval_tally_add(EvalTally *acc, const EvalTally *t) {
    acc->k = t->k;
    acc->version = t->version;
    acc->asked = t->asked;
    acc->whole_split = t->whole_split;
    acc->n_prompts += t->n_prompts;
    acc->greedy_ok += t->greedy_ok;
    for (int q = 0; q < TASK_MAX_COMPONENTS; q++) acc->comp[q] += t->comp[q];
    acc->len += t->len;
    acc->sampled_ok += t->sampled_ok;
    acc->passed += t->passed;
}

void eval_result_from_tally(const EvalTally *t, int n_components, EvalResult *out) {
    memset(out, 0, sizeof *out);
    out->n_prompts = (int)t->n_prompts;
    out->asked = t->asked;
    out->whole_split = t->whole_split;
    out->k = t->k;
    double n = t->n_prompts > 0 ? t->n_prompts : 1;
    out->greedy_acc = t->greedy_ok / n;
    for (int q = 0; q < n_components && q < TASK_MAX_COMPONENTS; q++)
        out->greedy_reward[q] = t->comp[q] / n;
    out->greedy_format = n_components > 1 ? out->greedy_reward[1] : 0;
    out->mean_len = t->len / n;
    if (t->k >= 1) {
        out->sampled_acc = t->sampled_ok / (n * t->k);
        out->pass_at_k = t->passed / n;
    }
}

void eval_report_encode(const EvalTally *t, uint8_t out[EVAL_REPORT_BYTES]) {
    memcpy(out, "GEVL", 4);
    wire_put_u32(out + 4, (uint32_t)t->k);
    wire_put_u64(out + 8, t->version);
    wire_put_f64(out + 16, t->n_prompts);
    wire_put_f64(out + 24, t->greedy_ok);
    for (int q = 0; q < TASK_MAX_COMPONENTS; q++) wire_put_f64(out + 32 + 8 * q, t->comp[q]);
    wire_put_f64(out + 64, t->len);
    wire_put_f64(out + 72, t->sampled_ok);
    wire_put_f64(out + 80, t->passed);
    wire_put_u32(out + 88, (uint32_t)t->asked);
    wire_put_u32(out + 92, (uint32_t)t->whole_split);
}

int eval_report_decode(const uint8_t *in, size_t len, EvalTally *t, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    if (!in || len != EVAL_REPORT_BYTES || memcmp(in, "GEVL", 4) != 0) {
        set_err(err, errlen, "eval report: not a %d-byte GEVL message (%zu bytes)",
                EVAL_REPORT_BYTES, len);
        return -1;
    }
    t->k = (int)wire_get_u32(in + 4);
    t->version = wire_get_u64(in + 8);
    t->n_prompts = wire_get_f64(in + 16);
    t->greedy_ok = wire_get_f64(in + 24);
    for (int q = 0; q < TASK_MAX_COMPONENTS; q++) t->comp[q] = wire_get_f64(in + 32 + 8 * q);
    t->len = wire_get_f64(in + 64);
    t->sampled_ok = wire_get_f64(in + 72);
    t->passed = wire_get_f64(in + 80);
    uint32_t asked = wire_get_u32(in + 88), whole = wire_get_u32(in + 92);
    const double counts[] = {t->n_prompts, t->greedy_ok, t->len, t->sampled_ok, t->passed};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (!isfinite(counts[i]) || counts[i] < 0) {
            set_err(err, errlen, "eval report: count %zu is %g (negative or not finite)", i,
                    counts[i]);
            memset(t, 0, sizeof *t);
            return -1;
        }
    if (t->greedy_ok > t->n_prompts || t->passed > t->n_prompts || t->k > 1 << 20 ||
        asked > 1u << 30 || whole > 1) {
        set_err(err, errlen, "eval report: counts exceed the %g prompts evaluated", t->n_prompts);
        memset(t, 0, sizeof *t);
        return -1;
    }
    t->asked = (int)asked;
    t->whole_split = (int)whole;
    return 0;
}

void eval_print(const char *label, const EvalResult *r, const Task *t) {
    printf("%s held-out on %d distinct prompts", label, r->n_prompts);
    if (r->whole_split && r->n_prompts < r->asked)
        printf(" (the whole held-out split; %d asked)", r->asked);
    else if (r->whole_split)
        printf(" (the whole held-out split)");
    printf(": greedy accuracy %.3f", r->greedy_acc);
    for (int q = 1; q < t->n_components; q++)
        printf(", %s %.3f", t->component_names[q], r->greedy_reward[q]);
    if (r->k >= 1)
        printf(" | sampled accuracy %.3f, pass@%d %.3f", r->sampled_acc, r->k, r->pass_at_k);
    printf(" | mean length %.2f\n", r->mean_len);
    fflush(stdout);
}
