#include "actor.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "rollout.h"
#include "util.h"
#include "weights_sync.h"
#include "wire.h"

const char *const phase_names[PHASE_COUNT] = {"generate", "verify", "send", "wait",
                                              "learn",    "bcast",  "eval"};

int actor_quota(const Config *cfg, int rank, int size) {
    int n_act = size - 1, idx = rank - 1;
    return cfg->prompts_per_step / n_act + (idx < cfg->prompts_per_step % n_act);
}

int actor_run(const Config *cfg, const Comm *comm) {
    char init[CFG_STR_MAX + 16], err[512];
    config_init_path(cfg, init, sizeof init);
    Model m;
    Tokenizer *tok = xmalloc(sizeof *tok);
    ckpt_load_model_or_die(init, &m, tok);
    Task *task = task_create(cfg->task_name, &cfg->task, cfg->seed, err, sizeof err);
    if (!task) die("%s", err);
    int quota = actor_quota(cfg, comm->rank, comm->size);
    SamplerConfig sc = sampler_config_from(cfg);
    Roller r;
    roller_init(&r, &m, tok, task, &sc, cfg->group_size, quota, cfg->seed, (uint32_t)comm->rank);
    WireCodec *codec = wire_codec_new(3);
    Group *groups = xcalloc((size_t)quota, sizeof(Group));
    double phase[PHASE_COUNT] = {0};
    uint64_t version = 0, n_sent = 0;
    /* Test hook: GRPO_TEST_CORRUPT_EVERY=N flips one byte in every Nth group
     * message of this actor, to prove the learner counts and drops it. */
    const char *corrupt_env = getenv("GRPO_TEST_CORRUPT_EVERY");
    long corrupt_every = corrupt_env ? atol(corrupt_env) : 0;
    uint8_t *scratch = NULL;
    /* Resume: the learner sends every actor's saved state (or nothing). */
    uint64_t state_len = 0;
    comm_bcast_bytes(&state_len, sizeof state_len);
    if (state_len) {
        uint8_t *all = xmalloc(state_len);
        comm_bcast_bytes(all, state_len);
        CHECK(state_len == (uint64_t)(comm->size - 1) * 48);
        roller_state_load(&r, all + (size_t)(comm->rank - 1) * 48);
        xfree(all);
    }
    for (;;) {
        double t0 = now_seconds();
        uint32_t cmd = control_recv(m.params, m.n_params, &version, comm->rank);
        if (cmd == WIRE_CMD_STOP) break;
        if (cmd == WIRE_CMD_SNAPSHOT) {
            uint8_t st[48];
            roller_state_save(&r, st);
            comm_gather_bytes(st, sizeof st, NULL);
            continue;
        }
        if (version % (uint64_t)cfg->checksum_every == 0)
            weights_check_all(m.params, m.n_params, version, comm->rank, comm->size, NULL, 0);
        double t1 = now_seconds();
        phase[PHASE_WAIT] += t1 - t0;
        roller_run(&r, quota, version, groups);
        double t2 = now_seconds();
        for (int i = 0; i < quota; i++) {
            phase[PHASE_VERIFY] += groups[i].verify_seconds;
            const uint8_t *msg;
            size_t len;
            int rc = wire_encode_group(codec, &groups[i], &msg, &len);
            if (rc != 0) die("actor rank %d: cannot encode group: %s", comm->rank, wire_strerror(rc));
            if (corrupt_every > 0 && ++n_sent % (uint64_t)corrupt_every == 0) {
                xfree(scratch);
                scratch = xmalloc(len);
                memcpy(scratch, msg, len);
                scratch[len / 2] ^= 0x5A;
                msg = scratch;
            }
            comm_send(msg, len, 0, TAG_GROUP);
            group_free(&groups[i]);
        }
        double t3 = now_seconds();
        phase[PHASE_SEND] += t3 - t2;
        phase[PHASE_GENERATE] += (t2 - t1);
    }
    phase[PHASE_GENERATE] -= phase[PHASE_VERIFY];
    comm_gather_doubles(phase, PHASE_COUNT, NULL);
    xfree(scratch);
    xfree(groups);
    wire_codec_free(codec);
    roller_free(&r);
    task->destroy(task);
    model_free(&m);
    xfree(tok);
    return 0;
}
