/* learner_publish.c: the learner's side of the weight channel and of the
 * actors' evaluations: publish weights (with an evaluation command when
 * one is due), sum the evaluation reports, check the checksums actors
 * report (async), stop the actors. */
#include <stdio.h>
#include <string.h>

#include "learner.h"
#include "learner_run.h"
#include "util.h"
#include "weights_sync.h"
#include "wire.h"

/* Async: waits, under the deadline, until the last publication has reached
 * every actor. MPI moves a nonblocking broadcast only inside MPI calls, and
 * the learner makes none while it trains: a publication left in flight
 * would sit idle for a whole step and the actors would run out of
 * staleness allowance (measured: one step in three waited for generation).
 * Delivery takes milliseconds: the actors drive their side between decode
 * steps. */
static void async_wait(Run *R, const char *what) {
    double deadline = now_seconds() + R->comm->deadline_s, seen = 0;
    while (wchan_busy(&R->wch)) {
        if (now_seconds() > deadline) comm_timed_out(R->comm, what);
        comm_check_interrupt(R->comm, &seen, what);
        comm_idle();
    }
}

/* Async: publishes the current weights with cmd (WIRE_CMD_WEIGHTS, or
 * EVAL* to have the actors evaluate them) and drives them to delivery,
 * keeping their checksum when actors will report theirs for this version. */
static void async_publish(Run *R, uint32_t cmd) {
    wchan_post(&R->wch, R->policy.params, R->version, cmd);
    async_wait(R, "the weight publication (async)");
    if (R->version % (uint64_t)R->plan->checksum_every == 0)
        checksum_ring_put(&R->ring, R->version,
                          hash64(R->policy.params, R->policy.n_params * sizeof(float)));
}

/* Async, between polls: checks the checksums actors report for the
 * versions they install against the learner's. */
void async_check_reports(void *ctx) {
    Run *R = ctx;
    int src;
    size_t len;
    while (comm_try_recv(&R->ck_buf, &R->ck_cap, TAG_CHECKSUM, &src, &len)) {
        uint64_t v, h, want = 0;
        if (wire_checksum_decode(R->ck_buf, len, &v, &h) != 0) continue;
        int rc = checksum_ring_check(&R->ring, v, h, &want);
        if (rc == RING_UNKNOWN) {
            /* checksum_ring.h bounds the lag; say so if that ever fails */
            R->n_unchecked++;
            fprintf(stderr, "warning: learner: cannot check the weight checksum actor rank %d "
                            "reports for version %llu (the learner is at version %llu and keeps "
                            "the last %d checked versions) [%ld unchecked so far]\n",
                    src, (unsigned long long)v, (unsigned long long)R->version, R->ring.n,
                    R->n_unchecked);
        } else if (rc == RING_MISMATCH) {
            fprintf(stderr, "error: actor rank %d holds weights of version %llu that differ from "
                            "the learner's (checksum %016llx vs %016llx)\n",
                    src, (unsigned long long)v, (unsigned long long)h, (unsigned long long)want);
            comm_abort(EXIT_WEIGHTS);
        }
    }
}

/* Publishes the current weights (and checks checksums when due). cmd
 * WIRE_CMD_EVAL or WIRE_CMD_EVAL_PASS_K then has every actor evaluate its
 * share of the held-out set with them (collect_eval gathers the result). */
void publish(Run *R, uint32_t cmd) {
    if (R->plan->async) {
        async_publish(R, cmd);
        return;
    }
    char err[600];
    /* colocated: every rank learned these weights in place */
    if (R->plan->layout == LAYOUT_COLOCATED) control_send_arg(R->comm, WIRE_CMD_VERSION, R->version);
    else weights_send(R->comm, R->policy.params, R->policy.n_params, R->version);
    if (R->version % (uint64_t)R->plan->checksum_every == 0 &&
        weights_check_all(R->comm, R->policy.params, R->policy.n_params, R->version, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        comm_abort(EXIT_WEIGHTS);
    }
    if (cmd != WIRE_CMD_WEIGHTS) control_send(R->comm, cmd);
}

/* Waits, under the deadline, for the next message with tag from any actor
 * into R->ev_buf; returns its length and sets *src. */
static size_t recv_eval_msg(Run *R, int tag, int *src, double deadline, const char *what) {
    size_t len;
    double seen = 0;
    while (!comm_try_recv(&R->ev_buf, &R->ev_cap, tag, src, &len)) {
        if (now_seconds() > deadline) comm_timed_out(R->comm, what);
        comm_check_interrupt(R->comm, &seen, what);
        if (R->plan->async) async_check_reports(R);
        comm_idle();
    }
    return len;
}

/* Sums the actors' evaluation reports for the weights just published,
 * under the deadline, and gathers their held-out samples into R->samples
 * (each actor sends one samples message after its report). A message that
 * does not decode is counted as a bad message and left out (the prompt
 * count says how many were evaluated; samples.jsonl lacks those samples). */
void collect_eval(Run *R, uint32_t cmd, EvalResult *out) {
    double t0 = now_seconds(), deadline = t0 + R->comm->deadline_s;
    EvalTally sum;
    memset(&sum, 0, sizeof sum);
    char err[300];
    /* the actor ranks other than this one report (colocated: rank 0 is
     * actor 0 and evaluates its own share first, while they work) */
    const int remote = R->roles.n_actors - (R->roles.first_actor == 0);
    EvalSampleSet mine;
    int have_mine = 0;
    if (R->local) {
        R->local->evaluate(R->local->ctx, cmd, R->version, &sum, &mine);
        have_mine = 1;
    }
    for (int got = 0; got < remote; got++) {
        int src;
        size_t len = recv_eval_msg(R, TAG_EVAL, &src, deadline, "the actors' evaluation reports");
        EvalTally t;
        if (eval_report_decode(R->ev_buf, len, &t, err, sizeof err) != 0) {
            fprintf(stderr, "learner: dropped the evaluation report of actor rank %d: %s\n", src,
                    err);
            R->in.n_bad++;
            continue;
        }
        eval_tally_add(&sum, &t);
    }
    eval_samples_free(&R->samples);
    eval_samples_init(&R->samples, R->task->n_components);
    if (have_mine) {
        eval_samples_merge(&R->samples, &mine);
        eval_samples_free(&mine);
    }
    EvalSampleSet one;
    eval_samples_init(&one, R->task->n_components);
    for (int got = 0; got < remote; got++) {
        int src;
        size_t len = recv_eval_msg(R, TAG_EVAL_SAMPLES, &src, deadline,
                                   "the actors' held-out samples");
        if (eval_samples_decode(R->ev_buf, len, &one, err, sizeof err) != 0 ||
            (one.n > 0 && one.n_components != R->task->n_components)) {
            if (one.n > 0) snprintf(err, sizeof err, "eval samples: %d reward components, the "
                                    "task has %d", one.n_components, R->task->n_components);
            fprintf(stderr, "learner: dropped the held-out samples of actor rank %d: %s\n", src,
                    err);
            R->in.n_bad++;
            continue;
        }
        eval_samples_merge(&R->samples, &one);
    }
    eval_samples_free(&one);
    eval_result_from_tally(&sum, R->task->n_components, out);
    R->eval_seconds += now_seconds() - t0;
    R->n_evals++;
}

/* Publishes the current weights with cmd and, for an evaluation, waits for
 * its result. */
void publish_and_evaluate(Run *R, uint32_t cmd, EvalResult *out) {
    publish(R, cmd);
    collect_eval(R, cmd, out);
}

/* Tells the actors to stop. Async: waits for the channel, posts STOP and
 * drains the groups still in flight until every actor has signed off. */
void stop_actors(Run *R) {
    if (!R->plan->async) {
        control_send(R->comm, WIRE_CMD_STOP);
        return;
    }
    /* post, then drain: actors finish their sends before they sign off */
    wchan_post(&R->wch, R->policy.params, R->version, WIRE_CMD_STOP);
    int silent = intake_drain(&R->in);
    if (silent) {
        char msg[300];
        intake_describe(&R->in, silent, msg, sizeof msg);
        comm_timed_out(R->comm, msg);
    }
    async_wait(R, "the stop publication");
}

