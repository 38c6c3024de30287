/* fuzz_safetensors.c: the Hugging Face readers: st_parse (the safetensors
 * header and every tensor it admits, converted to float32) and
 * hf_config_parse (config.json), each on the same input bytes.
 *
 * Properties: a reject names the file and leaves no tensor table; an
 * accepted header's tensors each lie inside the data area with exactly
 * prod(shape) * dtype-size bytes, no two overlap, and every F32/F16/BF16
 * tensor converts; an accepted config passes model_config_check. */
#include "format_safetensors.h"
#include "fuzz_common.h"
#include "model_formats.h"

static const uint64_t sizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1, 2, 4, 8, 1, 1};

static void safetensors_case(const uint8_t *buf, size_t len) {
    StFile f;
    char err[600] = "";
    if (st_parse(buf, len, "fuzz.safetensors", &f, err, sizeof err) != 0) {
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err));
        FUZZ_REQUIRE(strstr(err, "fuzz.safetensors") != NULL);
        FUZZ_REQUIRE(f.t == NULL && f.n == 0);
        return;
    }
    for (int i = 0; i < f.n; i++) {
        const StTensor *t = &f.t[i];
        FUZZ_REQUIRE(t->begin <= t->end && t->end <= f.data_len);
        FUZZ_REQUIRE(f.data + f.data_len == buf + len);
        uint64_t count = 1;
        for (int d = 0; d < t->ndim; d++) count *= (uint64_t)t->shape[d];
        FUZZ_REQUIRE(count * sizes[t->dtype] == t->end - t->begin);
        for (int j = 0; j < i; j++) {
            const StTensor *u = &f.t[j];
            FUZZ_REQUIRE(t->begin == t->end || u->begin == u->end || t->end <= u->begin ||
                         u->end <= t->begin);
        }
        FUZZ_REQUIRE(st_find(&f, t->name) != NULL);
        if ((t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16) && count <= 4096) {
            float out[4096];
            FUZZ_REQUIRE(st_read_f32(&f, t, out, (size_t)count, err, sizeof err) == 0);
        }
    }
    st_close(&f);
}

static void config_case(const uint8_t *buf, size_t len) {
    ModelConfig c;
    HfExtra x;
    char err[600] = "";
    if (hf_config_parse((const char *)buf, len, "fuzz/config.json", &c, &x, err, sizeof err) != 0) {
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err));
        FUZZ_REQUIRE(strstr(err, "fuzz/config.json") != NULL);
        return;
    }
    FUZZ_REQUIRE(model_config_check(&c) == NULL);
    FUZZ_REQUIRE(x.bos_token_id >= -1 && x.eos_token_id >= -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    safetensors_case(data, size);
    config_case(data, size);
    return 0;
}
