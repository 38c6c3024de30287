#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void fail(const char *msg) {
    fprintf(stderr, "error: %s\n", msg);
    exit(2);
}

int cli_parse_int(const char *name, const char *text, int lo, int hi, int *out, char *err,
                  size_t errlen) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || v < lo || v > hi) {
        set_err(err, errlen, "option %s: '%s' is not a whole number in %d..%d", name, text, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Sets key (section.key) to path through the config, so config.ini and
 * the checkpoint's META record it. */
static void set_path(Config *cfg, const char *key, const char *path) {
    char err[2000];
    size_t n = strlen(key) + strlen(path) + 2;
    char *set = xmalloc(n);
    snprintf(set, n, "%s=%s", key, path);
    if (config_set(cfg, set, err, sizeof err) != 0) fail(err);
    xfree(set);
}

/* --data ENTRY: for rm-train, sets rm.data (one file); for sft, appends
 * ENTRY to the list the earlier --data built and sets sft.data to it, so
 * the flags form one mixture and a later sft.data= override still wins
 * (overrides apply in order). */
static void add_data(Config *cfg, const CliArgs *a, char **list, const char *entry) {
    char err[2000];
    if (strcmp(a->command, "rm-train") == 0) {
        /* one file of comparison pairs */
        if (*list) fail("option --data: grpo rm-train reads one file of comparison pairs");
        *list = xmalloc(strlen(entry) + 1);
        strcpy(*list, entry);
        set_path(cfg, "rm.data", entry);
        return;
    }
    if (strcmp(a->command, "sft") != 0) {
        snprintf(err, sizeof err, "option --data belongs to grpo sft and grpo rm-train, not "
                 "grpo %s", a->command);
        fail(err);
    }
    if (strchr(entry, ',')) {
        snprintf(err, sizeof err, "option --data '%s': one FILE[:WEIGHT] per --data (a ',' "
                 "cannot be part of a file name here)", entry);
        fail(err);
    }
    size_t old = *list ? strlen(*list) : 0, n = old + strlen(entry) + 2;
    char *joined = xmalloc(n);
    snprintf(joined, n, "%s%s%s", old ? *list : "", old ? "," : "", entry);
    xfree(*list);
    *list = joined;
    char *set = xmalloc(n + 16);
    snprintf(set, n + 16, "sft.data=%s", joined);
    if (config_set(cfg, set, err, sizeof err) != 0) fail(err);
    xfree(set);
}

/* --teacher FILE: sets distill.teacher, so config.ini and the student's
 * META record which teacher it learned from. */
static void set_teacher(Config *cfg, const CliArgs *a, const char *path) {
    char err[2000];
    if (strcmp(a->command, "distill") != 0) {
        snprintf(err, sizeof err, "option --teacher belongs to grpo distill, not grpo %s",
                 a->command);
        fail(err);
    }
    size_t n = strlen(path) + 32;
    char *set = xmalloc(n);
    snprintf(set, n, "distill.teacher=%s", path);
    if (config_set(cfg, set, err, sizeof err) != 0) fail(err);
    xfree(set);
}

/* Options that belong to one command, refused elsewhere so a typo does not
 * pass silently. */
static void only_for(const CliArgs *a, const char *opt, const char *command) {
    if (strcmp(a->command, command) != 0) {
        char err[300];
        snprintf(err, sizeof err, "option %s belongs to grpo %s, not grpo %s", opt, command,
                 a->command);
        fail(err);
    }
}

void cli_parse(int argc, char **argv, Config *cfg, CliArgs *a) {
    char err[2000];
    char *data = NULL; /* the --data entries so far, comma separated */
    memset(a, 0, sizeof *a);
    a->command = argc > 1 ? argv[1] : "";
    a->n = 4;
    a->argc = argc;
    a->argv = argv;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--from")) {
            only_for(a, arg, "import");
            if (i + 2 >= argc) fail("option --from needs two values: --from llama2c|hf PATH");
            a->from = argv[++i];
            a->source = argv[++i];
        } else if (!strcmp(arg, "--tokenizer")) {
            only_for(a, arg, "import");
            if (!next) fail("option --tokenizer needs a value: --tokenizer tokenizer.bin|tokenizer.json");
            a->tokenizer = argv[++i];
        } else if (!strcmp(arg, "--tokenizer-out")) {
            only_for(a, arg, "export");
            if (!next) fail("option --tokenizer-out needs a value: --tokenizer-out FILE (the "
                            "tokenizer.bin export --format llama2c writes)");
            a->tokenizer_out = argv[++i];
        } else if (!strcmp(arg, "--format")) {
            only_for(a, arg, "export");
            if (!next) fail("option --format needs a value: --format llama2c|llama2c-v1|hf");
            a->format = argv[++i];
        } else if (!strcmp(arg, "--config") || !strcmp(arg, "--checkpoint") || !strcmp(arg, "--out") ||
            !strcmp(arg, "--prompt") || !strcmp(arg, "-n") || !strcmp(arg, "--data") ||
            !strcmp(arg, "--teacher") || !strcmp(arg, "--eval")) {
            if (!next) {
                snprintf(err, sizeof err, "option %s needs a value", arg);
                fail(err);
            }
            i++;
            if (!strcmp(arg, "--config")) {
                if (config_load_file(cfg, next, err, sizeof err) != 0) fail(err);
            } else if (!strcmp(arg, "--checkpoint")) a->checkpoint = next;
            else if (!strcmp(arg, "--out")) a->out = next;
            else if (!strcmp(arg, "--prompt")) a->prompt = next;
            else if (!strcmp(arg, "--data")) add_data(cfg, a, &data, next);
            else if (!strcmp(arg, "--teacher")) set_teacher(cfg, a, next);
            else if (!strcmp(arg, "--eval")) {
                only_for(a, arg, "rm-train");
                set_path(cfg, "rm.eval", next);
            }
            else if (cli_parse_int("-n", next, 1, CLI_MAX_SAMPLES, &a->n, err, sizeof err) != 0)
                fail(err);
        } else if (strchr(arg, '=')) {
            if (config_set(cfg, arg, err, sizeof err) != 0) fail(err);
        } else {
            snprintf(err, sizeof err, "unexpected argument '%s' (try grpo --help)", arg);
            fail(err);
        }
    }
    xfree(data);
    if (config_validate(cfg, err, sizeof err) != 0) fail(err);
}

int cli_print_config(Config *cfg, const CliArgs *a) {
    (void)a;
    config_write(cfg, stdout);
    return 0;
}
