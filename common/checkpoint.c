#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

enum { HEADER_BYTES = 32, SECTION_HEADER_BYTES = 16, CONF_BYTES = 40, HEAD_BYTES = 8 };
static const char MAGIC[8] = {'G', 'R', 'P', 'O', 'C', 'K', 'P', 'T'};
/* ckpt_write's temp file is "<path>" TMP_INFIX "<pid>"; the stale-file
 * sweep parses the same spelling. */
#define TMP_INFIX ".tmp."

/* ---- little-endian codecs: byte by byte, so they hold on any host ---- */

static void put_u32(uint8_t *b, uint32_t x) {
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(x >> (8 * i));
}
static void put_u64(uint8_t *b, uint64_t x) {
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(x >> (8 * i));
}
static uint32_t get_u32(const uint8_t *b) {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) x |= (uint32_t)b[i] << (8 * i);
    return x;
}
static uint64_t get_u64(const uint8_t *b) {
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x |= (uint64_t)b[i] << (8 * i);
    return x;
}
static void put_f32(uint8_t *b, float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    put_u32(b, x);
}
static float get_f32(const uint8_t *b) {
    uint32_t x = get_u32(b);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static int host_is_le(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint64_t pad8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

/* ---- generic sections ---- */

/* c holds no sections and owns nothing. */
void ckpt_init(Checkpoint *c) { memset(c, 0, sizeof *c); }

/* Frees every section's data; c is left empty and reusable. */
void ckpt_free(Checkpoint *c) {
    for (int i = 0; i < c->n_sections; i++) xfree(c->sec[i].data);
    ckpt_init(c);
}

/* c owns a private copy of data; a section with the same tag is replaced. */
void ckpt_put(Checkpoint *c, const char *tag, const void *data, size_t len) {
    /* The reader rejects anything else, so refuse it here, at the source. */
    if (strlen(tag) != 4) die("checkpoint section tag '%s' is not 4 characters", tag);
    for (int i = 0; i < 4; i++)
        if (tag[i] < 0x20 || tag[i] > 0x7e) die("checkpoint section tag has a non-printable byte");
    CkptSection *s = NULL;
    for (int i = 0; i < c->n_sections; i++)
        if (memcmp(c->sec[i].tag, tag, 4) == 0) s = &c->sec[i];
    if (s) {
        xfree(s->data);
    } else {
        if (c->n_sections >= CKPT_MAX_SECTIONS)
            die("checkpoint already has %d sections (CKPT_MAX_SECTIONS)", CKPT_MAX_SECTIONS);
        s = &c->sec[c->n_sections++];
        memcpy(s->tag, tag, 5);
    }
    s->data = xmalloc(len);
    if (len) memcpy(s->data, data, len);
    s->len = len;
}

/* Returns a pointer into c (valid until c changes), or NULL. */
const CkptSection *ckpt_get(const Checkpoint *c, const char *tag) {
    for (int i = 0; i < c->n_sections; i++)
        if (strncmp(c->sec[i].tag, tag, 5) == 0) return &c->sec[i];
    return NULL;
}

/* ---- writing ---- */

/* Destination of one ckpt_write: counts bytes so the crash hook can stop
 * at an exact offset. */
typedef struct {
    int fd;
    uint64_t written;
    uint64_t crash_after; /* UINT64_MAX: no crash */
} Sink;

/* Writes all n bytes (retrying short writes and EINTR); returns 0 or -1
 * with errno set. With GRPO_CKPT_CRASH_AFTER_BYTES the process dies
 * (_exit(9), no cleanup, like kill -9) once that many bytes are in the file. */
static int sink_write(Sink *s, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n > 0) {
        size_t chunk = n;
        int crash = 0;
        if (s->crash_after - s->written <= chunk) {
            chunk = (size_t)(s->crash_after - s->written);
            crash = 1;
        }
        while (chunk > 0) {
            ssize_t w = write(s->fd, p, chunk);
            if (w < 0) {
                if (errno == EINTR) continue;
                return -1;
            }
            p += w;
            n -= (size_t)w;
            chunk -= (size_t)w;
            s->written += (uint64_t)w;
        }
        if (crash) _exit(9);
    }
    return 0;
}

/* Parses GRPO_CKPT_CRASH_AFTER_BYTES; UINT64_MAX when unset or malformed. */
static uint64_t crash_after_bytes(void) {
    const char *e = getenv("GRPO_CKPT_CRASH_AFTER_BYTES");
    if (!e || !*e) return UINT64_MAX;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(e, &end, 10);
    if (errno || *end) return UINT64_MAX;
    return (uint64_t)v;
}

/* fsyncs the directory holding path, so the rename itself is durable.
 * Returns 0 or -1 with errno set. */
static int fsync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    /* Some file systems cannot fsync a directory (EINVAL); the rename is
     * then as durable as that file system makes it. */
    if (rc < 0 && errno == EINVAL) rc = 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Writes c to path atomically; c is only read. */
int ckpt_write(const Checkpoint *c, const char *path, char *err, size_t errlen) {
    static const uint8_t zeros[8] = {0};
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s" TMP_INFIX "%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        set_err(err, errlen, "%s: cannot write checkpoint: path too long", path);
        return -1;
    }

    /* The header holds the payload CRC, so compute it first without
     * building the payload in memory (PARM and ADAM can be large). */
    uint64_t payload = 0;
    uint32_t crc = 0;
    for (int i = 0; i < c->n_sections; i++) {
        const CkptSection *s = &c->sec[i];
        uint8_t sh[SECTION_HEADER_BYTES];
        memcpy(sh, s->tag, 4);
        put_u32(sh + 4, 0);
        put_u64(sh + 8, (uint64_t)s->len);
        crc = crc32_update(crc, sh, sizeof sh);
        crc = crc32_update(crc, s->data, s->len);
        crc = crc32_update(crc, zeros, (size_t)(pad8(s->len) - s->len));
        payload += SECTION_HEADER_BYTES + pad8(s->len);
    }
    uint8_t h[HEADER_BYTES];
    memcpy(h, MAGIC, 8);
    put_u32(h + 8, CKPT_VERSION);
    put_u32(h + 12, (uint32_t)c->n_sections);
    put_u64(h + 16, payload);
    put_u32(h + 24, crc);
    put_u32(h + 28, crc32_update(0, h, 28));

    const char *step = "open";
    Sink sink = {.fd = -1, .written = 0, .crash_after = crash_after_bytes()};
    sink.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (sink.fd < 0) goto fail;
    step = "write";
    if (sink_write(&sink, h, sizeof h)) goto fail;
    for (int i = 0; i < c->n_sections; i++) {
        const CkptSection *s = &c->sec[i];
        uint8_t sh[SECTION_HEADER_BYTES];
        memcpy(sh, s->tag, 4);
        put_u32(sh + 4, 0);
        put_u64(sh + 8, (uint64_t)s->len);
        if (sink_write(&sink, sh, sizeof sh) || sink_write(&sink, s->data, s->len) ||
            sink_write(&sink, zeros, (size_t)(pad8(s->len) - s->len)))
            goto fail;
    }
    step = "fsync";
    if (fsync(sink.fd)) goto fail;
    step = "close";
    int rc = close(sink.fd);
    sink.fd = -1;
    if (rc) goto fail;
    step = "rename";
    if (rename(tmp, path)) goto fail;
    if (fsync_parent_dir(path)) {
        /* The new file is in place; only its durability is in doubt. */
        set_err(err, errlen, "%s: fsync of the directory failed after rename: %s", path,
                strerror(errno));
        return -1;
    }
    return 0;

fail:;
    int e = errno;
    if (sink.fd >= 0) close(sink.fd);
    unlink(tmp);
    set_err(err, errlen, "%s: cannot write checkpoint: %s of %s failed: %s", path, step, tmp,
            strerror(e));
    return -1;
}

/* The writer's pid if name is one of ckpt_write's temp files for a
 * "*.ckpt" path ("<name>.ckpt.tmp.<pid>"), else 0. Only *.ckpt temps: run
 * dirs hold nothing else of ours, and a user's "notes.tmp.2" is not ours. */
static long temp_file_pid(const char *name) {
    static const char marker[] = ".ckpt" TMP_INFIX;
    const char *digits = NULL;
    for (const char *p = name; (p = strstr(p, marker)); p++) digits = p + strlen(marker);
    if (!digits || !*digits) return 0;
    long pid = 0;
    for (const char *q = digits; *q; q++) {
        if (*q < '0' || *q > '9') return 0;
        pid = pid * 10 + (*q - '0');
        if (pid > INT_MAX) return 0; /* no pid_t: not a name ckpt_write makes */
    }
    return pid;
}

/* The caller's own pid counts as dead: it writes nothing before this runs,
 * and a requeued job may well get its predecessor's pid. */
int ckpt_remove_stale_temps(const char *dir, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (!d) {
        set_err(err, errlen, "%s: cannot look for stale checkpoint temp files: %s", dir,
                strerror(errno));
        return -1;
    }
    const long self = (long)getpid();
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        long pid = temp_file_pid(e->d_name);
        struct stat st;
        if (pid <= 0 || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (pid != self && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
            printf("%s/%s: kept: its writer, process %ld, is running\n", dir, e->d_name, pid);
            continue;
        }
        if (unlinkat(dirfd(d), e->d_name, 0) != 0) {
            fprintf(stderr, "warning: %s/%s: cannot remove this stale checkpoint temp file: %s\n",
                    dir, e->d_name, strerror(errno));
            continue;
        }
        printf("removed %s/%s (%lld bytes): a checkpoint write that process %ld never finished\n",
               dir, e->d_name, (long long)st.st_size, pid);
        removed++;
    }
    closedir(d);
    return removed;
}

/* ---- reading ---- */

/* Fills c from the len bytes at buf after verifying the header and the
 * payload CRC; c owns copies of every section (buf is only read and may be
 * freed afterwards). name stands for the source in every message. On
 * failure c is empty and err says why. */
int ckpt_parse(Checkpoint *c, const uint8_t *buf, size_t len, const char *name, char *err,
               size_t errlen) {
    ckpt_init(c);
    const char *path = name;
    const uint64_t fsize = (uint64_t)len;
    if (fsize < HEADER_BYTES) {
        set_err(err, errlen, "%s: truncated: %llu bytes, header needs %d", path,
                (unsigned long long)fsize, HEADER_BYTES);
        return -1;
    }
    const uint8_t *h = buf;
    if (memcmp(h, MAGIC, 8) != 0) {
        set_err(err, errlen, "%s: not a checkpoint (bad magic; expected \"GRPOCKPT\")", path);
        return -1;
    }
    uint32_t version = get_u32(h + 8);
    int header_ok = get_u32(h + 28) == crc32_update(0, h, 28);
    if (version != CKPT_VERSION) {
        /* A newer format may lay its header out differently, so the CRC can
         * only hint that the version field itself is damaged. */
        set_err(err, errlen, "%s: checkpoint format version %u, this build reads %d%s", path,
                version, CKPT_VERSION,
                header_ok ? "" : " (the header checksum also fails: the file may be corrupt)");
        return -1;
    }
    if (!header_ok) {
        set_err(err, errlen, "%s: header checksum mismatch: file is corrupt", path);
        return -1;
    }
    uint32_t n_sections = get_u32(h + 12);
    uint64_t payload = get_u64(h + 16);
    uint32_t want_crc = get_u32(h + 24);
    uint64_t have = fsize - HEADER_BYTES;
    if (payload != have) {
        if (payload > have)
            set_err(err, errlen, "%s: truncated: expected %llu payload bytes, file has %llu", path,
                    (unsigned long long)payload, (unsigned long long)have);
        else
            set_err(err, errlen, "%s: expected %llu payload bytes, file has %llu (trailing data)",
                    path, (unsigned long long)payload, (unsigned long long)have);
        return -1;
    }
    if (n_sections > CKPT_MAX_SECTIONS) {
        set_err(err, errlen, "%s: %u sections, this build holds at most %d", path, n_sections,
                CKPT_MAX_SECTIONS);
        return -1;
    }

    /* The payload CRC first, so a damaged file is reported as corrupt
     * before any length inside it is trusted. */
    const uint8_t *p = buf + HEADER_BYTES;
    if (crc32_update(0, p, (size_t)payload) != want_crc) {
        set_err(err, errlen, "%s: checksum mismatch: file is corrupt", path);
        return -1;
    }

    /* Sections, each copied into its own buffer. */
    uint64_t left = payload;
    for (uint32_t i = 0; i < n_sections; i++) {
        if (left < SECTION_HEADER_BYTES) {
            set_err(err, errlen, "%s: section %u header overruns the payload (%llu bytes left)",
                    path, i, (unsigned long long)left);
            goto fail;
        }
        const uint8_t *sh = p;
        p += SECTION_HEADER_BYTES;
        left -= SECTION_HEADER_BYTES;
        char tag[5] = {0};
        memcpy(tag, sh, 4);
        for (int k = 0; k < 4; k++)
            if (sh[k] < 0x20 || sh[k] > 0x7e) {
                set_err(err, errlen, "%s: section %u has a malformed tag", path, i);
                goto fail;
            }
        uint64_t slen = get_u64(sh + 8);
        if (slen > left || pad8(slen) > left) {
            set_err(err, errlen,
                    "%s: section %u (%s) of %llu bytes overruns the payload (%llu bytes left)",
                    path, i, tag, (unsigned long long)slen, (unsigned long long)left);
            goto fail;
        }
        if (ckpt_get(c, tag)) {
            set_err(err, errlen, "%s: section %s appears twice", path, tag);
            goto fail;
        }
        CkptSection *s = &c->sec[c->n_sections++];
        memcpy(s->tag, tag, 5);
        s->len = (size_t)slen;
        s->data = xmalloc(s->len);
        if (s->len) memcpy(s->data, p, s->len);
        p += pad8(slen);
        left -= pad8(slen);
    }
    if (left != 0) {
        set_err(err, errlen, "%s: %llu payload bytes after the last of %u sections", path,
                (unsigned long long)left, n_sections);
        goto fail;
    }
    return 0;

fail:
    ckpt_free(c);
    return -1;
}

/* Reads the whole file, then ckpt_parse; c owns everything it holds. On
 * failure c is empty and err says why. */
int ckpt_read(Checkpoint *c, const char *path, char *err, size_t errlen) {
    ckpt_init(c);
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open checkpoint: %s", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    int rc = -1;
    struct stat st;
    if (fstat(fileno(f), &st)) {
        set_err(err, errlen, "%s: cannot stat checkpoint: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    const uint64_t fsize = (uint64_t)st.st_size;
    if (fsize < HEADER_BYTES) {
        /* ckpt_parse words it the same way; no need to read the bytes. */
        rc = ckpt_parse(c, NULL, (size_t)fsize, path, err, errlen);
        goto out;
    }
    if (fsize > SIZE_MAX) {
        set_err(err, errlen, "%s: %llu bytes do not fit in memory", path,
                (unsigned long long)fsize);
        goto out;
    }
    buf = xmalloc((size_t)fsize);
    if (fread(buf, 1, (size_t)fsize, f) != (size_t)fsize) {
        /* fstat said the bytes were there: either an I/O error or the file
         * shrank while we read it. */
        set_err(err, errlen, "%s: read error: %s", path,
                ferror(f) ? strerror(errno) : "file shrank while reading (truncated)");
        goto out;
    }
    rc = ckpt_parse(c, buf, (size_t)fsize, path, err, errlen);
out:
    xfree(buf);
    fclose(f);
    return rc;
}

/* ---- typed helpers for the model ---- */

/* c gains copies of CONF, TOKN and PARM; m and tok are only read. */
void ckpt_put_adamw(Checkpoint *c, const AdamW *opt, size_t n) {
    uint8_t *adam = xmalloc(8 + 8 * n);
    put_u64(adam, (uint64_t)opt->t);
    memcpy(adam + 8, opt->m, 4 * n); /* little-endian hosts (checked at write) */
    memcpy(adam + 8 + 4 * n, opt->v, 4 * n);
    ckpt_put(c, "ADAM", adam, 8 + 8 * n);
    xfree(adam);
}

int ckpt_has_adamw(const Checkpoint *c, size_t n) {
    const CkptSection *s = ckpt_get(c, "ADAM");
    return s && s->len == 8 + 8 * n;
}

void ckpt_get_adamw(const Checkpoint *c, AdamW *opt, size_t n) {
    const CkptSection *s = ckpt_get(c, "ADAM");
    opt->t = (long)get_u64(s->data);
    memcpy(opt->m, s->data + 8, 4 * n);
    memcpy(opt->v, s->data + 8 + 4 * n, 4 * n);
}

/* Removes the section tag from c, if there is one. */
static void drop_section(Checkpoint *c, const char *tag) {
    for (int i = 0; i < c->n_sections; i++)
        if (strncmp(c->sec[i].tag, tag, 5) == 0) {
            xfree(c->sec[i].data);
            memmove(&c->sec[i], &c->sec[i + 1], sizeof c->sec[0] * (size_t)(c->n_sections - i - 1));
            c->n_sections--;
            return;
        }
}

void ckpt_put_model(Checkpoint *c, const Model *m, const Tokenizer *tok) {
    const ModelConfig *k = &m->cfg;
    uint8_t conf[CONF_BYTES];
    const int32_t ints[8] = {k->vocab_size, k->dim,        k->n_layers,  k->n_heads,
                             k->n_kv_heads, k->hidden_dim, k->max_seq_len, k->tied_embeddings};
    for (int i = 0; i < 8; i++) put_u32(conf + 4 * i, (uint32_t)ints[i]);
    put_f32(conf + 32, k->rope_theta);
    put_f32(conf + 36, k->norm_eps);
    ckpt_put(c, "CONF", conf, sizeof conf);
    if (k->head != MODEL_HEAD_LM) {
        uint8_t head[HEAD_BYTES];
        put_u32(head, (uint32_t)k->head);
        put_u32(head + 4, 0);
        ckpt_put(c, "HEAD", head, sizeof head);
    } else {
        drop_section(c, "HEAD"); /* an LM over a scalar model put in c before */
    }

    size_t tn = tokenizer_serialize(tok, NULL);
    uint8_t *tb = xmalloc(tn);
    size_t tw = tokenizer_serialize(tok, tb);
    CHECK(tw == tn);
    ckpt_put(c, "TOKN", tb, tn);
    xfree(tb);

    size_t pn = m->n_params * sizeof(float);
    if (host_is_le()) {
        ckpt_put(c, "PARM", m->params, pn); /* already the on-disk byte order */
    } else {
        uint8_t *pb = xmalloc(pn);
        for (size_t i = 0; i < m->n_params; i++) put_f32(pb + 4 * i, m->params[i]);
        ckpt_put(c, "PARM", pb, pn);
        xfree(pb);
    }
}

/* 1 if every tensor size of c, their sum and the sum's byte count fit in
 * size_t (c already passed model_config_check, so every field is >= 1). */
static int conf_params_fit(const ModelConfig *c) {
    const size_t V = (size_t)c->vocab_size, D = (size_t)c->dim, L = (size_t)c->n_layers,
                 HF = (size_t)c->hidden_dim;
    const size_t KVD = (size_t)c->n_kv_heads * (D / (size_t)c->n_heads);
    /* wcls: a scalar head's D + 1 floats, or (V, D) unless tied */
    const int scalar = c->head == MODEL_HEAD_SCALAR;
    const size_t cls_a = scalar ? D + 1 : c->tied_embeddings ? 0 : V, cls_b = scalar ? 1 : D;
    /* model_tensor_sizes' products, in its order: (a * b) * c each */
    const size_t terms[MODEL_NUM_TENSORS][3] = {
        {V, D, 1}, {L, D, 1},  {L, D, D},  {L, KVD, D}, {L, KVD, D}, {L, D, D},
        {L, D, 1}, {L, HF, D}, {L, D, HF}, {L, HF, D},  {D, 1, 1},   {cls_a, cls_b, 1}};
    size_t total = 0, t;
    for (int i = 0; i < MODEL_NUM_TENSORS; i++)
        if (__builtin_mul_overflow(terms[i][0], terms[i][1], &t) ||
            __builtin_mul_overflow(t, terms[i][2], &t) || __builtin_add_overflow(total, t, &total))
            return 0;
    return total <= SIZE_MAX / sizeof(float);
}

/* On success m owns fresh parameters (free with model_free) and tok is
 * filled; on failure neither is touched beyond tok's scratch contents and
 * nothing needs freeing. */
int ckpt_get_model(const Checkpoint *c, const char *path, Model *m, Tokenizer *tok, char *err,
                   size_t errlen) {
    const CkptSection *conf = ckpt_get(c, "CONF");
    const CkptSection *tokn = ckpt_get(c, "TOKN");
    const CkptSection *parm = ckpt_get(c, "PARM");
    const char *missing = !conf ? "CONF" : !tokn ? "TOKN" : !parm ? "PARM" : NULL;
    if (missing) {
        set_err(err, errlen, "%s: no %s section (not a model checkpoint?)", path, missing);
        return -1;
    }
    if (conf->len != CONF_BYTES) {
        set_err(err, errlen, "%s: CONF section has %zu bytes, expected %d", path, conf->len,
                CONF_BYTES);
        return -1;
    }
    ModelConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    int *fields[8] = {&cfg.vocab_size, &cfg.dim,        &cfg.n_layers,    &cfg.n_heads,
                      &cfg.n_kv_heads, &cfg.hidden_dim, &cfg.max_seq_len, &cfg.tied_embeddings};
    for (int i = 0; i < 8; i++) *fields[i] = (int32_t)get_u32(conf->data + 4 * i);
    cfg.rope_theta = get_f32(conf->data + 32);
    cfg.norm_eps = get_f32(conf->data + 36);
    const CkptSection *head = ckpt_get(c, "HEAD");
    if (head) { /* absent: an LM, as every checkpoint before the scalar head */
        uint32_t kind = head->len == HEAD_BYTES ? get_u32(head->data) : 0;
        if (head->len != HEAD_BYTES || get_u32(head->data + 4) != 0 ||
            (kind != MODEL_HEAD_LM && kind != MODEL_HEAD_SCALAR)) {
            set_err(err, errlen,
                    "%s: HEAD section (%zu bytes) is not u32 kind (0 LM, 1 scalar), u32 0: "
                    "written by a newer build, or corrupt",
                    path, head->len);
            return -1;
        }
        cfg.head = (int)kind;
    }
    const char *why = model_config_check(&cfg);
    if (why) {
        set_err(err, errlen, "%s: CONF: invalid model config: %s", path, why);
        return -1;
    }
    char terr[256] = "";
    if (tokenizer_deserialize(tok, tokn->data, tokn->len, terr, sizeof terr)) {
        set_err(err, errlen, "%s: TOKN: %s", path, terr);
        return -1;
    }
    /* Token ids index the embedding; a larger vocabulary than the model's
     * would read past wte. */
    if (tok->vocab_size > cfg.vocab_size) {
        set_err(err, errlen, "%s: tokenizer has %d tokens but the model's vocab_size is %d",
                path, tok->vocab_size, cfg.vocab_size);
        tokenizer_free(tok);
        return -1;
    }
    /* model_tensor_sizes wraps silently: a CONF from disk could make the
     * count wrap to a small number that a short PARM matches, and the
     * tensor pointers would then run far past the buffer. */
    if (!conf_params_fit(&cfg)) {
        set_err(err, errlen,
                "%s: CONF: invalid model config: the shape (V %d, D %d, L %d, hidden %d) has "
                "more parameters than fit in memory",
                path, cfg.vocab_size, cfg.dim, cfg.n_layers, cfg.hidden_dim);
        tokenizer_free(tok);
        return -1;
    }
    size_t sizes[MODEL_NUM_TENSORS];
    size_t n_params = model_tensor_sizes(&cfg, sizes);
    if (parm->len / sizeof(float) != n_params || parm->len % sizeof(float) != 0) {
        set_err(err, errlen, "%s: PARM has %zu bytes, the config needs %zu (%zu params x 4)",
                path, parm->len, n_params * sizeof(float), n_params);
        tokenizer_free(tok);
        return -1;
    }
    model_init(m, &cfg);
    CHECK(m->n_params == n_params);
    if (host_is_le()) {
        memcpy(m->params, parm->data, parm->len);
    } else {
        for (size_t i = 0; i < n_params; i++) m->params[i] = get_f32(parm->data + 4 * i);
    }
    return 0;
}

int ckpt_check_head(const Model *m, int head, const char *path, char *err, size_t errlen) {
    if (m->cfg.head == head) return 0;
    if (m->cfg.head == MODEL_HEAD_SCALAR)
        set_err(err, errlen, "%s is a reward/value model (scalar head), not a policy", path);
    else
        set_err(err, errlen, "%s is a policy (LM head), not a reward/value model", path);
    return -1;
}

/* On success m and tok are filled (m owns its buffers); on failure
 * nothing is left to free. */
static int read_model_head(const char *path, int head, Model *m, Tokenizer *tok, char *err,
                           size_t errlen) {
    Checkpoint c;
    if (ckpt_read(&c, path, err, errlen) != 0) return -1;
    int rc = ckpt_get_model(&c, path, m, tok, err, errlen);
    ckpt_free(&c);
    if (rc == 0 && ckpt_check_head(m, head, path, err, errlen) != 0) {
        model_free(m);
        tokenizer_free(tok);
        rc = -1;
    }
    return rc;
}

int ckpt_read_model(const char *path, Model *m, Tokenizer *tok, char *err, size_t errlen) {
    return read_model_head(path, MODEL_HEAD_LM, m, tok, err, errlen);
}

int ckpt_read_scalar_model(const char *path, Model *m, Tokenizer *tok, char *err,
                           size_t errlen) {
    return read_model_head(path, MODEL_HEAD_SCALAR, m, tok, err, errlen);
}

static int read_model_with(const char *path, int head, const Tokenizer *tok, Model *m, char *err,
                           size_t errlen) {
    Tokenizer *own = xcalloc(1, sizeof *own);
    int rc = read_model_head(path, head, m, own, err, errlen);
    /* the model's head must be that wide too (a CONF/TOKN disagreement) */
    if (rc == 0 && (!tokenizer_same(own, tok) || m->cfg.vocab_size != tok->vocab_size)) {
        char theirs[96], ours[96];
        tokenizer_describe(own, theirs, sizeof theirs);
        tokenizer_describe(tok, ours, sizeof ours);
        set_err(err, errlen, "%s has a different tokenizer (%s, model vocab_size %d) "
                "from this run's (%s): its embedding rows would name other tokens",
                path, theirs, m->cfg.vocab_size, ours);
        model_free(m);
        rc = -1;
    }
    tokenizer_free(own);
    xfree(own);
    return rc;
}

int ckpt_read_model_with(const char *path, const Tokenizer *tok, Model *m, char *err,
                         size_t errlen) {
    return read_model_with(path, MODEL_HEAD_LM, tok, m, err, errlen);
}

int ckpt_read_scalar_model_with(const char *path, const Tokenizer *tok, Model *m, char *err,
                                size_t errlen) {
    return read_model_with(path, MODEL_HEAD_SCALAR, tok, m, err, errlen);
}

int ckpt_read_tokenizer(const char *path, Tokenizer *tok, char *err, size_t errlen) {
    Checkpoint c;
    if (ckpt_read(&c, path, err, errlen) != 0) return -1;
    const CkptSection *s = ckpt_get(&c, "TOKN");
    char terr[256] = "";
    int rc = -1;
    if (!s) set_err(err, errlen, "%s: no TOKN section (tokenizer)", path);
    else if (tokenizer_deserialize(tok, s->data, s->len, terr, sizeof terr) != 0)
        set_err(err, errlen, "%s: TOKN: %s", path, terr);
    else rc = 0;
    ckpt_free(&c);
    return rc;
}

void ckpt_load_model_or_die(const char *path, Model *m, Tokenizer *tok) {
    char err[512];
    if (ckpt_read_model(path, m, tok, err, sizeof err) != 0)
        die("%s\n  (check the path, or write a fresh checkpoint with 'grpo sft')", err);
}
