/* actor.c: an actor rank. It holds a copy of the policy and a policy
 * version, rolls out its slots of every step's prompts (plan.h; rollout.c)
 * and ships each group to the learner.
 *
 * Synchronous mode: wait for the weights of version v, produce this actor's
 * groups for step v+1, send them, repeat. Colocated layout: the weights are
 * the rank's own, learned in place (CoLearner); after sending its groups
 * the rank learns the step with the other learners, and the learner only
 * announces the new version.
 *
 * Asynchronous mode: keep generating while the learner trains. The groups
 * of step s are taken by the learner at version s-1; the actor generates
 * them only if the weights it holds are at most max_staleness versions
 * older than that, and otherwise waits for newer weights instead of
 * generating waste. New
 * weights arrive on a nonblocking broadcast (weights_async.h) polled
 * between batches and while waiting. With max_staleness = 0 this is exactly
 * the synchronous schedule. */
#include "actor.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "eval.h"
#include "memory.h"
#include "plan.h"
#include "reward_mix.h"
#include "rollout.h"
#include "run_settings.h"
#include "util.h"
#include "weights_async.h"
#include "weights_sync.h"
#include "wire.h"

struct Actor {
    const Config *cfg;
    const TrainPlan *plan;
    const Comm *comm;
    const CoLearner *co;       /* colocated: the rank's learner half, else NULL */
    Model own;                 /* the copy of the policy (separate layout) */
    Model *m;                  /* what it samples with: &own or co->model */
    Tokenizer *tok;
    Task *task;
    ScorerSet scorers;         /* [reward] scorers, open: the rollouts' extra rewards */
    Roller r;
    SamplerConfig eval_sc;     /* the [sampler] settings, without callbacks */
    TaskEvalSet eval_set;      /* the held-out prompts, the same on every rank */
    WireCodec *codec;
    Group *groups;
    Roles roles;
    int lo, hi, quota;         /* its slots [lo, hi) of every step (plan.h) */
    long next_step;            /* async: the step it generates next */
    uint64_t version;
    double phase[PHASE_COUNT];
    /* test hook: GRPO_TEST_CORRUPT_EVERY=N flips one byte in every Nth
     * group message, to prove the learner counts and drops it */
    long corrupt_every;
    uint64_t n_sent;
    /* async: messages in flight, each with its own copy of the bytes */
    CommReq **pending;
    uint8_t **pending_buf;
    int n_pending, max_pending;
};

static void actor_timeout(const char *what, void *ctx) {
    Actor *A = ctx;
    fprintf(stderr, "error: actor rank %d: no progress while waiting for %s; the learner is "
                    "stalled or gone (holding policy version %llu, %llu groups sent)\n",
            A->comm->rank, what, (unsigned long long)A->version, (unsigned long long)A->n_sent);
    comm_abort(4);
}

/* Encodes g into a malloc'd copy (*copy, *len): the codec's buffer is
 * reused by the next encode while the send may still be in flight. */
static void encode(Actor *A, const Group *g, size_t *len, uint8_t **copy) {
    const uint8_t *msg;
    int rc = wire_encode_group(A->codec, g, &msg, len);
    if (rc != 0) die("actor rank %d: cannot encode group: %s", A->comm->rank, wire_strerror(rc));
    *copy = xmalloc(*len);
    memcpy(*copy, msg, *len);
    if (A->corrupt_every > 0 && (A->n_sent + 1) % (uint64_t)A->corrupt_every == 0)
        (*copy)[*len / 2] ^= 0x5A;
    A->n_sent++;
}

/* Rolls out its slots of step with the current weights and posts their
 * sends (each message keeps its own copy of the bytes until the send
 * completes). */
static void produce(Actor *A, long step) {
    const int n = A->quota;
    double t1 = now_seconds();
    roller_run(&A->r, step, A->lo, A->hi, A->version, A->groups);
    double t2 = now_seconds();
    for (int i = 0; i < n; i++) {
        A->phase[PHASE_VERIFY] += A->groups[i].verify_seconds;
        size_t len;
        uint8_t *copy = NULL;
        encode(A, &A->groups[i], &len, &copy);
        CHECK(A->n_pending < A->max_pending);
        A->pending[A->n_pending] = comm_isend(copy, len, 0, TAG_GROUP);
        A->pending_buf[A->n_pending++] = copy;
        group_free(&A->groups[i]);
    }
    A->phase[PHASE_GENERATE] += t2 - t1; /* verify is inside; subtracted at the end */
    A->phase[PHASE_SEND] += now_seconds() - t2;
}

/* Frees the buffers of completed sends. */
static void reap_sends(Actor *A) {
    int k = 0;
    for (int i = 0; i < A->n_pending; i++) {
        if (comm_test(&A->pending[i])) {
            xfree(A->pending_buf[i]);
            continue;
        }
        A->pending[k] = A->pending[i];
        A->pending_buf[k++] = A->pending_buf[i];
    }
    A->n_pending = k;
}

/* Waits, under the deadline, until every posted send has completed. */
static void flush_sends(Actor *A, const char *what) {
    double limit = now_seconds() + A->comm->deadline_s;
    for (reap_sends(A); A->n_pending > 0; reap_sends(A)) {
        if (now_seconds() > limit) actor_timeout(what, A);
        comm_idle();
    }
}

/* Evaluates this actor's share of the held-out set with the weights held
 * and reports the tally to the learner (WIRE_CMD_EVAL*), then the greedy
 * completions of its items among the first [eval] samples. Its own sampler
 * stream: evaluation never moves the rollout RNG, so training is the same
 * with or without it. */
void actor_evaluate(Actor *A, uint32_t cmd, uint64_t version, EvalTally *t,
                    EvalSampleSet *keep) {
    double t0 = now_seconds();
    const EvalSettings *es = eval_settings(A->cfg);
    int k = cmd == WIRE_CMD_EVAL_PASS_K ? es->pass_k : 0, lo, hi;
    eval_share(A->eval_set.n, A->roles.actor, A->roles.n_actors, &lo, &hi);
    eval_samples_init(keep, A->task->n_components);
    eval_tally(A->m, A->tok, A->task, &A->eval_set, &A->eval_sc, lo, hi, k,
               run_settings(A->cfg)->seed, es->samples, keep, t);
    t->version = keep->version = version;
    A->phase[PHASE_EVAL] += now_seconds() - t0;
}

static void evaluate_share(Actor *A, uint32_t cmd) {
    double t0 = now_seconds();
    EvalTally t;
    EvalSampleSet keep;
    actor_evaluate(A, cmd, A->version, &t, &keep);
    uint8_t msg[EVAL_REPORT_BYTES];
    eval_report_encode(&t, msg);
    comm_send(A->comm, msg, sizeof msg, 0, TAG_EVAL);
    /* always sent, often empty: the learner then expects one per actor
     * without knowing which shares hold the first [eval] samples items */
    uint8_t *smsg;
    size_t slen;
    eval_samples_encode(&keep, &smsg, &slen);
    comm_send(A->comm, smsg, slen, 0, TAG_EVAL_SAMPLES);
    xfree(smsg);
    eval_samples_free(&keep);
    A->phase[PHASE_EVAL] += now_seconds() - t0;
}

static void loop_sync(Actor *A) {
    for (;;) {
        double t0 = now_seconds();
        uint32_t cmd = control_recv(A->comm, A->m->params, A->m->n_params, &A->version);
        A->phase[PHASE_WAIT] += now_seconds() - t0;
        if (cmd == WIRE_CMD_STOP) break;
        if (cmd == WIRE_CMD_WEIGHTS || cmd == WIRE_CMD_VERSION) {
            if (A->version % (uint64_t)A->plan->checksum_every == 0)
                weights_check_all(A->comm, A->m->params, A->m->n_params, A->version, NULL, 0);
        } else if (cmd == WIRE_CMD_EVAL || cmd == WIRE_CMD_EVAL_PASS_K) {
            evaluate_share(A, cmd);
        } else if (cmd == WIRE_CMD_GENERATE) {
            /* synchronous: step v + 1 is sampled with the weights of version v */
            produce(A, (long)A->version + 1);
            double t1 = now_seconds();
            flush_sends(A, "the group sends");
            A->phase[PHASE_SEND] += now_seconds() - t1;
            if (A->co) {
                double t2 = now_seconds();
                A->co->learn(A->co->ctx);
                A->phase[PHASE_LEARN] += now_seconds() - t2;
            }
        }
    }
}

/* Async: installs new weights if a publication has arrived; returns the
 * command seen (0 if none). */
static uint32_t poll_weights(Actor *A, WeightChannel *w) {
    uint64_t v;
    uint32_t cmd = wchan_poll(w, A->m->params, &v);
    if (cmd == 0 || cmd == WIRE_CMD_STOP) return cmd;
    A->version = v;
    if (v % (uint64_t)A->plan->checksum_every == 0) {
        uint8_t msg[WIRE_CHECKSUM_BYTES];
        wire_checksum_encode(v, hash64(A->m->params, A->m->n_params * sizeof(float)), msg);
        comm_send(A->comm, msg, sizeof msg, 0, TAG_CHECKSUM);
    }
    if (cmd != WIRE_CMD_WEIGHTS) evaluate_share(A, cmd);
    return WIRE_CMD_WEIGHTS;
}

static void progress_weights(void *ctx) { wchan_progress(ctx); }

static void loop_async(Actor *A) {
    const TrainPlan *plan = A->plan;
    WeightChannel w;
    wchan_init(&w, A->m->n_params, A->comm->rank);
    wchan_listen(&w);
    A->r.sc.between_steps = progress_weights;
    A->r.sc.between_ctx = &w;
    int have_weights = 0, stop = 0;
    double deadline_s = A->comm->deadline_s;
    while (!stop) {
        uint32_t cmd = poll_weights(A, &w);
        if (cmd == WIRE_CMD_STOP) break;
        have_weights |= cmd == WIRE_CMD_WEIGHTS;
        reap_sends(A);
        /* steps up to version + max_staleness + 1 may be generated with
         * the weights held now, and at most the plan's steps */
        const long allowed = have_weights ? (long)A->version + plan->max_staleness + 1 : 0;
        const int n = A->next_step <= allowed && A->next_step <= plan->steps ? A->quota : 0;
        if (n > 0 && A->n_pending + n <= A->max_pending) {
            produce(A, A->next_step++);
            continue;
        }
        /* too far ahead of the learner (or sends backed up): wait for news */
        double t0 = now_seconds(), limit = t0 + deadline_s;
        for (;;) {
            cmd = poll_weights(A, &w);
            if (cmd == WIRE_CMD_STOP) {
                stop = 1;
                break;
            }
            if (cmd == WIRE_CMD_WEIGHTS) {
                have_weights = 1;
                break;
            }
            reap_sends(A);
            if (n > 0 && A->n_pending + n <= A->max_pending) break;
            if (now_seconds() > limit) {
                char what[160];
                snprintf(what, sizeof what, "newer weights (holding version %llu, %d sends pending)",
                         (unsigned long long)A->version, A->n_pending);
                actor_timeout(what, A);
            }
            comm_idle();
        }
        A->phase[PHASE_WAIT] += now_seconds() - t0;
    }
    /* drain: the learner receives until it has our end-of-stream marker */
    flush_sends(A, "the last group sends to complete");
    comm_send(A->comm, "", 0, 0, TAG_GROUP);
    /* the STOP publication completed on our side; the channel is idle */
    wchan_free(&w);
}

void actor_rollout(Actor *A, long step, uint64_t version, Group *out) {
    double t0 = now_seconds();
    roller_run(&A->r, step, A->lo, A->hi, version, out);
    A->phase[PHASE_GENERATE] += now_seconds() - t0;
    for (int i = 0; i < A->quota; i++) A->phase[PHASE_VERIFY] += out[i].verify_seconds;
}

int actor_quota(const Actor *A) { return A->quota; }

const double *actor_phases(Actor *A) {
    /* generate includes verify until here */
    A->phase[PHASE_GENERATE] -= A->phase[PHASE_VERIFY];
    return A->phase;
}

/* The memory pre-flight of an actor rank: its policy's weights and KV
 * cache for kv_slots sequences (memory.h: ROLE_ACTOR), plus every reward
 * model its [reward] scorers run (rm:PATH, parsed into A->scorers, not
 * yet opened): weights and one pair's activations (ROLE_SCORE). A
 * checkpoint that does not read is left to scorer_set_open, which names
 * what is wrong with it. */
static void actor_memory_check(const Actor *A, int kv_slots) {
    const ModelConfig *c = &A->m->cfg;
    double need = memory_needed(c, ROLE_ACTOR, 0, 0, kv_slots);
    char what[600];
    int n = snprintf(what, sizeof what, "one actor rank of this model (dim %d, %d layers, hidden "
                     "%d, vocab %d)", c->dim, c->n_layers, c->hidden_dim, c->vocab_size);
    int n_rm = 0;
    for (int i = 0; i < A->scorers.n; i++) {
        const Scorer *s = &A->scorers.s[i];
        if (strcmp(s->name, "rm") != 0 || !s->arg[0]) continue;
        Model rm;
        Tokenizer tok;
        char err[600];
        if (ckpt_read_scalar_model(s->arg, &rm, &tok, err, sizeof err) != 0) continue;
        need += memory_needed(&rm.cfg, ROLE_SCORE, 1, rm.cfg.max_seq_len, 0);
        if (n > 0 && (size_t)n < sizeof what)
            n += snprintf(what + n, sizeof what - (size_t)n, "%s reward model %s (dim %d, %d "
                          "layers)", n_rm++ ? "," : " with its", s->arg, rm.cfg.dim,
                          rm.cfg.n_layers);
        model_free(&rm);
        tokenizer_free(&tok);
    }
    memory_check_need_or_die(need, what, memory_local_ranks());
}

Actor *actor_open(const Config *cfg, Comm *comm, const CoLearner *co) {
    char init[CFG_STR_MAX + 16], err[512];
    Actor *A = xcalloc(1, sizeof *A);
    const TrainPlan *plan = train_plan(cfg);
    const RunSettings *run = run_settings(cfg);
    A->cfg = cfg;
    A->plan = plan;
    A->comm = comm;
    A->co = co;
    plan_init_path(plan, run->dir, init, sizeof init);
    A->tok = xcalloc(1, sizeof *A->tok);
    ckpt_load_model_or_die(init, &A->own, A->tok);
    A->m = &A->own;
    if (co) { /* the tokenizer is the checkpoint's; the weights, the learner's */
        model_free(&A->own);
        A->m = co->model;
    }
    A->task = task_from_config(cfg, run->seed, err, sizeof err);
    if (!A->task) die("%s", err);
    A->roles = plan_roles(plan, comm->rank, comm->size);
    CHECK(A->roles.actor >= 0);
    plan_actor_slots(plan, A->roles.actor, A->roles.n_actors, &A->lo, &A->hi);
    A->quota = A->hi - A->lo;
    if (scorer_set_parse(reward_settings(cfg)->scorers, &A->scorers, err, sizeof err) != 0)
        die("actor rank %d: %s", comm->rank, err);
    /* the rollouts' KV cache and the held-out evaluation's, and a reward
     * model the scorers run */
    actor_memory_check(A, A->quota * (plan->group_size + 1) +
                                   eval_batch_rows(eval_settings(cfg)->pass_k));
    SamplerConfig sc = sampler_config_from(sampling_settings(cfg));
    A->eval_sc = sc;
    if (scorer_set_open(&A->scorers, cfg, err, sizeof err) != 0)
        die("actor rank %d: %s", comm->rank, err);
    roller_init(&A->r, A->m, A->tok, A->task, &A->scorers, &sc, plan->group_size, A->quota,
                plan->prompts_per_step, run->seed, (uint32_t)comm->rank);
    if (task_eval_set(A->task, eval_settings(cfg)->prompts, &A->eval_set, err, sizeof err) != 0)
        die("%s", err);
    A->codec = wire_codec_new(3);
    A->groups = xcalloc((size_t)A->quota, sizeof(Group));
    A->max_pending = (plan->max_staleness + 2) * A->quota;
    A->pending = xcalloc((size_t)A->max_pending, sizeof(CommReq *));
    A->pending_buf = xcalloc((size_t)A->max_pending, sizeof(uint8_t *));
    const char *corrupt_env = getenv("GRPO_TEST_CORRUPT_EVERY");
    A->corrupt_every = corrupt_env ? atol(corrupt_env) : 0;
    return A;
}

void actor_close(Actor *A) {
    xfree(A->pending);
    xfree(A->pending_buf);
    xfree(A->groups);
    wire_codec_free(A->codec);
    roller_free(&A->r);
    scorer_set_close(&A->scorers);
    task_eval_set_free(&A->eval_set);
    A->task->destroy(A->task);
    model_free(&A->own);
    tokenizer_free(A->tok);
    xfree(A->tok);
    xfree(A);
}

int actor_run(const Config *cfg, Comm *comm, const CoLearner *co) {
    Actor *A = actor_open(cfg, comm, co);
    const TrainPlan *plan = A->plan;
    /* Actors give the learner twice the deadline (plus the learner's 2 s
     * liveness probe): when something stalls, the learner, which can write
     * the checkpoint and name the culprit, must notice first. (Rank 0's
     * actor half in the colocated layout keeps the learner's.) */
    comm_set_deadline(comm, 2.0 * plan->deadline_s + 5.0, actor_timeout, A);
    /* the step the run starts after (a resume's), or a refusal; nothing
     * else: the rollouts are keyed by step, not by the actor's history */
    uint64_t start = 0;
    comm_bcast_bytes(A->comm, &start, sizeof start);
    int refused = start == WIRE_START_REFUSED;
    A->next_step = refused ? 0 : (long)start + 1;
    if (!refused && co) co->start(co->ctx);
    if (!refused) { /* refused: the learner reports why and sets the status */
        if (plan->async) loop_async(A);
        else loop_sync(A);
        comm_gather_doubles(A->comm, actor_phases(A), PHASE_COUNT, NULL);
    }
    actor_close(A);
    return 0;
}
