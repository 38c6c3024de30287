/* rs_command.c: `grpo rejection-sample --checkpoint FILE --out FILE.jsonl`.
 * Every rank samples its share of the prompts; ranks 1.. send what they
 * accepted to rank 0 (TAG_RS, proto/rs_records.h), which deduplicates over
 * all of it and writes the file. Without mpirun it is one rank. */
#include <stdio.h>
#include <string.h>

#include "atomic_file.h"
#include "checkpoint.h"
#include "comm.h"
#include "memory.h"
#include "rejection_sample.h"
#include "run_settings.h"
#include "stop_signals.h"
#include "util.h"
#include "wire.h"

/* "not finished, run me again" (learner.h's EXIT_REQUEUE, which this
 * layer cannot include) */
enum { RS_EXIT_REQUEUE = 75 };

/* The ranks' agreement on a stop signal. Every rank votes after each
 * round of batches but the last (a rank whose share is a batch shorter, or
 * empty, still votes), so all leave the sampling at the same batch
 * boundary and none waits in the record exchange for a rank that stopped.
 * A signal during the last round is too late to matter: the file is then
 * written. */
typedef struct {
    const Comm *comm;
    int rounds, done; /* batches of the longest share; rounds finished */
    int sig;          /* the agreed stop signal (the largest number sent), or 0 */
} StopVote;

static int vote(void *ctx) {
    StopVote *v = ctx;
    if (++v->done >= v->rounds) return 0;
    v->sig = comm_max_int(v->comm, stop_signal_pending());
    return v->sig != 0;
}

/* Rank 0: adds every other rank's message to st and rs. A message that
 * does not decode stops the job: the file would silently lack a share. */
static void gather(const Comm *comm, const RsSettings *set, RsStats *st, RsRecords *rs) {
    void *buf = NULL;
    size_t cap = 0;
    for (int i = 1; i < comm->size; i++) {
        int src;
        size_t len = comm_recv_any(&buf, &cap, TAG_RS, &src);
        RsStats s;
        char err[300];
        int n_before = rs->n;
        if (rs_decode(buf, len, &s, rs, err, sizeof err) != 0) {
            fprintf(stderr, "error: rejection-sample: rank %d sent a bad message: %s\n", src, err);
            comm_abort(1);
        }
        /* the sender's share is known here: its counts must match it */
        int lo, hi;
        rs_share(set->prompts, set->k, src, comm->size, &lo, &hi);
        RsCount t = rs_stats_total(&s);
        if (t.prompts != (uint64_t)(hi - lo) || t.sampled != (uint64_t)(hi - lo) * set->k) {
            fprintf(stderr,
                    "error: rejection-sample: rank %d reports %llu prompts and %llu completions, "
                    "its share is %d prompts x %d\n",
                    src, (unsigned long long)t.prompts, (unsigned long long)t.sampled, hi - lo,
                    set->k);
            comm_abort(1);
        }
        for (int q = n_before; q < rs->n; q++) {
            uint32_t index = rs->r[q].index, seq = rs->r[q].seq;
            if (index < (uint32_t)lo || index >= (uint32_t)hi || seq >= (uint32_t)set->k) {
                fprintf(stderr,
                        "error: rejection-sample: rank %d sent a record of prompt %u, "
                        "completion %u, outside its share [%d, %d) x %d\n",
                        src, index, seq, lo, hi, set->k);
                comm_abort(1);
            }
        }
        rs_stats_add(st, &s);
    }
    xfree(buf);
}

int rejection_sample_command(Config *cfg, const CliArgs *a) {
    if (!a->checkpoint || !a->out) { /* a usage error: status 2, before MPI starts */
        fprintf(stderr, "error: rejection-sample needs --checkpoint FILE and --out FILE.jsonl\n");
        return 2;
    }
    /* before MPI starts: a stop signal is from now on a clean stop at a
     * batch boundary, never a kill */
    StopSignals saved;
    stop_signals_catch(&saved);
    Comm comm;
    int argc = a->argc;
    char **argv = a->argv;
    comm_init(&comm, &argc, &argv);
    double t0 = now_seconds();
    Model m;
    Tokenizer *tok = xcalloc(1, sizeof *tok);
    char err[600];
    ckpt_load_model_or_die(a->checkpoint, &m, tok);
    if (model_config_adopt(cfg, &m.cfg, a->checkpoint, err, sizeof err) != 0) die("%s", err);
    const RsSettings *rs = rs_settings(cfg);
    memory_check_or_die(&m.cfg, ROLE_EVAL, 0, 0, rs_batch_prompts(rs->k) * rs->k,
                        memory_local_ranks());
    Task *task = task_from_config(cfg, run_settings(cfg)->seed, err, sizeof err);
    if (!task) die("%s", err);
    if (task_check_tokenizer(task, tok, err, sizeof err) != 0) die("%s", err);
    SamplerConfig sc = sampler_config_from(sampling_settings(cfg));
    if (task_check_fits(task, m.cfg.max_seq_len, sc.max_new_tokens, err, sizeof err) != 0)
        die("%s", err);
    if (comm.rank == 0 && sc.temperature == 0 && rs->k > 1)
        fprintf(stderr, "warning: [sampler] temperature = 0 (greedy): the %d completions of a "
                        "prompt are identical\n", rs->k);
    int lo, hi;
    rs_share(rs->prompts, rs->k, comm.rank, comm.size, &lo, &hi);
    RsStats st = {0};
    RsRecords recs = {0};
    int per = rs_batch_prompts(rs->k), batches = (rs->prompts + per - 1) / per;
    StopVote v = {&comm, (batches + comm.size - 1) / comm.size, 0, 0};
    rs_sample_share(&m, tok, task, &sc, lo, hi, rs->k, run_settings(cfg)->seed, &recs, &st, vote,
                    &v);
    while (!v.sig && v.done < v.rounds) vote(&v);
    int rc = 0;
    if (v.sig) {
        /* what was sampled is dropped: the file is whole or absent */
        if (comm.rank == 0)
            printf("rejection-sample: stopped by signal %d (%s) after %d of %d batch rounds: "
                   "nothing written, %s is as it was; exiting with status %d so a batch script "
                   "requeues the job (the next run starts over)\n",
                   v.sig, strsignal(v.sig), v.done, v.rounds, a->out, RS_EXIT_REQUEUE);
        rc = RS_EXIT_REQUEUE;
    } else if (comm.rank != 0) {
        uint8_t *msg;
        size_t len;
        if (rs_encode(&st, &recs, &msg, &len, err, sizeof err) != 0) {
            fprintf(stderr, "error: rejection-sample rank %d: %s\n", comm.rank, err);
            comm_abort(1);
        }
        comm_send(&comm, msg, len, 0, TAG_RS);
        xfree(msg);
    } else {
        gather(&comm, rs, &st, &recs);
        rs_dedupe(&recs, rs->shortest);
        size_t len;
        char *text = rs_jsonl(&recs, a->checkpoint, &len);
        if (atomic_file_write(a->out, text, len, err, sizeof err) != 0) {
            fprintf(stderr, "error: rejection-sample: %s\n", err);
            rc = 7; /* as a run directory that is not writable */
        } else {
            rs_print_stats(stdout, &st, recs.n);
            printf("rejection-sample: wrote %s (%d records) from %d rank(s) in %.1f s\n", a->out,
                   recs.n, comm.size, now_seconds() - t0);
        }
        xfree(text);
    }
    rs_records_free(&recs);
    task->destroy(task);
    model_free(&m);
    tokenizer_free(tok);
    xfree(tok);
    comm_finalize();
    stop_signals_restore(&saved);
    return rc;
}
