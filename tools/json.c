/*
 * json.c - see json.h.
 */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    unsigned cp = c & (0xff >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void json_write_string(FILE *f, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
            i++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n':
                fputs("\\n", f);
                break;
            case '\t':
                fputs("\\t", f);
                break;
            case '\r':
                fputs("\\r", f);
                break;
            default:
                fprintf(f, "\\u%04x", c);
            }
            i++;
        } else if (c < 0x80) {
            fputc((int)c, f);
            i++;
        } else {
            size_t l = utf8_len(s + i, n - i);
            if (l == 0) {
                fputs("\\ufffd", f);
                i++;
            } else {
                fwrite(s + i, 1, l, f);
                i += l;
            }
        }
    }
    fputc('"', f);
}

void json_key(struct json *j, const char *key)
{
    sep(j);
    json_write_string(j->f, key, strlen(key));
    fputs(j->pretty ? ": " : ":", j->f);
    j->after_key = true;
}

void json_strn(struct json *j, const char *s, size_t len)
{
    sep(j);
    json_write_string(j->f, s, len);
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
