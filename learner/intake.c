#include "intake.h"

#include <stdio.h>
#include <string.h>

#include "tokenizer.h"
#include "util.h"

void intake_init(Intake *in, const TrainPlan *plan, int max_new_tokens, const Comm *comm,
                 int vocab_size, int bos_id, int max_seq_len, int n_components, int max_staleness) {
    memset(in, 0, sizeof *in);
    in->comm = comm;
    in->size = comm->size;
    in->first = plan_roles(plan, 0, comm->size).first_actor;
    in->quota = xcalloc((size_t)comm->size, sizeof(int));
    int max_quota = 0;
    for (int r = in->first; r < comm->size; r++) {
        in->quota[r] = plan_quota(plan, r, comm->size);
        if (in->quota[r] > max_quota) max_quota = in->quota[r];
    }
    /* an actor may run max_staleness steps ahead of the batch being taken */
    in->queue_cap = (max_staleness + 2) * max_quota;
    in->q = xcalloc((size_t)comm->size, sizeof(Group *));
    for (int r = in->first; r < comm->size; r++) in->q[r] = xcalloc((size_t)in->queue_cap, sizeof(Group));
    in->q_head = xcalloc((size_t)comm->size, sizeof(int));
    in->q_len = xcalloc((size_t)comm->size, sizeof(int));
    in->last_heard = xcalloc((size_t)comm->size, sizeof(double));
    in->last_seq = xcalloc((size_t)comm->size, sizeof(uint64_t));
    in->last_version = xcalloc((size_t)comm->size, sizeof(uint64_t));
    in->done = xcalloc((size_t)comm->size, sizeof(int));
    in->gen_s = xcalloc((size_t)comm->size, sizeof(double));
    in->verify_s = xcalloc((size_t)comm->size, sizeof(double));
    double now = now_seconds();
    for (int r = 0; r < comm->size; r++) in->last_heard[r] = now;
    in->G = plan->group_size;
    in->n_components = n_components;
    in->codec = wire_codec_new(3);
    in->lim = wire_limits_for_run(vocab_size, plan->group_size, max_seq_len, max_new_tokens,
                                  bos_id);
}

void intake_free(Intake *in) {
    for (int r = in->first; r < in->size; r++) {
        for (int i = 0; i < in->q_len[r]; i++)
            group_free(&in->q[r][(in->q_head[r] + i) % in->queue_cap]);
        xfree(in->q[r]);
    }
    xfree(in->q);
    xfree(in->quota);
    xfree(in->q_head);
    xfree(in->q_len);
    xfree(in->last_heard);
    xfree(in->last_seq);
    xfree(in->last_version);
    xfree(in->done);
    xfree(in->gen_s);
    xfree(in->verify_s);
    xfree(in->buf);
    wire_codec_free(in->codec);
    memset(in, 0, sizeof *in);
}

void intake_accept(Intake *in, int src, const void *msg, size_t len) {
    char err[512];
    in->last_heard[src] = now_seconds();
    if (len == 0) { /* end-of-stream marker (async shutdown) */
        in->done[src] = 1;
        return;
    }
    if (src < in->first || src >= in->size) return;
    Group g;
    int rc = wire_decode_group(in->codec, msg, len, &in->lim, &g, err, sizeof err);
    if (rc == 0) {
        const char *why = NULL;
        if ((int)g.actor_rank != src) why = "actor_rank differs from the sending rank";
        else if (g.G != in->G) why = "G differs from [grpo] group_size";
        else if (g.n_components != in->n_components) {
            snprintf(err, sizeof err, "%d reward components, expected %d (the task's and the "
                     "[reward] scorers')", g.n_components, in->n_components);
            why = err;
        }
        if (why) {
            if (why != err) snprintf(err, sizeof err, "%s", why);
            group_free(&g);
            rc = -1;
        }
    }
    if (rc != 0) {
        in->n_bad++;
        fprintf(stderr, "learner: dropped a bad group message from rank %d (%zu bytes): %s "
                        "[%ld dropped so far]\n", src, len, err, in->n_bad);
        /* a hole keeps the message's place, so the actor's quota for this
         * step is complete and the batch moves on without it */
        memset(&g, 0, sizeof g);
        in->q[src][(in->q_head[src] + in->q_len[src]) % in->queue_cap] = g;
        in->q_len[src]++;
        return;
    }
    in->wire_bytes += (double)len;
    in->raw_bytes += (double)wire_codec_stats(in->codec)->last_decoded_raw_bytes;
    in->gen_s[src] += g.gen_seconds;
    in->verify_s[src] += g.verify_seconds;
    in->last_seq[src] = g.seq_no;
    in->last_version[src] = g.policy_version;
    in->q[src][(in->q_head[src] + in->q_len[src]) % in->queue_cap] = g;
    in->q_len[src]++;
}

void intake_push(Intake *in, int src, const Group *g) {
    CHECK(src >= in->first && src < in->size && in->q_len[src] < in->queue_cap);
    in->last_heard[src] = now_seconds();
    in->gen_s[src] += g->gen_seconds;
    in->verify_s[src] += g->verify_seconds;
    in->last_seq[src] = g->seq_no;
    in->last_version[src] = g->policy_version;
    in->q[src][(in->q_head[src] + in->q_len[src]) % in->queue_cap] = *g;
    in->q_len[src]++;
}

int intake_poll(Intake *in) {
    int n = 0, src = -1;
    size_t len = 0;
    /* a full queue stops the intake (the actors' sends then wait): that is
     * the backpressure; other actors keep being served */
    for (;;) {
        int room = 0;
        for (int r = in->first; r < in->size; r++) room |= in->q_len[r] < in->queue_cap;
        if (!room || !comm_try_recv(&in->buf, &in->cap, TAG_GROUP, &src, &len)) break;
        if (src >= in->first && src < in->size && in->q_len[src] >= in->queue_cap)
            die("learner: actor rank %d overran its queue of %d groups (protocol bug)", src,
                in->queue_cap);
        intake_accept(in, src, in->buf, len);
        n++;
    }
    return n;
}

int intake_wait_batch(Intake *in, int (*idle)(void *ctx), void *ctx) {
    double start = now_seconds(), limit = in->comm->deadline_s;
    for (;;) {
        intake_poll(in);
        int missing = 0;
        for (int r = in->first; r < in->size; r++) {
            if (in->q_len[r] >= in->quota[r]) continue;
            missing = 1;
            double since = in->last_heard[r] > start ? in->last_heard[r] : start;
            if (now_seconds() - since > limit) return r;
        }
        if (!missing) return 0;
        if (idle && idle(ctx)) return -1;
        comm_idle();
    }
}

int intake_take(Intake *in, Group *out, uint64_t version, int max_staleness) {
    int n = 0;
    for (int r = in->first; r < in->size; r++) {
        for (int k = 0; k < in->quota[r] && in->q_len[r] > 0; k++) {
            Group g = in->q[r][in->q_head[r]];
            in->q_head[r] = (in->q_head[r] + 1) % in->queue_cap;
            in->q_len[r]--;
            if (g.G == 0) continue; /* a dropped bad message, already counted */
            if (g.policy_version > version || version - g.policy_version > (uint64_t)max_staleness) {
                in->n_stale++;
                group_free(&g);
                continue;
            }
            out[n++] = g;
        }
    }
    in->wire_bytes = in->raw_bytes = 0;
    return n;
}

void intake_describe(const Intake *in, int rank, char *msg, size_t cap) {
    if (in->last_seq[rank] == 0 && in->q_len[rank] == 0 && in->last_version[rank] == 0)
        snprintf(msg, cap, "actor rank %d has sent nothing for %.1f s (no group received yet in "
                 "this wait)", rank, now_seconds() - in->last_heard[rank]);
    else
        snprintf(msg, cap, "actor rank %d has sent nothing for %.1f s (last: group seq %llu "
                 "sampled at policy version %llu, %d queued)", rank,
                 now_seconds() - in->last_heard[rank], (unsigned long long)in->last_seq[rank],
                 (unsigned long long)in->last_version[rank], in->q_len[rank]);
}

int intake_drain(Intake *in) {
    double start = now_seconds(), limit = in->comm->deadline_s;
    int src = -1;
    size_t len = 0;
    for (;;) {
        while (comm_try_recv(&in->buf, &in->cap, TAG_GROUP, &src, &len)) {
            in->last_heard[src] = now_seconds();
            if (len == 0) in->done[src] = 1;
        }
        int all = 1;
        for (int r = in->first; r < in->size; r++) {
            if (in->done[r]) continue;
            all = 0;
            if (now_seconds() - start > limit) return r;
        }
        if (all) return 0;
        comm_idle();
    }
}
