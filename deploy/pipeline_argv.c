/* pipeline_argv.c: argument vectors of the stages (pipeline_argv.h). */
#include "pipeline_argv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void argv_init(Argv *a) {
    a->argc = 0;
    a->cap = 8;
    a->argv = xcalloc((size_t)a->cap, sizeof(char *));
}

void argv_free(Argv *a) {
    for (int i = 0; i < a->argc; i++) free(a->argv[i]);
    xfree(a->argv);
    a->argv = NULL;
    a->argc = a->cap = 0;
}

void argv_push(Argv *a, const char *s) {
    if (a->argc + 2 > a->cap) {
        char **grown = xcalloc((size_t)a->cap * 2, sizeof(char *));
        memcpy(grown, a->argv, sizeof(char *) * (size_t)a->argc);
        xfree(a->argv);
        a->argv = grown;
        a->cap *= 2;
    }
    char *copy = strdup(s);
    if (!copy) die("out of memory copying an argument");
    a->argv[a->argc++] = copy;
    a->argv[a->argc] = NULL;
}

void argv_pushf(Argv *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) die("out of memory building an argument");
    va_end(ap);
    argv_push(a, s);
    free(s);
}

void argv_push_words(Argv *a, const char *text) {
    const char *p = text;
    for (;;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) return;
        const char *e = p;
        while (*e && !isspace((unsigned char)*e)) e++;
        char *w = strndup(p, (size_t)(e - p));
        if (!w) die("out of memory splitting '%s'", text);
        argv_push(a, w);
        free(w);
        p = e;
    }
}

void argv_push_all(Argv *a, const Argv *b) {
    for (int i = 0; i < b->argc; i++) argv_push(a, b->argv[i]);
}

/* 1 if sh reads w back as itself unquoted. */
static int plain_word(const char *w) {
    if (!*w) return 0;
    for (const char *p = w; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_./=:,+@%", *p)) return 0;
    return 1;
}

char *argv_join(const Argv *a) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) die("open_memstream failed: out of memory");
    for (int i = 0; i < a->argc; i++) {
        const char *w = a->argv[i];
        if (i) fputc(' ', f);
        if (plain_word(w)) {
            fputs(w, f);
            continue;
        }
        fputc('\'', f);
        for (const char *p = w; *p; p++)
            if (*p == '\'') fputs("'\\''", f);
            else fputc(*p, f);
        fputc('\'', f);
    }
    if (fclose(f) != 0) die("joining a command line failed: out of memory");
    return buf;
}
