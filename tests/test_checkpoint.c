/* test_checkpoint.c: the sectioned checkpoint format. Round trips must be
 * bit-identical; every kind of damage must be refused with a message that
 * names the file; a writer killed mid-write must leave the old file intact.
 * A scalar-head model round-trips through its HEAD section, and each
 * reader refuses the other head's checkpoints by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "test_files.h"
#include "util.h"

static char dir[256]; /* per-run scratch directory, removed at the end */

/* Returns a path inside dir; static storage rotates over 4 slots, so a test
 * can hold a few at once. */
static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void put_le32(uint8_t *b, uint32_t x) {
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(x >> (8 * i));
}
static void put_le64(uint8_t *b, uint64_t x) {
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(x >> (8 * i));
}

/* Recomputes both CRCs of a whole file image in place, so a test can forge
 * structurally bad files that pass the checksums. */
static void fix_crcs(uint8_t *b, size_t n) {
    put_le32(b + 24, crc32_update(0, b + 32, n - 32));
    put_le32(b + 28, crc32_update(0, b, 28));
}

static void assert_has(const char *s, const char *needle) {
    if (!strstr(s, needle)) fail_msg("message \"%s\" lacks \"%s\"", s, needle);
}

/* Sections whose lengths exercise every padding case, plus random bytes. */
static void make_sample(Checkpoint *c, uint32_t seed) {
    ckpt_init(c);
    static const char *tags[] = {"AAAA", "BBBB", "CCCC", "DDDD", "EEEE", "ZZZZ"};
    static const size_t lens[] = {0, 1, 7, 8, 9, 4099};
    uint8_t buf[4099];
    uint32_t x = seed * 2654435761u + 1;
    for (int s = 0; s < 6; s++) {
        for (size_t i = 0; i < lens[s]; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            buf[i] = (uint8_t)x;
        }
        ckpt_put(c, tags[s], buf, lens[s]);
    }
}

static void assert_same_ckpt(const Checkpoint *a, const Checkpoint *b) {
    assert_int_equal(a->n_sections, b->n_sections);
    for (int i = 0; i < a->n_sections; i++) {
        assert_string_equal(a->sec[i].tag, b->sec[i].tag);
        assert_int_equal(a->sec[i].len, b->sec[i].len);
        if (a->sec[i].len) assert_memory_equal(a->sec[i].data, b->sec[i].data, a->sec[i].len);
    }
}

/* Writes a sample to name and returns its bytes (caller frees). */
static uint8_t *write_sample(const char *path, uint32_t seed, size_t *n) {
    Checkpoint c;
    char err[512];
    make_sample(&c, seed);
    if (ckpt_write(&c, path, err, sizeof err)) fail_msg("%s", err);
    ckpt_free(&c);
    return slurp(path, n);
}

/* The section and header checksums are the standard CRC-32 (IEEE), so a
 * checkpoint written by any earlier build, or by another tool, checks the
 * same: the check value of "123456789", and chunked updates equal one. */
static void test_crc32_standard(void **state) {
    (void)state;
    assert_int_equal(crc32_update(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(crc32_update(0, "", 0), 0);
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (uint8_t)(i * 7 + 3);
    uint32_t whole = crc32_update(0, buf, sizeof buf);
    uint32_t parts = crc32_update(crc32_update(0, buf, 333), buf + 333, sizeof buf - 333);
    assert_int_equal(whole, parts);
}

static void test_put_get_replace(void **state) {
    (void)state;
    Checkpoint c;
    ckpt_init(&c);
    ckpt_put(&c, "STEP", "abc", 3);
    ckpt_put(&c, "META", "hello", 5);
    ckpt_put(&c, "STEP", "wxyz", 4); /* replaces in place */
    assert_int_equal(c.n_sections, 2);
    const CkptSection *s = ckpt_get(&c, "STEP");
    assert_non_null(s);
    assert_int_equal(s->len, 4);
    assert_memory_equal(s->data, "wxyz", 4);
    assert_null(ckpt_get(&c, "PARM"));
    assert_null(ckpt_get(&c, "STE"));
    ckpt_free(&c);
    assert_int_equal(c.n_sections, 0);
}

/* Every section comes back byte for byte, and re-writing what was read gives
 * the identical file. */
static void test_roundtrip_bit_identical(void **state) {
    (void)state;
    const char *p1 = tpath("rt1.ckpt"), *p2 = tpath("rt2.ckpt");
    Checkpoint a, b;
    char err[512];
    make_sample(&a, 7);
    assert_int_equal(ckpt_write(&a, p1, err, sizeof err), 0);
    if (ckpt_read(&b, p1, err, sizeof err)) fail_msg("%s", err);
    assert_same_ckpt(&a, &b);
    assert_int_equal(ckpt_write(&b, p2, err, sizeof err), 0);
    size_t n1, n2;
    uint8_t *f1 = slurp(p1, &n1), *f2 = slurp(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(f1, f2, n1);
    /* Layout spot checks against the documented header. */
    assert_memory_equal(f1, "GRPOCKPT", 8);
    assert_int_equal(f1[8], CKPT_VERSION);
    assert_int_equal(f1[12], 6);
    assert_int_equal(n1 % 8, 0);
    assert_memory_equal(f1 + 32, "AAAA", 4);
    free(f1);
    free(f2);
    ckpt_free(&a);
    ckpt_free(&b);
    /* An empty checkpoint is valid too. */
    ckpt_init(&a);
    assert_int_equal(ckpt_write(&a, p1, err, sizeof err), 0);
    assert_int_equal(ckpt_read(&b, p1, err, sizeof err), 0);
    assert_int_equal(b.n_sections, 0);
    ckpt_free(&b);
}

static const ModelConfig SMALL = {.vocab_size = 98, .dim = 16, .n_layers = 2, .n_heads = 4,
                                  .n_kv_heads = 2, .hidden_dim = 40, .max_seq_len = 32,
                                  .tied_embeddings = 0, .rope_theta = 10000.0f,
                                  .norm_eps = 1e-5f};

/* Parameters with awkward bit patterns: -0, denormals, inf, NaN payloads. */
static void fill_params(Model *m) {
    uint32_t x = 12345;
    for (size_t i = 0; i < m->n_params; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        memcpy(&m->params[i], &x, 4);
    }
    m->params[0] = -0.0f;
    m->params[1] = 1e-42f;
    m->params[2] = INFINITY;
}

static void test_model_roundtrip(void **state) {
    (void)state;
    const char *p = tpath("model.ckpt");
    Model m, m2;
    Tokenizer *tok = malloc(sizeof *tok), *tok2 = malloc(sizeof *tok2);
    model_init(&m, &SMALL);
    fill_params(&m);
    tokenizer_init_char(tok);
    Checkpoint c, r;
    char err[512];
    ckpt_init(&c);
    ckpt_put_model(&c, &m, tok);
    /* Optional and unknown sections ride along untouched. */
    ckpt_put(&c, "STEP", "\x05\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0", 16);
    ckpt_put(&c, "XTRA", "from a later issue", 18);
    assert_int_equal(ckpt_write(&c, p, err, sizeof err), 0);
    if (ckpt_read(&r, p, err, sizeof err)) fail_msg("%s", err);
    assert_same_ckpt(&c, &r);
    if (ckpt_get_model(&r, p, &m2, tok2, err, sizeof err)) fail_msg("%s", err);
    assert_memory_equal(&m2.cfg, &m.cfg, sizeof m.cfg);
    assert_int_equal(m2.n_params, m.n_params);
    assert_memory_equal(m2.params, m.params, m.n_params * sizeof(float));
    assert_int_equal(tok2->vocab_size, tok->vocab_size);
    assert_true(tokenizer_same(tok2, tok));
    const CkptSection *x = ckpt_get(&r, "XTRA");
    assert_non_null(x);
    assert_memory_equal(x->data, "from a later issue", 18);
    model_free(&m2);

    /* Tied embeddings change the parameter count; still round-trips. */
    ModelConfig tied = SMALL;
    tied.tied_embeddings = 1;
    Model mt;
    model_init(&mt, &tied);
    fill_params(&mt);
    ckpt_put_model(&c, &mt, tok);
    assert_int_equal(ckpt_get_model(&c, p, &m2, tok2, err, sizeof err), 0);
    assert_int_equal(m2.n_params, mt.n_params);
    assert_memory_equal(m2.params, mt.params, mt.n_params * sizeof(float));
    model_free(&m2);
    model_free(&mt);

    ckpt_free(&c);
    ckpt_free(&r);
    model_free(&m);
    free(tok);
    free(tok2);
}

/* ckpt_get_model refuses missing sections, a bad config and a PARM of the
 * wrong size, naming the file. */
static void test_get_model_errors(void **state) {
    (void)state;
    const char *p = "some/run/ckpt.bin";
    Model m, m2;
    Tokenizer *tok = malloc(sizeof *tok), *tok2 = malloc(sizeof *tok2);
    model_init(&m, &SMALL);
    fill_params(&m);
    tokenizer_init_char(tok);
    Checkpoint c;
    char err[512];

    ckpt_init(&c);
    assert_int_equal(ckpt_get_model(&c, p, &m2, tok2, err, sizeof err), -1);
    assert_has(err, p);
    assert_has(err, "CONF");

    ckpt_put_model(&c, &m, tok);
    const CkptSection *parm = ckpt_get(&c, "PARM");
    uint8_t *short_parm = malloc(parm->len);
    memcpy(short_parm, parm->data, parm->len);
    ckpt_put(&c, "PARM", short_parm, parm->len - 4);
    assert_int_equal(ckpt_get_model(&c, p, &m2, tok2, err, sizeof err), -1);
    assert_has(err, p);
    assert_has(err, "PARM");
    free(short_parm);

    ckpt_put_model(&c, &m, tok);
    uint8_t conf[40];
    memcpy(conf, ckpt_get(&c, "CONF")->data, 40);
    put_le32(conf + 4, 0); /* dim = 0 */
    ckpt_put(&c, "CONF", conf, 40);
    assert_int_equal(ckpt_get_model(&c, p, &m2, tok2, err, sizeof err), -1);
    assert_has(err, p);
    assert_has(err, "config");

    ckpt_put(&c, "CONF", conf, 36);
    assert_int_equal(ckpt_get_model(&c, p, &m2, tok2, err, sizeof err), -1);
    assert_has(err, "CONF");

    ckpt_put_model(&c, &m, tok);
    ckpt_put(&c, "TOKN", "junk", 4);
    assert_int_equal(ckpt_get_model(&c, p, &m2, tok2, err, sizeof err), -1);
    assert_has(err, p);
    assert_has(err, "TOKN");

    ckpt_free(&c);
    model_free(&m);
    free(tok);
    free(tok2);
}

/* A scalar-head model (reward / value) round-trips through a HEAD section
 * (u32 kind 1, u32 0) that an LM checkpoint never has; putting an LM over
 * it in the same Checkpoint drops the HEAD again. */
static void test_scalar_roundtrip(void **state) {
    (void)state;
    const char *p = tpath("scalar.ckpt");
    ModelConfig sc = SMALL;
    sc.head = MODEL_HEAD_SCALAR;
    Model m, m2, lm;
    Tokenizer *tok = malloc(sizeof *tok), *tok2 = malloc(sizeof *tok2);
    model_init(&m, &sc);
    fill_params(&m);
    tokenizer_init_char(tok);
    Checkpoint c, r;
    char err[512];
    ckpt_init(&c);
    ckpt_put_model(&c, &m, tok);
    const CkptSection *h = ckpt_get(&c, "HEAD");
    assert_non_null(h);
    assert_int_equal(h->len, 8);
    assert_memory_equal(h->data, "\x01\0\0\0\0\0\0\0", 8);
    assert_int_equal(ckpt_write(&c, p, err, sizeof err), 0);
    if (ckpt_read(&r, p, err, sizeof err)) fail_msg("%s", err);
    if (ckpt_get_model(&r, p, &m2, tok2, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(m2.cfg.head, MODEL_HEAD_SCALAR);
    assert_memory_equal(&m2.cfg, &m.cfg, sizeof m.cfg);
    assert_int_equal(m2.n_params, m.n_params);
    assert_memory_equal(m2.params, m.params, m.n_params * sizeof(float));
    model_free(&m2);
    if (ckpt_read_scalar_model(p, &m2, tok2, err, sizeof err)) fail_msg("%s", err);
    assert_memory_equal(m2.params, m.params, m.n_params * sizeof(float));
    model_free(&m2);
    tokenizer_free(tok2);
    if (ckpt_read_scalar_model_with(p, tok, &m2, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(m2.cfg.head, MODEL_HEAD_SCALAR);
    model_free(&m2);

    model_init(&lm, &SMALL);
    fill_params(&lm);
    ckpt_put_model(&c, &lm, tok);
    assert_null(ckpt_get(&c, "HEAD"));
    assert_int_equal(ckpt_get_model(&c, p, &m2, tok2, err, sizeof err), 0);
    assert_int_equal(m2.cfg.head, MODEL_HEAD_LM);
    model_free(&m2);

    ckpt_free(&c);
    ckpt_free(&r);
    model_free(&m);
    model_free(&lm);
    free(tok);
    free(tok2);
}

static void load_or_die_child(const char *path) {
    Model m;
    Tokenizer tok;
    ckpt_load_model_or_die(path, &m, &tok);
}

/* Policy readers refuse a scalar checkpoint and the scalar readers an LM
 * one, each naming the file and what it is. */
static void test_head_refusals(void **state) {
    (void)state;
    const char *sp = tpath("rm.ckpt"), *lp = tpath("policy.ckpt");
    ModelConfig sc = SMALL;
    sc.head = MODEL_HEAD_SCALAR;
    Model s, l, got;
    Tokenizer tok, got_tok;
    tokenizer_init_char(&tok);
    model_init(&s, &sc);
    model_init(&l, &SMALL);
    model_init_weights(&s, 1);
    model_init_weights(&l, 2);
    Checkpoint c;
    char err[512];
    ckpt_init(&c);
    ckpt_put_model(&c, &s, &tok);
    assert_int_equal(ckpt_write(&c, sp, err, sizeof err), 0);
    ckpt_free(&c);
    ckpt_put_model(&c, &l, &tok);
    assert_int_equal(ckpt_write(&c, lp, err, sizeof err), 0);
    ckpt_free(&c);

    assert_int_equal(ckpt_read_model(sp, &got, &got_tok, err, sizeof err), -1);
    assert_has(err, sp);
    assert_has(err, "is a reward/value model (scalar head), not a policy");
    assert_int_equal(ckpt_read_model_with(sp, &tok, &got, err, sizeof err), -1);
    assert_has(err, "is a reward/value model (scalar head), not a policy");
    assert_int_equal(ckpt_read_scalar_model(lp, &got, &got_tok, err, sizeof err), -1);
    assert_has(err, lp);
    assert_has(err, "is a policy (LM head), not a reward/value model");
    assert_int_equal(ckpt_read_scalar_model_with(lp, &tok, &got, err, sizeof err), -1);
    assert_has(err, "is a policy (LM head), not a reward/value model");
    assert_int_equal(ckpt_check_head(&l, MODEL_HEAD_LM, lp, err, sizeof err), 0);
    /* a policy still loads through the policy reader */
    if (ckpt_read_model(lp, &got, &got_tok, err, sizeof err)) fail_msg("%s", err);
    model_free(&got);

    /* ckpt_load_model_or_die (the learner's and actors' policy loads) dies */
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        load_or_die_child(sp);
        _exit(0);
    }
    close(fd[1]);
    char buf[2048];
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof buf && (r = read(fd[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r; /* stderr is unbuffered: the message comes in pieces */
    buf[n] = 0;
    close(fd[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_has(buf, "is a reward/value model (scalar head), not a policy");
    model_free(&s);
    model_free(&l);
}

/* A HEAD that is not (0 or 1, 0) of 8 bytes, or a scalar head with tied
 * embeddings in CONF, is refused naming the file; HEAD kind 0 is an LM. */
static void test_head_errors(void **state) {
    (void)state;
    const char *p = "some/run/rm.ckpt";
    ModelConfig sc = SMALL;
    sc.head = MODEL_HEAD_SCALAR;
    Model m, m2;
    Tokenizer tok, tok2;
    tokenizer_init_char(&tok);
    model_init(&m, &sc);
    fill_params(&m);
    Checkpoint c;
    char err[512];
    ckpt_init(&c);
    ckpt_put_model(&c, &m, &tok);
    ckpt_put(&c, "HEAD", "\x01\0\0\0", 4);
    assert_int_equal(ckpt_get_model(&c, p, &m2, &tok2, err, sizeof err), -1);
    assert_has(err, p);
    assert_has(err, "HEAD");
    ckpt_put(&c, "HEAD", "\x07\0\0\0\0\0\0\0", 8);
    assert_int_equal(ckpt_get_model(&c, p, &m2, &tok2, err, sizeof err), -1);
    assert_has(err, "HEAD");
    ckpt_put(&c, "HEAD", "\x01\0\0\0\x01\0\0\0", 8);
    assert_int_equal(ckpt_get_model(&c, p, &m2, &tok2, err, sizeof err), -1);
    assert_has(err, "HEAD");
    /* kind 0 with a scalar PARM: the LM's size is expected, and refused */
    ckpt_put(&c, "HEAD", "\0\0\0\0\0\0\0\0", 8);
    assert_int_equal(ckpt_get_model(&c, p, &m2, &tok2, err, sizeof err), -1);
    assert_has(err, "PARM");
    /* scalar and tied */
    ckpt_put(&c, "HEAD", "\x01\0\0\0\0\0\0\0", 8);
    uint8_t conf[40];
    memcpy(conf, ckpt_get(&c, "CONF")->data, 40);
    put_le32(conf + 28, 1);
    ckpt_put(&c, "CONF", conf, 40);
    assert_int_equal(ckpt_get_model(&c, p, &m2, &tok2, err, sizeof err), -1);
    assert_has(err, p);
    assert_has(err, "tied");
    /* an explicit kind 0 over an LM's sections loads as an LM */
    Model l;
    model_init(&l, &SMALL);
    fill_params(&l);
    ckpt_put_model(&c, &l, &tok);
    ckpt_put(&c, "HEAD", "\0\0\0\0\0\0\0\0", 8);
    assert_int_equal(ckpt_get_model(&c, p, &m2, &tok2, err, sizeof err), 0);
    assert_int_equal(m2.cfg.head, MODEL_HEAD_LM);
    model_free(&m2);
    model_free(&l);
    ckpt_free(&c);
    model_free(&m);
}

/* Every truncation is refused with the path and "truncated"; c comes back
 * empty. */
static void test_truncated(void **state) {
    (void)state;
    const char *good = tpath("good.ckpt"), *bad = tpath("trunc.ckpt");
    size_t n;
    uint8_t *img = write_sample(good, 3, &n);
    const size_t cuts[] = {0, 1, 10, 31, 32, 33, 47, 48, 60, n / 2, n - 8, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        spit(bad, img, cuts[i]);
        Checkpoint c;
        char err[512] = "";
        assert_int_equal(ckpt_read(&c, bad, err, sizeof err), -1);
        assert_has(err, bad);
        assert_has(err, "truncated");
        assert_int_equal(c.n_sections, 0);
        if (cuts[i] < 32) assert_has(err, "header needs 32");
    }
    free(img);
}

/* One flipped bit anywhere is caught, with a message that says what. */
static void test_bit_flips(void **state) {
    (void)state;
    const char *good = tpath("good.ckpt"), *bad = tpath("flip.ckpt");
    size_t n;
    uint8_t *img = write_sample(good, 4, &n);
    const struct {
        size_t off;
        const char *want;
    } cases[] = {
        {0, "not a checkpoint"},       {7, "not a checkpoint"},
        {8, "version"},                {12, "header checksum"},
        {16, "header checksum"},       {23, "header checksum"},
        {24, "header checksum"},       {28, "header checksum"},
        {31, "header checksum"},       {32, "checksum mismatch"}, /* first tag */
        {40, "checksum mismatch"},     {n / 2, "checksum mismatch"},
        {n - 1, "checksum mismatch"}, /* padding of the last section */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            img[cases[i].off] ^= (uint8_t)(1u << bit);
            spit(bad, img, n);
            img[cases[i].off] ^= (uint8_t)(1u << bit);
            Checkpoint c;
            char err[512] = "";
            assert_int_equal(ckpt_read(&c, bad, err, sizeof err), -1);
            assert_has(err, bad);
            assert_has(err, cases[i].want);
            assert_int_equal(c.n_sections, 0);
        }
    }
    /* The flipped version field is also reported as possible corruption. */
    img[8] ^= 2;
    spit(bad, img, n);
    Checkpoint c;
    char err[512];
    assert_int_equal(ckpt_read(&c, bad, err, sizeof err), -1);
    assert_has(err, "corrupt");
    free(img);
}

/* A genuinely newer file (valid header CRC) gets a plain version message. */
static void test_wrong_version(void **state) {
    (void)state;
    const char *good = tpath("good.ckpt"), *bad = tpath("v2.ckpt");
    size_t n;
    uint8_t *img = write_sample(good, 5, &n);
    put_le32(img + 8, 2);
    fix_crcs(img, n);
    spit(bad, img, n);
    Checkpoint c;
    char err[512];
    assert_int_equal(ckpt_read(&c, bad, err, sizeof err), -1);
    assert_has(err, bad);
    assert_has(err, "version 2, this build reads 1");
    assert_null(strstr(err, "corrupt"));
    free(img);
}

/* Files whose checksums are right but whose structure is not. */
static void test_forged_structure(void **state) {
    (void)state;
    const char *good = tpath("good.ckpt"), *bad = tpath("forged.ckpt");
    size_t n;
    uint8_t *img = write_sample(good, 6, &n);
    Checkpoint c;
    char err[512];

    /* A section length running past the end of the payload. */
    uint8_t *f = malloc(n);
    memcpy(f, img, n);
    put_le64(f + 32 + 8, n); /* section 0 claims the whole file */
    fix_crcs(f, n);
    spit(bad, f, n);
    assert_int_equal(ckpt_read(&c, bad, err, sizeof err), -1);
    assert_has(err, bad);
    assert_has(err, "overruns");

    /* An absurd length (would overflow naive padding arithmetic). */
    memcpy(f, img, n);
    put_le64(f + 32 + 8, UINT64_MAX - 3);
    fix_crcs(f, n);
    spit(bad, f, n);
    assert_int_equal(ckpt_read(&c, bad, err, sizeof err), -1);
    assert_has(err, "overruns");

    /* More sections claimed than present. */
    memcpy(f, img, n);
    put_le32(f + 12, 7);
    fix_crcs(f, n);
    spit(bad, f, n);
    assert_int_equal(ckpt_read(&c, bad, err, sizeof err), -1);
    assert_has(err, "overruns");

    /* Fewer: bytes left after the last section. */
    memcpy(f, img, n);
    put_le32(f + 12, 5);
    fix_crcs(f, n);
    spit(bad, f, n);
    assert_int_equal(ckpt_read(&c, bad, err, sizeof err), -1);
    assert_has(err, "after the last");

    /* Too many sections for this build. */
    memcpy(f, img, n);
    put_le32(f + 12, CKPT_MAX_SECTIONS + 1);
    fix_crcs(f, n);
    spit(bad, f, n);
    assert_int_equal(ckpt_read(&c, bad, err, sizeof err), -1);
    assert_has(err, bad);
    assert_has(err, "sections");

    /* Trailing garbage after a valid payload. */
    uint8_t *g = malloc(n + 8);
    memcpy(g, img, n);
    memset(g + n, 0, 8);
    spit(bad, g, n + 8);
    assert_int_equal(ckpt_read(&c, bad, err, sizeof err), -1);
    assert_has(err, "trailing");

    /* Two sections with the same tag. */
    memcpy(f, img, n);
    memcpy(f + 32 + 16, "AAAA", 4); /* section 1 (BBBB, len 1 -> 8) follows 0 (len 0) */
    fix_crcs(f, n);
    spit(bad, f, n);
    assert_int_equal(ckpt_read(&c, bad, err, sizeof err), -1);
    assert_has(err, "twice");

    free(g);
    free(f);
    free(img);
}

static void test_missing_file(void **state) {
    (void)state;
    const char *p = tpath("no/such/file.ckpt");
    Checkpoint c;
    char err[512];
    assert_int_equal(ckpt_read(&c, p, err, sizeof err), -1);
    assert_has(err, p);
    assert_has(err, strerror(ENOENT));
    assert_int_equal(c.n_sections, 0);
    /* A directory is not a checkpoint either. */
    assert_int_equal(ckpt_read(&c, dir, err, sizeof err), -1);
    assert_has(err, dir);
    /* Writing into a missing directory fails, naming path and step, and
     * leaves nothing behind. */
    make_sample(&c, 1);
    assert_int_equal(ckpt_write(&c, p, err, sizeof err), -1);
    assert_has(err, p);
    assert_has(err, "open");
    ckpt_free(&c);
}

/* Counts directory entries whose name starts with prefix. */
static int count_entries(const char *prefix) {
    DIR *d = opendir(dir);
    int k = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) k++;
    closedir(d);
    return k;
}

/* A writer killed mid-write (GRPO_CKPT_CRASH_AFTER_BYTES) leaves the old
 * checkpoint loadable and identical; its temp file is refused on its own
 * and never renamed into place. */
static void test_crash_mid_write(void **state) {
    (void)state;
    const char *p = tpath("atomic.ckpt");
    size_t n_old;
    uint8_t *old = write_sample(p, 10, &n_old);
    Checkpoint want;
    make_sample(&want, 10);
    const size_t crash_at[] = {0, 10, 32, 100, 2000, n_old - 1};
    for (size_t i = 0; i < sizeof crash_at / sizeof crash_at[0]; i++) {
        fflush(NULL); /* the child must not re-flush our stdio buffers */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            char v[32];
            snprintf(v, sizeof v, "%zu", crash_at[i]);
            setenv("GRPO_CKPT_CRASH_AFTER_BYTES", v, 1);
            Checkpoint c;
            char err[512];
            make_sample(&c, 11); /* same sizes, different bytes */
            ckpt_write(&c, p, err, sizeof err);
            _exit(0); /* reaching here means the hook did not fire */
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 9);

        /* The old file, byte for byte, and it still loads. */
        size_t n;
        uint8_t *now = slurp(p, &n);
        assert_int_equal(n, n_old);
        assert_memory_equal(now, old, n);
        free(now);
        Checkpoint c;
        char err[512];
        if (ckpt_read(&c, p, err, sizeof err)) fail_msg("%s", err);
        assert_same_ckpt(&c, &want);
        ckpt_free(&c);

        /* The half-written temp file is where the format says, holds
         * exactly the bytes written before the crash, and is refused. */
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)pid);
        struct stat sb;
        assert_int_equal(stat(tmp, &sb), 0);
        assert_int_equal((size_t)sb.st_size, crash_at[i]);
        assert_int_equal(ckpt_read(&c, tmp, err, sizeof err), -1);
        assert_has(err, "truncated");
        unlink(tmp);
    }
    /* Without the hook the same write replaces the file, leaving no temp. */
    Checkpoint c, r;
    char err[512];
    make_sample(&c, 11);
    assert_int_equal(ckpt_write(&c, p, err, sizeof err), 0);
    assert_int_equal(ckpt_read(&r, p, err, sizeof err), 0);
    assert_same_ckpt(&c, &r);
    assert_int_equal(count_entries("atomic.ckpt.tmp."), 0);
    /* A hook value beyond the file size never fires. */
    setenv("GRPO_CKPT_CRASH_AFTER_BYTES", "100000000", 1);
    assert_int_equal(ckpt_write(&want, p, err, sizeof err), 0);
    unsetenv("GRPO_CKPT_CRASH_AFTER_BYTES");
    ckpt_free(&r);
    assert_int_equal(ckpt_read(&r, p, err, sizeof err), 0);
    assert_same_ckpt(&want, &r);
    ckpt_free(&r);
    ckpt_free(&c);
    ckpt_free(&want);
    free(old);
}

/* Writes a sample checkpoint to name in a child that the crash hook kills
 * after 100 bytes; returns the dead writer's pid (its temp file remains). */
static pid_t crashed_writer(const char *name) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("GRPO_CKPT_CRASH_AFTER_BYTES", "100", 1);
        Checkpoint c;
        char err[512];
        make_sample(&c, 3);
        ckpt_write(&c, tpath(name), err, sizeof err);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 9);
    return pid;
}

static int exists(const char *name) {
    struct stat sb;
    return lstat(tpath(name), &sb) == 0;
}

/* The temp files of writers killed mid-write are removed; the temp of a
 * live writer, the caller's own leftovers aside, and anything that is not
 * ckpt_write's temp of a *.ckpt file are left alone. */
static void test_remove_stale_temps(void **state) {
    (void)state;
    char dead[64], mine[64], live[64], subdir[64], link[64], err[512];
    pid_t gone = crashed_writer("ckpt-00000005.ckpt");
    snprintf(dead, sizeof dead, "ckpt-00000005.ckpt.tmp.%ld", (long)gone);
    assert_true(exists(dead)); /* the real leftover of a torn write */
    snprintf(mine, sizeof mine, "final.ckpt.tmp.%ld", (long)getpid());
    spit(tpath(mine), "x", 1);
    snprintf(live, sizeof live, "busy.ckpt.tmp.1"); /* pid 1 always runs */
    spit(tpath(live), "x", 1);
    snprintf(subdir, sizeof subdir, "d.ckpt.tmp.%ld", (long)gone);
    assert_int_equal(mkdir(tpath(subdir), 0755), 0);
    snprintf(link, sizeof link, "l.ckpt.tmp.%ld", (long)gone);
    assert_int_equal(symlink("sft.ckpt", tpath(link)), 0);
    const char *not_ours[] = {"sft.ckpt", "notes.tmp.7", "x.ckpt.tmp.12a", "x.ckpt.tmp.",
                              "x.ckpt.tmp.99999999999", "x.bin.tmp.42", "ckpt.tmp.5x"};
    size_t n_not = sizeof not_ours / sizeof not_ours[0];
    for (size_t i = 0; i < n_not; i++) spit(tpath(not_ours[i]), "x", 1);

    assert_int_equal(ckpt_remove_stale_temps(dir, err, sizeof err), 2);
    assert_false(exists(dead));
    assert_false(exists(mine));
    assert_true(exists(live));
    assert_true(exists(subdir));
    assert_true(exists(link));
    for (size_t i = 0; i < n_not; i++) assert_true(exists(not_ours[i]));
    assert_int_equal(ckpt_remove_stale_temps(dir, err, sizeof err), 0); /* nothing left */

    rmdir(tpath(subdir));
    unlink(tpath(link));
    unlink(tpath(live));
    for (size_t i = 0; i < n_not; i++) unlink(tpath(not_ours[i]));

    /* An unreadable directory is an error naming it. */
    const char *missing = tpath("no-such-dir");
    assert_int_equal(ckpt_remove_stale_temps(missing, err, sizeof err), -1);
    assert_has(err, missing);
    assert_has(err, strerror(ENOENT));
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s/test_ckpt_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    DIR *d = opendir(dir);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        unlink(tpath(e->d_name));
    }
    closedir(d);
    rmdir(dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_standard),
        cmocka_unit_test(test_put_get_replace),
        cmocka_unit_test(test_roundtrip_bit_identical),
        cmocka_unit_test(test_model_roundtrip),
        cmocka_unit_test(test_get_model_errors),
        cmocka_unit_test(test_scalar_roundtrip),
        cmocka_unit_test(test_head_refusals),
        cmocka_unit_test(test_head_errors),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_wrong_version),
        cmocka_unit_test(test_forged_structure),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_crash_mid_write),
        cmocka_unit_test(test_remove_stale_temps),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
