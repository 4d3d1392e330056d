/* alloc.c - see alloc.h. */
#include "base/alloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/units.h"

void vl_oom(size_t bytes)
{
    char b[32];
    fprintf(stderr, "volley: out of memory allocating %s\n", vl_fmt_bytes(bytes, b, sizeof b));
    abort();
}

void *vl_xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        vl_oom(bytes);
    return p;
}

void *vl_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        vl_oom(n * size);
    return p;
}

void *vl_xrealloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q)
        vl_oom(bytes);
    return q;
}

char *vl_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(vl_xmalloc(n), s, n);
}

char *vl_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        vl_oom(strlen(fmt));
    return s;
}

static int too_big(size_t n, size_t size, const char *what, struct vl_err *err)
{
    char b[32];
    long double total = (long double)n * (long double)size;
    uint64_t bytes = total > (long double)UINT64_MAX ? UINT64_MAX : (uint64_t)total;
    return vl_err_set(err, VL_ETOOBIG, "workflow needs %s for %s, more than this machine can give",
                      vl_fmt_bytes(bytes, b, sizeof b), what);
}

void *vl_alloc_array(size_t n, size_t size, bool zero, const char *what, struct vl_err *err)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        too_big(n, size, what, err);
        return NULL;
    }
    void *p = zero ? calloc(bytes ? bytes : 1, 1) : malloc(bytes ? bytes : 1);
    if (!p)
        too_big(n, size, what, err);
    return p;
}

void *vl_realloc_array(void *p, size_t n, size_t size, const char *what, struct vl_err *err)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        too_big(n, size, what, err);
        return NULL;
    }
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q)
        too_big(n, size, what, err);
    return q;
}
