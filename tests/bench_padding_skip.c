/* bench_padding_skip.c: what leaving the padding out of a forward saves,
 * on right-padded rows of mixed length (bench_common.h's reasoning batch:
 * prompt 10, completions 60-180 tokens, its 107k model), one BLAS thread:
 *   - the PPO value model's forward + backward over a chunk of 4 groups x
 *     G = 8 rows: every position of the (B, T) grid (the old dense path,
 *     model_forward_values with n = NULL) against each row's own
 *     (n = the rows' lengths);
 *   - a distillation step (teacher and student forward, KL, the student's
 *     backward) over one completion of each of the 16 prompts: the old
 *     full-grid path (model_forward on the grid, the KL over its mask,
 *     model_backward_logits from (B, T, V)) against distill_batch_kl
 *     (model_forward_batch: no padding, the heads on completion positions).
 * Old and new alternate in one process, REPS pairs each; thread CPU time
 * (wall is noisy on a shared machine); prints the medians and the median
 * of the per-pair ratios old / new. */
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "blas_setup.h"
#include "distill.h"
#include "distill_loss.h"
#include "model.h"
#include "util.h"

#include "bench_common.h"
#include "wire.h"

enum { REPS = 7, VALUE_GROUPS = 4 };

/* Rows [g0, g1) x G of the batch, or (one_each) the first row of each. */
static void fill(SeqBatch *b, const Group *g, int g0, int g1, int one_each) {
    batch_clear(b);
    for (int i = g0; i < g1; i++) {
        int64_t off = 0;
        for (int k = 0; k < BENCH_G; k++) {
            if (!one_each || k == 0)
                batch_add(b, g[i].prompt, g[i].prompt_len, g[i].tokens + off,
                          g[i].completion_len[k]);
            off += g[i].completion_len[k];
        }
    }
    batch_layout(b);
}

static long real_positions(const SeqBatch *b) {
    long n = 0;
    for (int r = 0; r < b->B; r++) n += b->n_pos[r];
    return n;
}

static void report(const char *what, const SeqBatch *b, double *old, double *nw, double *ratio) {
    const double o = median(old, REPS), n = median(nw, REPS), q = median(ratio, REPS);
    printf("  %-42s %3d x %3d grid, %6ld real positions (%4.1f%%): old %7.1f ms, new %7.1f ms "
           "cpu, old / new %.2fx (medians of %d pairs)\n",
           what, b->B, b->T, real_positions(b), 100.0 * real_positions(b) / ((double)b->B * b->T),
           1e3 * o, 1e3 * n, q, REPS);
}

/* One timed run of a benchmark: the old path (which 0) or the new (1). */
typedef void (*TimedRun)(void *ctx, int which);

/* REPS pairs of run(ctx, 0) and run(ctx, 1) after one warm-up pair, by
 * thread CPU time; reports them under what for batch b. */
static void paired(const char *what, const SeqBatch *b, TimedRun run, void *ctx) {
    double old[REPS], nw[REPS], ratio[REPS];
    for (int k = -1; k < REPS; k++) { /* k = -1 warms up */
        const double c0 = cpu_seconds();
        run(ctx, 0);
        const double c1 = cpu_seconds();
        run(ctx, 1);
        const double c2 = cpu_seconds();
        if (k < 0) continue;
        old[k] = c1 - c0;
        nw[k] = c2 - c1;
        ratio[k] = old[k] / nw[k];
    }
    report(what, b, old, nw, ratio);
}

typedef struct {
    Model *vm;
    ForwardState *s;
    const SeqBatch *b;
    float *v, *dv;
} ValueRun;

static void value_run(void *ctx, int which) {
    ValueRun *a = ctx;
    model_forward_values(a->vm, a->s, a->b->tokens, which ? a->b->n_pos : NULL, a->b->B, a->b->T,
                         a->v);
    model_backward_values(a->vm, a->s, a->dv);
}

static void bench_value(const ModelConfig *mc, const Group *g) {
    Model lm, vm;
    model_init(&lm, mc);
    model_init_weights(&lm, 1);
    model_swap_head(&vm, &lm, MODEL_HEAD_SCALAR);
    model_alloc_grads(&vm);
    SeqBatch b;
    batch_init(&b, VALUE_GROUPS * BENCH_G, mc->max_seq_len);
    fill(&b, g, 0, VALUE_GROUPS, 0);
    const int N = b.B * b.T;
    float *v = xmalloc(sizeof(float) * N), *dv = xmalloc(sizeof(float) * N);
    for (int r = 0; r < b.B; r++)
        for (int t = 0; t < b.T; t++) /* every completion position, as PPO's value loss */
            dv[r * b.T + t] = t >= b.first[r] && t < b.n_pos[r] ? 1e-3f : 0.0f;
    ForwardState *s = forward_state_new(&vm.cfg, b.B, b.T);
    ValueRun a = {&vm, s, &b, v, dv};
    paired("value model forward + backward", &b, value_run, &a);
    forward_state_free(s);
    xfree(v);
    xfree(dv);
    batch_free(&b);
    model_free(&vm);
    model_free(&lm);
}

typedef struct {
    DistillWork *w;
    Model *teacher, *student;
    const SeqBatch *b;
    const uint8_t *mask;
} DistillRun;

static void distill_timed(void *ctx, int which) {
    DistillRun *a = ctx;
    const SeqBatch *b = a->b;
    DistillWork *w = a->w;
    if (which) {
        distill_batch_kl(w, a->student, b, a->mask, 1.0f, 1);
    } else {
        model_forward(a->teacher, w->fs_t, b->tokens, b->targets, b->B, b->T, 1.0f, w->logp, NULL);
        model_forward(a->student, w->fs_s, b->tokens, b->targets, b->B, b->T, 1.0f, w->logp, NULL);
        distill_kl_loss(forward_state_logits(w->fs_t, NULL, NULL),
                        forward_state_logits(w->fs_s, NULL, NULL), a->mask, b->B * b->T,
                        a->student->cfg.vocab_size, 1.0f, w->dlogits, NULL);
    }
    model_backward_logits(a->student, w->fs_s, w->dlogits);
}

static void bench_distill(const ModelConfig *tc, const Group *g) {
    ModelConfig sc = *tc;
    sc.dim = 32;
    sc.hidden_dim = 88;
    sc.n_heads = sc.n_kv_heads = 2;
    Model teacher, student;
    model_init(&teacher, tc);
    model_init_weights(&teacher, 1);
    model_init(&student, &sc);
    model_init_weights(&student, 2);
    model_alloc_grads(&student);
    DistillWork w; /* no sampling here: no tokenizer or completer */
    distill_work_init(&w, &teacher, &sc, NULL, NULL, BENCH_NP, BENCH_MAXC);
    SeqBatch b;
    batch_init(&b, BENCH_NP, tc->max_seq_len);
    fill(&b, g, 0, BENCH_NP, 1);
    uint8_t *mask = xcalloc((size_t)b.B * b.T, 1);
    for (int r = 0; r < b.B; r++)
        for (int j = 0; j < b.seq_len[r] - b.prompt_len[r]; j++) mask[batch_index(&b, r, j)] = 1;
    DistillRun a = {&w, &teacher, &student, &b, mask};
    paired("distill step (teacher dim 64, student 32)", &b, distill_timed, &a);
    xfree(mask);
    batch_free(&b);
    distill_work_free(&w);
    model_free(&teacher);
    model_free(&student);
}

int main(void) {
    blas_set_threads(1);
    const ModelConfig mc = bench_reasoning_model();
    Group g[BENCH_NP];
    bench_reasoning_batch(g);
    printf("padding skipped vs computed: completions 60-180 tokens, dim %d, %d layers, V %d, "
           "1 thread, thread CPU time\n", mc.dim, mc.n_layers, mc.vocab_size);
    bench_value(&mc, g);
    bench_distill(&mc, g);
    for (int i = 0; i < BENCH_NP; i++) group_free(&g[i]);
    return 0;
}
