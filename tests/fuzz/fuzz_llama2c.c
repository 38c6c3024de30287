/* fuzz_llama2c.c: llama2c_parse, the llama2.c model files (legacy header,
 * "ak42" version 1 float32 and version 2 Q8_0).
 *
 * Properties: a reject names the file; an accepted file describes a valid
 * config whose tensors fit in the bytes (so every weight came from the
 * input: 4 bytes a weight in the legacy and v1 files, at least 1 in Q8_0,
 * whose int8 weights take one byte each and a float scale per group), and a legacy or v1 model written back by llama2c_write
 * reads back to the same parameters bit for bit. */
#include "fuzz_common.h"
#include "model_formats.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Model m;
    int ver = -1;
    char err[600] = "";
    if (llama2c_parse(data, size, "fuzz.bin", &m, &ver, err, sizeof err) != 0) {
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err));
        FUZZ_REQUIRE(strstr(err, "fuzz.bin") != NULL);
        return 0;
    }
    FUZZ_REQUIRE(model_config_check(&m.cfg) == NULL);
    FUZZ_REQUIRE(ver >= 0 && ver <= 2);
    FUZZ_REQUIRE(m.n_params * (ver == 2 ? 1 : 4) <= size);
    if (ver != 2) {
        const char *p = fuzz_scratch_path(".bin");
        if (llama2c_write(&m, ver, p, err, sizeof err) == 0) { /* rope/eps are llama2.c's */
            Model back;
            FUZZ_REQUIRE(llama2c_read(p, &back, NULL, err, sizeof err) == 0);
            FUZZ_REQUIRE(back.n_params == m.n_params &&
                         memcmp(back.params, m.params, 4 * m.n_params) == 0);
            model_free(&back);
        }
    }
    model_free(&m);
    return 0;
}
