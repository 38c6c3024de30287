/* task_code_harness.c: the code task's verifier. Every completion runs in
 * a sandbox (sandbox.h) of its own as
 *   /usr/bin/python3 -I -S harness.py
 * with three files in its working directory: harness.py (below, ours),
 * prog.txt (the completion) and tests.txt (the hidden test inputs, one
 * list per line). The expected outputs are computed here in C and never
 * enter the sandbox: a program can read its inputs, but has nothing to
 * copy its answers from.
 *
 * The harness compiles `lambda x: <completion>` (a SyntaxError is
 * reported and ends the run) and, for each test, prints
 *   <nonce> <i> OK <repr(result)>   or   <nonce> <i> ERR <ExceptionClass>
 * then "<nonce> END". The nonce comes on stdin, fresh per run, so that
 * what the program prints is never taken for the harness's lines. Each
 * harness line starts on a fresh line (a program may print without a
 * newline).
 *
 * Reward components: "accuracy" = fraction of tests whose repr matches,
 * "format" = one line of the characters a solution needs (CODE_FORMAT
 * below) and finished, "syntax" = it compiles; correct = every test
 * passed. A completion cut at the length limit is not run (all 0).
 * Reward.status: REWARD_OK when the harness reached END (a syntax error
 * included); a sandbox kill maps to its REWARD_SANDBOX_*; a run that
 * exited without END, or reported one test twice differently (a program
 * that forked the harness), is REWARD_SANDBOX_ERROR; a test that raised
 * MemoryError makes REWARD_SANDBOX_MEMORY, one that failed writing a
 * file over [sandbox] file_kb (EFBIG) REWARD_SANDBOX_FILE_SIZE, any other
 * exception REWARD_SANDBOX_ERROR. As task.h requires, every status but OK has all
 * components 0 and reward 0: the status counts say why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "task_code_harness.h"
#include "task_code_prog.h"
#include "util.h"

static const char HARNESS[] =
    "import sys\n"
    "def main():\n"
    "    nonce = sys.stdin.readline().strip()\n"
    "    out = sys.stdout\n"
    "    def say(*words):\n"
    "        out.write('\\n' + nonce + ' ' + ' '.join(words) + '\\n')\n"
    "        out.flush()\n"
    "    with open('prog.txt', 'rb') as fh:\n"
    "        code = fh.read().decode('latin-1')\n"
    "    with open('tests.txt') as fh:\n"
    "        tests = [[int(w) for w in line.split()] for line in fh.read().splitlines()]\n"
    "    try:\n"
    "        f = eval(compile('lambda x: ' + code, '<completion>', 'eval'), {})\n"
    "    except (SyntaxError, ValueError) as e:\n"
    "        say('SYNTAX', type(e).__name__)\n"
    "        say('END')\n"
    "        return\n"
    "    for i, t in enumerate(tests):\n"
    "        try:\n"
    "            r = repr(f(t))\n"
    "        except MemoryError:\n"
    "            say(str(i), 'ERR', 'MemoryError')\n"
    "            continue\n"
    "        except OSError as e:\n"
    "            say(str(i), 'ERR', 'EFBIG' if e.errno == 27 else type(e).__name__)\n"
    "            continue\n"
    "        except BaseException as e:\n"
    "            say(str(i), 'ERR', type(e).__name__)\n"
    "            continue\n"
    "        say(str(i), 'OK', r)\n"
    "    say('END')\n"
    "main()\n";

static const char *const HARNESS_ARGV[] = {"/usr/bin/python3", "-I", "-S", "harness.py", NULL};

/* Characters of a well-formed completion: those of the solutions, plus
 * the few other operators a correct expression might use. */
static const char CODE_FORMAT[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,:()[]+-*%=<>!._/";

static int well_formed(const char *c) {
    if (!*c) return 0;
    for (; *c; c++)
        if (!strchr(CODE_FORMAT, *c)) return 0;
    return 1;
}

/* One completion's run: its files, inputs, expected outputs and nonce. */
typedef struct {
    CodeProg prog;
    int k;
    char expect[CODE_MAX_TESTS][64];
    char tests[CODE_MAX_TESTS * 3 * CODE_MAX_LIST + 8];
    char nonce[40];
    SandboxFile files[3];
} Run;

/* A nonce nobody can predict: the kernel's randomness, else a hash of
 * the time, pid and a counter (never the same twice in one process). */
static void make_nonce(char *out, size_t cap) {
    static unsigned long counter;
    uint64_t v[2];
    if (getrandom(v, sizeof v, 0) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t key[4] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, (uint64_t)getpid(),
                           ++counter};
        v[0] = hash64(key, sizeof key);
        key[3] ^= 0x5bd1e995u;
        v[1] = hash64(key, sizeof key);
    }
    snprintf(out, cap, "H%016llx%016llx", (unsigned long long)v[0], (unsigned long long)v[1]);
}

/* Sets up r for item (0), or -1 if its prompt is not a code prompt. */
static int run_init(const CodeState *s, const TaskItem *item, Run *r) {
    if (code_prog_parse(item->prompt, &r->prog) != 0) return -1;
    r->k = s->p.code_tests;
    CodeInput in[CODE_MAX_TESTS];
    code_test_inputs(item->id, r->k, in);
    size_t off = 0;
    for (int t = 0; t < r->k; t++) {
        code_reference_repr(&r->prog, &in[t], r->expect[t], sizeof r->expect[t]);
        for (int j = 0; j < in[t].len; j++)
            off += (size_t)snprintf(r->tests + off, sizeof r->tests - off, "%s%d", j ? " " : "",
                                    in[t].v[j]);
        off += (size_t)snprintf(r->tests + off, sizeof r->tests - off, "\n");
    }
    make_nonce(r->nonce, sizeof r->nonce);
    return 0;
}

static int map_end(SandboxEnd e) {
    switch (e) {
    case SANDBOX_KILLED_CPU: return REWARD_SANDBOX_CPU;
    case SANDBOX_KILLED_WALL: return REWARD_SANDBOX_TIMEOUT;
    case SANDBOX_KILLED_OUTPUT: return REWARD_SANDBOX_OUTPUT;
    case SANDBOX_KILLED_FILE_SIZE: return REWARD_SANDBOX_FILE_SIZE;
    case SANDBOX_SIGNALED: return REWARD_SANDBOX_SIGNAL;
    case SANDBOX_SETUP_FAILED: return REWARD_SANDBOX_SETUP;
    default: return REWARD_SANDBOX_ERROR;
    }
}

/* Reads the harness's lines from res into out (see the file comment). */
static void score(const Task *t, const Run *r, const SandboxResult *res, int formed,
                  Reward *out) {
    memset(out, 0, sizeof *out);
    out->n = 3;
    if (res->end != SANDBOX_EXITED) {
        out->status = map_end(res->end);
        return;
    }
    /* state of test i: 0 not seen, 1 passed, 2 failed, 3 raised MemoryError, 4 raised,
     * 5 a write over file_kb (EFBIG: python ignores SIGXFSZ, and the harness
     * catches the error, so the sandbox sees a normal exit) */
    int state[CODE_MAX_TESTS] = {0}, end = 0, syntax_err = 0, conflict = 0;
    const size_t nl = strlen(r->nonce);
    const char *line = res->out ? res->out : "";
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > nl && strncmp(line, r->nonce, nl) == 0 && line[nl] == ' ') {
            const char *w = line + nl + 1;
            size_t wl = len - nl - 1;
            size_t d = 0;
            int i = 0, st = 0;
            while (d < wl && d < 3 && w[d] >= '0' && w[d] <= '9') i = 10 * i + (w[d++] - '0');
            if (wl == 3 && strncmp(w, "END", 3) == 0) end = 1;
            else if (wl > 6 && strncmp(w, "SYNTAX", 6) == 0) syntax_err = 1;
            else if (d > 0 && d < wl && w[d] == ' ' && i < r->k) {
                const char *rest = w + d + 1;
                size_t rl = wl - d - 1;
                if (rl >= 3 && strncmp(rest, "OK ", 3) == 0) {
                    const char *e = r->expect[i];
                    st = rl - 3 == strlen(e) && strncmp(rest + 3, e, rl - 3) == 0 ? 1 : 2;
                } else if (rl >= 4 && strncmp(rest, "ERR ", 4) == 0) {
                    st = rl - 4 == 11 && strncmp(rest + 4, "MemoryError", 11) == 0 ? 3
                         : rl - 4 == 5 && strncmp(rest + 4, "EFBIG", 5) == 0       ? 5
                                                                                 : 4;
                }
                if (st) {
                    if (state[i] && state[i] != st) conflict = 1;
                    state[i] = st;
                }
            }
        }
        line += len + (eol != NULL);
    }
    if (!end || conflict) {
        out->status = REWARD_SANDBOX_ERROR;
        return;
    }
    if (syntax_err) {
        out->value[1] = (float)formed;
        reward_finish(t, out);
        return;
    }
    int passed = 0, mem = 0, raised = 0, fsize = 0;
    for (int i = 0; i < r->k; i++) {
        passed += state[i] == 1;
        mem |= state[i] == 3;
        raised |= state[i] == 4;
        fsize |= state[i] == 5;
    }
    if (mem || raised || fsize) {
        out->status = mem ? REWARD_SANDBOX_MEMORY : fsize ? REWARD_SANDBOX_FILE_SIZE
                                                          : REWARD_SANDBOX_ERROR;
        return;
    }
    out->value[0] = (float)passed / (float)r->k;
    out->value[1] = (float)formed;
    out->value[2] = 1;
    out->correct = passed == r->k;
    reward_finish(t, out);
}

/* j < i whose (prompt, completion) job i repeats, else -1. */
static int earlier_copy(const VerifyJob *jobs, const int *slot, int i) {
    for (int j = 0; j < i; j++)
        if (slot[j] >= 0 && jobs[j].item->id == jobs[i].item->id &&
            strcmp(jobs[j].item->prompt, jobs[i].item->prompt) == 0 &&
            strcmp(jobs[j].completion, jobs[i].completion) == 0)
            return j;
    return -1;
}

/* One sandbox_run_many call for the batch. A completion that repeats an
 * earlier one of the same prompt (a GRPO group that agrees: most groups,
 * late in training) is run once and its reward copied: the program and
 * its tests are the same. */
void code_verify_batch(const Task *t, const VerifyJob *jobs, int n, Reward *out) {
    const CodeState *s = t->state;
    const size_t cap = (size_t)(n > 0 ? n : 1);
    Run *runs = xcalloc(cap, sizeof *runs);
    SandboxJob *sj = xcalloc(cap, sizeof *sj);
    SandboxResult *res = xcalloc(cap, sizeof *res);
    int *slot = xcalloc(cap, sizeof *slot), *copy_of = xcalloc(cap, sizeof *copy_of), m = 0;
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].n = 3;
        slot[i] = -1;
        copy_of[i] = -1;
        /* cut at the length limit: not a program the model finished */
        if (!jobs[i].finished) continue;
        if ((copy_of[i] = earlier_copy(jobs, slot, i)) >= 0) continue;
        Run *r = &runs[m];
        if (run_init(s, jobs[i].item, r) != 0)
            die("task code: '%s' is not a code prompt", jobs[i].item->prompt);
        r->files[0] = (SandboxFile){"harness.py", HARNESS, sizeof HARNESS - 1};
        r->files[1] = (SandboxFile){"prog.txt", jobs[i].completion, strlen(jobs[i].completion)};
        r->files[2] = (SandboxFile){"tests.txt", r->tests, strlen(r->tests)};
        strcat(r->nonce, "\n");
        sj[m] = (SandboxJob){.argv = HARNESS_ARGV,
                             .files = r->files,
                             .n_files = 3,
                             .stdin_data = r->nonce,
                             .stdin_len = strlen(r->nonce)};
        slot[i] = m++;
    }
    if (m) sandbox_run_many(&s->p.sandbox, sj, m, res);
    for (int i = 0; i < n; i++) {
        if (copy_of[i] >= 0) {
            out[i] = out[copy_of[i]];
        } else if (slot[i] < 0) {
            reward_finish(t, &out[i]);
        } else {
            Run *r = &runs[slot[i]];
            r->nonce[strlen(r->nonce) - 1] = '\0'; /* the newline sent on stdin */
            score(t, r, &res[slot[i]], well_formed(jobs[i].completion), &out[i]);
        }
    }
    for (int j = 0; j < m; j++) sandbox_result_free(&res[j]);
    xfree(copy_of);
    xfree(slot);
    xfree(res);
    xfree(sj);
    xfree(runs);
}

void code_verify(const Task *t, const TaskItem *item, const char *completion, int finished,
                 Reward *out) {
    VerifyJob j = {item, completion, finished};
    code_verify_batch(t, &j, 1, out);
}
