#include "json_line.h"

#include <string.h>

#include "util.h"

void json_line_append(char **out, size_t *n, size_t *cap, const char *line) {
    size_t ln = strlen(line);
    if (*n + ln + 2 > *cap) {
        size_t grown_cap = *cap;
        while (*n + ln + 2 > grown_cap) grown_cap *= 2;
        char *grown = xmalloc(grown_cap);
        memcpy(grown, *out, *n);
        xfree(*out);
        *out = grown;
        *cap = grown_cap;
    }
    memcpy(*out + *n, line, ln);
    (*out)[*n + ln] = '\n';
    *n += ln + 1;
    (*out)[*n] = 0;
}

char *json_line_string(json_t *obj, const char *key, size_t max_len, const char *path, long line,
                       char *err, size_t errlen) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        set_err(err, errlen, "%s line %ld: \"%s\" is %s (expected a string)", path, line, key,
                v ? "not a string" : "missing");
        return NULL;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0) {
        set_err(err, errlen, "%s line %ld: \"%s\" is empty", path, line, key);
        return NULL;
    }
    if (strlen(s) != n) {
        set_err(err, errlen, "%s line %ld: \"%s\" holds a NUL character", path, line, key);
        return NULL;
    }
    if (max_len > 0 && n > max_len) {
        set_err(err, errlen, "%s line %ld: \"%s\" has %zu bytes, more than %zu", path, line, key,
                n, max_len);
        return NULL;
    }
    char *c = strdup(s);
    if (!c) die("out of memory reading %s", path);
    return c;
}
