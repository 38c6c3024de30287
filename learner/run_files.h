/* run_files.h: checked writes into the run directory.
 *
 * Everything the trainer writes into run.dir goes through here or through
 * ckpt_write, so a full disk, a quota or a lost permission surfaces as an
 * error naming the file and the system's reason instead of a half-written
 * file and a run that carries on:
 *   - whole files (config.ini, summary.json, plot.gp) go to a temp file,
 *     are fsync'd and renamed over the target: a failure leaves the old one;
 *   - line logs (metrics.jsonl, metrics.tsv) get each line, built in memory
 *     by the caller, in one write(2) at the end of the file; a short or
 *     failed write is cut back (ftruncate) to the previous line end, so the
 *     file always ends with a complete line. */
#ifndef LEARNER_RUN_FILES_H
#define LEARNER_RUN_FILES_H

#include <stddef.h>
#include <sys/types.h>

/* Writes len bytes to path atomically (temp file, fsync, rename). Returns
 * 0, or -1 with err naming the path, the failing step and strerror. */
int run_file_write(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Renames path to <path><suffix> (or <path><suffix>.1, .2, ... when that
 * exists: an earlier copy is never replaced); the new name goes to out.
 * The caller holds run.dir's lock (run_lock.h). Returns 0, or -1 with err. */
int run_file_set_aside(const char *path, const char *suffix, char *out, size_t cap, char *err,
                       size_t errlen);

typedef struct {
    int fd;       /* -1 when closed */
    off_t end;    /* end of the last complete line: where the next one goes */
    char *path;   /* owned */
} LineFile;

/* Opens path for appending lines: truncated (append = 0) or kept (append =
 * 1). A kept file that ends in an incomplete line (a crash of an older
 * build) is cut back to its last line end, with a warning on stderr.
 * Returns 0, or -1 with err (f is then closed). */
int linefile_open(LineFile *f, const char *path, int append, char *err, size_t errlen);
/* Appends one complete line (len bytes ending in '\n') or nothing: on a
 * failed or short write the file is cut back to the previous line end.
 * Returns 0, or -1 with err naming the file and the reason. */
int linefile_append(LineFile *f, const void *line, size_t len, char *err, size_t errlen);
/* fsync: what is appended so far is on disk. 0 or -1 with err. */
int linefile_sync(LineFile *f, char *err, size_t errlen);
/* fsync and close (a closed f is a no-op). 0 or -1 with err. */
int linefile_close(LineFile *f, char *err, size_t errlen);

#endif
