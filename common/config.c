#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

typedef struct {
    const CfgSection *sec;
    void *base;                /* the section's settings struct, owned */
    unsigned char *given;      /* per key: set by a file or an override */
    unsigned char *seen;       /* per key: set by the file being read now */
} Part;

struct Config {
    int n;
    Part *part;
};

/* Parses text into the field of key k; returns 0 or -1 with err. */
static int key_set(void *base, const char *section, const CfgKey *k, const char *val, char *err,
                   size_t errlen) {
    char *p = (char *)base + k->offset;
    char *end = NULL;
    errno = 0;
    switch (k->type) {
    case CFG_INT: {
        double d = strtod(val, &end);
        if (end == val || *end || errno || d != floor(d) || d < k->lo || d > k->hi) {
            set_err(err, errlen, "[%s] %s = '%s': expected an integer in %.0f..%.0f (%s)", section,
                    k->key, val, k->lo, k->hi, k->help);
            return -1;
        }
        *(int *)p = (int)d;
        return 0;
    }
    case CFG_U64: {
        unsigned long long u = strtoull(val, &end, 0);
        if (end == val || *end || errno || val[0] == '-') {
            set_err(err, errlen, "[%s] %s = '%s': expected a non-negative integer", section,
                    k->key, val);
            return -1;
        }
        *(uint64_t *)p = u;
        return 0;
    }
    case CFG_FLOAT: {
        double d = strtod(val, &end);
        if (end == val || *end || errno || !isfinite(d) || d < k->lo || d > k->hi) {
            set_err(err, errlen, "[%s] %s = '%s': expected a number in [%g, %g] (%s)", section,
                    k->key, val, k->lo, k->hi, k->help);
            return -1;
        }
        *(float *)p = (float)d;
        return 0;
    }
    case CFG_STR: {
        size_t n = strlen(val);
        /* The value must survive config_write + config_load_file: one INI
         * line ("key = "value"") within inih's INI_MAX_LINE, no line break,
         * and no ';' first or after a blank (inih cuts an inline comment
         * there: the dump writes "key = value"). Only overrides
         * can carry these; inih never hands them over from a file. The
         * checks are on the stored text q[0..m), without the outer quotes. */
        const int quoted = n >= 2 && val[0] == '"' && val[n - 1] == '"';
        const char *q = quoted ? val + 1 : val;
        const size_t m = quoted ? n - 2 : n;
        if (m >= k->size) {
            set_err(err, errlen, "[%s] %s: value longer than %zu characters", section, k->key,
                    k->size - 1);
            return -1;
        }
        const size_t line_max = INI_MAX_LINE - 2 - strlen(k->key) - 3 - 2;
        if (m > line_max) {
            set_err(err, errlen, "[%s] %s: value longer than %zu characters (INI line limit)",
                    section, k->key, line_max);
            return -1;
        }
        for (size_t i = 0; i < m; i++)
            if (q[i] == '\n' || q[i] == '\r' ||
                (q[i] == ';' && (i == 0 || isspace((unsigned char)q[i - 1])))) {
                set_err(err, errlen,
                        "[%s] %s: value has a line break, or a ';' first or after a blank "
                        "(which starts an INI comment)",
                        section, k->key);
                return -1;
            }
        memcpy(p, q, m); /* "" means empty */
        p[m] = 0;
        return 0;
    }
    case CFG_ENUM:
        for (int i = 0; k->names[i]; i++)
            if (strcmp(val, k->names[i]) == 0) {
                *(int *)p = i;
                return 0;
            }
        char allowed[256] = "";
        for (int i = 0; k->names[i]; i++) {
            if (i) strncat(allowed, " | ", sizeof allowed - strlen(allowed) - 1);
            strncat(allowed, k->names[i], sizeof allowed - strlen(allowed) - 1);
        }
        set_err(err, errlen, "[%s] %s = '%s': allowed values are %s", section, k->key, val,
                allowed);
        return -1;
    }
    return -1;
}

/* Writes the field of key k as text. */
static void key_format(const void *base, const CfgKey *k, char *out, size_t cap) {
    const char *p = (const char *)base + k->offset;
    switch (k->type) {
    case CFG_INT: snprintf(out, cap, "%d", *(const int *)p); break;
    case CFG_U64: snprintf(out, cap, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case CFG_FLOAT: snprintf(out, cap, "%.9g", (double)*(const float *)p); break;
    case CFG_STR: {
        /* Quoted when key_set would otherwise read it back differently:
         * empty, leading/trailing blanks (inih trims them), or already
         * wrapped in quotes (key_set strips one pair). */
        const size_t n = strlen(p);
        const int quote = n == 0 || isspace((unsigned char)p[0]) ||
                          isspace((unsigned char)p[n - 1]) ||
                          (n >= 2 && p[0] == '"' && p[n - 1] == '"');
        snprintf(out, cap, quote ? "\"%s\"" : "%s", p);
        break;
    }
    case CFG_ENUM: snprintf(out, cap, "%s", k->names[*(const int *)p]); break;
    }
}

/* Finds section.key: its part and index. */
static int key_find(const Config *c, const char *section, const char *key, int *part) {
    for (int i = 0; i < c->n; i++) {
        const CfgSection *s = c->part[i].sec;
        if (strcmp(s->name, section) != 0) continue;
        for (int k = 0; k < s->n_keys; k++)
            if (strcmp(s->keys[k].key, key) == 0) {
                *part = i;
                return k;
            }
    }
    return -1;
}

static void part_defaults(Part *p) {
    const CfgSection *s = p->sec;
    memset(p->base, 0, s->size);
    for (int k = 0; k < s->n_keys; k++)
        if (key_set(p->base, s->name, &s->keys[k], s->keys[k].def, NULL, 0) != 0)
            die("bad built-in default for [%s] %s", s->name, s->keys[k].key);
    if (s->defaults) s->defaults(p->base);
    memset(p->given, 0, (size_t)s->n_keys);
}

Config *config_new(const CfgSection *const *sections, int n) {
    Config *c = xcalloc(1, sizeof *c);
    c->n = n;
    c->part = xcalloc((size_t)n, sizeof(Part));
    for (int i = 0; i < n; i++) {
        Part *p = &c->part[i];
        p->sec = sections[i];
        p->base = xcalloc(1, sections[i]->size);
        p->given = xcalloc((size_t)sections[i]->n_keys + 1, 1);
        p->seen = xcalloc((size_t)sections[i]->n_keys + 1, 1);
        for (int k = 0; k < sections[i]->n_keys; k++) {
            int other;
            if (key_find(c, sections[i]->name, sections[i]->keys[k].key, &other) >= 0 && other < i)
                die("config key [%s] %s is declared by two sections", sections[i]->name,
                    sections[i]->keys[k].key);
        }
        part_defaults(p);
    }
    return c;
}

Config *config_new_like(const Config *c) {
    const CfgSection **secs = xmalloc(sizeof *secs * (size_t)(c->n ? c->n : 1));
    for (int i = 0; i < c->n; i++) secs[i] = c->part[i].sec;
    Config *d = config_new(secs, c->n);
    xfree(secs);
    return d;
}

void config_copy(Config *dst, const Config *src) {
    CHECK(dst->n == src->n);
    for (int i = 0; i < src->n; i++) {
        const CfgSection *s = src->part[i].sec;
        CHECK(dst->part[i].sec == s);
        memcpy(dst->part[i].base, src->part[i].base, s->size);
        memcpy(dst->part[i].given, src->part[i].given, (size_t)s->n_keys);
    }
}

void config_reset(Config *c) {
    for (int i = 0; i < c->n; i++) part_defaults(&c->part[i]);
}

void config_free(Config *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        xfree(c->part[i].base);
        xfree(c->part[i].given);
        xfree(c->part[i].seen);
    }
    xfree(c->part);
    xfree(c);
}

void *config_get_mut(Config *c, const CfgSection *s) {
    for (int i = 0; i < c->n; i++)
        if (c->part[i].sec == s) return c->part[i].base;
    die("config: section [%s] (%zu bytes) is not registered with this program", s->name, s->size);
}

const void *config_get(const Config *c, const CfgSection *s) {
    return config_get_mut((Config *)c, s);
}

int config_was_set(const Config *c, const char *section, const char *key) {
    int part, k = key_find(c, section, key, &part);
    return k >= 0 && c->part[part].given[k];
}

/* Names the keys of a section (or the sections) for "unknown key" errors. */
static void list_names(const Config *c, const char *section, char *out, size_t cap) {
    out[0] = 0;
    for (int i = 0; i < c->n; i++) {
        const CfgSection *s = c->part[i].sec;
        if (!section) {
            int dup = 0;
            for (int j = 0; j < i; j++) dup |= strcmp(c->part[j].sec->name, s->name) == 0;
            if (dup) continue;
            if (out[0]) strncat(out, ", ", cap - strlen(out) - 1);
            strncat(out, s->name, cap - strlen(out) - 1);
            continue;
        }
        if (strcmp(s->name, section) != 0) continue;
        for (int k = 0; k < s->n_keys; k++) {
            if (out[0]) strncat(out, ", ", cap - strlen(out) - 1);
            strncat(out, s->keys[k].key, cap - strlen(out) - 1);
        }
    }
}

/* Sets one key. from_file: refuse a second assignment in the same file. */
static int set_one(Config *c, const char *section, const char *name, const char *val, int mark,
                   int from_file, char *err, size_t errlen) {
    int part;
    int k = key_find(c, section, name, &part);
    if (k < 0) {
        char known[1500];
        int section_known = 0;
        for (int i = 0; i < c->n; i++) section_known |= strcmp(c->part[i].sec->name, section) == 0;
        if (!section[0]) {
            set_err(err, errlen,
                    "key '%s' is outside any [section] (or under a malformed [section] line)",
                    name);
        } else if (section_known) {
            list_names(c, section, known, sizeof known);
            set_err(err, errlen, "unknown key '%s' in [%s]; known keys: %s", name, section, known);
        } else {
            list_names(c, NULL, known, sizeof known);
            set_err(err, errlen, "unknown section [%s]; known sections: %s", section, known);
        }
        return -1;
    }
    Part *p = &c->part[part];
    if (from_file && p->seen[k]) {
        set_err(err, errlen,
                "[%s] %s is set twice in this file (refused: the two values disagree on which "
                "one you meant; keep one)",
                section, name);
        return -1;
    }
    if (key_set(p->base, section, &p->sec->keys[k], val, err, errlen) != 0) return -1;
    if (from_file) p->seen[k] = 1;
    if (mark) p->given[k] = 1;
    return 0;
}

typedef struct {
    Config *c;
    char *err;
    size_t errlen;
    int failed;
} IniCtx;

static int on_ini_entry(void *user, const char *section, const char *name, const char *value) {
    IniCtx *ctx = user;
    if (ctx->failed) return 1; /* keep the first error; inih reports its line */
    if (set_one(ctx->c, section, name, value, 1, 1, ctx->err, ctx->errlen) != 0) {
        ctx->failed = 1;
        return 0;
    }
    return 1;
}

/* What inih would misread or report at the wrong line: a '[' line with no
 * ']' (inih files the keys under it in section "") and a line longer than
 * its buffer (inih splits it, and counts the rest as further lines). 0, or
 * the 1-based line number with why. */
static int scan_lines(const char *text, const char **why) {
    int line = 1;
    for (const char *p = text; *p; line++) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len >= INI_MAX_LINE - 1) {
            *why = "line longer than the INI line limit";
            return line;
        }
        const char *q = p;
        while (q < p + len && isspace((unsigned char)*q)) q++;
        if (q < p + len && *q == '[' && !memchr(q, ']', len - (size_t)(q - p))) {
            *why = "section line has '[' but no closing ']'";
            return line;
        }
        if (!eol) break;
        p = eol + 1;
    }
    return 0;
}

static int load_text(Config *c, const char *text, const char *where, char *err, size_t errlen) {
    for (int i = 0; i < c->n; i++) memset(c->part[i].seen, 0, (size_t)c->part[i].sec->n_keys);
    const char *why = NULL;
    int bad = scan_lines(text, &why);
    if (bad) {
        set_err(err, errlen, "%s:%d: %s", where, bad, why);
        return -1;
    }
    char msg[1800] = "";
    IniCtx ctx = {c, msg, sizeof msg, 0};
    int rc = ini_parse_string(text, on_ini_entry, &ctx);
    if (rc == -2) {
        set_err(err, errlen, "%s: out of memory while parsing", where);
        return -1;
    }
    if (rc != 0) {
        set_err(err, errlen, "%s:%d: %s", where, rc,
                msg[0] ? msg : "syntax error (expected [section] or key = value)");
        return -1;
    }
    return 0;
}

int config_load_file(Config *c, const char *path, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0) {
        set_err(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file (a config file is an INI text file)", path);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
        return -1;
    }
    char *text = xmalloc((size_t)st.st_size + 1);
    size_t n = fread(text, 1, (size_t)st.st_size, f);
    int read_err = ferror(f);
    fclose(f);
    if (read_err || n != (size_t)st.st_size) {
        xfree(text);
        set_err(err, errlen, "%s: cannot read config file", path);
        return -1;
    }
    text[n] = 0;
    if (strlen(text) != n) {
        xfree(text);
        set_err(err, errlen, "%s: contains a NUL byte (not an INI text file)", path);
        return -1;
    }
    int rc = load_text(c, text, path, err, errlen);
    xfree(text);
    return rc;
}

int config_load_string(Config *c, const char *text, const char *name, char *err, size_t errlen) {
    char where[600];
    snprintf(where, sizeof where, "%s (config text)", name);
    return load_text(c, text, where, err, errlen);
}

int config_set(Config *c, const char *assignment, char *err, size_t errlen) {
    const char *eq = strchr(assignment, '=');
    const char *dot = strchr(assignment, '.');
    if (!eq || !dot || dot > eq) {
        set_err(err, errlen, "override '%s': expected section.key=value, e.g. grpo.steps=50",
                assignment);
        return -1;
    }
    char section[64], name[64];
    size_t ls = (size_t)(dot - assignment), lk = (size_t)(eq - dot - 1);
    if (ls >= sizeof section || lk >= sizeof name) {
        set_err(err, errlen, "override '%s': name too long", assignment);
        return -1;
    }
    memcpy(section, assignment, ls);
    section[ls] = 0;
    memcpy(name, dot + 1, lk);
    name[lk] = 0;
    char msg[1800];
    if (set_one(c, section, name, eq + 1, 1, 0, msg, sizeof msg) != 0) {
        set_err(err, errlen, "override '%s': %s", assignment, msg);
        return -1;
    }
    return 0;
}

int config_set_value(Config *c, const char *section, const char *key, const char *value,
                     char *err, size_t errlen) {
    return set_one(c, section, key, value, 0, 0, err, errlen);
}

int config_validate(const Config *c, char *err, size_t errlen) {
    for (int i = 0; i < c->n; i++) {
        const CfgSection *s = c->part[i].sec;
        if (s->validate && s->validate(c, c->part[i].base, err, errlen) != 0) return -1;
    }
    return 0;
}

void config_write(const Config *c, FILE *f) {
    char val[CFG_STR_MAX + 8];
    int first = 1;
    /* one [name] block per INI section, holding the keys of every part
     * with that name, in registration order */
    for (int i = 0; i < c->n; i++) {
        const char *name = c->part[i].sec->name;
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= strcmp(c->part[j].sec->name, name) == 0;
        if (dup) continue;
        fprintf(f, "%s[%s]\n", first ? "" : "\n", name);
        first = 0;
        for (int j = i; j < c->n; j++) {
            const CfgSection *s = c->part[j].sec;
            if (strcmp(s->name, name) != 0) continue;
            for (int k = 0; k < s->n_keys; k++) {
                const CfgKey *key = &s->keys[k];
                key_format(c->part[j].base, key, val, sizeof val);
                /* The help comment only where the line stays within inih's limit. */
                int len = snprintf(NULL, 0, "%-20s = %-14s ; %s\n", key->key, val, key->help);
                if (len < INI_MAX_LINE - 1)
                    fprintf(f, "%-20s = %-14s ; %s\n", key->key, val, key->help);
                else
                    fprintf(f, "%s = %s\n", key->key, val);
            }
        }
    }
}

int config_diff(const Config *a, const Config *b, char *names, size_t names_len, char *changed,
                size_t changed_len) {
    CHECK(a->n == b->n);
    int n_defining = 0;
    if (names_len) names[0] = 0;
    if (changed_len) changed[0] = 0;
    char va[CFG_STR_MAX + 8], vb[CFG_STR_MAX + 8], item[600];
    for (int i = 0; i < a->n; i++) {
        const CfgSection *s = a->part[i].sec;
        CHECK(b->part[i].sec == s);
        for (int k = 0; k < s->n_keys; k++) {
            key_format(a->part[i].base, &s->keys[k], va, sizeof va);
            key_format(b->part[i].base, &s->keys[k], vb, sizeof vb);
            if (strcmp(va, vb) == 0) continue;
            snprintf(item, sizeof item, "[%s] %s: %s -> %s", s->name, s->keys[k].key, va, vb);
            int rd = s->keys[k].run_defining;
            char *dst = rd ? names : changed;
            size_t cap = rd ? names_len : changed_len;
            n_defining += rd;
            if (cap && dst[0]) strncat(dst, ", ", cap - strlen(dst) - 1);
            if (cap) strncat(dst, item, cap - strlen(dst) - 1);
        }
    }
    return n_defining;
}

char *config_to_string(const Config *c) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) die("open_memstream failed");
    config_write(c, f);
    fclose(f);
    return buf;
}
