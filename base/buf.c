/* buf.c - see buf.h. */
#include "base/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

void vl_buf_reserve(struct vl_buf *b, size_t extra)
{
    size_t need;
    if (__builtin_add_overflow(b->len, extra + 1, &need))
        vl_oom(SIZE_MAX);
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->p = vl_xrealloc(b->p, cap);
    b->cap = cap;
}

void vl_buf_add(struct vl_buf *b, const void *data, size_t len)
{
    vl_buf_reserve(b, len);
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void vl_buf_addc(struct vl_buf *b, char c)
{
    vl_buf_add(b, &c, 1);
}

void vl_buf_adds(struct vl_buf *b, const char *s)
{
    vl_buf_add(b, s, strlen(s));
}

void vl_buf_printf(struct vl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof tmp) {
        vl_buf_add(b, tmp, (size_t)n);
    } else {
        vl_buf_reserve(b, (size_t)n);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

const char *vl_buf_str(struct vl_buf *b)
{
    if (!b->p)
        return "";
    return b->p;
}

void vl_buf_free(struct vl_buf *b)
{
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
