/* bench_gemm_shapes.c: cblas_sgemm GFLOP/s at exactly the training
 * products of bench_perf_targets' ~1M and ~4M models (N = 2048 rows, D =
 * 128 / 256, HF = 352 / 688, V = 98), each as a fraction of the 2048^3
 * sgemm run just before it: what the matmul layer can reach, and where it
 * loses (small K or small output width, the zeroing pass of beta = 0,
 * packing). Rows, in the row-major terms of model_kernels.c:
 *   fwd  out (N, OC) = inp (N, C) W^T        NoTrans, Trans
 *   dinp dinp (N, C) = dout (N, OC) W         NoTrans, NoTrans
 *   dW   dW (OC, C) += dout^T inp            Trans, NoTrans, K = N
 * at beta 0 and 1, each through OpenBLAS and then (the "own gemm_f32"
 * line) the project's gemm (common/gemm.h, the instance this CPU runs),
 * plus the products a merge would make (Wq|Wk|Wv: OC =
 * 3D; W1|W3: OC = 2HF) and dW of a merged pair. Every figure is the median
 * of BENCH_REPS (default 3) ratios by thread CPU time (the machine is
 * shared: wall time counts other jobs' turns); each rep times enough calls
 * for ~20 ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "blas_setup.h"
#include "kernel_dispatch.h"
#include "util.h"

#include "bench_common.h"
#include "bench_model_common.h"

typedef struct {
    const char *what;
    int ta, tb; /* 1: transposed operand */
    int M, Nc, K;
    float beta;
} Shape;

/* One call of shape s on a, b, c (leading dimensions from the shape),
 * through OpenBLAS or (own) the project's gemm_f32. */
static void run_shape(const Shape *s, int own, const float *a, const float *b, float *c) {
    const int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->Nc, ldc = s->Nc;
    if (own) {
        gemm_f32(s->ta, s->tb, s->M, s->Nc, s->K, 1.0f, a, lda, b, ldb, s->beta, c, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                s->tb ? CblasTrans : CblasNoTrans, s->M, s->Nc, s->K, 1.0f, a, lda, b, ldb,
                s->beta, c, ldc);
}

/* Median over reps of (GFLOP/s of the n shapes run in turn, plus a copy of
 * copy_floats floats, as a merged product's concatenated weights need) /
 * (GFLOP/s of the reference sgemm). */
static double time_group(const Shape *s, int n, int own, size_t copy_floats, float *a, float *b,
                         float *c, float *scratch, int reps) {
    double f = 0;
    for (int i = 0; i < n; i++) f += 2.0 * s[i].M * s[i].Nc * (double)s[i].K;
    int calls = (int)(2e9 / f) + 1; /* ~20 ms at 100 GFLOP/s */
    double ratio[16];
    for (int k = -1; k < reps; k++) {
        Rate sg = sgemm_once(&ref);
        double t0 = cpu_seconds();
        for (int r = 0; r < calls; r++) {
            if (copy_floats) memcpy(scratch, b, sizeof(float) * copy_floats);
            for (int i = 0; i < n; i++) run_shape(&s[i], own, a, copy_floats ? scratch : b, c);
        }
        double dt = cpu_seconds() - t0;
        if (k >= 0) ratio[k] = f * calls / dt * 1e-9 / sg.cpu;
    }
    return median(ratio, reps);
}

static double time_shape(const Shape *s, int own, float *a, float *b, float *c, int reps) {
    return time_group(s, 1, own, 0, a, b, c, NULL, reps);
}

int main(void) {
    blas_set_threads(1);
    const char *e = getenv("BENCH_REPS");
    int reps = e && *e ? atoi(e) : 3;
    if (reps < 1 || reps > 15) die("bench_gemm_shapes.c: BENCH_REPS=%s: want 1..15", e);
    sgemm_init(&ref, 2048);
    char kern[160];
    kernel_describe(kern, sizeof kern);
    printf("OpenBLAS core %s, 1 thread; %s; sgemm 2048^3: %.1f GFLOP/s\n", blas_corename(), kern,
           bench_sgemm(5));
    const int N = 2048, V = 98;
    const struct { const char *name; int D, HF; } sizes[2] = {{"~1M", 128, 352},
                                                             {"~4M", 256, 688}};
    size_t big = (size_t)N * 2 * 688 + 64;
    float *a = xmalloc(sizeof(float) * big), *b = xmalloc(sizeof(float) * big),
          *c = xmalloc(sizeof(float) * big), *scratch = xmalloc(sizeof(float) * big);
    for (size_t i = 0; i < big; i++) {
        a[i] = 0.01f * (float)(i % 97) - 0.5f;
        b[i] = 0.01f * (float)(i % 89) - 0.4f;
        c[i] = 0.0f;
    }
    for (int z = 0; z < 2; z++) {
        const int D = sizes[z].D, HF = sizes[z].HF;
        printf("%s: N=%d D=%d HF=%d V=%d\n", sizes[z].name, N, D, HF, V);
        /* (C, OC) of each weight: q/k/v/o, w1/w3, w2, head, merged qkv, merged w13 */
        const struct { const char *w; int C, OC; } ws[] = {
            {"Wq/Wk/Wv/Wo (C=D, OC=D)", D, D}, {"W1/W3 (C=D, OC=HF)", D, HF},
            {"W2 (C=HF, OC=D)", HF, D},        {"head (C=D, OC=V)", D, V},
            {"[Wq;Wk;Wv] (C=D, OC=3D)", D, 3 * D}, {"[W1;W3] (C=D, OC=2HF)", D, 2 * HF}};
        for (size_t w = 0; w < sizeof ws / sizeof ws[0]; w++) {
            const int C = ws[w].C, OC = ws[w].OC;
            Shape sh[5] = {
                {"fwd  b0", 0, 1, N, OC, C, 0.0f}, {"fwd  b1", 0, 1, N, OC, C, 1.0f},
                {"dinp b0", 0, 0, N, C, OC, 0.0f}, {"dinp b1", 0, 0, N, C, OC, 1.0f},
                {"dW   b1", 1, 0, OC, C, N, 1.0f}};
            printf("  %-26s", ws[w].w);
            for (int i = 0; i < 5; i++)
                printf("  %s %5.1f%%", sh[i].what, 100.0 * time_shape(&sh[i], 0, a, b, c, reps));
            printf("\n  %-26s", "  own gemm_f32");
            for (int i = 0; i < 5; i++)
                printf("  %s %5.1f%%", sh[i].what, 100.0 * time_shape(&sh[i], 1, a, b, c, reps));
            printf("\n");
        }
        /* merges of products that share an operand: separate calls vs one
         * call over concatenated weights (their copy timed with it) */
        const struct { const char *what; Shape sep[3]; int n; Shape merged; size_t copy; } mg[] = {
            {"fwd  q,k,v: 3 x OC=D b0 | 1 x OC=3D", {{"", 0, 1, N, D, D, 0.0f}, {"", 0, 1, N, D, D, 0.0f},
             {"", 0, 1, N, D, D, 0.0f}}, 3, {"", 0, 1, N, 3 * D, D, 0.0f}, (size_t)3 * D * D},
            {"dinp q,k,v: 3 x K=D b0,1,1 | 1 x K=3D", {{"", 0, 0, N, D, D, 0.0f}, {"", 0, 0, N, D, D, 1.0f},
             {"", 0, 0, N, D, D, 1.0f}}, 3, {"", 0, 0, N, D, 3 * D, 0.0f}, (size_t)3 * D * D},
            {"dW   q,k,v: 3 x OC=D | 1 x OC=3D", {{"", 1, 0, D, D, N, 1.0f}, {"", 1, 0, D, D, N, 1.0f},
             {"", 1, 0, D, D, N, 1.0f}}, 3, {"", 1, 0, 3 * D, D, N, 1.0f}, 0},
            {"fwd  h1,h3: 2 x OC=HF b0 | 1 x OC=2HF", {{"", 0, 1, N, HF, D, 0.0f}, {"", 0, 1, N, HF, D, 0.0f}},
             2, {"", 0, 1, N, 2 * HF, D, 0.0f}, (size_t)2 * HF * D},
            {"dinp h1,h3: 2 x K=HF b0,1 | 1 x K=2HF", {{"", 0, 0, N, D, HF, 0.0f}, {"", 0, 0, N, D, HF, 1.0f}},
             2, {"", 0, 0, N, D, 2 * HF, 0.0f}, (size_t)2 * HF * D},
            {"dW   h1,h3: 2 x OC=HF | 1 x OC=2HF", {{"", 1, 0, HF, D, N, 1.0f}, {"", 1, 0, HF, D, N, 1.0f}},
             2, {"", 1, 0, 2 * HF, D, N, 1.0f}, 0}};
        for (size_t i = 0; i < sizeof mg / sizeof mg[0]; i++) {
            double sep = time_group(mg[i].sep, mg[i].n, 0, 0, a, b, c, NULL, reps);
            double mer = time_group(&mg[i].merged, 1, 0, mg[i].copy, a, b, c, scratch, reps);
            printf("  merge %-40s separate %5.1f%%  merged %5.1f%%\n", mg[i].what, 100.0 * sep,
                   100.0 * mer);
        }
    }
    xfree(scratch);
    xfree(a);
    xfree(b);
    xfree(c);
    sgemm_free(&ref);
    return 0;
}
