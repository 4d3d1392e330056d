/*
 * json.c - see json.h.
 */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/str.h"

void json_init(struct json *j, FILE *f, bool pretty)
{
    memset(j, 0, sizeof *j);
    j->f = f;
    j->pretty = pretty;
}

static void indent(struct json *j)
{
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
}

/* Separator before a value or key at the current depth. */
static void sep(struct json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth == 0)
        return;
    if (!j->first[j->depth - 1])
        fputc(',', j->f);
    j->first[j->depth - 1] = false;
    if (j->pretty)
        indent(j);
}

static void open_c(struct json *j, char c)
{
    sep(j);
    fputc(c, j->f);
    if (j->depth < JSON_MAX_DEPTH)
        j->first[j->depth] = true;
    j->depth++;
}

static void close_c(struct json *j, char c)
{
    j->depth--;
    if (j->pretty && j->depth < JSON_MAX_DEPTH && !j->first[j->depth])
        indent(j);
    fputc(c, j->f);
}

void json_obj_begin(struct json *j)
{
    open_c(j, '{');
}
void json_obj_end(struct json *j)
{
    close_c(j, '}');
}
void json_arr_begin(struct json *j)
{
    open_c(j, '[');
}
void json_arr_end(struct json *j)
{
    close_c(j, ']');
}

void json_key(struct json *j, const char *key)
{
    sep(j);
    vl_json_quote(j->f, key, strlen(key));
    fputs(j->pretty ? ": " : ":", j->f);
    j->after_key = true;
}

void json_strn(struct json *j, const char *s, size_t len)
{
    sep(j);
    vl_json_quote(j->f, s, len);
}

void json_str(struct json *j, const char *s)
{
    if (!s) {
        json_null(j);
        return;
    }
    json_strn(j, s, strlen(s));
}

void json_int(struct json *j, int64_t v)
{
    sep(j);
    fprintf(j->f, "%" PRId64, v);
}

void json_uint(struct json *j, uint64_t v)
{
    sep(j);
    fprintf(j->f, "%" PRIu64, v);
}

void json_double(struct json *j, double v)
{
    sep(j);
    if (!isfinite(v)) {
        fputs("null", j->f);
        return;
    }
    /* shortest form that reads back as the same double */
    char buf[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, j->f);
}

void json_bool(struct json *j, bool v)
{
    sep(j);
    fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j)
{
    sep(j);
    fputs("null", j->f);
}

int json_finish(struct json *j)
{
    fputc('\n', j->f);
    errno = 0;
    if (fflush(j->f) != 0 || ferror(j->f))
        return errno ? -errno : -EIO;
    return 0;
}

void json_kv_str(struct json *j, const char *key, const char *s)
{
    json_key(j, key);
    json_str(j, s);
}

void json_kv_int(struct json *j, const char *key, int64_t v)
{
    json_key(j, key);
    json_int(j, v);
}

void json_kv_uint(struct json *j, const char *key, uint64_t v)
{
    json_key(j, key);
    json_uint(j, v);
}

void json_kv_double(struct json *j, const char *key, double v)
{
    json_key(j, key);
    json_double(j, v);
}

void json_kv_bool(struct json *j, const char *key, bool v)
{
    json_key(j, key);
    json_bool(j, v);
}

void json_fmt_time(uint64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ns / 1000000u % 1000));
}
