/* fuzz_config.c: the config parsers: config_load_file (INI via inih), then
 * config_set (command-line overrides), then config_validate.
 *
 * Input: the INI file text, then optionally a NUL byte and up to 8
 * NUL-separated override strings ("section.key=value"). The text goes to a
 * scratch file under /tmp. Properties: every failure names what is wrong;
 * a config that loads and validates is dumped (config_to_string) and the
 * dump loads back to a config config_diff finds identical (the dump is
 * documented as loadable by config_load_file). */
#include "config.h"
#include "sections.h"
#include "fuzz_common.h"

enum { MAX_OVERRIDES = 8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    const size_t ini_len = nul ? (size_t)(nul - data) : size;
    const char *path = fuzz_write_scratch(".ini", data, ini_len);

    Config *c = grpo_config_new();
    char err[2048] = "";
    if (config_load_file(c, path, err, sizeof err) != 0) {
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err) && strstr(err, path) != NULL);
        config_free(c);
        return 0;
    }
    /* overrides: NUL-separated strings after the file */
    if (nul) {
        char *rest = malloc(size - ini_len); /* the tail without the first NUL, plus a NUL */
        if (!rest) abort();
        memcpy(rest, nul + 1, size - ini_len - 1);
        rest[size - ini_len - 1] = '\0';
        const char *p = rest, *end = rest + (size - ini_len - 1);
        for (int k = 0; k < MAX_OVERRIDES && p <= end; k++) {
            err[0] = '\0';
            if (config_set(c, p, err, sizeof err) != 0) {
                FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err) && strncmp(err, "override '", 10) == 0);
                free(rest);
                config_free(c);
                return 0;
            }
            p += strlen(p) + 1;
        }
        free(rest);
    }
    err[0] = '\0';
    if (config_validate(c, err, sizeof err) != 0) {
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err));
        config_free(c);
        return 0;
    }
    /* the effective-config dump loads back to the same config */
    char *text = config_to_string(c);
    path = fuzz_write_scratch(".ini", text, strlen(text));
    Config *d = config_new_like(c);
    err[0] = '\0';
    const int rc = config_load_file(d, path, err, sizeof err);
    if (rc != 0) fprintf(stderr, "dump does not load: %s\n--- dump:\n%s", err, text);
    FUZZ_REQUIRE(rc == 0);
    char names[4096], changed[4096];
    const int n_def = config_diff(c, d, names, sizeof names, changed, sizeof changed);
    if (n_def != 0 || changed[0])
        fprintf(stderr, "dump reloads differently: %s %s\n", names, changed);
    FUZZ_REQUIRE(n_def == 0 && changed[0] == '\0');
    free(text);
    config_free(c);
    config_free(d);
    return 0;
}
