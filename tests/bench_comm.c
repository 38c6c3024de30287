/* bench_comm.c: what the MPI traffic of the trainer costs, measured through
 * proto/comm.h (the one MPI file) and the real codecs. Launch with
 *   mpirun --oversubscribe -np 5 build/tests/bench_comm
 * (rank 0 the learner, ranks 1.. the actors). Three parts, run in this
 * order because the first one measures the actor rate the second needs:
 *   1. wire bytes per generated token on REAL rollouts (roller_run on rank 0
 *      alone), before and after zstd at levels 1, 3, 9;
 *   2. learner ingest ceiling: actors flood rank 0 with a pre-encoded group
 *      record, rank 0 receives (comm_recv_any), decodes and validates
 *      (wire_decode_group) and frees, for a fixed time; a window of
 *      acknowledgements bounds the messages in flight, as the per-step
 *      quota does in a real run. Actors send two ways: keeping up to 64
 *      comm_isend's in flight, and one blocking comm_send per group as
 *      actors/actor.c does (comm_send sleep-polls, so it costs a hand-over
 *      per message);
 *   3. weight broadcast time against model size: weights_send /
 *      control_recv (header, chunks, checksum hash and verify) beside the
 *      bare comm_bcast_floats, as a share of an estimated learner step.
 * Every figure is the median of several repetitions (the sgemm rate behind
 * the step estimate is the best of 5). Figures are rank 0's
 * (the learner's) unless the line says "per rank" (then min (rank) / max
 * (rank) over the ranks named). Timings are never asserted.
 *
 * Environment (all optional):
 *   BENCH_CKPT             model checkpoint for the rollouts
 *                          [runs/demo/sft.ckpt if it exists, else a random
 *                          D=128 L=4 model]
 *   BENCH_ROLLOUT_GROUPS   groups to roll out [320]
 *   BENCH_ACTOR_GROUPS_S   actor rate for the ingest summary [measured]
 *   BENCH_INGEST_S         seconds per ingest repetition [1.0]
 *   BENCH_INGEST_WINDOW    messages per acknowledgement [1024 small, 16 large]
 *   BENCH_LEARNER_STEP_S   learner step time for the broadcast share
 *                          [estimated from sgemm, see bench_bcast]
 *   BENCH_BCAST_MAX_M      largest broadcast in millions of floats [100]
 *   BENCH_COMM_ONLY        run only the parts named: rollouts,ingest,bcast */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "checkpoint.h"
#include "comm.h"
#include "model.h"
#include "rng.h"
#include "rollout.h"
#include "sampler.h"
#include "task.h"
#include "tokenizer.h"
#include "blas_setup.h"
#include "util.h"
#include "weights.h"
#include "weights_sync.h"
#include "wire.h"

enum { MAX_REPS = 16, ARITH_VOCAB = 98 };
#define IDLE_POLL_S 1e-3 /* how often an idle rank checks its barrier */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[n] (sorts v in place). */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double env_double(const char *name, double def) {
    const char *s = getenv(name);
    if (!s || !*s) return def;
    char *end;
    double v = strtod(s, &end);
    if (*end || v <= 0) die("%s=%s: expected a positive number", name, s);
    return v;
}

/* Prints "label min X (rank r) / max Y (rank r)" over ranks lo..hi-1 of
 * v[size] (gathered per rank), each value scaled by scale. */
static void print_min_max(const char *label, const double *v, int lo, int hi, double scale,
                          const char *unit) {
    int rmin = lo, rmax = lo;
    for (int r = lo; r < hi; r++) {
        if (v[r] < v[rmin]) rmin = r;
        if (v[r] > v[rmax]) rmax = r;
    }
    printf("    %-34s min %9.2f %s (rank %d) / max %9.2f %s (rank %d)\n", label, v[rmin] * scale,
           unit, rmin, v[rmax] * scale, unit, rmax);
}

/* ------------------------------------------------------------ 1. rollouts */

typedef struct {
    double groups_s, tokens_s;   /* one actor rank, one BLAS thread */
    double tokens_per_group;
} ActorRate;

/* Loads the checkpoint (BENCH_CKPT, else runs/demo/sft.ckpt if present)
 * into m and tok, or builds a random D=128 L=4 model; returns a static
 * description of which. */
static const char *rollout_model(Model *m, Tokenizer *tok) {
    const char *path = getenv("BENCH_CKPT");
    if (!path || !*path) path = access("runs/demo/sft.ckpt", R_OK) == 0 ? "runs/demo/sft.ckpt" : NULL;
    if (path) {
        ckpt_load_model_or_die(path, m, tok);
        static char desc[512];
        snprintf(desc, sizeof desc, "checkpoint %s", path);
        return desc;
    }
    tokenizer_init_char(tok);
    ModelConfig c = {.vocab_size = tok->vocab_size, .dim = 128, .n_layers = 4, .n_heads = 4,
                     .n_kv_heads = 4, .hidden_dim = 352, .max_seq_len = 32,
                     .tied_embeddings = 1, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    model_init(m, &c);
    model_init_weights(m, 1);
    return "NO checkpoint (set BENCH_CKPT or run `grpo demo`): a RANDOMLY initialised "
           "D=128 L=4 model, so completions run to the length limit and the byte "
           "figures are those of untrained samples";
}

/* Rank 0 alone (the others wait in an idle barrier): rolls out groups on
 * the arith task, encodes them at zstd 1, 3, 9 and prints bytes per
 * generated token; returns the actor's generation rate. */
static ActorRate bench_rollouts(const Comm *comm) {
    ActorRate rate = {0, 0, 0};
    if (comm->rank != 0) {
        comm_barrier_idle(IDLE_POLL_S);
        return rate;
    }
    Model m;
    Tokenizer *tok = xmalloc(sizeof *tok);
    const char *desc = rollout_model(&m, tok);
    TaskParams tp;
    task_params_default(&tp);
    char err[256];
    Task *task = task_create("arith", &tp, 1234, err, sizeof err);
    if (!task) die("%s", err);
    SamplerConfig sc = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .max_new_tokens = 8,
                        .stop = ""};
    const int G = 8, per_call = 16;
    int n_groups = (int)env_double("BENCH_ROLLOUT_GROUPS", 320);
    n_groups = (n_groups + per_call - 1) / per_call * per_call;
    Roller r;
    roller_init(&r, &m, tok, task, NULL, &sc, G, per_call, per_call, 1234, 1);
    Group *groups = xcalloc((size_t)n_groups, sizeof(Group));
    roller_run(&r, 1, 0, per_call, 0, groups); /* warm-up, discarded */
    for (int i = 0; i < per_call; i++) group_free(&groups[i]);
    double t0 = now_seconds();
    for (int i = 0; i < n_groups; i += per_call)
        roller_run(&r, 2 + i / per_call, 0, per_call, 0, groups + i);
    double sec = now_seconds() - t0;
    int64_t tokens = 0;
    for (int i = 0; i < n_groups; i++) tokens += groups[i].n_tokens;
    rate.groups_s = n_groups / sec;
    rate.tokens_s = (double)tokens / sec;
    rate.tokens_per_group = (double)tokens / n_groups;

    printf("\n[1] wire bytes per generated token, real rollouts (rank 0 alone, 1 BLAS thread)\n");
    printf("  model: %s\n", desc);
    printf("  %.2fM params, V=%d D=%d L=%d, max_seq_len %d; task arith (defaults), G=%d, "
           "temperature 1, max_new_tokens %d\n",
           m.n_params * 1e-6, m.cfg.vocab_size, m.cfg.dim, m.cfg.n_layers, m.cfg.max_seq_len, G,
           sc.max_new_tokens);
    printf("  rolled out %d groups: %.1f completion tokens/group; actor rate %.0f groups/s, "
           "%.0f tokens/s (per actor rank)\n",
           n_groups, rate.tokens_per_group, rate.groups_s, rate.tokens_s);

    WireLimits lim = wire_limits_make(tok->vocab_size, G, m.cfg.max_seq_len, sc.max_new_tokens);
    const int levels[3] = {1, 3, 9};
    printf("  zstd  raw B/token  wire B/token  ratio  wire B/group  encode us/group  "
           "decode us/group\n");
    for (int l = 0; l < 3; l++) {
        double te[MAX_REPS], td[MAX_REPS];
        const int reps = 5;
        uint64_t raw = 0, wire = 0;
        int n_bad = 0;
        for (int k = -1; k < reps; k++) { /* k = -1 warms up */
            WireCodec *enc = wire_codec_new(levels[l]), *dec = wire_codec_new(levels[l]);
            double enc_s = 0, dec_s = 0;
            for (int i = 0; i < n_groups; i++) {
                const uint8_t *msg;
                size_t len;
                double a = now_seconds();
                int rc = wire_encode_group(enc, &groups[i], &msg, &len);
                double b = now_seconds();
                if (rc != 0) die("cannot encode a rollout group: %s", wire_strerror(rc));
                Group back;
                if (wire_decode_group(dec, msg, len, &lim, &back, err, sizeof err) != 0) n_bad++;
                enc_s += b - a;
                dec_s += now_seconds() - b;
                group_free(&back);
            }
            const WireStats *s = wire_codec_stats(enc);
            raw = s->raw_bytes;
            wire = s->wire_bytes;
            if (k >= 0) {
                te[k] = enc_s / n_groups;
                td[k] = dec_s / n_groups;
            }
            wire_codec_free(enc);
            wire_codec_free(dec);
        }
        printf("  %4d  %11.2f  %12.2f  %5.2f  %12.1f  %15.2f  %15.2f%s\n", levels[l],
               (double)raw / tokens, (double)wire / tokens, (double)raw / wire,
               (double)wire / n_groups, 1e6 * median(te, reps), 1e6 * median(td, reps),
               n_bad ? "  DECODE FAILURES" : "");
    }
    printf("  (bytes summed over all %d groups and divided by their %lld completion tokens; the "
           "record also carries the prompt, rewards and per-group fields)\n",
           n_groups, (long long)tokens);
    for (int i = 0; i < n_groups; i++) group_free(&groups[i]);
    xfree(groups);
    roller_free(&r);
    task->destroy(task);
    model_free(&m);
    xfree(tok);
    comm_barrier_idle(IDLE_POLL_S);
    return rate;
}

/* ------------------------------------------------------------- 2. ingest */

typedef struct {
    const char *name;
    int G, prompt_len, comp_min, comp_max; /* completion lengths uniform in [min, max] */
    int max_prompt_len, max_completion_len;
} Shape;

/* A synthetic group of shape s with random token ids (so it compresses
 * worse than real text), log-probs in (-3, 0], 2 reward components
 * (accuracy, format). The caller group_free's it. */
static void make_group(Group *g, const Shape *s, Rng *r, uint32_t rank) {
    int len[4096];
    int64_t n = 0;
    CHECK(s->G <= 4096);
    for (int k = 0; k < s->G; k++) {
        len[k] = s->comp_min + (int)rng_below(r, (uint32_t)(s->comp_max - s->comp_min + 1));
        n += len[k];
    }
    group_alloc(g, s->G, s->prompt_len, 2, n);
    g->actor_rank = rank;
    g->seq_no = 17;
    g->prompt_id = 0x1234567890abcdefULL;
    g->policy_version = 3;
    g->gen_seconds = 0.01;
    g->verify_seconds = 1e-4;
    g->prompt[0] = TOK_BOS;
    for (int p = 1; p < s->prompt_len; p++) g->prompt[p] = 3 + (int)rng_below(r, ARITH_VOCAB - 3);
    int64_t off = 0;
    for (int k = 0; k < s->G; k++) {
        g->completion_len[k] = len[k];
        for (int t = 0; t < len[k]; t++) {
            g->tokens[off + t] = t == len[k] - 1 ? TOK_EOS : 3 + (int)rng_below(r, ARITH_VOCAB - 3);
            g->old_logprobs[off + t] = -3.0f * rng_uniform(r);
        }
        off += len[k];
        float acc = (float)(rng_below(r, 2)), fmt = 1.0f;
        g->reward_comp[2 * k] = acc;
        g->reward_comp[2 * k + 1] = fmt;
        g->reward[k] = acc + 0.1f * fmt;
        g->finish[k] = WIRE_FINISH_EOS;
    }
}

typedef struct {
    double groups_s, tokens_s, mb_s;   /* learner side */
    double recv_us, decode_us;         /* per group, learner side */
    double raw_bytes, wire_bytes;      /* one message */
} IngestRep;

/* How the actors send: as actors/actor.c does (one comm_send per group,
 * which returns only once the message has been handed over), or a flood
 * keeping FLOOD_IN_FLIGHT comm_isend's of the same buffer outstanding. */
typedef enum { SEND_BLOCKING = 0, SEND_FLOOD = 1 } SendMode;
enum { FLOOD_IN_FLIGHT = 64 };
#define SEND_WAIT_S 60.0 /* a flood send not handed over by then is a hang */

/* Actor: waits for the learner's next acknowledgement, sleeping between
 * polls (a blocking probe would spin and take the learner's core). */
static void wait_ack(void **buf, size_t *cap) {
    int src;
    size_t len;
    while (!comm_try_recv(buf, cap, TAG_CONTROL, &src, &len)) comm_idle();
}

/* One flood of `seconds`: every actor sends its encoded group, window
 * messages at a time, waiting for the learner's acknowledgement of the
 * window before last (so at most 2 windows are unacknowledged per actor),
 * then a 0-byte end marker. Rank 0 receives, decodes, validates and frees
 * until every actor's end marker has arrived. send_rate[size] (rank 0)
 * gets each actor's groups/s. */
static IngestRep ingest_once(const Comm *comm, const Shape *s, SendMode mode, double seconds,
                             int window, double *send_rate) {
    static const uint8_t ack = 1; /* must outlive the nonblocking sends */
    IngestRep out = {0};
    double my_rate = 0;
    if (comm->rank == 0) {
        WireCodec *codec = wire_codec_new(3);
        WireLimits lim = wire_limits_make(ARITH_VOCAB, s->G, s->max_prompt_len,
                                          s->max_completion_len);
        long *count = xcalloc((size_t)comm->size, sizeof(long));
        CommReq **ack_req = xcalloc((size_t)comm->size, sizeof(CommReq *));
        void *buf = NULL;
        size_t cap = 0;
        char err[256];
        long n = 0, n_bad = 0;
        int64_t tokens = 0;
        double bytes = 0, t_recv = 0, t_dec = 0;
        int done = 0;
        comm_barrier();
        double t0 = now_seconds();
        while (done < comm->size - 1) {
            int src;
            double a = now_seconds();
            size_t len = comm_recv_any(&buf, &cap, TAG_GROUP, &src);
            double b = now_seconds();
            t_recv += b - a;
            if (len == 0) {
                done++;
                continue;
            }
            Group g;
            if (wire_decode_group(codec, buf, len, &lim, &g, err, sizeof err) != 0) {
                if (n_bad++ == 0) fprintf(stderr, "bench_comm: bad group from %d: %s\n", src, err);
            } else {
                tokens += g.n_tokens;
                if (n == 0) out.raw_bytes = (double)wire_codec_stats(codec)->last_decoded_raw_bytes;
                group_free(&g);
            }
            t_dec += now_seconds() - b;
            bytes += (double)len;
            if (n == 0) out.wire_bytes = (double)len;
            n++;
            if (++count[src] % window == 0) {
                if (comm_wait_until(&ack_req[src], now_seconds() + SEND_WAIT_S) != 0)
                    die("ack to actor %d not delivered in %.0f s", src, SEND_WAIT_S);
                ack_req[src] = comm_isend(&ack, 1, src, TAG_CONTROL);
            }
        }
        double sec = now_seconds() - t0;
        for (int r = 1; r < comm->size; r++)
            if (comm_wait_until(&ack_req[r], now_seconds() + SEND_WAIT_S) != 0)
                die("ack to actor %d not delivered in %.0f s", r, SEND_WAIT_S);
        if (n_bad) die("%ld of %ld synthetic groups failed to decode: a codec bug", n_bad, n);
        out.groups_s = n / sec;
        out.tokens_s = (double)tokens / sec;
        out.mb_s = bytes / sec * 1e-6;
        out.recv_us = 1e6 * t_recv / (double)n;
        out.decode_us = 1e6 * t_dec / (double)n;
        xfree(buf);
        xfree(ack_req);
        xfree(count);
        wire_codec_free(codec);
    } else {
        Rng r;
        rng_seed(&r, 99, (uint64_t)comm->rank);
        Group g;
        make_group(&g, s, &r, (uint32_t)comm->rank);
        WireCodec *codec = wire_codec_new(3);
        const uint8_t *enc;
        size_t len;
        int rc = wire_encode_group(codec, &g, &enc, &len);
        if (rc != 0) die("cannot encode the synthetic group: %s", wire_strerror(rc));
        uint8_t *msg = xmalloc(len);
        memcpy(msg, enc, len);
        wire_codec_free(codec);
        group_free(&g);
        CommReq *ring[FLOOD_IN_FLIGHT] = {0};
        void *abuf = NULL;
        size_t acap = 0;
        long windows = 0, acks = 0, sent = 0;
        comm_barrier();
        double t0 = now_seconds();
        while (now_seconds() - t0 < seconds) {
            for (int i = 0; i < window; i++, sent++) {
                if (mode == SEND_BLOCKING) {
                    comm_send(comm, msg, len, 0, TAG_GROUP);
                    continue;
                }
                CommReq **slot = &ring[sent % FLOOD_IN_FLIGHT];
                if (comm_wait_until(slot, now_seconds() + SEND_WAIT_S) != 0)
                    die("rank %d: a group send not handed over in %.0f s", comm->rank, SEND_WAIT_S);
                *slot = comm_isend(msg, len, 0, TAG_GROUP);
            }
            windows++;
            for (; windows - acks >= 2; acks++) wait_ack(&abuf, &acap);
        }
        for (int i = 0; i < FLOOD_IN_FLIGHT; i++)
            if (comm_wait_until(&ring[i], now_seconds() + SEND_WAIT_S) != 0)
                die("rank %d: a group send not handed over in %.0f s", comm->rank, SEND_WAIT_S);
        my_rate = (double)sent / (now_seconds() - t0);
        comm_send(comm, msg, 0, 0, TAG_GROUP);
        for (; acks < windows; acks++) wait_ack(&abuf, &acap);
        xfree(abuf);
        xfree(msg);
    }
    comm_gather_doubles(comm, &my_rate, 1, send_rate);
    return out;
}

/* Rank 0 alone: decode + validate + free of one encoded group of shape s
 * in a loop, no MPI; the learner's ceiling with a whole core. Returns
 * groups/s (median of 3). */
static double decode_only(const Comm *comm, const Shape *s) {
    if (comm->rank != 0) {
        comm_barrier_idle(IDLE_POLL_S);
        return 0;
    }
    Rng r;
    rng_seed(&r, 99, 1);
    Group g;
    make_group(&g, s, &r, 1);
    WireCodec *codec = wire_codec_new(3);
    const uint8_t *enc;
    size_t len;
    CHECK(wire_encode_group(codec, &g, &enc, &len) == 0);
    uint8_t *msg = xmalloc(len);
    memcpy(msg, enc, len);
    group_free(&g);
    WireLimits lim = wire_limits_make(ARITH_VOCAB, s->G, s->max_prompt_len, s->max_completion_len);
    double rate[3];
    char err[256];
    for (int k = 0; k < 3; k++) {
        long n = 0;
        double t0 = now_seconds(), t;
        do {
            for (int i = 0; i < 16; i++, n++) {
                CHECK(wire_decode_group(codec, msg, len, &lim, &g, err, sizeof err) == 0);
                group_free(&g);
            }
        } while ((t = now_seconds() - t0) < 0.3);
        rate[k] = n / t;
    }
    xfree(msg);
    wire_codec_free(codec);
    comm_barrier_idle(IDLE_POLL_S);
    return median(rate, 3);
}

/* reps runs of ingest_once in one send mode (after a short warm-up);
 * prints on rank 0 the median learner figures and each actor's median send
 * rate, and returns the medians (meaningful on rank 0 only). */
static IngestRep ingest_mode(const Comm *comm, const Shape *s, SendMode mode, double seconds,
                             int window, int reps) {
    double *send_rate = xcalloc((size_t)comm->size, sizeof(double));
    double *rate_rep = xcalloc((size_t)comm->size * MAX_REPS, sizeof(double));
    double gs[MAX_REPS], ts[MAX_REPS], mb[MAX_REPS], ru[MAX_REPS], du[MAX_REPS];
    IngestRep last = {0};
    ingest_once(comm, s, mode, 0.2, window, send_rate); /* warm-up */
    for (int k = 0; k < reps; k++) {
        last = ingest_once(comm, s, mode, seconds, window, send_rate);
        gs[k] = last.groups_s;
        ts[k] = last.tokens_s;
        mb[k] = last.mb_s;
        ru[k] = last.recv_us;
        du[k] = last.decode_us;
        for (int r = 0; r < comm->size; r++) rate_rep[r * MAX_REPS + k] = send_rate[r];
    }
    IngestRep med = last;
    if (comm->rank == 0) {
        for (int r = 1; r < comm->size; r++) send_rate[r] = median(rate_rep + r * MAX_REPS, reps);
        med.groups_s = median(gs, reps);
        med.tokens_s = median(ts, reps);
        med.mb_s = median(mb, reps);
        med.recv_us = median(ru, reps);
        med.decode_us = median(du, reps);
        printf("    %s\n", mode == SEND_FLOOD
                              ? "flood: each actor keeps up to 64 comm_isend's in flight"
                              : "comm_send: one blocking comm_send per group, as actors/actor.c");
        printf("      learner: %9.0f groups/s  %11.0f completion tokens/s  %7.1f MB/s (wire)\n",
               med.groups_s, med.tokens_s, med.mb_s);
        printf("      per group at the learner: recv %.2f us (includes waiting for actors), "
               "decode+validate+free %.2f us\n",
               med.recv_us, med.decode_us);
        print_min_max("  actor send rate (per rank)", send_rate, 1, comm->size, 1, "groups/s");
    }
    xfree(rate_rep);
    xfree(send_rate);
    return med;
}

static void bench_ingest(const Comm *comm, const ActorRate *actor) {
    const Shape shapes[2] = {
        {"G=8, prompt 6, completions 4-6", 8, 6, 4, 6, 32, 8},
        {"G=64, prompt 6, completions 180-220", 64, 6, 180, 220, 32, 256},
    };
    const double seconds = env_double("BENCH_INGEST_S", 1.0);
    const int reps = 5, n_act = comm->size - 1;
    const char *rate_env = getenv("BENCH_ACTOR_GROUPS_S");
    double actor_groups_s = rate_env ? env_double("BENCH_ACTOR_GROUPS_S", 1) : actor->groups_s;
    if (comm->rank == 0) {
        printf("\n[2] learner ingest ceiling: %d actors send one pre-encoded group (zstd 3, "
               "random tokens) over and over for %.1f s, median of %d\n",
               n_act, seconds, reps);
        printf("  rank 0: comm_recv_any + wire_decode_group (full validation) + group_free per "
               "message; each actor waits for an ack per window of messages (<= 2 windows "
               "unacknowledged)\n");
    }
    for (int si = 0; si < 2; si++) {
        const Shape *s = &shapes[si];
        /* window: ~400 KiB (small records) or ~1 MiB (large) per ack */
        int window = (int)env_double("BENCH_INGEST_WINDOW", si == 0 ? 1024 : 16);
        if (comm->rank == 0) printf("  %s, window %d\n", s->name, window);
        IngestRep flood = ingest_mode(comm, s, SEND_FLOOD, seconds, window, reps);
        IngestRep blocking = ingest_mode(comm, s, SEND_BLOCKING, seconds, window, reps);
        double solo = decode_only(comm, s);
        if (comm->rank != 0) continue;
        printf("    message %.0f B on the wire, %.0f B raw; decode+validate+free alone on rank 0 "
               "(no MPI, whole core): %.0f groups/s, %.0f completion tokens/s\n",
               flood.wire_bytes, flood.raw_bytes, solo,
               solo * s->G * 0.5 * (s->comp_min + s->comp_max));
        printf("    comm_send reaches %.0f%% of the flood rate at the learner\n",
               100.0 * blocking.groups_s / flood.groups_s);
        /* the ceiling is the better of the two ways of sending */
        const int fl = flood.groups_s >= blocking.groups_s;
        const IngestRep *best = fl ? &flood : &blocking;
        if (si == 0 && actor_groups_s > 0)
            printf("  => one learner ingests %.0f groups/s (%s) = %.0f actors producing %.1f "
                   "groups/s each (%s)\n",
                   best->groups_s, fl ? "flood" : "comm_send", best->groups_s / actor_groups_s,
                   actor_groups_s,
                   rate_env ? "BENCH_ACTOR_GROUPS_S"
                            : "rate measured in [1], one rank, 1 BLAS thread");
        else if (si == 1 && actor->tokens_s > 0)
            printf("  => in tokens: %.0f completion tokens/s (%s) = %.0f actors at the %.0f "
                   "tokens/s measured in [1] (longer completions decode slower per token, so "
                   "this many actors or more)\n",
                   best->tokens_s, fl ? "flood" : "comm_send", best->tokens_s / actor->tokens_s,
                   actor->tokens_s);
    }
    if (comm->rank == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        if (comm->size > cores)
            printf("  NOTE: %d ranks on %ld cores: the actors and the learner share cores, so "
                   "these ingest figures are a LOWER BOUND on a learner with its own core (the "
                   "decode-alone line is the ceiling without MPI).\n",
                   comm->size, cores);
    }
}

/* -------------------------------------------------------- 3. broadcast */

/* sgemm GFLOP/s on an n^3 product, one thread: the best of reps (the
 * machine's rate; a median would carry other jobs' load into the step
 * estimate). */
static double sgemm_gflops(int n, int reps) {
    float *a = xmalloc(sizeof(float) * n * n), *b = xmalloc(sizeof(float) * n * n);
    float *c = xmalloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    double t[MAX_REPS];
    for (int k = -1; k < reps; k++) {
        double t0 = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                    c, n);
        if (k >= 0) t[k] = now_seconds() - t0;
    }
    xfree(a); xfree(b); xfree(c);
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    return 2.0 * n * n * (double)n / t[0] * 1e-9;
}

static void bench_bcast(const Comm *comm) {
    const double max_m = env_double("BENCH_BCAST_MAX_M", 100);
    const double sizes_m[5] = {1, 4, 16, 64, 100};
    const size_t max_n = (size_t)(max_m * 1e6);
    const double step_env = getenv("BENCH_LEARNER_STEP_S") ? env_double("BENCH_LEARNER_STEP_S", 1) : 0;
    const int tokens_per_step = 128 * 16;
    /* rank 0 alone: sgemm rate for the step estimate */
    double sg = 0;
    if (comm->rank == 0) sg = sgemm_gflops(1536, 5);
    comm_barrier_idle(IDLE_POLL_S);

    float *buf = xmalloc(sizeof(float) * (max_n > 0 ? max_n : 1));
    if (comm->rank == 0)
        for (size_t i = 0; i < max_n; i++) buf[i] = (float)(i % 1021) * 1e-3f - 0.5f;
    else
        memset(buf, 0, sizeof(float) * max_n); /* touch every page before timing */
    if (comm->rank == 0) {
        printf("\n[3] weight broadcast, rank 0 -> %d actors (weights_send / control_recv: "
               "control + 64-byte header + chunks of %zu MiB + XXH3 checksum hash and verify)\n",
               comm->size - 1, WEIGHTS_DEFAULT_CHUNK_BYTES >> 20);
        if (step_env > 0)
            printf("  learner step: BENCH_LEARNER_STEP_S = %.3f s for every size\n", step_env);
        else
            printf("  learner step ESTIMATE = 6 x params x %d tokens (128 sequences x 16 tokens) "
                   "/ (%.1f GFLOP/s sgemm 1536^3 best of 5, 1 thread, x 0.7); set "
                   "BENCH_LEARNER_STEP_S to override\n",
                   tokens_per_step, sg);
        printf("  params   bytes  weights_send   GB/s  bare bcast   GB/s  hash64 alone  "
               "checksum share (own cores)  learner step  bcast/step\n");
    }
    uint64_t version = 0;
    {   /* warm-up: one small broadcast of each kind */
        size_t n = max_n < 1000000 ? max_n : 1000000;
        if (comm->rank == 0) weights_send(comm, buf, n, ++version);
        else control_recv(comm, buf, n, &version);
        comm_bcast_floats(comm, buf, n, n);
    }
    double *per_rank = xcalloc((size_t)comm->size, sizeof(double));
    double *rank_rep = xcalloc((size_t)comm->size * MAX_REPS, sizeof(double));
    for (int si = 0; si < 5; si++) {
        if (sizes_m[si] > max_m) break;
        const size_t n = (size_t)(sizes_m[si] * 1e6);
        const int reps = n <= 16000000 ? 5 : 3;
        WeightsHeader h;
        weights_header_layout(&h, n, 0);
        double tw[MAX_REPS], tb[MAX_REPS], th[MAX_REPS];
        for (int k = 0; k < reps; k++) {
            comm_barrier();
            double t0 = now_seconds();
            if (comm->rank == 0) weights_send(comm, buf, n, ++version);
            else if (control_recv(comm, buf, n, &version) != WIRE_CMD_WEIGHTS)
                die("rank %d: expected a weight broadcast", comm->rank);
            double mine = now_seconds() - t0;
            comm_barrier();
            tw[k] = now_seconds() - t0;
            comm_gather_doubles(comm, &mine, 1, per_rank);
            if (comm->rank == 0)
                for (int r = 0; r < comm->size; r++) rank_rep[r * MAX_REPS + k] = per_rank[r];

            comm_barrier();
            t0 = now_seconds();
            comm_bcast_floats(comm, buf, n, h.chunk_elems);
            comm_barrier();
            tb[k] = now_seconds() - t0;
        }
        /* rank 0 alone: the hash the sender computes (each receiver computes
         * the same once more to verify) */
        if (comm->rank == 0) {
            for (int k = 0; k < reps; k++) {
                double t0 = now_seconds();
                volatile uint64_t hv = hash64(buf, n * sizeof(float));
                (void)hv;
                th[k] = now_seconds() - t0;
            }
        }
        comm_barrier_idle(IDLE_POLL_S);
        if (comm->rank != 0) continue;
        double w = median(tw, reps), b = median(tb, reps), hs = median(th, reps);
        double bytes = (double)n * sizeof(float);
        double step = step_env > 0 ? step_env : 6.0 * n * tokens_per_step / (sg * 1e9 * 0.7);
        printf("  %4.0fM  %4.0f MB  %9.1f ms  %5.2f  %7.1f ms  %5.2f  %9.1f ms  %11.0f%% (%5.0f%%)  "
               "%9.2f s  %9.2f%%\n",
               sizes_m[si], bytes * 1e-6, 1e3 * w, bytes / w * 1e-9, 1e3 * b, bytes / b * 1e-9,
               1e3 * hs, 100.0 * (w - b) / w, 100.0 * 2 * hs / (b + 2 * hs), step,
               100.0 * w / step);
        for (int r = 0; r < comm->size; r++) per_rank[r] = median(rank_rep + r * MAX_REPS, reps);
        print_min_max("  own weights_send/control_recv", per_rank, 0, comm->size, 1e3, "ms");
    }
    if (comm->rank == 0) {
        printf("  weights_send/bare bcast: wall time from a barrier until every rank is done "
               "(barrier after), median; GB/s = payload bytes / that time (every actor receives "
               "the whole payload); checksum share = (weights_send - bare) / weights_send, in "
               "brackets what it would be with a core per rank (the sender hashes before, the "
               "receivers verify after, in parallel): 2 x hash64 / (bare + 2 x hash64); per "
               "rank: each rank's own call time (rank 0 returns before the actors verify).\n");
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        if (comm->size > cores)
            printf("  NOTE: %d ranks on %ld cores: %d receivers verify the checksum on shared "
                   "cores, so the measured checksum share is inflated.\n",
                   comm->size, cores, comm->size - 1);
    }
    xfree(rank_rep);
    xfree(per_rank);
    xfree(buf);
}

int main(int argc, char **argv) {
    Comm comm;
    comm_init(&comm, &argc, &argv);
    if (comm.size < 2) {
        fprintf(stderr, "bench_comm needs a learner and at least one actor: "
                        "mpirun --oversubscribe -np 5 %s\n", argv[0]);
        comm_finalize();
        return 1;
    }
    blas_set_threads(1);
    double t0 = now_seconds();
    if (comm.rank == 0) {
        const char *ct = getenv("OPENBLAS_CORETYPE");
        printf("OpenBLAS core %s%s%s, 1 thread per rank; %d ranks (1 learner + %d actors) on "
               "%ld cores\n",
               blas_corename(), ct ? ", OPENBLAS_CORETYPE=" : "", ct ? ct : "", comm.size,
               comm.size - 1, sysconf(_SC_NPROCESSORS_ONLN));
        printf("figures are rank 0's (the learner's) unless marked \"per rank\"; medians of "
               "several repetitions\n");
    }
    const char *only = getenv("BENCH_COMM_ONLY"); /* "rollouts", "ingest" or "bcast" */
    ActorRate actor = {0, 0, 0};
    if (!only || strstr(only, "rollouts")) actor = bench_rollouts(&comm);
    if (!only || strstr(only, "ingest")) bench_ingest(&comm, &actor);
    if (!only || strstr(only, "bcast")) bench_bcast(&comm);
    if (comm.rank == 0) printf("\nbench_comm total %.1f s\n", now_seconds() - t0);
    comm_finalize();
    return 0;
}
