#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grpo_loss.h"
#include "sample_dist.h"
#include "util.h"

typedef enum { T_INT, T_U64, T_FLOAT, T_STR, T_ENUM } KeyType;

typedef struct {
    const char *section, *key;
    KeyType type;
    size_t offset, size;   /* size: buffer size for T_STR */
    const char *def;       /* default, as text */
    double lo, hi;         /* bounds for numbers */
    const char *const *names; /* T_ENUM: allowed values, NULL-terminated */
    int run_defining;      /* changing it on resume is refused */
    const char *help;
} Key;


#define OFF(f) offsetof(Config, f), sizeof(((Config *)0)->f)
#define I(sec, k, f, d, lo, hi, rd, h) {sec, k, T_INT, OFF(f), d, lo, hi, NULL, rd, h}
#define F(sec, k, f, d, lo, hi, rd, h) {sec, k, T_FLOAT, OFF(f), d, lo, hi, NULL, rd, h}
#define S(sec, k, f, d, rd, h) {sec, k, T_STR, OFF(f), d, 0, 0, NULL, rd, h}
#define E(sec, k, f, d, names, rd, h) {sec, k, T_ENUM, OFF(f), d, 0, 0, names, rd, h}
#define OPT(sec, o, d_lr, d_lrmin, d_wu, d_wd, d_clip)                                                   \
    F(sec, "lr", o.lr, d_lr, 0, 10, 1, "peak learning rate"),                                   \
    F(sec, "lr_min", o.lr_min, d_lrmin, 0, 10, 1, "final learning rate of the cosine"),         \
    I(sec, "warmup", o.warmup, d_wu, 0, 1e9, 1, "linear warm-up steps"),                        \
    F(sec, "weight_decay", o.weight_decay, d_wd, 0, 10, 1, "AdamW decoupled decay (matrices)"), \
    F(sec, "beta1", o.beta1, "0.9", 0, 0.99999, 1, "AdamW beta1"),                            \
    F(sec, "beta2", o.beta2, "0.99", 0, 0.999999, 1, "AdamW beta2"),                          \
    F(sec, "adam_eps", o.eps, "1e-8", 0, 1, 1, "AdamW epsilon"),                              \
    F(sec, "grad_clip", o.grad_clip, d_clip, 0, 1e9, 1, "global gradient-norm clip, 0 = off")

static const Key keys[] = {
    {"run", "seed", T_U64, OFF(seed), "1234", 0, 0, NULL, 1, "run seed (actors use seed and rank)"},
    S("run", "dir", dir, "runs/demo", 0, "run directory"),
    I("run", "blas_threads", blas_threads, "1", 1, 256, 0, "OpenBLAS threads per rank"),

    I("model", "dim", model.dim, "128", 8, 65536, 1, "model width D"),
    I("model", "n_layers", model.n_layers, "4", 1, 1024, 1, "transformer blocks"),
    I("model", "n_heads", model.n_heads, "4", 1, 1024, 1, "query heads"),
    I("model", "n_kv_heads", model.n_kv_heads, "4", 1, 1024, 1, "key/value heads (divides n_heads)"),
    I("model", "hidden_dim", model.hidden_dim, "352", 1, 1 << 20, 1, "SwiGLU inner width"),
    I("model", "max_seq_len", model.max_seq_len, "32", 4, 1 << 20, 1, "longest prompt+completion"),
    I("model", "tied_embeddings", model.tied_embeddings, "1", 0, 1, 1, "output head = embedding"),
    F("model", "rope_theta", model.rope_theta, "10000", 1, 1e9, 1, "RoPE base"),

    S("task", "name", task_name, "arith", 1, "arith | countdown | jsonl"),
    I("task", "max_digits", task.max_digits, "2", 1, 9, 1, "arith: operand digits, 1..N"),
    F("task", "p_add", task.p_add, "0.6", 0, 1, 1, "arith: share of additions"),
    F("task", "p_sub", task.p_sub, "0.2", 0, 1, 1, "arith: share of subtractions"),
    F("task", "p_mul", task.p_mul, "0.2", 0, 1, 1, "arith: share of multiplications"),
    I("task", "mul_max", task.mul_max, "9", 1, 9999, 1, "arith: factors in 1..mul_max"),
    I("task", "allow_negative", task.allow_negative, "0", 0, 1, 1, "arith: a-b may be negative"),
    F("task", "demo_error", task.demo_error, "0.6", 0, 1, 1,
      "demonstrator: probability of dropping a needed carry/borrow"),
    I("task", "countdown_min", task.cd_n_min, "3", 2, 6, 1, "countdown: fewest numbers"),
    I("task", "countdown_max", task.cd_n_max, "4", 2, 6, 1, "countdown: most numbers"),
    I("task", "countdown_max_number", task.cd_max_number, "25", 1, 1000, 1, "countdown: numbers in 1..N"),
    S("task", "data", task.jsonl_path, "", 1, "jsonl: data file, one {prompt, answer} per line"),
    I("task", "eval_permille", task.eval_permille, "20", 1, 1000, 1, "held-out share of items, per mille"),
    F("task", "w_accuracy", task.weights[0], "1.0", -100, 100, 1, "reward weight: accuracy"),
    F("task", "w_format", task.weights[1], "0.1", -100, 100, 1, "reward weight: format"),

    F("sampler", "temperature", temperature, "1.0", 0, 100, 1, "0 = greedy"),
    I("sampler", "top_k", top_k, "0", 0, 1 << 20, 1, "0 = off"),
    F("sampler", "top_p", top_p, "1.0", 0.001, 1, 1, "1 = off"),
    I("sampler", "max_new_tokens", max_new_tokens, "8", 1, 1 << 20, 1, "completion length limit"),
    S("sampler", "stop", stop, "", 1, "stop string (\"\" = EOS only)"),
    E("sampler", "logprob", logprob, "full", logprob_kind_names, 1, "log-probs under the full softmax or the top-k/top-p truncated one sampled from"),

    I("sft", "steps", sft_steps, "3000", 0, 1e9, 1, "optimizer steps"),
    I("sft", "batch_size", sft_batch, "64", 1, 1 << 20, 1, "sequences per step"),
    OPT("sft", sft_opt, "2e-3", "1e-4", "100", "0.0", "1.0"),
    I("sft", "eval_every", sft_eval_every, "500", 0, 1e9, 0, "held-out greedy accuracy every N steps"),
    I("sft", "max_nonfinite_steps", sft_max_nonfinite_steps, "3", 1, 1e9, 0, "stop (status 6) after N steps in a row with a NaN/inf gradient"),

    I("grpo", "steps", grpo_steps, "200", 0, 1e9, 1, "optimizer steps"),
    I("grpo", "prompts_per_step", prompts_per_step, "16", 1, 1 << 20, 1, "groups B per step"),
    I("grpo", "group_size", group_size, "8", 1, 4096, 1, "completions G per prompt"),
    E("grpo", "algo", algo, "grpo", pg_algo_names, 1, "policy-gradient estimator"),
    E("grpo", "adv_std", adv_std, "population", adv_std_names, 1, "advantage normaliser"),
    F("grpo", "adv_eps", adv_eps, "1e-4", 0, 1, 1, "advantage epsilon"),
    F("grpo", "eps_low", eps_low, "0.2", 0, 1, 1, "clip below 1 - eps_low"),
    F("grpo", "eps_high", eps_high, "0.2", 0, 100, 1, "clip above 1 + eps_high"),
    F("grpo", "beta", beta, "0.01", 0, 100, 1, "k3 KL weight to the reference"),
    E("grpo", "loss_norm", loss_norm, "sequence", loss_norm_names, 1, "loss normalisation"),
    I("grpo", "inner_epochs", inner_epochs, "1", 1, 64, 1, "mu: passes over each rollout batch"),
    I("grpo", "minibatches", minibatches, "1", 1, 4096, 1, "optimizer steps per inner epoch"),
    OPT("grpo", grpo_opt, "2e-4", "2e-5", "0", "0.0", "1.0"),
    S("grpo", "init", init, "", 1, "starting checkpoint (\"\" = <dir>/sft.ckpt)"),
    S("grpo", "ref", ref, "", 1, "reference model (\"\" = starting checkpoint)"),
    I("grpo", "eval_every", eval_every, "10", 0, 1e9, 0, "held-out eval every E steps (0 = end only)"),
    I("grpo", "checksum_every", checksum_every, "10", 1, 1e9, 0, "cross-rank weight check every K steps"),
    I("grpo", "checkpoint_every", checkpoint_every, "50", 0, 1e9, 0, "checkpoint every S steps"),
    I("grpo", "keep_checkpoints", keep_checkpoints, "3", 1, 1000, 0, "newest training checkpoints kept"),
    I("grpo", "async", async, "0", 0, 1, 1, "1: actors keep generating while the learner trains"),
    I("grpo", "max_staleness", max_staleness, "1", 0, 1000, 1, "async: max policy lag (versions)"),
    F("grpo", "tis_cap", tis_cap, "0", 0, 1e6, 1, "truncated importance weight cap (0 = off)"),
    F("grpo", "deadline_s", deadline_s, "600", 0.5, 1e7, 0, "give up on a silent rank after (s)"),
    I("grpo", "max_nonfinite_steps", max_nonfinite_steps, "3", 1, 1e9, 0, "stop (status 6) after N steps in a row with a NaN/inf gradient"),

    I("eval", "prompts", eval_prompts, "500", 1, 1 << 24, 0, "held-out prompts"),
    I("eval", "pass_k", pass_k, "8", 1, 4096, 0, "samples per prompt for pass@k"),
};
enum { N_KEYS = sizeof keys / sizeof keys[0] };

/* Parses text into the field of key k; returns 0 or -1 with err. */
static int key_set(Config *c, const Key *k, const char *val, char *err, size_t errlen) {
    char *p = (char *)c + k->offset;
    char *end = NULL;
    errno = 0;
    switch (k->type) {
    case T_INT: {
        double d = strtod(val, &end);
        if (end == val || *end || errno || d != floor(d) || d < k->lo || d > k->hi) {
            set_err(err, errlen, "[%s] %s = '%s': expected an integer in %.0f..%.0f (%s)",
                    k->section, k->key, val, k->lo, k->hi, k->help);
            return -1;
        }
        *(int *)p = (int)d;
        return 0;
    }
    case T_U64: {
        unsigned long long u = strtoull(val, &end, 0);
        if (end == val || *end || errno || val[0] == '-') {
            set_err(err, errlen, "[%s] %s = '%s': expected a non-negative integer", k->section,
                    k->key, val);
            return -1;
        }
        *(uint64_t *)p = u;
        return 0;
    }
    case T_FLOAT: {
        double d = strtod(val, &end);
        if (end == val || *end || errno || !isfinite(d) || d < k->lo || d > k->hi) {
            set_err(err, errlen, "[%s] %s = '%s': expected a number in [%g, %g] (%s)", k->section,
                    k->key, val, k->lo, k->hi, k->help);
            return -1;
        }
        *(float *)p = (float)d;
        return 0;
    }
    case T_STR: {
        size_t n = strlen(val);
        /* The value must survive config_write + config_load_file: one INI
         * line ("key = "value"") within inih's INI_MAX_LINE, no line break,
         * and no ';' first or after a blank (inih cuts an inline comment
         * there: the dump writes "key = value"). Only overrides
         * can carry these; inih never hands them over from a file. The
         * checks are on the stored text q[0..m), without the outer quotes. */
        const int quoted = n >= 2 && val[0] == '"' && val[n - 1] == '"';
        const char *q = quoted ? val + 1 : val;
        const size_t m = quoted ? n - 2 : n;
        if (m >= k->size) {
            set_err(err, errlen, "[%s] %s: value longer than %zu characters", k->section, k->key,
                    k->size - 1);
            return -1;
        }
        const size_t line_max = INI_MAX_LINE - 2 - strlen(k->key) - 3 - 2;
        if (m > line_max) {
            set_err(err, errlen, "[%s] %s: value longer than %zu characters (INI line limit)",
                    k->section, k->key, line_max);
            return -1;
        }
        for (size_t i = 0; i < m; i++)
            if (q[i] == '\n' || q[i] == '\r' ||
                (q[i] == ';' && (i == 0 || isspace((unsigned char)q[i - 1])))) {
                set_err(err, errlen,
                        "[%s] %s: value has a line break, or a ';' first or after a blank "
                        "(which starts an INI comment)",
                        k->section, k->key);
                return -1;
            }
        memcpy(p, q, m); /* "" means empty */
        p[m] = 0;
        return 0;
    }
    case T_ENUM:
        for (int i = 0; k->names[i]; i++)
            if (strcmp(val, k->names[i]) == 0) {
                *(int *)p = i;
                return 0;
            }
        char allowed[256] = "";
        for (int i = 0; k->names[i]; i++) {
            if (i) strncat(allowed, " | ", sizeof allowed - strlen(allowed) - 1);
            strncat(allowed, k->names[i], sizeof allowed - strlen(allowed) - 1);
        }
        set_err(err, errlen, "[%s] %s = '%s': allowed values are %s", k->section, k->key, val,
                allowed);
        return -1;
    }
    return -1;
}

/* Writes the field of key k as text. */
static void key_format(const Config *c, const Key *k, char *out, size_t cap) {
    const char *p = (const char *)c + k->offset;
    switch (k->type) {
    case T_INT: snprintf(out, cap, "%d", *(const int *)p); break;
    case T_U64: snprintf(out, cap, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case T_FLOAT: snprintf(out, cap, "%.9g", (double)*(const float *)p); break;
    case T_STR: {
        /* Quoted when key_set would otherwise read it back differently:
         * empty, leading/trailing blanks (inih trims them), or already
         * wrapped in quotes (key_set strips one pair). */
        const size_t n = strlen(p);
        const int quote = n == 0 || isspace((unsigned char)p[0]) ||
                          isspace((unsigned char)p[n - 1]) ||
                          (n >= 2 && p[0] == '"' && p[n - 1] == '"');
        snprintf(out, cap, quote ? "\"%s\"" : "%s", p);
        break;
    }
    case T_ENUM: snprintf(out, cap, "%s", k->names[*(const int *)p]); break;
    }
}

static const Key *key_find(const char *section, const char *name) {
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, name) == 0) return &keys[i];
    return NULL;
}

/* Names the keys of a section (or the sections) for "unknown key" errors. */
static void list_keys(const char *section, char *out, size_t cap) {
    out[0] = 0;
    for (int i = 0; i < N_KEYS; i++) {
        if (section && strcmp(keys[i].section, section) != 0) continue;
        const char *item = section ? keys[i].key : keys[i].section;
        if (!section && i > 0 && strcmp(keys[i - 1].section, item) == 0) continue;
        if (out[0]) strncat(out, ", ", cap - strlen(out) - 1);
        strncat(out, item, cap - strlen(out) - 1);
    }
}

static int set_one(Config *c, const char *section, const char *name, const char *val, char *err,
                   size_t errlen) {
    const Key *k = key_find(section, name);
    if (!k) {
        char known[1024];
        int section_known = 0;
        for (int i = 0; i < N_KEYS; i++) section_known |= strcmp(keys[i].section, section) == 0;
        if (section_known) {
            list_keys(section, known, sizeof known);
            set_err(err, errlen, "unknown key '%s' in [%s]; known keys: %s", name, section, known);
        } else {
            list_keys(NULL, known, sizeof known);
            set_err(err, errlen, "unknown section [%s]; known sections: %s", section, known);
        }
        return -1;
    }
    return key_set(c, k, val, err, errlen);
}

void config_defaults(Config *c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < N_KEYS; i++)
        if (key_set(c, &keys[i], keys[i].def, NULL, 0) != 0)
            die("bad built-in default for [%s] %s", keys[i].section, keys[i].key);
    c->model.norm_eps = 1e-5f;
}

typedef struct {
    Config *c;
    char *err;
    size_t errlen;
    int failed;
} IniCtx;

static int on_ini_entry(void *user, const char *section, const char *name, const char *value) {
    IniCtx *ctx = user;
    if (ctx->failed) return 1; /* keep the first error; inih reports its line */
    if (set_one(ctx->c, section, name, value, ctx->err, ctx->errlen) != 0) {
        ctx->failed = 1;
        return 0;
    }
    return 1;
}

int config_load_file(Config *c, const char *path, char *err, size_t errlen) {
    char msg[1400] = "";
    IniCtx ctx = {c, msg, sizeof msg, 0};
    int rc = ini_parse(path, on_ini_entry, &ctx);
    if (rc == -1) {
        set_err(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
        return -1;
    }
    if (rc == -2) {
        set_err(err, errlen, "%s: out of memory while parsing", path);
        return -1;
    }
    if (rc > 0) {
        if (msg[0]) set_err(err, errlen, "%s:%d: %s", path, rc, msg);
        else set_err(err, errlen, "%s:%d: syntax error (expected [section] or key = value)", path, rc);
        return -1;
    }
    return 0;
}

int config_load_string(Config *c, const char *text, const char *name, char *err, size_t errlen) {
    char msg[1400] = "";
    IniCtx ctx = {c, msg, sizeof msg, 0};
    int rc = ini_parse_string(text, on_ini_entry, &ctx);
    if (rc != 0) {
        set_err(err, errlen, "%s (config text):%d: %s", name, rc, msg[0] ? msg : "syntax error");
        return -1;
    }
    return 0;
}

int config_set(Config *c, const char *assignment, char *err, size_t errlen) {
    const char *eq = strchr(assignment, '=');
    const char *dot = strchr(assignment, '.');
    if (!eq || !dot || dot > eq) {
        set_err(err, errlen, "override '%s': expected section.key=value, e.g. grpo.steps=50",
                assignment);
        return -1;
    }
    char section[64], name[64];
    size_t ls = (size_t)(dot - assignment), lk = (size_t)(eq - dot - 1);
    if (ls >= sizeof section || lk >= sizeof name) {
        set_err(err, errlen, "override '%s': name too long", assignment);
        return -1;
    }
    memcpy(section, assignment, ls);
    section[ls] = 0;
    memcpy(name, dot + 1, lk);
    name[lk] = 0;
    char msg[1200];
    if (set_one(c, section, name, eq + 1, msg, sizeof msg) != 0) {
        set_err(err, errlen, "override '%s': %s", assignment, msg);
        return -1;
    }
    return 0;
}

int config_validate(const Config *c, char *err, size_t errlen) {
    const ModelConfig *m = &c->model;
    if (m->dim % m->n_heads) {
        set_err(err, errlen, "[model] n_heads = %d must divide dim = %d", m->n_heads, m->dim);
        return -1;
    }
    if ((m->dim / m->n_heads) % 2) {
        set_err(err, errlen, "[model] dim / n_heads = %d must be even (RoPE rotates pairs)",
                m->dim / m->n_heads);
        return -1;
    }
    if (m->n_heads % m->n_kv_heads) {
        set_err(err, errlen, "[model] n_kv_heads = %d must divide n_heads = %d", m->n_kv_heads,
                m->n_heads);
        return -1;
    }
    if (c->minibatches > c->prompts_per_step) {
        set_err(err, errlen, "[grpo] minibatches = %d exceeds prompts_per_step = %d",
                c->minibatches, c->prompts_per_step);
        return -1;
    }
    if (c->grpo_opt.lr_min > c->grpo_opt.lr || c->sft_opt.lr_min > c->sft_opt.lr) {
        set_err(err, errlen, "lr_min must not exceed lr (in [sft] and [grpo])");
        return -1;
    }
    if (c->algo == ALGO_GRPO && c->adv_std == ADV_STD_SAMPLE && c->group_size < 2) {
        set_err(err, errlen, "[grpo] adv_std = sample needs group_size >= 2");
        return -1;
    }
    return 0;
}

void config_write(const Config *c, FILE *f) {
    const char *section = "";
    char val[CFG_STR_MAX + 8];
    for (int i = 0; i < N_KEYS; i++) {
        if (strcmp(section, keys[i].section) != 0) {
            section = keys[i].section;
            fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
        }
        key_format(c, &keys[i], val, sizeof val);
        /* The help comment only where the line stays within inih's limit. */
        int len = snprintf(NULL, 0, "%-20s = %-14s ; %s\n", keys[i].key, val, keys[i].help);
        if (len < INI_MAX_LINE - 1)
            fprintf(f, "%-20s = %-14s ; %s\n", keys[i].key, val, keys[i].help);
        else
            fprintf(f, "%s = %s\n", keys[i].key, val);
    }
}

int config_diff(const Config *a, const Config *b, char *names, size_t names_len, char *changed,
                size_t changed_len) {
    int n_defining = 0;
    if (names_len) names[0] = 0;
    if (changed_len) changed[0] = 0;
    char va[CFG_STR_MAX + 8], vb[CFG_STR_MAX + 8], item[600];
    for (int i = 0; i < N_KEYS; i++) {
        key_format(a, &keys[i], va, sizeof va);
        key_format(b, &keys[i], vb, sizeof vb);
        if (strcmp(va, vb) == 0) continue;
        snprintf(item, sizeof item, "%s[%s] %s: %s -> %s", "", keys[i].section, keys[i].key, va, vb);
        char *dst = keys[i].run_defining ? names : changed;
        size_t cap = keys[i].run_defining ? names_len : changed_len;
        if (keys[i].run_defining) n_defining++;
        if (cap && dst[0]) strncat(dst, ", ", cap - strlen(dst) - 1);
        if (cap) strncat(dst, item, cap - strlen(dst) - 1);
    }
    return n_defining;
}

char *config_to_string(const Config *c) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) die("open_memstream failed");
    config_write(c, f);
    fclose(f);
    return buf;
}

SamplerConfig sampler_config_from(const Config *c) {
    SamplerConfig sc;
    memset(&sc, 0, sizeof sc);
    sc.temperature = c->temperature;
    sc.top_k = c->top_k;
    sc.top_p = c->top_p;
    sc.logprob = c->logprob;
    sc.max_new_tokens = c->max_new_tokens;
    snprintf(sc.stop, sizeof sc.stop, "%s", c->stop);
    return sc;
}

void config_init_path(const Config *c, char *out, size_t cap) {
    if (c->init[0]) snprintf(out, cap, "%s", c->init);
    else snprintf(out, cap, "%s/sft.ckpt", c->dir);
}

void config_ref_path(const Config *c, char *out, size_t cap) {
    if (c->ref[0]) snprintf(out, cap, "%s", c->ref);
    else config_init_path(c, out, cap);
}
