/* cli.h: the command line every subcommand shares: options, config files
 * and overrides, in order, into a Config; the number options validated. */
#ifndef COMMON_CLI_H
#define COMMON_CLI_H

#include "config.h"

typedef struct {
    const char *command;     /* argv[1] */
    const char *checkpoint;  /* --checkpoint FILE */
    const char *out;         /* --out FILE */
    const char *prompt;      /* --prompt TEXT */
    int n;                   /* -n N, completions to sample (1..CLI_MAX_SAMPLES) */
    const char *from;        /* --from KIND PATH (import): the format ... */
    const char *source;      /* ... and the file or directory */
    const char *format;      /* --format KIND (export) */
    const char *tokenizer;   /* --tokenizer FILE (import): tokenizer.bin or tokenizer.json */
    const char *tokenizer_out; /* --tokenizer-out FILE (export --format llama2c*): where
                                * tokenizer.bin goes */
    int argc;                /* for MPI_Init */
    char **argv;
} CliArgs;

enum { CLI_MAX_SAMPLES = 4096 };

/* Parses argv[2..] into a and cfg: --config FILE (INI), --checkpoint,
 * --out, --prompt, -n, --data FILE[:WEIGHT] (sft, repeatable: the
 * flags together set sft.data to their comma-separated list; rm-train:
 * one file, sets rm.data), --eval FILE (rm-train only: sets rm.eval), --teacher
 * FILE (distill only: sets distill.teacher), --from KIND PATH (import
 * only: two values), --tokenizer FILE (import only), --format KIND and
 * --tokenizer-out FILE (export only), and
 * section.key=value overrides, applied in order, then validates cfg.
 * Prints the error and exits 2 on bad input. */
void cli_parse(int argc, char **argv, Config *cfg, CliArgs *a);

/* Parses a whole number in lo..hi for option name; 0, or -1 with err. */
int cli_parse_int(const char *name, const char *text, int lo, int hi, int *out, char *err,
                  size_t errlen);

/* `grpo config`: prints the effective config, every key with its help. */
int cli_print_config(Config *cfg, const CliArgs *a);

#endif
