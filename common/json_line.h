/* json_line.h: one field of a JSON-lines record, read the same way by every
 * JSON-lines reader (the jsonl task, SFT data), with errors that name the
 * file and line; and the lines of a JSON-lines text built in memory (the
 * rejection-sample, rm-data and SFT demo writers). */
#ifndef COMMON_JSON_LINE_H
#define COMMON_JSON_LINE_H

#include <jansson.h>
#include <stddef.h>

/* Field key of obj as a malloc'd copy of a non-empty string without NUL
 * bytes and, with max_len > 0, at most max_len bytes; or NULL with err
 * naming path, line and key. */
char *json_line_string(json_t *obj, const char *key, size_t max_len, const char *path, long line,
                       char *err, size_t errlen);

/* Appends line and a newline to the growing text *out (*n bytes used of
 * *cap, *cap > 0, doubled as needed), which stays NUL-terminated. */
void json_line_append(char **out, size_t *n, size_t *cap, const char *line);

#endif
