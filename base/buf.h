/*
 * buf.h - a growable byte buffer (string pools, output assembly).
 */
#ifndef VOLLEY_BASE_BUF_H
#define VOLLEY_BASE_BUF_H

#include <stddef.h>

#include "base/defs.h"

struct vl_buf {
    char *p;    /* NUL-terminated when len > 0 and vl_buf_str was used */
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
};
void vl_buf_reserve(struct vl_buf *b, size_t extra); /* aborts on ENOMEM */
void vl_buf_add(struct vl_buf *b, const void *data, size_t len);
void vl_buf_addc(struct vl_buf *b, char c);
void vl_buf_adds(struct vl_buf *b, const char *s);
void vl_buf_printf(struct vl_buf *b, const char *fmt, ...) VL_PRINTF(2, 3);
const char *vl_buf_str(struct vl_buf *b); /* terminates and returns p ("" if empty) */
void vl_buf_free(struct vl_buf *b);

#endif /* VOLLEY_BASE_BUF_H */
