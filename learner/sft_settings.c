/* sft_settings.c: the [sft] section (sft.h). */
#include "sft.h"
#include "sft_data.h"
#include "util.h"

const char *const sft_loss_norm_names[] = {"token", "sequence", NULL};

#define T SftSettings
static const CfgKey keys[] = {
    CFG_I(T, "steps", steps, "3000", 0, 1e9, 1, "optimizer steps"),
    CFG_I(T, "batch_size", batch, "64", 1, 1 << 20, 1, "sequences per step"),
    CFG_OPTIM_KEYS(T, opt, "2e-3", "1e-4", "100", "0.0", "1.0"),
    CFG_I(T, "eval_every", eval_every, "500", 0, 1e9, 0, "held-out greedy accuracy every N steps"),
    CFG_I(T, "eval_prompts", eval_prompts, "200", 1, 1 << 24, 0,
          "held-out prompts of those evaluations"),
    CFG_I(T, "max_nonfinite_steps", max_nonfinite_steps, "3", 1, 1e9, 0,
          "stop (status 6) after N steps in a row with a NaN/inf gradient"),
    CFG_S(T, "data", data, "", 1,
          "demonstration files FILE[:WEIGHT],... of {prompt, completion} JSON lines, weights "
          "relative (default 1); \"\" = the task's demonstrator"),
    CFG_S(T, "init", init, "", 1,
          "checkpoint whose weights SFT starts from (read-only; its model shape is adopted and "
          "its tokenizer must match); \"\" = fresh random weights"),
    CFG_I(T, "checkpoint_every", checkpoint_every, "200", 0, 1e9, 0,
          "resume checkpoint <out>.resume.ckpt every N steps (0 = only on SIGTERM/SIGINT/SIGUSR1)"),
    CFG_I(T, "demos", demos, "1000", 1, 100000000, 0,
          "demonstrations `grpo demos` writes (-n N, at most 4096, overrides)"),
    CFG_I(T, "micro_batches", micro_batches, "4", 1, 1 << 20, 0,
          "length-sorted chunks of a step's rows, each padded to its own longest; same "
          "gradient, less padding (1 = one batch)"),
    CFG_E(T, "loss_norm", loss_norm, "token", sft_loss_norm_names, 1,
          "token: every completion token weighs the same (a file's mixture weight is its share "
          "of examples); sequence: every example does (its share of the loss)"),
};
#undef T

static int validate(const Config *cfg, const void *settings, char *err, size_t errlen) {
    (void)cfg;
    const SftSettings *s = settings;
    if (s->opt.lr_min > s->opt.lr) {
        set_err(err, errlen, "[sft] lr_min = %g must not exceed lr = %g", s->opt.lr_min, s->opt.lr);
        return -1;
    }
    /* the weights are checked here, so a bad --data stops before any work */
    if (s->data[0] && sft_data_check_spec(s->data, err, errlen) != 0) return -1;
    return 0;
}

const CfgSection sft_section = CFG_SECTION("sft", SftSettings, keys, NULL, validate);
