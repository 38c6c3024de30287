#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A line under construction, in memory (so it goes out in one write). */
typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} LineBuf;

static FILE *line_begin(LineBuf *b) {
    b->buf = NULL;
    b->len = 0;
    b->f = open_memstream(&b->buf, &b->len);
    if (!b->f) die("open_memstream failed: out of memory");
    return b->f;
}

/* Appends the finished line to lf; frees the buffer. 0 or -1 with err. */
static int line_end(LineBuf *b, LineFile *lf, char *err, size_t errlen) {
    if (fclose(b->f) != 0) die("building a metrics line failed: out of memory");
    int rc = linefile_append(lf, b->buf, b->len, err, errlen);
    free(b->buf);
    return rc;
}

/* A resumed run of an older build keeps its shorter rows: gnuplot reads
 * the missing columns as undefined. */
const char *const metrics_tsv_columns[METRICS_TSV_COLUMNS] = {
    "step",     "reward_mean", "accuracy", "eval_greedy_acc", "kl",           "entropy",
    "len_mean", "len_max",     "clip_low", "clip_high",       "zero_var_frac"};

int metrics_tsv_column(const char *name) {
    for (int c = 0; c < METRICS_TSV_COLUMNS; c++)
        if (strcmp(metrics_tsv_columns[c], name) == 0) return c + 1;
    return 0;
}

int metrics_open(MetricsLog *ml, const char *dir, const Task *task, const ScorerSet *scorers,
                 int append, char *err, size_t errlen) {
    memset(ml, 0, sizeof *ml);
    ml->jsonl.fd = ml->tsv.fd = ml->samples.fd = -1;
    snprintf(ml->dir, sizeof ml->dir, "%s", dir);
    reward_mix_names(task, scorers, ml->comp_names);
    ml->n_eval_components = task->n_components;
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    if (linefile_open(&ml->jsonl, path, append, err, errlen) != 0) return -1;
    snprintf(path, sizeof path, "%s/metrics.tsv", dir);
    if (linefile_open(&ml->tsv, path, append, err, errlen) != 0) {
        linefile_close(&ml->jsonl, NULL, 0);
        return -1;
    }
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    if (linefile_open(&ml->samples, path, append, err, errlen) != 0) {
        linefile_close(&ml->jsonl, NULL, 0);
        linefile_close(&ml->tsv, NULL, 0);
        return -1;
    }
    if (append) return 0;
    LineBuf b;
    FILE *f = line_begin(&b);
    fprintf(f, "#");
    for (int c = 0; c < METRICS_TSV_COLUMNS; c++)
        fprintf(f, "%s%s", c ? "\t" : " ", metrics_tsv_columns[c]);
    fprintf(f, "\n");
    return line_end(&b, &ml->tsv, err, errlen);
}

int metrics_close(MetricsLog *ml, char *err, size_t errlen) {
    int a = linefile_close(&ml->jsonl, err, errlen);
    int b = linefile_close(&ml->tsv, a ? NULL : err, a ? 0 : errlen);
    int c = linefile_close(&ml->samples, a || b ? NULL : err, a || b ? 0 : errlen);
    return a || b || c ? -1 : 0;
}

int metrics_sync(MetricsLog *ml, char *err, size_t errlen) {
    if (linefile_sync(&ml->jsonl, err, errlen) != 0) return -1;
    if (linefile_sync(&ml->samples, err, errlen) != 0) return -1;
    return linefile_sync(&ml->tsv, err, errlen);
}

int metrics_start(MetricsLog *ml, const EvalResult *start, char *err, size_t errlen) {
    LineBuf b;
    fprintf(line_begin(&b), "{\"step\":0,\"eval_greedy_acc\":%.6g,\"eval_prompts\":%d}\n",
            start->greedy_acc, start->n_prompts);
    if (line_end(&b, &ml->jsonl, err, errlen) != 0) return -1;
    FILE *f = line_begin(&b);
    fprintf(f, "0\tNaN\tNaN\t%.6g", start->greedy_acc);
    for (int c = 4; c < METRICS_TSV_COLUMNS; c++) fprintf(f, "\tNaN");
    fprintf(f, "\n");
    return line_end(&b, &ml->tsv, err, errlen);
}

static void fmt_eta(double s, char *out, size_t cap) {
    if (s < 0) s = 0;
    int m = (int)(s / 60), sec = (int)s % 60;
    if (m >= 60) snprintf(out, cap, "%dh%02dm", m / 60, m % 60);
    else snprintf(out, cap, "%dm%02ds", m, sec);
}

/* ,"key":v with v in fmt, or null: JSON has no NaN or inf, and a step that
 * skipped a non-finite gradient reports exactly such values. */
static void put_num(FILE *f, const char *key, const char *fmt, double v) {
    fprintf(f, ",\"%s\":", key);
    if (isfinite(v)) fprintf(f, fmt, v);
    else fprintf(f, "null");
}

typedef struct {
    const char *key;
    double v;
} NumField;

#define N_FIELDS(a) (sizeof(a) / sizeof(a)[0])

/* put_num "%.6g" of each of the n fields, in order. */
static void put_nums(FILE *f, const NumField *fields, size_t n) {
    for (size_t i = 0; i < n; i++) put_num(f, fields[i].key, "%.6g", fields[i].v);
}

int metrics_step(MetricsLog *ml, const StepLog *s, char *err, size_t errlen) {
    const StepMetrics *m = &s->m;
    LineBuf b;
    FILE *f = line_begin(&b);
    fprintf(f, "{\"step\":%ld,\"version\":%llu,\"elapsed_s\":%.3f,\"step_s\":%.4f", s->step,
            s->version, s->elapsed, s->step_seconds);
    fprintf(f, ",\"groups\":%d,\"completions\":%d", m->n_groups, m->n_completions);
    put_num(f, "reward_mean", "%.6g", m->reward_mean);
    put_num(f, "reward_std", "%.6g", m->reward_std);
    char key[96];
    for (int q = 0; q < m->n_components; q++) {
        snprintf(key, sizeof key, "reward_%s_mean", ml->comp_names[q]);
        put_num(f, key, "%.6g", m->comp_mean[q]);
        snprintf(key, sizeof key, "reward_%s_std", ml->comp_names[q]);
        put_num(f, key, "%.6g", m->comp_std[q]);
    }
    const NumField policy[] = {
        {"accuracy", m->accuracy}, {"zero_var_frac", m->zero_var_frac}, {"kl", m->kl},
        {"clip_low", m->clip_low}, {"clip_high", m->clip_high},
        {"ratio_max_dev", m->ratio_max_dev}, {"entropy", m->entropy},
        {"objective", m->objective}};
    put_nums(f, policy, N_FIELDS(policy));
    put_num(f, "len_mean", "%.4g", m->len_mean);
    fprintf(f, ",\"len_max\":%d", m->len_max);
    put_num(f, "truncated_frac", "%.6g", m->truncated_frac);
    /* why completions got reward 0 without being judged: a verifier
     * program that failed, code the sandbox stopped (only those seen) */
    fprintf(f, ",\"reward_failed\":%d,\"reward_status\":{", m->status_failed);
    for (int st = 1, first = 1; st < REWARD_STATUS_COUNT; st++)
        if (m->status_count[st]) {
            fprintf(f, "%s\"%s\":%d", first ? "" : ",", reward_status_name(st), m->status_count[st]);
            first = 0;
        }
    fprintf(f, "}");
    put_num(f, "logp_diff_max", "%.3e", m->logp_diff_max);
    put_num(f, "logp_diff_mean", "%.3e", m->logp_diff_mean);
    put_num(f, "grad_norm", "%.6g", m->grad_norm);
    put_num(f, "lr", "%.6g", (double)m->lr);
    fprintf(f, ",\"nonfinite_skipped\":%d,\"nonfinite_in_a_row\":%ld", m->nonfinite_skipped,
            m->nonfinite_in_a_row);
    fprintf(f,
            ",\"staleness_mean\":%.4g,\"staleness_max\":%d,\"actor_tok_s\":%.1f,"
            "\"learner_tok_s\":%.1f",
            m->staleness_mean, m->staleness_max, s->actor_tok_s, s->learner_tok_s);
    fprintf(f, ",\"staleness_hist\":[");
    for (int i = 0; i < 8; i++) fprintf(f, "%s%d", i ? "," : "", m->staleness_hist[i]);
    fprintf(f, "]");
    const NumField is_ratio[] = {{"is_ratio_mean", m->is_mean}, {"is_ratio_min", m->is_min},
                                 {"is_ratio_max", m->is_max},
                                 {"is_truncated_frac", m->is_truncated_frac}};
    put_nums(f, is_ratio, N_FIELDS(is_ratio));
    if (m->ppo) { /* [grpo] algo = ppo: the value model and the KL (ppo_step.h) */
        const NumField value[] = {
            {"value_loss", m->value_loss}, {"explained_variance", m->explained_variance},
            {"value_clip_frac", m->value_clip_frac}, {"return_mean", m->return_mean},
            {"adv_mean", m->adv_mean}, {"adv_std", m->adv_std}, {"kl_seq", m->kl_seq},
            {"beta", m->beta}};
        put_nums(f, value, N_FIELDS(value));
    }
    fprintf(f,
            ",\"t_collect\":%.4f,\"t_generate\":%.4f,\"t_verify\":%.4f,\"t_comm\":%.4f,"
            "\"t_learn\":%.4f,\"t_allreduce\":%.4f,\"t_bcast\":%.4f,\"t_eval\":%.4f",
            s->t_collect, s->t_gen, s->t_verify, s->t_comm, s->t_learn, m->t_allreduce, s->t_bcast,
            s->t_eval);
    double per_tok = m->tokens ? s->wire_bytes / m->tokens : 0;
    fprintf(f,
            ",\"wire_bytes\":%.0f,\"raw_bytes\":%.0f,\"wire_bytes_per_token\":%.4g,"
            "\"compression_ratio\":%.4g,\"bad_messages\":%ld,\"stale_dropped\":%ld",
            s->wire_bytes, s->raw_bytes, per_tok, s->wire_bytes > 0 ? s->raw_bytes / s->wire_bytes : 0,
            s->bad_messages, s->stale_dropped);
    if (s->alarm_live) {
        fprintf(f, ",\"overopt_alarm\":%d", s->alarm_on);
        put_num(f, "overopt_truth_drop", "%.6g", s->truth_drop);
        put_num(f, "overopt_proxy_change", "%.6g", s->proxy_change);
    }
    if (s->has_eval) {
        fprintf(f, ",\"eval_greedy_acc\":%.6g,\"eval_prompts\":%d", s->eval.greedy_acc,
                s->eval.n_prompts);
        for (int q = 0; q < ml->n_eval_components; q++)
            fprintf(f, ",\"eval_%s\":%.6g", ml->comp_names[q], s->eval.greedy_reward[q]);
    }
    fprintf(f, "}\n");
    if (line_end(&b, &ml->jsonl, err, errlen) != 0) return -1;

    f = line_begin(&b);
    fprintf(f, "%ld\t%.6g\t%.6g\t", s->step, m->reward_mean, m->accuracy);
    if (s->has_eval) fprintf(f, "%.6g", s->eval.greedy_acc);
    else fprintf(f, "NaN");
    /* the order of metrics_tsv_columns */
    fprintf(f, "\t%.6g\t%.6g\t%.4g\t%d\t%.6g\t%.6g\t%.6g\n", m->kl, m->entropy, m->len_mean,
            m->len_max, m->clip_low, m->clip_high, m->zero_var_frac);
    if (line_end(&b, &ml->tsv, err, errlen) != 0) return -1;

    char eta[32], evs[48] = "";
    double left = s->elapsed / s->step * (s->total_steps - s->step);
    if (s->time_limit_s > 0) left = fmin(left, fmax(0, s->time_limit_s - s->elapsed));
    fmt_eta(left, eta, sizeof eta);
    if (s->has_eval) snprintf(evs, sizeof evs, " | held-out %.3f", s->eval.greedy_acc);
    char fails[48] = "", ppo[128] = "";
    if (m->status_failed) snprintf(fails, sizeof fails, " unscored %d", m->status_failed);
    if (m->ppo)
        snprintf(ppo, sizeof ppo,
                 " | vloss %.4f ev %.2f vclip %.2f ret %.3f adv %+.3f/%.3f beta %.3g",
                 m->value_loss, m->explained_variance, m->value_clip_frac, m->return_mean,
                 m->adv_mean, m->adv_std, m->beta);
    if (s->alarm_on) snprintf(evs + strlen(evs), sizeof evs - strlen(evs), " | OVER-OPTIMISING");
    printf("step %4ld/%ld | reward %.3f acc %.3f zero-var %.2f%s | kl %.4f clip %.3f ent %.3f | "
           "len %.1f%s | |dlogp| %.1e | %.0f gen tok/s %.0f learn tok/s | %.2f s/step | ETA %s%s\n",
           s->step, s->total_steps, m->reward_mean, m->accuracy, m->zero_var_frac, fails, m->kl,
           m->clip_low + m->clip_high, m->entropy, m->len_mean, ppo, m->logp_diff_max,
           s->actor_tok_s, s->learner_tok_s, s->step_seconds, eta, evs);
    fflush(stdout);
    return 0;
}
