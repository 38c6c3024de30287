/* fuzz_checkpoint.c: the checkpoint reader (ckpt_parse, the in-memory core
 * of ckpt_read) and, on success, ckpt_get_model.
 *
 * The file carries two CRCs (header, payload) and the TOKN blob a third, so
 * each input is tried as-is and then "repaired": payload length set to the
 * real one and every CRC recomputed, so mutations reach the section walk,
 * CONF/TOKN/PARM checks and the model shape arithmetic.
 * Properties: a reject names the source and leaves the Checkpoint empty; an
 * accepted model has a parameter count that is the exact (non-wrapping) sum
 * of its tensor sizes, its tokenizer fits its vocabulary, and every byte of
 * its buffer is addressable. Everything is freed per input. */
#include "checkpoint.h"
#include "fuzz_common.h"
#include "model.h"
#include "tokenizer.h"
#include "util.h"

static Tokenizer tok; /* 66 KB: static, reused */

static void put32(uint8_t *b, uint32_t x) {
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(x >> (8 * i));
}
static void put64(uint8_t *b, uint64_t x) {
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(x >> (8 * i));
}

/* The parameter count of cfg computed without wrapping; 0 if it would wrap. */
static uint64_t exact_params(const ModelConfig *c) {
    const uint64_t V = (uint64_t)c->vocab_size, D = (uint64_t)c->dim, L = (uint64_t)c->n_layers,
                   HF = (uint64_t)c->hidden_dim;
    const uint64_t KVD = (uint64_t)c->n_kv_heads * (D / (uint64_t)c->n_heads);
    const uint64_t terms[][3] = {{V, D, 1},  {L, D, 1},  {L, D, D},  {L, KVD, D},
                                 {L, KVD, D}, {L, D, D},  {L, D, 1},  {L, HF, D},
                                 {L, D, HF}, {L, HF, D}, {D, 1, 1},  {c->tied_embeddings ? 0 : V, D, 1}};
    uint64_t total = 0, t;
    for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
        if (__builtin_mul_overflow(terms[i][0], terms[i][1], &t) ||
            __builtin_mul_overflow(t, terms[i][2], &t) || __builtin_add_overflow(total, t, &total))
            return 0;
    }
    return total;
}

/* Parses buf and, if that works, builds the model; checks the properties. */
static void parse_case(uint8_t *buf, size_t len) {
    Checkpoint c;
    char err[512] = "";
    if (ckpt_parse(&c, buf, len, "fuzz.ckpt", err, sizeof err) != 0) {
        FUZZ_REQUIRE(c.n_sections == 0);
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err) && strstr(err, "fuzz.ckpt") != NULL);
        return;
    }
    FUZZ_REQUIRE(c.n_sections >= 0 && c.n_sections <= CKPT_MAX_SECTIONS);
    /* Repair the tokenizer blob's own CRC too, so its fields get fuzzed. */
    for (int i = 0; i < c.n_sections; i++)
        if (strcmp(c.sec[i].tag, "TOKN") == 0 && c.sec[i].len >= 4)
            put32(c.sec[i].data + c.sec[i].len - 4,
                  crc32_update(0, c.sec[i].data, c.sec[i].len - 4));
    Model m;
    err[0] = '\0';
    if (ckpt_get_model(&c, "fuzz.ckpt", &m, &tok, err, sizeof err) == 0) {
        FUZZ_REQUIRE(model_config_check(&m.cfg) == NULL);
        const uint64_t exact = exact_params(&m.cfg);
        if (exact != m.n_params)
            fprintf(stderr, "model accepted with n_params %zu, exact count %llu (0 = wraps)\n",
                    m.n_params, (unsigned long long)exact);
        FUZZ_REQUIRE(exact != 0 && exact == m.n_params);
        FUZZ_REQUIRE(tok.vocab_size >= 1 && tok.vocab_size <= m.cfg.vocab_size);
        const CkptSection *parm = ckpt_get(&c, "PARM");
        FUZZ_REQUIRE(parm && parm->len == 4 * m.n_params);
        /* every tensor pointer lies inside the buffer (wcls may be empty) */
        size_t sizes[MODEL_NUM_TENSORS];
        model_tensor_sizes(&m.cfg, sizes);
        const float *ptrs[MODEL_NUM_TENSORS] = {m.w.wte, m.w.rms_att, m.w.wq,  m.w.wk,
                                                m.w.wv,  m.w.wo,      m.w.rms_ffn, m.w.w1,
                                                m.w.w2,  m.w.w3,      m.w.rms_final, m.w.wcls};
        size_t off = 0;
        for (int i = 0; i < MODEL_NUM_TENSORS; i++) {
            FUZZ_REQUIRE(ptrs[i] == m.params + off);
            off += sizes[i];
        }
        FUZZ_REQUIRE(off == m.n_params);
        volatile float last = m.params[m.n_params - 1]; /* ASan: in bounds */
        (void)last;
        model_free(&m);
        tokenizer_free(&tok); /* a BPE tokenizer owns heap */
    } else {
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err) && strstr(err, "fuzz.ckpt") != NULL);
    }
    ckpt_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    parse_case(buf, size);
    if (size >= 32) {
        /* repaired: the payload length, the payload CRC, the header CRC */
        put64(buf + 16, (uint64_t)(size - 32));
        put32(buf + 24, crc32_update(0, buf + 32, size - 32));
        put32(buf + 28, crc32_update(0, buf, 28));
        if (memcmp(buf, data, size) != 0) parse_case(buf, size);
    }
    free(buf);
    return 0;
}
