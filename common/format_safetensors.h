/* format_safetensors.h: the safetensors container (Hugging Face), read and
 * written.
 *
 * Byte layout: u64 little-endian N, then N bytes of a JSON object
 *   {"NAME": {"dtype": "F32", "shape": [r, c], "data_offsets": [b, e]}, ...,
 *    "__metadata__": {"key": "value"}}   (optional)
 * then the data area; each tensor's bytes are [8 + N + b, 8 + N + e),
 * little-endian, row-major.
 *
 * Every header is validated when parsed, before any tensor is read: the
 * header length lies inside the file, the JSON is an object without
 * duplicate keys, each dtype is known, each shape is a list of
 * non-negative integers whose product times the dtype size (no overflow) is
 * exactly e - b, every range lies inside the data area and no two ranges
 * overlap. Every message names the file and, where one is at fault, the
 * tensor. */
#ifndef COMMON_FORMAT_SAFETENSORS_H
#define COMMON_FORMAT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

enum { ST_MAX_DIMS = 8, ST_MAX_HEADER = 100 * 1000 * 1000 };

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL,
               ST_U16, ST_U32, ST_U64, ST_F8_E4M3, ST_F8_E5M2 } StDtype;

typedef struct {
    char *name;               /* owned */
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;      /* offsets into the data area */
} StTensor;

/* A parsed file: the tensor table plus a view of the bytes (not owned
 * unless map_len != 0, when st_close unmaps them). */
typedef struct {
    char name[512];           /* the file, for messages */
    int n;
    StTensor *t;
    const uint8_t *data;      /* the data area */
    uint64_t data_len;
    void *map;
    size_t map_len;
} StFile;

/* Parses len bytes of a whole file (buf stays the caller's and must outlive
 * f). 0, or -1 with err; f then needs no st_close. */
int st_parse(const uint8_t *buf, size_t len, const char *name, StFile *f, char *err,
             size_t errlen);
/* mmaps path and st_parse's it. 0, or -1 with err. */
int st_open(const char *path, StFile *f, char *err, size_t errlen);
void st_close(StFile *f);

/* The tensor called name, or NULL. */
const StTensor *st_find(const StFile *f, const char *name);
/* "F32", "BF16", ... */
const char *st_dtype_name(StDtype d);

/* Converts tensor t of f to n float32s (F32, F16, BF16; n must equal its
 * element count). 0, or -1 with err naming the file and tensor. */
int st_read_f32(const StFile *f, const StTensor *t, float *out, size_t n, char *err,
                size_t errlen);

/* One tensor to write: raw little-endian bytes of dtype (F32, F16, BF16). */
typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
} StWriteTensor;

/* Writes a safetensors file atomically (temp file, fsync, rename): the
 * header in the given tensor order, padded with blanks to a multiple of 8
 * so the data area is aligned, then the data. metadata_format, if not
 * NULL, becomes __metadata__ {"format": ...}. 0, or -1 with err. */
int st_write(const char *path, const StWriteTensor *t, int n, const char *metadata_format,
             char *err, size_t errlen);

/* IEEE binary16 / bfloat16 bit patterns to float (exact). */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t b);

#endif
