/* main.c: the grpo binary. It reads the command name and hands the work to
 * the room that does it; it is the one file that sees every room, so it
 * lives in deploy/, with the scripts that launch it, above the rooms it
 * dispatches to (learner/, actors/, proto/, common/), which never include
 * it or one another upward.
 *
 *   grpo sft    [options] [section.key=value ...]   supervised warm start
 *   grpo demos  --out FILE.jsonl [-n N] [...]       the demonstrator's completions
 *                                                   as SFT data
 *   grpo distill --teacher FILE [--out FILE] [...]  token-level distillation
 *   grpo rm-train --data PAIRS.jsonl [--eval PAIRS.jsonl] [--out FILE]
 *                                                   a reward model from comparison
 *                                                   pairs (Bradley-Terry)
 *   grpo train  [options] [section.key=value ...]   GRPO, under mpirun: ranks
 *                                                   0..K-1 learn, the others act
 *                                                   ([grpo] learners, layout)
 *   grpo eval   --checkpoint FILE [...]             held-out accuracy, pass@k
 *   grpo sample --checkpoint FILE --prompt TEXT     completions for one prompt
 *   grpo rejection-sample --checkpoint FILE --out FILE.jsonl
 *                                                   k completions per training
 *                                                   prompt, the verified ones
 *                                                   as SFT data (mpirun or not)
 *   grpo rm-data --out FILE.jsonl [--checkpoint FILE]
 *                                                   comparison pairs labelled by the
 *                                                   hidden preference, for a reward model
 *   grpo pipeline [--config FILE] [...]             the R1 recipe, every stage a
 *                                                   child of this binary, resumable
 *   grpo import --from llama2c FILE|hf DIR --out X.ckpt [--tokenizer FILE]
 *                                                   a llama2.c or Hugging Face model
 *                                                   as a checkpoint
 *   grpo export --format llama2c|llama2c-v1|hf --checkpoint X.ckpt --out PATH
 *               [--tokenizer-out FILE]              a checkpoint as those formats,
 *                                                   with its tokenizer
 *   grpo config [...]                               print the effective config
 *
 * Options: --config FILE (INI; later overrides win), --out FILE (sft,
 * distill, rm-train), --data FILE[:WEIGHT] (sft, repeatable; sets [sft]
 * data; rm-train: the pairs, [rm] data), --eval FILE (rm-train: [rm] eval),
 * --teacher FILE (distill; sets [distill] teacher). */
#include <stdio.h>
#include <string.h>

#include "actor.h"
#include "cli.h"
#include "comm.h"
#include "distill.h"
#include "eval.h"
#include "import_command.h"
#include "local_completer.h"
#include "learner.h"
#include "pipeline.h"
#include "plan.h"
#include "rejection_sample.h"
#include "rm_data.h"
#include "rm_train.h"
#include "run_settings.h"
#include "sections.h"
#include "sft.h"
#include "sft_demos.h"
#include "train_ranks.h"
#include "blas_setup.h"
#include "util.h"

/* SFT evaluates with the actors' sampler, which learner/ does not see. */
static int sft(Config *cfg, const CliArgs *a) {
    Evaluator ev = local_evaluator(cfg);
    return sft_command(cfg, a, &ev);
}

/* Distillation samples the teacher and evaluates the student with the
 * actors' sampler, which learner/ does not see. */
static int distill(Config *cfg, const CliArgs *a) {
    Evaluator ev = local_evaluator(cfg);
    Completer co = local_completer(cfg);
    return distill_command(cfg, a, &co, &ev);
}

/* Under mpirun: rank 0 learns, the others act or learn (plan.h: the
 * layout; train_ranks.c). The rank check runs on
 * every rank before any work, so an impossible request fails fast and the
 * same way everywhere. */
static int train(Config *cfg, const CliArgs *a) {
    Comm comm;
    int argc = a->argc;
    char **argv = a->argv;
    learner_catch_signals();
    comm_init(&comm, &argc, &argv);
    char why[300];
    if (plan_check_ranks(train_plan(cfg), comm.size, why, sizeof why) != 0) {
        if (comm.rank == 0) fprintf(stderr, "error: %s\n", why);
        comm_finalize();
        return 2;
    }
    int rc = train_rank(cfg, &comm);
    comm_finalize();
    return rc;
}

static const struct {
    const char *name;
    int (*run)(Config *cfg, const CliArgs *a);
    int runs_model; /* 1: sets up BLAS (and its buffers) before the work */
    const char *help;
} commands[] = {
    {"sft", sft, 1, "supervised warm start on the task's demonstrator (--out FILE,\n"
                 "          default <run.dir>/sft.ckpt), or on JSON lines {prompt, completion}\n"
                 "          (--data FILE[:WEIGHT], repeatable: a weighted mixture)"},
    {"demos", demos_command, 0, "the task's demonstrator on N distinct training prompts as SFT\n"
                             "          data (--out FILE.jsonl, -n N or sft.demos=N, default 1000)"},
    {"distill", distill, 1, "token-level distillation of --teacher FILE into a fresh [model]\n"
                         "          student (--out FILE, default <run.dir>/distill.ckpt)"},
    {"rm-train", rm_train_command, 1,
     "a reward model (scalar head, Bradley-Terry) from JSON lines\n"
     "          {prompt, chosen, rejected} (--data FILE; --eval FILE or [rm] holdout;\n"
     "          --out FILE, default <run.dir>/rm.ckpt; [rm] init; resumable)"},
    {"train", train, 1, "GRPO actor-learner; run under mpirun -np N (grpo.learners=K learners,\n"
                     "          N-K actors; or grpo.layout=colocated: every rank acts and learns)"},
    {"eval", eval_command, 1, "held-out greedy accuracy and pass@k (--checkpoint FILE)"},
    {"sample", sample_command, 1, "print completions (--checkpoint FILE --prompt TEXT [-n N])"},
    {"rejection-sample", rejection_sample_command, 1,
     "k completions per training prompt, the verified ones as SFT data\n"
     "          (--checkpoint FILE --out FILE.jsonl; [rs] prompts, k, shortest; mpirun or not)"},
    {"rm-data", rm_data_command, 1,
     "comparison pairs {prompt, chosen, rejected} labelled by the task's hidden\n"
     "          preference (task.name=review): two completions per prompt from --checkpoint\n"
     "          FILE, or rm_data.source=demos; --out FILE.jsonl and a held-out FILE.eval.jsonl\n"
     "          ([rm_data] pairs, eval_pairs, label_noise; one process)"},
    /* runs_model: the stages' checkpoints are evaluated in the pipeline */
    {"pipeline", pipeline_command, 1,
     "the R1 recipe end to end: cold start, GRPO, rejection sampling, SFT mix,\n"
     "          final RL, distillation and its baseline ([pipeline] keys; resumable)"},
    {"import", import_command, 0,
     "a llama2.c model (--from llama2c FILE) or a Hugging Face Llama directory\n"
     "          (--from hf DIR: config.json + safetensors) as a checkpoint (--out FILE);\n"
     "          --tokenizer FILE: its tokenizer.bin or tokenizer.json"},
    {"export", export_command, 0,
     "a checkpoint (--checkpoint FILE) as llama2.c (--format llama2c: legacy, or\n"
     "          llama2c-v1; tokenizer.bin beside it or at --tokenizer-out FILE) or a\n"
     "          Hugging Face directory (--format hf, with tokenizer.json) at --out PATH"},
    {"config", cli_print_config, 0, "print the effective config (all keys, defaults and help)"},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *f) {
    fprintf(f, "usage: grpo <command> [--config FILE] [section.key=value ...]\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-7s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "Example: grpo sft sft.steps=500 model.dim=64\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
    for (int i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        Config *cfg = grpo_config_new();
        CliArgs a;
        cli_parse(argc, argv, cfg, &a);
        /* before MPI_Init: every rank's BLAS buffers exist before any work */
        if (commands[i].runs_model) blas_set_threads(run_settings(cfg)->blas_threads);
        int rc = commands[i].run(cfg, &a);
        config_free(cfg);
        return rc;
    }
    fprintf(stderr, "error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
