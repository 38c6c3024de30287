/* task_external.c: a task whose rewards come from an external verifier,
 * a program the user writes in any language ([task] verifier = COMMAND).
 * It wraps the named task, which still supplies the prompts, answers,
 * demonstrator and eval split; only verify/verify_batch are replaced.
 * The processes, pipes and restarts are verifier_pool.c's; this file
 * encodes requests and maps replies to Reward.
 *
 * THE PROTOCOL. COMMAND runs as /bin/sh -c 'exec COMMAND', verifier_procs
 * copies of it per actor, each for the whole run. It reads JSON lines on
 * stdin and writes JSON lines on stdout (flush after each line).
 *
 *   request, one line per completion:
 *     {"id": <uint64>, "prompt": "...", "completion": "...", "answer": "...",
 *      "finished": true|false}
 *   reply, one line per request, IN REQUEST ORDER:
 *     {"id": <the request's id>, "reward": <finite number>,
 *      "components": {"accuracy": <0..1>, ...}}
 *
 * id is a serial number of the request (not the item: the completions of
 * one prompt have different ids). finished is false when the completion
 * was cut at the length limit. Invalid UTF-8 in the texts is sent as
 * U+FFFD. "components" is optional; each name of [task]
 * verifier_components ("accuracy" always first) is read from it: a
 * missing one counts 0, names not listed are ignored, and a missing
 * "accuracy" is the reward clamped to [0, 1]. The completion's reward is
 * "reward" as given (the w_* weights do not apply); it counts as correct
 * when accuracy >= 1. Anything the program writes on stderr is kept (its
 * last lines are shown if the run stops) and otherwise ignored. EOF on
 * stdin means the run is over: 0.1 s later the program is killed.
 *
 * Failures: each gives that completion reward 0 (all components 0, not
 * correct), a Reward.status, and a fresh process (the requests queued
 * behind it are re-sent to the new one):
 *   exits or closes stdout before replying      REWARD_VERIFIER_CRASH
 *   no reply within verifier_timeout seconds of the request becoming the
 *   oldest in flight (the process is killed; a fresh process's first
 *   reply may take verifier_start_timeout, its start included)
 *                                                REWARD_VERIFIER_TIMEOUT
 *   a line that is not JSON, not an object, lacks id or reward, has a
 *   reward that is not a finite number, a listed component not a number
 *   in [0, 1], or is longer than 64 KiB          REWARD_VERIFIER_MALFORMED
 *   an id other than the oldest request's (a second reply to one request
 *   included)                                    REWARD_VERIFIER_WRONG_ID
 * After verifier_max_failures failures in a row the run stops, naming the
 * program, the reasons and its last stderr lines. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "util.h"
#include "verifier_pool.h"

enum { MAX_COMPONENT_NAME = 64 };

typedef struct {
    Task *inner;
    VerifierPool *pool;
    char names[TASK_MAX_COMPONENTS][MAX_COMPONENT_NAME];
    uint64_t next_id; /* the next request's id */
} ExternalState;

static const Task *inner_of(const Task *t) { return ((const ExternalState *)t->state)->inner; }

/* ---- the wrapped task's own parts, forwarded ---- */

static int ext_sample(const Task *t, TaskSplit split, uint64_t stream, uint64_t index,
                      TaskItem *out) {
    return inner_of(t)->sample(inner_of(t), split, stream, index, out);
}
static int ext_demonstrate(const Task *t, const TaskItem *item, Rng *rng, char *out, size_t cap) {
    return inner_of(t)->demonstrate(inner_of(t), item, rng, out, cap);
}
static int ext_eval_split(const Task *t, uint64_t **keys) {
    return inner_of(t)->eval_split(inner_of(t), keys);
}
static int ext_eval_item(const Task *t, uint64_t key, TaskItem *out) {
    return inner_of(t)->eval_item(inner_of(t), key, out);
}
static int ext_check_tokenizer(const Task *t, const Tokenizer *tok, char *err, size_t errlen) {
    return inner_of(t)->check_tokenizer(inner_of(t), tok, err, errlen);
}

/* ---- requests ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_seq(const unsigned char *s) {
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0) return 0;
    unsigned cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

/* s as a JSON string, with each invalid UTF-8 byte replaced by U+FFFD
 * (a byte-level tokenizer can emit any bytes; JSON needs UTF-8). */
static json_t *json_text(const char *s) {
    size_t n = strlen(s), o = 0;
    char *buf = xmalloc(3 * n + 1);
    for (size_t i = 0; i < n;) {
        int k = utf8_seq((const unsigned char *)s + i);
        if (k) {
            memcpy(buf + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    json_t *j = json_stringn(buf, o);
    xfree(buf);
    CHECK(j);
    return j;
}

/* The request line (malloc'd, ending in '\n') for job. */
static char *request_line(uint64_t id, const VerifyJob *job) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)id));
    json_object_set_new(o, "prompt", json_text(job->item->prompt));
    json_object_set_new(o, "completion", json_text(job->completion));
    json_object_set_new(o, "answer", json_text(job->item->answer));
    json_object_set_new(o, "finished", json_boolean(job->finished));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    CHECK(s);
    size_t n = strlen(s);
    char *line = xmalloc(n + 2);
    memcpy(line, s, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    free(s); /* jansson's allocation */
    return line;
}

/* ---- replies ---- */

typedef struct {
    const Task *t;
    const uint64_t *ids;
    Reward *out;
} Judging;

/* Judges the reply line to request i (verifier_pool.h): fills out[i] when
 * it is a valid reply to that request. */
static VerifierOutcome judge_reply(void *ctx, int i, const char *line, size_t len) {
    const Judging *jg = ctx;
    const ExternalState *s = jg->t->state;
    json_error_t e;
    json_t *o = json_loadb(line, len, JSON_DECODE_ANY, &e);
    VerifierOutcome res = VERIFIER_MALFORMED;
    Reward r;
    memset(&r, 0, sizeof r);
    if (!o || !json_is_object(o)) goto done;
    json_t *id = json_object_get(o, "id"), *reward = json_object_get(o, "reward");
    if (!json_is_integer(id) || json_integer_value(id) < 0) goto done;
    if ((uint64_t)json_integer_value(id) != jg->ids[i]) {
        res = VERIFIER_WRONG_ID;
        goto done;
    }
    if (!json_is_number(reward) || !isfinite(json_number_value(reward))) goto done;
    json_t *comp = json_object_get(o, "components");
    if (comp && !json_is_object(comp)) goto done;
    const double total = json_number_value(reward);
    r.n = jg->t->n_components;
    for (int k = 0; k < r.n; k++) {
        json_t *v = comp ? json_object_get(comp, s->names[k]) : NULL;
        double x = k == 0 ? fmin(fmax(total, 0), 1) : 0;
        if (v) {
            if (!json_is_number(v)) goto done;
            x = json_number_value(v);
            if (!(x >= 0 && x <= 1)) goto done;
        }
        r.value[k] = (float)x;
    }
    r.total = (float)total;
    r.correct = r.value[0] >= 1 - 1e-6f;
    r.status = REWARD_OK;
    jg->out[i] = r;
    res = VERIFIER_OK;
done:
    json_decref(o);
    return res;
}

static int reward_status_of(VerifierOutcome o) {
    switch (o) {
    case VERIFIER_OK: return REWARD_OK;
    case VERIFIER_CRASH: return REWARD_VERIFIER_CRASH;
    case VERIFIER_TIMEOUT: return REWARD_VERIFIER_TIMEOUT;
    case VERIFIER_MALFORMED: return REWARD_VERIFIER_MALFORMED;
    case VERIFIER_WRONG_ID: return REWARD_VERIFIER_WRONG_ID;
    default: return REWARD_VERIFIER_CRASH;
    }
}

static void ext_verify_batch(const Task *t, const VerifyJob *jobs, int n, Reward *out) {
    if (n <= 0) return;
    ExternalState *s = t->state;
    char **req = xmalloc(sizeof *req * (size_t)n);
    uint64_t *ids = xmalloc(sizeof *ids * (size_t)n);
    VerifierOutcome *outcome = xmalloc(sizeof *outcome * (size_t)n);
    for (int i = 0; i < n; i++) {
        ids[i] = s->next_id++;
        req[i] = request_line(ids[i], &jobs[i]);
    }
    Judging jg = {t, ids, out};
    verifier_pool_run(s->pool, (const char *const *)req, n, judge_reply, &jg, outcome);
    for (int i = 0; i < n; i++) {
        if (outcome[i] != VERIFIER_OK) {
            memset(&out[i], 0, sizeof out[i]);
            out[i].n = t->n_components;
            out[i].status = reward_status_of(outcome[i]);
        }
        xfree(req[i]);
    }
    xfree(req);
    xfree(ids);
    xfree(outcome);
}

static void ext_verify(const Task *t, const TaskItem *item, const char *completion, int finished,
                       Reward *out) {
    VerifyJob job = {item, completion, finished};
    memset(out, 0, sizeof *out);
    ext_verify_batch(t, &job, 1, out);
}

int task_verifier_is_external(const Task *t) { return t->verify == ext_verify; }

static void ext_destroy(Task *t) {
    if (!t) return;
    ExternalState *s = t->state;
    verifier_pool_destroy(s->pool);
    s->inner->destroy(s->inner);
    xfree(s);
    xfree(t);
}

/* ---- settings ---- */

/* Parses verifier_components into s->names, "accuracy" first; returns the
 * count, or -1 with err. */
static int parse_components(const char *list, ExternalState *s, char *err, size_t errlen) {
    int n = 0;
    strcpy(s->names[n++], "accuracy");
    for (const char *c = list; *c;) {
        while (*c == ' ' || *c == '\t' || *c == ',') c++;
        const char *e = c;
        while (*e && *e != ',') e++;
        size_t k = (size_t)(e - c);
        while (k && (c[k - 1] == ' ' || c[k - 1] == '\t')) k--;
        if (k == 0) break;
        for (size_t i = 0; i < k; i++)
            if (!(c[i] == '_' || c[i] == '-' || c[i] == '.' || (c[i] >= '0' && c[i] <= '9') ||
                  ((c[i] | 32) >= 'a' && (c[i] | 32) <= 'z'))) {
                set_err(err, errlen,
                        "[task] verifier_components = '%s': '%.*s' is not a name (letters, "
                        "digits, _ - .)",
                        list, (int)k, c);
                return -1;
            }
        if (k >= MAX_COMPONENT_NAME) {
            set_err(err, errlen, "[task] verifier_components: '%.*s' is longer than %d characters",
                    (int)k, c, MAX_COMPONENT_NAME - 1);
            return -1;
        }
        int dup = 0;
        for (int j = 0; j < n; j++)
            if (strlen(s->names[j]) == k && memcmp(s->names[j], c, k) == 0) dup = j + 1;
        if (dup > 1) {
            set_err(err, errlen, "[task] verifier_components = '%s': '%.*s' is listed twice",
                    list, (int)k, c);
            return -1;
        }
        if (!dup) { /* accuracy (dup == 1) is already first */
            if (n == TASK_MAX_COMPONENTS) {
                set_err(err, errlen,
                        "[task] verifier_components = '%s': more than %d components (accuracy "
                        "included)",
                        list, TASK_MAX_COMPONENTS);
                return -1;
            }
            memcpy(s->names[n], c, k);
            s->names[n][k] = '\0';
            n++;
        }
        c = e;
    }
    return n;
}

static int check_settings(const TaskParams *p, char *err, size_t errlen) {
    if (!(p->verifier_timeout > 0 && p->verifier_timeout <= 3600)) {
        set_err(err, errlen, "[task] verifier_timeout = %g: expected seconds in (0, 3600]",
                p->verifier_timeout);
        return -1;
    }
    if (!(p->verifier_start_timeout >= 0 && p->verifier_start_timeout <= 3600)) {
        set_err(err, errlen, "[task] verifier_start_timeout = %g: expected seconds in [0, 3600]",
                p->verifier_start_timeout);
        return -1;
    }
    const struct {
        const char *key;
        int v, hi;
    } ints[] = {{"verifier_procs", p->verifier_procs, 64},
                {"verifier_pipeline", p->verifier_pipeline, 1024},
                {"verifier_max_failures", p->verifier_max_failures, 1000000}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (ints[i].v < 1 || ints[i].v > ints[i].hi) {
            set_err(err, errlen, "[task] %s = %d: expected 1..%d", ints[i].key, ints[i].v,
                    ints[i].hi);
            return -1;
        }
    if (p->verifier_sandbox != 0 && p->verifier_sandbox != 1) {
        set_err(err, errlen, "[task] verifier_sandbox = %d: expected 0 or 1", p->verifier_sandbox);
        return -1;
    }
    return 0;
}

Task *task_external_create(Task *inner, const TaskParams *p, char *err, size_t errlen) {
    ExternalState *s = xcalloc(1, sizeof *s);
    int n = check_settings(p, err, errlen) == 0 ? parse_components(p->verifier_components, s, err, errlen) : -1;
    if (n < 0) {
        xfree(s);
        inner->destroy(inner);
        return NULL;
    }
    s->inner = inner;
    VerifierPoolConfig vc = {
        .command = p->verifier,
        .setting = "[task] verifier",
        .procs = p->verifier_procs,
        .pipeline = p->verifier_pipeline,
        .timeout = p->verifier_timeout,
        .start_timeout = p->verifier_start_timeout,
        .max_failures = p->verifier_max_failures,
        .sandbox = p->verifier_sandbox,
        .limits = p->sandbox,
        .ro_paths = p->verifier_sandbox_paths,
    };
    s->pool = verifier_pool_create(&vc); /* starts nothing until the first verify */
    Task *t = xcalloc(1, sizeof *t);
    t->name = inner->name;
    t->n_components = n;
    for (int i = 0; i < n; i++) {
        t->component_names[i] = s->names[i];
        t->weights[i] = p->weights[i];
    }
    t->sample = ext_sample;
    t->demonstrate = inner->demonstrate ? ext_demonstrate : NULL;
    t->verify = ext_verify;
    t->verify_batch = ext_verify_batch;
    t->eval_split = inner->eval_split ? ext_eval_split : NULL;
    t->eval_item = inner->eval_item ? ext_eval_item : NULL;
    t->check_tokenizer = inner->check_tokenizer ? ext_check_tokenizer : NULL;
    t->destroy = ext_destroy;
    t->state = s;
    t->max_prompt_chars = inner->max_prompt_chars;
    t->max_completion_chars = inner->max_completion_chars;
    return t;
}
