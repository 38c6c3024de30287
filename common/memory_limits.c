#include "memory_limits.h"

#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util.h"

/* Reads a small kernel file into buf; -1 if it cannot be opened. Sets
 * *too_long when it does not fit (a limit file holds one short number). */
static int read_value_file(const char *path, char *buf, size_t len, int *too_long) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, len - 1, f);
    *too_long = n == len - 1 && fgetc(f) != EOF;
    fclose(f);
    buf[n] = 0;
    while (n > 0 && isspace((unsigned char)buf[n - 1])) buf[--n] = 0;
    return 0;
}

/* v1 reports "no limit" as the page counter's maximum (9223372036854771712
 * with 4 KiB pages); anything this large cannot be a real limit. */
static const double NO_LIMIT_ABOVE = 4.0e18;

/* Parses a limit file's content: a byte count, or "max" (v2's no limit).
 * Returns 0 with *bytes (0 = no limit), or -1 with a message. */
static int parse_limit(const char *path, const char *text, int too_long, double *bytes,
                       char *err, size_t errlen) {
    if (!too_long && strcmp(text, "max") == 0) {
        *bytes = 0;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (too_long || !isdigit((unsigned char)text[0]) || *end != 0 || errno != 0) {
        set_err(err, errlen, "%s: expected a byte count or 'max', found '%.40s%s'", path, text,
                too_long ? "..." : "");
        return -1;
    }
    *bytes = (double)v >= NO_LIMIT_ABOVE ? 0 : (double)v;
    return 0;
}

/* Tightest limit in file `name` of base/cg and its ancestors up to base.
 * A directory that does not exist contributes nothing. */
static int walk_up(const char *base, const char *cg, const char *name, int version,
                   CgroupLimit *out, char *err, size_t errlen) {
    char dir[MEMORY_PATH_MAX], path[MEMORY_PATH_MAX], text[64];
    size_t blen = strlen(base);
    int n = snprintf(dir, sizeof dir, "%s%s%s", base, cg[0] == '/' ? "" : "/", cg);
    /* dir only gets shorter below, so this check covers every path */
    if (n < 0 || (size_t)n + 1 + strlen(name) >= sizeof path) {
        set_err(err, errlen, "cgroup path '%.80s...' is longer than %d bytes", cg, MEMORY_PATH_MAX);
        return -1;
    }
    for (;;) {
        size_t len = strlen(dir);
        while (len > blen && dir[len - 1] == '/') dir[--len] = 0;
        int m = snprintf(path, sizeof path, "%s/%s", dir, name);
        if (m < 0 || (size_t)m >= sizeof path) { /* cannot happen (checked above); says so to gcc */
            set_err(err, errlen, "cgroup path '%.80s...' is longer than %d bytes", cg, MEMORY_PATH_MAX);
            return -1;
        }
        int too_long = 0;
        if (read_value_file(path, text, sizeof text, &too_long) == 0) {
            double v;
            if (parse_limit(path, text, too_long, &v, err, errlen) != 0) return -1;
            if (v > 0 && (out->bytes == 0 || v < out->bytes)) {
                out->bytes = v;
                out->version = version;
                snprintf(out->file, sizeof out->file, "%s", path);
            }
        }
        if (len <= blen) return 0;
        char *slash = strrchr(dir + blen, '/');
        if (!slash) return 0;
        *slash = 0;
    }
}

int memory_cgroup_limit(const char *proc_cgroup, const char *cgroup_root, CgroupLimit *out,
                        char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(proc_cgroup, "r");
    if (!f) return 0;
    char *line = NULL, *v2 = NULL, *v1 = NULL;
    size_t cap = 0;
    ssize_t got;
    /* lines are "hierarchy-id:controller,list:/path"; v2 is "0::/path" */
    while ((got = getline(&line, &cap, f)) > 0) {
        if (line[got - 1] == '\n') line[got - 1] = 0;
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c1 = *c2 = 0;
        const char *ctrls = c1 + 1, *path = c2 + 1;
        if (strcmp(line, "0") == 0 && ctrls[0] == 0) {
            free(v2);
            v2 = strdup(path);
        }
        for (const char *p = ctrls; *p;) {
            size_t l = strcspn(p, ",");
            if (l == 6 && strncmp(p, "memory", 6) == 0) {
                free(v1);
                v1 = strdup(path);
            }
            p += l + (p[l] == ',');
        }
    }
    free(line);
    fclose(f);
    char base[MEMORY_PATH_MAX];
    int rc = 0;
    if (v2) rc = walk_up(cgroup_root, v2, "memory.max", 2, out, err, errlen);
    if (rc == 0 && out->bytes == 0 && v1) {
        int n = snprintf(base, sizeof base, "%s/memory", cgroup_root);
        if (n < 0 || (size_t)n >= sizeof base) {
            set_err(err, errlen, "cgroup root '%.80s...' is too long", cgroup_root);
            rc = -1;
        } else {
            rc = walk_up(base, v1, "memory.limit_in_bytes", 1, out, err, errlen);
        }
    }
    free(v2);
    free(v1);
    return rc;
}

double memory_as_limit(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return 0;
    return (double)r.rlim_cur;
}

double memory_status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    size_t flen = strlen(field);
    double v = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtod(line + flen + 1, NULL) * 1024.0;
            break;
        }
    }
    fclose(f);
    return v;
}

double memory_heap_held(void) {
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.arena + (double)mi.hblkhd;
}

double memory_physical(void) {
    double pages = (double)sysconf(_SC_PHYS_PAGES), psize = (double)sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? pages * psize : 0;
}
