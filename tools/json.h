/*
 * json.h - a streaming JSON writer for --json output: one document on
 * stdout, keys in the order written, nothing buffered beyond stdio, so a
 * 10M-element array streams in constant memory.
 *
 * Commas and nesting are tracked here; strings are escaped per RFC 8259
 * (control characters as \u00XX; bytes that are not valid UTF-8 become
 * U+FFFD, so the output always parses). Doubles that are not finite are
 * written as null.
 */
#ifndef VOLLEY_TOOLS_JSON_H
#define VOLLEY_TOOLS_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
    FILE *f;
    bool pretty;                /* newline + indent per element */
    int depth;                  /* open containers */
    bool first[JSON_MAX_DEPTH]; /* no element yet at this depth */
    bool after_key;             /* a key was written; its value is next */
};

void json_init(struct json *j, FILE *f, bool pretty);
void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_str(struct json *j, const char *s);
void json_strn(struct json *j, const char *s, size_t len);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Ends the document with a newline; returns 0 or -EIO if stdio failed. */
int json_finish(struct json *j);

/* A wall-clock time (ns since the epoch) as volley's JSON and `volley
 * jobs` write it: "2026-11-23T08:30:00.123Z" (UTC, milliseconds) into
 * buf (len >= 32). */
void json_fmt_time(uint64_t ns, char *buf, size_t len);

/* Shorthands for "key": value. */
void json_kv_str(struct json *j, const char *key, const char *s);
void json_kv_int(struct json *j, const char *key, int64_t v);
void json_kv_uint(struct json *j, const char *key, uint64_t v);
void json_kv_double(struct json *j, const char *key, double v);
void json_kv_bool(struct json *j, const char *key, bool v);

#endif /* VOLLEY_TOOLS_JSON_H */
