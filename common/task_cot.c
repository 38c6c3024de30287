/* task_cot.c: the R1 template shared by the chain-of-thought tasks: parse,
 * write, tag checks and the gated reward (why gated: task_cot.h). */
#include "task_cot.h"

#include <string.h>

#include "util.h"

/* Occurrences of needle in [s, s + n) (non-overlapping); *first gets the
 * first one (or NULL). */
static int count_tag(const char *s, size_t n, const char *needle, const char **first) {
    size_t k = strlen(needle);
    int c = 0;
    *first = NULL;
    for (size_t i = 0; k && i + k <= n;) {
        if (memcmp(s + i, needle, k) == 0) {
            if (!c) *first = s + i;
            c++;
            i += k;
        } else {
            i++;
        }
    }
    return c;
}

void cot_parse(const TaskParams *p, const char *c, int finished, CotParse *out) {
    memset(out, 0, sizeof *out);
    const size_t n = strlen(c);
    const char *to, *tc, *ao, *ac;
    int nto = count_tag(c, n, p->think_open, &to), ntc = count_tag(c, n, p->think_close, &tc);
    int nao = count_tag(c, n, p->answer_open, &ao), nac = count_tag(c, n, p->answer_close, &ac);
    const size_t lto = strlen(p->think_open), ltc = strlen(p->think_close);
    const size_t lao = strlen(p->answer_open), lac = strlen(p->answer_close);
    if (nao == 1 && nac == 1 && ao + lao <= ac) {
        out->has_answer = 1;
        out->answer = ao + lao;
        out->answer_len = (size_t)(ac - out->answer);
    }
    if (nto == 1 && ntc == 1 && to + lto <= tc) {
        out->think = to + lto;
        out->think_len = (size_t)(tc - out->think);
    }
    if (!p->cot_think) {
        int blank = 1;
        for (size_t i = 0; out->has_answer && i < out->answer_len; i++)
            if (out->answer[i] != ' ') blank = 0;
        /* a think tag anywhere is a format failure: the baseline must not
         * earn its format by writing reasoning (inside the answer or not) */
        out->format = finished && out->has_answer && nto == 0 && ntc == 0 && ao == c &&
                      ac + lac == c + n && !blank;
        return;
    }
    if (!finished || !out->has_answer || !out->think) return;
    int blank = 1;
    for (size_t i = 0; i < out->think_len; i++)
        if (out->think[i] != ' ') blank = 0;
    /* exactly: think_open at 0, think_close, answer_open right after it,
     * answer_close at the very end */
    out->format = to == c && tc + ltc == ao && ac + lac == c + n && !blank;
}

int cot_write(const TaskParams *p, const char *think, const char *answer, char *out, size_t cap) {
    if (!p->cot_think) think = "";
    size_t need = (size_t)cot_tags_len(p) + strlen(think) + strlen(answer);
    if (need + 1 > cap) return -1;
    if (p->cot_think)
        snprintf(out, cap, "%s%s%s%s%s%s", p->think_open, think, p->think_close, p->answer_open,
                 answer, p->answer_close);
    else
        snprintf(out, cap, "%s%s%s", p->answer_open, answer, p->answer_close);
    return (int)need;
}

int cot_tags_len(const TaskParams *p) {
    int answer = (int)(strlen(p->answer_open) + strlen(p->answer_close));
    return p->cot_think ? answer + (int)(strlen(p->think_open) + strlen(p->think_close)) : answer;
}

int cot_check_tags(const TaskParams *p, char *err, size_t errlen) {
    const char *name[4] = {"think_open", "think_close", "answer_open", "answer_close"};
    const char *tag[4] = {p->think_open, p->think_close, p->answer_open, p->answer_close};
    for (int i = 0; i < 4; i++) {
        if (!tag[i][0]) {
            set_err(err, errlen, "[task] %s is empty: the template needs all four tags", name[i]);
            return -1;
        }
        for (const char *q = tag[i]; *q; q++)
            if ((unsigned char)*q < 32 || (unsigned char)*q > 126) {
                set_err(err, errlen,
                        "[task] %s = '%s': character 0x%02x is not printable ASCII, which is "
                        "all the character tokenizer has",
                        name[i], tag[i], (unsigned char)*q);
                return -1;
            }
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            if (i != j && strstr(tag[j], tag[i])) {
                set_err(err, errlen,
                        "[task] %s = '%s' occurs inside %s = '%s': the tags could not be told "
                        "apart",
                        name[i], tag[i], name[j], tag[j]);
                return -1;
            }
    return 0;
}

void cot_reward(const Task *t, int accuracy, int format, int consistency, Reward *out) {
    memset(out, 0, sizeof *out);
    out->n = 3;
    out->value[0] = (float)accuracy;
    out->value[1] = (float)format;
    out->value[2] = (float)consistency;
    out->correct = accuracy && format;
    out->total = out->correct ? t->weights[0] + t->weights[2] * (float)consistency : 0.0f;
}

void cot_task_init(Task *t, const char *name, const TaskParams *p) {
    t->name = name;
    t->n_components = 3;
    t->component_names[0] = "accuracy";
    t->component_names[1] = "format";
    t->component_names[2] = "consistency";
    for (int i = 0; i < 3; i++) t->weights[i] = p->weights[i];
}
