/* pipeline_record.c: stage.json and attempts.txt (pipeline_record.h). */
#include "pipeline_record.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic_file.h"
#include "util.h"

static json_t *eval_json(const StageEval *e) {
    if (!e->have)
        return e->records >= 0 ? json_pack("{s:I}", "records", (json_int_t)e->records) : json_object();
    return json_pack("{s:{s:f,s:f,s:f,s:i},s:{s:f,s:i},s:f}", "reasoning", "greedy_accuracy",
                     e->acc, "format", e->format, "mean_length", e->mean_len, "prompts",
                     e->prompts, "second_task", "greedy_accuracy", e->second_acc, "prompts",
                     e->second_prompts, "seconds", e->seconds);
}

int pipeline_record_write(const char *dir, const char *stage, const StageRecord *r, char *err,
                          size_t errlen) {
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", localtime(&now));
    json_t *o = json_pack("{s:s,s:s,s:f,s:i,s:i,s:s,s:o}", "stage", stage, "command", r->command,
                          "wall_seconds", r->wall, "attempts", r->attempts, "exit_status",
                          r->exit_status, "finished", when, "eval", eval_json(&r->ev));
    if (!o) die("pipeline: building stage.json of %s failed", stage);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text) die("pipeline: out of memory writing stage.json of %s", stage);
    char path[1300];
    snprintf(path, sizeof path, "%s/stage.json", dir);
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps leaves room: its NUL */
    int rc = atomic_file_write(path, text, n + 1, err, errlen);
    free(text);
    return rc;
}

/* A number member of o, or -1 with err naming the file and member. */
static int get_num(const json_t *o, const char *key, const char *path, double *out, char *err,
                   size_t errlen) {
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) {
        set_err(err, errlen, "%s: \"%s\" is missing or not a number", path, key);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

int pipeline_record_read(const char *dir, StageRecord *r, char *err, size_t errlen) {
    char path[1300];
    snprintf(path, sizeof path, "%s/stage.json", dir);
    memset(r, 0, sizeof *r);
    r->ev.records = -1;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    json_error_t je;
    json_t *o = json_loadf(f, 0, &je);
    fclose(f);
    if (!o) {
        set_err(err, errlen, "%s line %d: not valid JSON: %s (delete the file to re-run the stage)",
                path, je.line, je.text);
        return -1;
    }
    int rc = -1;
    double d;
    const json_t *cmd = json_object_get(o, "command");
    const json_t *ev = json_object_get(o, "eval");
    if (!json_is_string(cmd)) {
        set_err(err, errlen, "%s: \"command\" is missing or not a string", path);
        goto out;
    }
    if (!json_is_object(ev)) {
        set_err(err, errlen, "%s: \"eval\" is missing or not an object", path);
        goto out;
    }
    if (get_num(o, "wall_seconds", path, &r->wall, err, errlen)) goto out;
    if (get_num(o, "attempts", path, &d, err, errlen)) goto out;
    r->attempts = (int)d;
    if (get_num(o, "exit_status", path, &d, err, errlen)) goto out;
    r->exit_status = (int)d;
    const json_t *rs = json_object_get(ev, "reasoning"), *sec = json_object_get(ev, "second_task");
    if (json_is_object(rs) && json_is_object(sec)) {
        r->ev.have = 1;
        if (get_num(rs, "greedy_accuracy", path, &r->ev.acc, err, errlen) ||
            get_num(rs, "format", path, &r->ev.format, err, errlen) ||
            get_num(rs, "mean_length", path, &r->ev.mean_len, err, errlen) ||
            get_num(rs, "prompts", path, &d, err, errlen))
            goto out;
        r->ev.prompts = (int)d;
        if (get_num(sec, "greedy_accuracy", path, &r->ev.second_acc, err, errlen) ||
            get_num(sec, "prompts", path, &d, err, errlen))
            goto out;
        r->ev.second_prompts = (int)d;
        if (get_num(ev, "seconds", path, &r->ev.seconds, err, errlen)) goto out;
    } else if (json_is_number(json_object_get(ev, "records"))) {
        r->ev.records = (long)json_number_value(json_object_get(ev, "records"));
    }
    r->command = strdup(json_string_value(cmd));
    if (!r->command) die("pipeline: out of memory reading %s", path);
    rc = 1;
out:
    json_decref(o);
    return rc;
}

void pipeline_record_free(StageRecord *r) {
    free(r->command);
    r->command = NULL;
}

void pipeline_attempts_read(const char *dir, double *wall, int *attempts) {
    char path[1300];
    snprintf(path, sizeof path, "%s/attempts.txt", dir);
    *wall = 0;
    *attempts = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (fscanf(f, "%lf %d", wall, attempts) != 2 || *wall < 0 || *attempts < 0) {
        fprintf(stderr, "warning: pipeline: %s is not '<seconds> <attempts>'; the stage's earlier "
                        "attempts are not counted in its wall time\n",
                path);
        *wall = 0;
        *attempts = 0;
    }
    fclose(f);
}

int pipeline_attempts_write(const char *dir, double wall, int attempts, char *err, size_t errlen) {
    char path[1300], text[64];
    snprintf(path, sizeof path, "%s/attempts.txt", dir);
    int n = snprintf(text, sizeof text, "%.3f %d\n", wall, attempts);
    return atomic_file_write(path, text, (size_t)n, err, errlen);
}
