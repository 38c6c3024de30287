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

#endif
