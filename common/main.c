/* main.c: the one binary and its subcommands.
 *
 *   grpo sft    [options] [section.key=value ...]   supervised warm start
 *   grpo train  [options] [section.key=value ...]   GRPO, under mpirun: rank 0
 *                                                   learns, ranks 1.. act
 *   grpo eval   --checkpoint FILE [...]             held-out accuracy, pass@k
 *   grpo sample --checkpoint FILE --prompt TEXT     completions for one prompt
 *   grpo config [...]                               print the effective config
 *
 * Options: --config FILE (INI; later overrides win), --out FILE (sft). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "config.h"
#include "eval.h"
#include "actor.h"
#include "comm.h"
#include "learner.h"
#include "memory.h"
#include "sampler.h"
#include "sft.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: grpo <command> [--config FILE] [section.key=value ...]\n"
            "commands:\n"
            "  sft     supervised warm start on the task's demonstrator (--out FILE,\n"
            "          default <run.dir>/sft.ckpt)\n"
            "  train   GRPO actor-learner; run under mpirun -np N (1 learner, N-1 actors)\n"
            "  eval    held-out greedy accuracy and pass@k (--checkpoint FILE)\n"
            "  sample  print completions (--checkpoint FILE --prompt TEXT [-n N])\n"
            "  config  print the effective config (all keys, defaults and help)\n"
            "Example: grpo sft sft.steps=500 model.dim=64\n");
}

typedef struct {
    const char *command, *checkpoint, *out, *prompt;
    int n;
    Config cfg;
} Args;

/* Parses argv into a; config files and overrides are applied in order. */
static void parse_args(int argc, char **argv, Args *a) {
    char err[1600];
    memset(a, 0, sizeof *a);
    config_defaults(&a->cfg);
    a->n = 4;
    if (argc < 2) {
        usage(stderr);
        exit(2);
    }
    a->command = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(arg, "--config") || !strcmp(arg, "--checkpoint") || !strcmp(arg, "--out") ||
                   !strcmp(arg, "--prompt") || !strcmp(arg, "-n")) {
            if (!next) die("option %s needs a value", arg);
            i++;
            if (!strcmp(arg, "--config")) {
                if (config_load_file(&a->cfg, next, err, sizeof err) != 0) {
                    fprintf(stderr, "error: %s\n", err);
                    exit(2);
                }
            } else if (!strcmp(arg, "--checkpoint")) a->checkpoint = next;
            else if (!strcmp(arg, "--out")) a->out = next;
            else if (!strcmp(arg, "--prompt")) a->prompt = next;
            else a->n = atoi(next);
        } else if (strchr(arg, '=')) {
            if (config_set(&a->cfg, arg, err, sizeof err) != 0) {
                fprintf(stderr, "error: %s\n", err);
                exit(2);
            }
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n", arg);
            usage(stderr);
            exit(2);
        }
    }
    if (config_validate(&a->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        exit(2);
    }
}

/* Creates dir and its parents (mkdir -p); dies naming the path. */
static void make_dirs(const char *dir) {
    char path[CFG_STR_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                die("cannot create directory '%s': %s", path, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
}

static int cmd_eval(Args *a) {
    if (!a->checkpoint) die("eval needs --checkpoint FILE");
    Model m;
    Tokenizer *tok = xmalloc(sizeof *tok);
    ckpt_load_model_or_die(a->checkpoint, &m, tok);
    memory_check_or_die(&m.cfg, ROLE_EVAL, 0, 0, a->cfg.pass_k > 64 ? a->cfg.pass_k : 64, 1); /* eval.c's batch */
    char err[512];
    Task *task = task_create(a->cfg.task_name, &a->cfg.task, a->cfg.seed, err, sizeof err);
    if (!task) die("%s", err);
    SamplerConfig sc = sampler_config_from(&a->cfg);
    EvalResult r;
    double t0 = now_seconds();
    evaluate(&m, tok, task, &sc, a->cfg.eval_prompts, a->cfg.pass_k, a->cfg.seed, &r);
    eval_print(a->checkpoint, &r, task);
    printf("eval: %.1f s\n", now_seconds() - t0);
    task->destroy(task);
    model_free(&m);
    xfree(tok);
    return 0;
}

static int cmd_sample(Args *a) {
    if (!a->checkpoint || !a->prompt) die("sample needs --checkpoint FILE and --prompt TEXT");
    Model m;
    Tokenizer *tok = xmalloc(sizeof *tok);
    ckpt_load_model_or_die(a->checkpoint, &m, tok);
    int n = a->n > 0 ? a->n : 1;
    memory_check_or_die(&m.cfg, ROLE_EVAL, 0, 0, n + 1, 1);
    int *prompt = xmalloc(sizeof(int) * m.cfg.max_seq_len);
    int plen = encode_prompt(tok, a->prompt, prompt, m.cfg.max_seq_len);
    SamplerConfig sc = sampler_config_from(&a->cfg);
    KVCache *cache = kv_cache_new(&m.cfg, n + 1, m.cfg.max_seq_len);
    Completions c;
    completions_alloc(&c, n, sc.max_new_tokens);
    Rng rng;
    rng_seed(&rng, a->cfg.seed, 0x5A);
    const int *prompts[1] = {prompt};
    generate(&m, cache, prompts, &plen, 1, n, &sc, tok, &rng, &c);
    static const char *finish[] = {"eos", "stop", "length"};
    char text[1024];
    for (int i = 0; i < n; i++) {
        completion_text(tok, &c, i, text, sizeof text);
        double lp = 0;
        for (int j = 0; j < c.len[i]; j++) lp += c.logp[(size_t)i * c.max_new + j];
        printf("%s%s\t[%s, %d tokens, logp %.3f]\n", a->prompt, text, finish[c.finish[i]], c.len[i], lp);
    }
    completions_free(&c);
    kv_cache_free(cache);
    xfree(prompt);
    model_free(&m);
    xfree(tok);
    return 0;
}

/* Rank 0 learns, the others act. Resource checks run on every rank before
 * any work, so an impossible request fails fast and the same way everywhere. */
static int cmd_train(Args *a, int *argc, char ***argv) {
    Comm comm;
    comm_init(&comm, argc, argv);
    const char *why = NULL;
    char msg[300];
    if (comm.size < 2) why = "grpo train needs at least 2 ranks (1 learner + actors): mpirun -np 3 ...";
    else if (comm.size - 1 > a->cfg.prompts_per_step) {
        snprintf(msg, sizeof msg,
                 "%d actors but [grpo] prompts_per_step = %d: every actor needs at least one "
                 "prompt per step; use fewer ranks or more prompts",
                 comm.size - 1, a->cfg.prompts_per_step);
        why = msg;
    }
    if (why) {
        if (comm.rank == 0) fprintf(stderr, "error: %s\n", why);
        comm_finalize();
        return 2;
    }
    learner_catch_signals();
    if (comm.rank == 0) make_dirs(a->cfg.dir);
    int rc = comm.rank == 0 ? learner_run(&a->cfg, &comm) : actor_run(&a->cfg, &comm);
    comm_finalize();
    return rc;
}

int main(int argc, char **argv) {
    Args a;
    parse_args(argc, argv, &a);
    blas_set_threads(a.cfg.blas_threads);
    if (!strcmp(a.command, "config")) {
        config_write(&a.cfg, stdout);
        return 0;
    }
    if (!strcmp(a.command, "sft")) {
        make_dirs(a.cfg.dir);
        char path[CFG_STR_MAX + 16];
        snprintf(path, sizeof path, "%s/sft.ckpt", a.cfg.dir);
        return sft_run(&a.cfg, a.out ? a.out : path);
    }
    if (!strcmp(a.command, "train")) {
        return cmd_train(&a, &argc, &argv);
    }
    if (!strcmp(a.command, "eval")) return cmd_eval(&a);
    if (!strcmp(a.command, "sample")) return cmd_sample(&a);
    fprintf(stderr, "error: unknown command '%s'\n", a.command);
    usage(stderr);
    return 2;
}
