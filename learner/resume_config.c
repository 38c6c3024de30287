/* resume_config.c: see resume_config.h. */
#include "resume_config.h"

#include <string.h>

#include "util.h"

int resume_config_check(const char *path, const CkptSection *meta, const Config *cfg,
                        const char *again, char *harmless, size_t harmless_len, char *err,
                        size_t errlen) {
    Config *saved = config_new_like(cfg);
    char *text = xmalloc(meta->len + 1);
    memcpy(text, meta->data, meta->len);
    text[meta->len] = 0;
    char why[1000];
    int rc = config_load_string(saved, text, path, why, sizeof why);
    xfree(text);
    if (rc != 0) {
        set_err(err, errlen, "%s: its META config does not load: %s", path, why);
        config_free(saved);
        return -1;
    }
    char defining[2048];
    if (config_diff(saved, cfg, defining, sizeof defining, harmless, harmless_len) > 0) {
        set_err(err, errlen, "refusing to resume %s with a changed config that would train "
                "differently: %s (restore the value, or delete %s %s)",
                path, defining, path, again);
        rc = -1;
    }
    config_free(saved);
    return rc;
}
