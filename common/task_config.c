/* task_config.c: the [task] section. Its defaults must agree with
 * task_params_default() (a test checks). */
#include "task.h"

#define T TaskSettings
static const CfgKey keys[] = {
    CFG_S(T, "name", name, "arith", 1, "arith | countdown | jsonl | arith_cot | countdown_cot | code | review"),
    CFG_I(T, "max_digits", p.max_digits, "2", 1, 9, 1, "arith: operand digits, 1..N"),
    CFG_F(T, "p_add", p.p_add, "0.6", 0, 1, 1, "arith: share of additions"),
    CFG_F(T, "p_sub", p.p_sub, "0.2", 0, 1, 1, "arith: share of subtractions"),
    CFG_F(T, "p_mul", p.p_mul, "0.2", 0, 1, 1, "arith: share of multiplications"),
    CFG_I(T, "mul_max", p.mul_max, "9", 1, 9999, 1, "arith: factors in 1..mul_max"),
    CFG_I(T, "allow_negative", p.allow_negative, "0", 0, 1, 1, "arith: a-b may be negative"),
    CFG_F(T, "demo_error", p.demo_error, "0.6", 0, 1, 1,
          "demonstrator: probability of dropping a needed carry/borrow"),
    CFG_I(T, "countdown_min", p.cd_n_min, "3", 2, 6, 1, "countdown: fewest numbers"),
    CFG_I(T, "countdown_max", p.cd_n_max, "4", 2, 6, 1, "countdown: most numbers"),
    CFG_I(T, "countdown_max_number", p.cd_max_number, "25", 1, 1000, 1, "countdown: numbers in 1..N"),
    CFG_S(T, "data", p.jsonl_path, "", 1, "jsonl: data file, one {prompt, answer} per line"),
    CFG_I(T, "eval_permille", p.eval_permille, "20", 1, 1000, 1, "held-out share of items, per mille"),
    CFG_F(T, "w_accuracy", p.weights[0], "1.0", -100, 100, 1, "reward weight: accuracy"),
    CFG_F(T, "w_format", p.weights[1], "0.1", -100, 100, 1,
          "reward weight: format (not used by *_cot tasks: there format gates accuracy)"),
    CFG_F(T, "w_consistency", p.weights[2], "0", 0, 1, 1,
          "*_cot: weight of answer-agrees-with-think, added only when correct"),
    CFG_S(T, "think_open", p.think_open, "<think>", 1, "*_cot: tag opening the reasoning"),
    CFG_S(T, "think_close", p.think_close, "</think>", 1, "*_cot: tag closing the reasoning"),
    CFG_S(T, "answer_open", p.answer_open, "<answer>", 1, "*_cot: tag opening the answer"),
    CFG_S(T, "answer_close", p.answer_close, "</answer>", 1, "*_cot: tag closing the answer"),
    CFG_I(T, "cot_digits", p.cot_digits, "3", 1, 9, 1, "arith_cot: digits of every operand"),
    CFG_I(T, "cot_mul_digits", p.cot_mul_digits, "2", 1, 9, 1,
          "arith_cot: digits of the second factor of a*b"),
    CFG_F(T, "cot_demo_error", p.cot_demo_error, "0.6", 0, 1, 1,
          "*_cot demonstrator: chance of one flawed step (arith_cot: first carry/borrow "
          "dropped; countdown_cot: a subtraction worked smaller-from-larger, 50-7=57)"),
    CFG_I(T, "cot_think", p.cot_think, "1", 0, 1, 1,
          "*_cot: 1 = <think>reasoning</think><answer>..</answer>; 0 (arith_cot only) = "
          "<answer>..</answer> alone, the same items and demonstrator without the reasoning"),
    CFG_I(T, "code_max_steps", p.code_max_steps, "3", 1, 3, 1,
          "code: list operations per program, 1..N"),
    CFG_I(T, "code_tests", p.code_tests, "5", 1, 8, 1, "code: hidden test inputs per program"),
    CFG_F(T, "code_demo_error", p.code_demo_error, "0.6", 0, 1, 1,
          "code demonstrator: probability of writing \"last N\" as x[N:] (drop's slice)"),
    CFG_F(T, "w_syntax", p.code_w_syntax, "0.1", -100, 100, 1,
          "code: reward weight of the syntax component (the program compiles)"),
    CFG_I(T, "review_demo_words", p.review_demo_words, "6", 1, 8, 1,
          "review demonstrator: writes 1..N words, each uniform over the vocabulary"),
    CFG_F(T, "w_preference", p.review_w_preference, "0", -100, 100, 1,
          "review: reward weight of the hidden preference (0 = reported, never trained on; "
          "a learned reward model is what should stand in for it)"),
    CFG_S(T, "verifier", p.verifier, "", 1,
          "external verifier: a program scoring completions over JSON lines, run as "
          "/bin/sh -c 'exec COMMAND' (protocol: README); empty = the task's own verifier"),
    CFG_F(T, "verifier_timeout", p.verifier_timeout, "10", 0.001, 3600, 0,
          "external verifier: seconds a reply may take, then the program is restarted"),
    CFG_F(T, "verifier_start_timeout", p.verifier_start_timeout, "30", 0, 3600, 0,
          "external verifier: seconds a fresh process may take for its first reply (its "
          "start included), if more than verifier_timeout"),
    CFG_I(T, "verifier_procs", p.verifier_procs, "2", 1, 64, 0,
          "external verifier: processes per actor"),
    CFG_I(T, "verifier_pipeline", p.verifier_pipeline, "8", 1, 1024, 0,
          "external verifier: requests in flight per process"),
    CFG_I(T, "verifier_max_failures", p.verifier_max_failures, "20", 1, 1000000, 0,
          "external verifier: failures in a row that stop the run"),
    CFG_S(T, "verifier_components", p.verifier_components, "accuracy", 1,
          "external verifier: comma-separated components it reports (accuracy always first)"),
    CFG_I(T, "verifier_sandbox", p.verifier_sandbox, "0", 0, 1, 0,
          "external verifier: 1 = run it in the sandbox ([sandbox] limits)"),
    CFG_S(T, "verifier_sandbox_paths", p.verifier_sandbox_paths, "", 0,
          "external verifier in the sandbox: colon-separated paths bound read-only inside "
          "(its script)"),
};
#undef T

const CfgSection task_section = CFG_SECTION("task", TaskSettings, keys, NULL, NULL);
