/* atomic_file.h: whole-file writes that never leave a half file behind:
 * the bytes go to <path>.tmp.<pid>, are fsync'd and renamed over path, so
 * a reader sees the old file or the new one. Shared by the learner's run
 * directory (learner/run_files.h) and the actors' outputs (rejection
 * sampling), which cannot include each other. */
#ifndef COMMON_ATOMIC_FILE_H
#define COMMON_ATOMIC_FILE_H

#include <stddef.h>

/* Writes all n bytes at fd's offset, retrying short writes (the retry
 * after a short write is what reports ENOSPC, EFBIG, EDQUOT). 0, or -1
 * with errno set. */
int write_all_fd(int fd, const void *buf, size_t n);

/* Writes len bytes to path atomically (temp file, fsync, rename). Returns
 * 0, or -1 with err naming the path, the failing step and strerror (the
 * temp file is removed). */
int atomic_file_write(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* The same guarantee for a file written piece by piece (a model too large
 * to copy into one buffer first): atomic_stream_open creates
 * <path>.tmp.<pid>, atomic_stream_write appends, atomic_stream_commit
 * fsyncs, closes and renames it over path; atomic_stream_abort (also done
 * by a failing write or commit) removes the temp file. Errors name the
 * path, the step and strerror. */
typedef struct {
    int fd;
    char *path, *tmp;  /* owned */
} AtomicStream;
int atomic_stream_open(AtomicStream *s, const char *path, char *err, size_t errlen);
int atomic_stream_write(AtomicStream *s, const void *data, size_t len, char *err, size_t errlen);
int atomic_stream_commit(AtomicStream *s, char *err, size_t errlen);
void atomic_stream_abort(AtomicStream *s);

#endif
