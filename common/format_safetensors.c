/* format_safetensors.c: the safetensors reader and writer
 * (format_safetensors.h). The header is checked completely at parse time so
 * that reading a tensor later cannot go outside the file. */
#include "format_safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "util.h"

static const struct {
    const char *name;
    int size;
} dtypes[] = {
    [ST_F32] = {"F32", 4},  [ST_F16] = {"F16", 2},   [ST_BF16] = {"BF16", 2},
    [ST_F64] = {"F64", 8},  [ST_I64] = {"I64", 8},   [ST_I32] = {"I32", 4},
    [ST_I16] = {"I16", 2},  [ST_I8] = {"I8", 1},     [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1}, [ST_U16] = {"U16", 2},  [ST_U32] = {"U32", 4},
    [ST_U64] = {"U64", 8},  [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};
enum { N_DTYPES = sizeof dtypes / sizeof dtypes[0] };

const char *st_dtype_name(StDtype d) { return (unsigned)d < N_DTYPES ? dtypes[d].name : "?"; }

static uint64_t get_u64le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void free_tensors(StFile *f) {
    for (int i = 0; i < f->n; i++) xfree(f->t[i].name);
    xfree(f->t);
    f->t = NULL;
    f->n = 0;
}

/* One header entry into t; 0, or -1 with err naming the tensor. */
static int parse_entry(const StFile *f, const char *key, json_t *v, StTensor *t, char *err,
                       size_t errlen) {
    const char *nm = f->name;
    if (!json_is_object(v)) {
        set_err(err, errlen, "%s: tensor '%s': header entry is not an object", nm, key);
        return -1;
    }
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(off)) {
        set_err(err, errlen, "%s: tensor '%s': needs \"dtype\" (string), \"shape\" and "
                "\"data_offsets\" (lists)", nm, key);
        return -1;
    }
    int d = -1;
    for (int i = 0; i < N_DTYPES; i++)
        if (!strcmp(json_string_value(dt), dtypes[i].name)) d = i;
    if (d < 0) {
        set_err(err, errlen, "%s: tensor '%s': unknown dtype '%.40s'", nm, key,
                json_string_value(dt));
        return -1;
    }
    t->dtype = (StDtype)d;
    size_t nd = json_array_size(sh);
    if (nd > ST_MAX_DIMS) {
        set_err(err, errlen, "%s: tensor '%s': %zu dimensions (at most %d)", nm, key, nd,
                ST_MAX_DIMS);
        return -1;
    }
    t->ndim = (int)nd;
    uint64_t count = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *e = json_array_get(sh, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0) {
            set_err(err, errlen, "%s: tensor '%s': shape entry %zu is not a non-negative "
                    "integer", nm, key, i);
            return -1;
        }
        t->shape[i] = json_integer_value(e);
        if (__builtin_mul_overflow(count, (uint64_t)t->shape[i], &count)) {
            set_err(err, errlen, "%s: tensor '%s': shape overflows", nm, key);
            return -1;
        }
    }
    uint64_t bytes;
    if (__builtin_mul_overflow(count, (uint64_t)dtypes[d].size, &bytes)) {
        set_err(err, errlen, "%s: tensor '%s': shape overflows", nm, key);
        return -1;
    }
    json_t *b = json_array_get(off, 0), *e = json_array_get(off, 1);
    if (json_array_size(off) != 2 || !json_is_integer(b) || !json_is_integer(e) ||
        json_integer_value(b) < 0 || json_integer_value(e) < json_integer_value(b)) {
        set_err(err, errlen, "%s: tensor '%s': data_offsets must be [begin, end] with "
                "0 <= begin <= end", nm, key);
        return -1;
    }
    t->begin = (uint64_t)json_integer_value(b);
    t->end = (uint64_t)json_integer_value(e);
    if (t->end > f->data_len) {
        set_err(err, errlen, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of "
                "the data area (%llu bytes)", nm, key, (unsigned long long)t->begin,
                (unsigned long long)t->end, (unsigned long long)f->data_len);
        return -1;
    }
    if (t->end - t->begin != bytes) {
        set_err(err, errlen, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but "
                "%s of shape with %llu elements needs %llu", nm, key,
                (unsigned long long)t->begin, (unsigned long long)t->end,
                (unsigned long long)(t->end - t->begin), dtypes[d].name,
                (unsigned long long)count, (unsigned long long)bytes);
        return -1;
    }
    t->name = xmalloc(strlen(key) + 1);
    memcpy(t->name, key, strlen(key) + 1);
    return 0;
}

static int by_begin(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    return x->begin < y->begin   ? -1
           : x->begin > y->begin ? 1
                                 : (x->end > y->end) - (x->end < y->end);
}

int st_parse(const uint8_t *buf, size_t len, const char *name, StFile *f, char *err,
             size_t errlen) {
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    if (len < 8) {
        set_err(err, errlen, "%s: %zu bytes, too short for the 8-byte safetensors header length",
                name, len);
        return -1;
    }
    uint64_t hlen = get_u64le(buf);
    if (hlen > len - 8) {
        set_err(err, errlen, "%s: header length %llu runs past the end of the file (%zu bytes)",
                name, (unsigned long long)hlen, len);
        return -1;
    }
    if (hlen > ST_MAX_HEADER) {
        set_err(err, errlen, "%s: header length %llu is over the %d-byte limit", name,
                (unsigned long long)hlen, ST_MAX_HEADER);
        return -1;
    }
    f->data = buf + 8 + hlen;
    f->data_len = len - 8 - hlen;
    json_error_t je;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        set_err(err, errlen, "%s: header is not valid JSON: %s (at byte %d of the header)", name,
                je.text, je.position);
        return -1;
    }
    int rc = -1;
    StTensor **order = NULL;
    if (!json_is_object(root)) {
        set_err(err, errlen, "%s: header is not a JSON object", name);
        goto out;
    }
    f->t = xcalloc(json_object_size(root) + 1, sizeof *f->t);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(v)) {
                set_err(err, errlen, "%s: __metadata__ is not an object", name);
                goto out;
            }
            continue;
        }
        if (parse_entry(f, key, v, &f->t[f->n], err, errlen) != 0) goto out;
        f->n++;
    }
    /* Overlapping ranges would let one tensor's bytes stand for another's. */
    order = xcalloc((size_t)f->n + 1, sizeof *order);
    for (int i = 0; i < f->n; i++) order[i] = &f->t[i];
    qsort(order, (size_t)f->n, sizeof *order, by_begin);
    for (int i = 1; i < f->n; i++)
        if (order[i]->begin < order[i - 1]->end && order[i]->end > order[i]->begin) {
            set_err(err, errlen, "%s: tensors '%s' and '%s' overlap (data_offsets [%llu, %llu] "
                    "and [%llu, %llu])", name, order[i - 1]->name, order[i]->name,
                    (unsigned long long)order[i - 1]->begin, (unsigned long long)order[i - 1]->end,
                    (unsigned long long)order[i]->begin, (unsigned long long)order[i]->end);
            goto out;
        }
    rc = 0;
out:
    xfree(order);
    json_decref(root);
    if (rc != 0) free_tensors(f);
    return rc;
}

int st_open(const char *path, StFile *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    void *map;
    size_t len;
    if (file_map(path, &map, &len, err, errlen) != 0) return -1;
    static const uint8_t none[1];
    if (st_parse(map ? map : none, len, path, f, err, errlen) != 0) {
        file_unmap(map, len);
        return -1;
    }
    f->map = map;
    f->map_len = len;
    return 0;
}

void st_close(StFile *f) {
    free_tensors(f);
    file_unmap(f->map, f->map_len);
    memset(f, 0, sizeof *f);
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0x1f) {
        bits = sign | 0x7f800000u | (m << 13); /* inf, nan (payload kept) */
    } else if (e != 0) {
        bits = sign | ((e + 112) << 23) | (m << 13);
    } else if (m == 0) {
        bits = sign;
    } else { /* subnormal: normalise the mantissa */
        int s = 0;
        while (!(m & 0x400)) {
            m <<= 1;
            s++;
        }
        bits = sign | ((uint32_t)(113 - s) << 23) | ((m & 0x3ff) << 13);
    }
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

float st_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

static int convert(const StTensor *t, const uint8_t *p, float *out, size_t n);

int st_read_f32(const StFile *f, const StTensor *t, float *out, size_t n, char *err,
                size_t errlen) {
    size_t have = (size_t)((t->end - t->begin) / (uint64_t)dtypes[t->dtype].size);
    if (have != n) {
        set_err(err, errlen, "%s: tensor '%s' has %zu elements, expected %zu", f->name, t->name,
                have, n);
        return -1;
    }
    const uint8_t *p = f->data + t->begin;
    int rc = convert(t, p, out, n);
    if (rc != 0) {
        set_err(err, errlen, "%s: tensor '%s' is %s; only F32, F16 and BF16 convert to float32",
                f->name, t->name, dtypes[t->dtype].name);
        return -1;
    }
    /* A file mapping's converted pages are dropped (they reload if read
     * again), so loading peaks at the model plus one tensor. */
    if (f->map) {
        const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t a = ((uintptr_t)p + pg - 1) / pg * pg,
                  b = ((uintptr_t)p + (t->end - t->begin)) / pg * pg;
        if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
    }
    return 0;
}

static int convert(const StTensor *t, const uint8_t *p, float *out, size_t n) {
    switch (t->dtype) {
    case ST_F32:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                         (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            memcpy(&out[i], &u, 4);
        }
        return 0;
    case ST_F16:
        for (size_t i = 0; i < n; i++)
            out[i] = st_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return 0;
    case ST_BF16:
        for (size_t i = 0; i < n; i++)
            out[i] = st_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return 0;
    default:
        return -1;
    }
}

int st_write(const char *path, const StWriteTensor *t, int n, const char *metadata_format,
             char *err, size_t errlen) {
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1) {
        set_err(err, errlen, "%s: writing safetensors needs a little-endian host", path);
        return -1;
    }
    json_t *root = json_object();
    if (metadata_format)
        json_object_set_new(root, "__metadata__", json_pack("{ss}", "format", metadata_format));
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        CHECK(t[i].dtype == ST_F32 || t[i].dtype == ST_F16 || t[i].dtype == ST_BF16);
        uint64_t bytes = (uint64_t)dtypes[t[i].dtype].size;
        json_t *shape = json_array();
        for (int d = 0; d < t[i].ndim; d++) {
            json_array_append_new(shape, json_integer(t[i].shape[d]));
            bytes *= (uint64_t)t[i].shape[d];
        }
        json_object_set_new(root, t[i].name,
                            json_pack("{ss so s[II]}", "dtype", dtypes[t[i].dtype].name, "shape",
                                      shape, "data_offsets", (json_int_t)off,
                                      (json_int_t)(off + bytes)));
        off += bytes;
    }
    char *hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    CHECK(hdr != NULL);
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    uint8_t *head = xmalloc(8 + padded);
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(head + 8, hdr, hl);
    memset(head + 8 + hl, ' ', padded - hl); /* trailing blanks are valid JSON */
    free(hdr);
    AtomicStream st;
    int rc = atomic_stream_open(&st, path, err, errlen);
    if (rc == 0) rc = atomic_stream_write(&st, head, 8 + padded, err, errlen);
    xfree(head);
    /* the tensors straight from the caller's memory: no second copy */
    for (int i = 0; i < n && rc == 0; i++) {
        size_t bytes = (size_t)dtypes[t[i].dtype].size;
        for (int d = 0; d < t[i].ndim; d++) bytes *= (size_t)t[i].shape[d];
        rc = atomic_stream_write(&st, t[i].data, bytes, err, errlen);
    }
    return rc == 0 ? atomic_stream_commit(&st, err, errlen) : -1;
}
