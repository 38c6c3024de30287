/* pipeline_argv.h: a growable, NULL-terminated argument vector for the
 * stages' command lines, and its shell-quoted text (what command.txt and
 * stage.json hold, and what a user can paste into a shell). */
#ifndef DEPLOY_PIPELINE_ARGV_H
#define DEPLOY_PIPELINE_ARGV_H

typedef struct {
    int argc, cap;
    char **argv; /* argv[argc] == NULL */
} Argv;

void argv_init(Argv *a);
void argv_free(Argv *a);
void argv_push(Argv *a, const char *s);
void argv_pushf(Argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Pushes each blank-separated word of text (no quoting: a value of an
 * override string cannot hold a blank). */
void argv_push_words(Argv *a, const char *text);
void argv_push_all(Argv *a, const Argv *b);
/* The words joined by blanks, each quoted for sh where it needs it
 * (malloc'd). */
char *argv_join(const Argv *a);

#endif
