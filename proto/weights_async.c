#include "weights_async.h"

#include <string.h>

#include "util.h"
#include "weights.h"
#include "wire.h"

void wchan_init(WeightChannel *w, size_t n_params, int rank) {
    memset(w, 0, sizeof *w);
    w->n = n_params;
    w->rank = rank;
    w->buf = xcalloc(WCHAN_PREFIX_FLOATS + n_params, sizeof(float));
}

void wchan_free(WeightChannel *w) {
    CHECK(w->req == NULL); /* an in-flight broadcast still writes into buf */
    xfree(w->buf);
    memset(w, 0, sizeof *w);
}

static size_t chunk_elems(void) { return WEIGHTS_DEFAULT_CHUNK_BYTES / sizeof(float); }

int wchan_busy(WeightChannel *w) { return !comm_test(&w->req); }

void wchan_post(WeightChannel *w, const float *params, uint64_t version, uint32_t command) {
    CHECK(w->req == NULL);
    uint8_t *prefix = (uint8_t *)w->buf;
    float *body = w->buf + WCHAN_PREFIX_FLOATS;
    memcpy(body, params, sizeof(float) * w->n);
    wire_control_encode(command, version, prefix);
    WeightsHeader h = weights_header_make(body, w->n, version, 0);
    weights_header_encode(&h, prefix + WIRE_CONTROL_BYTES);
    w->req = comm_ibcast_floats(w->buf, WCHAN_PREFIX_FLOATS + w->n, chunk_elems());
}

void wchan_listen(WeightChannel *w) {
    CHECK(w->req == NULL);
    w->req = comm_ibcast_floats(w->buf, WCHAN_PREFIX_FLOATS + w->n, chunk_elems());
}

void wchan_progress(WeightChannel *w) {
    if (w->req && comm_test(&w->req)) w->arrived = 1;
}

uint32_t wchan_poll(WeightChannel *w, float *params, uint64_t *version) {
    wchan_progress(w);
    if (!w->arrived) return 0;
    w->arrived = 0;
    const uint8_t *prefix = (const uint8_t *)w->buf;
    char err[256];
    uint32_t cmd;
    uint64_t arg;
    if (wire_control_decode(prefix, WIRE_CONTROL_BYTES, &cmd, &arg, err, sizeof err) != 0)
        die("actor rank %d: bad control in a weight publication: %s", w->rank, err);
    if (cmd == WIRE_CMD_STOP) return cmd;
    WeightsHeader h;
    if (weights_header_decode(prefix + WIRE_CONTROL_BYTES, WEIGHTS_HEADER_BYTES, &h, err,
                              sizeof err) != 0 ||
        weights_header_check(&h, w->n, err, sizeof err) != 0)
        die("actor rank %d: bad weight header for version %llu: %s", w->rank,
            (unsigned long long)arg, err);
    const float *body = w->buf + WCHAN_PREFIX_FLOATS;
    if (weights_verify(&h, body) != 0)
        die("actor rank %d: weights of version %llu fail their checksum", w->rank,
            (unsigned long long)h.policy_version);
    memcpy(params, body, sizeof(float) * w->n);
    *version = h.policy_version;
    wchan_listen(w);
    return cmd; /* WEIGHTS, or EVAL*: these weights, then evaluate */
}
