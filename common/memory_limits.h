/* memory_limits.h: the limits a process lives under, read from the kernel:
 * RLIMIT_AS (ulimit -v: address space, which SLURM can set), the memory
 * limit of its cgroup (v2 memory.max, v1 memory.limit_in_bytes), physical
 * RAM, and what the process has mapped so far. The memory pre-flight
 * (memory.h) and the BLAS set-up (util.c) compare their needs with these. */
#ifndef COMMON_MEMORY_LIMITS_H
#define COMMON_MEMORY_LIMITS_H

#include <stddef.h>

enum { MEMORY_PATH_MAX = 4096 };

typedef struct {
    double bytes;                /* the tightest limit found; 0 = none */
    int version;                 /* 2 (memory.max) or 1 (memory.limit_in_bytes); 0 = none */
    char file[MEMORY_PATH_MAX];  /* the file that holds it */
} CgroupLimit;

/* Memory limit of the cgroup that proc_cgroup (a file in the format of
 * /proc/self/cgroup) names, with the cgroup file systems mounted under
 * cgroup_root (normally /sys/fs/cgroup). The tightest limit of the cgroup
 * and its ancestors counts; a cgroup directory that is not visible (a
 * container without a cgroup namespace) falls back to its nearest visible
 * ancestor. Version 2 is read first, version 1 (cgroup_root/memory) is the
 * fallback. Returns 0 (out->bytes 0 when there is no limit), or -1 with a
 * message naming the file when a file cannot be parsed; an unreadable
 * proc_cgroup means no limit. */
int memory_cgroup_limit(const char *proc_cgroup, const char *cgroup_root, CgroupLimit *out,
                        char *err, size_t errlen);

/* Soft RLIMIT_AS in bytes; 0 when unlimited. */
double memory_as_limit(void);

/* A "kB" field of /proc/self/status (e.g. "VmSize") in bytes; -1 if absent. */
double memory_status_bytes(const char *field);

/* Bytes the C allocator holds from the system now (arenas and mmapped
 * chunks): part of VmSize that the pre-flight's own estimate covers. */
double memory_heap_held(void);

/* Physical RAM in bytes (0 if unknown). */
double memory_physical(void);

#endif
