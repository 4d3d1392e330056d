/*
 * alloc.h - allocation with a policy for each kind of size.
 *
 * vl_x*() are for small fixed sizes and abort with the size on failure.
 * Allocations that grow with the workflow go through vl_alloc_array(), which
 * checks the multiplication and turns a failure into a user error ("workflow
 * needs 14.2 GiB for edges").
 */
#ifndef VOLLEY_BASE_ALLOC_H
#define VOLLEY_BASE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

/* Small fixed-size allocations: abort with the size on failure. */
__attribute__((noreturn)) void vl_oom(size_t bytes); /* "out of memory allocating 2.0 GiB" */
void *vl_xmalloc(size_t bytes);
void *vl_xcalloc(size_t n, size_t size);
void *vl_xrealloc(void *p, size_t bytes);
char *vl_xstrdup(const char *s);
char *vl_xasprintf(const char *fmt, ...) VL_PRINTF(1, 2);

/*
 * Workflow-sized allocations: n * size bytes (zeroed if zero is true),
 * overflow-checked. On failure returns NULL and fills err with
 * "workflow needs <size> for <what>" (VL_ETOOBIG).
 */
void *vl_alloc_array(size_t n, size_t size, bool zero, const char *what, struct vl_err *err);
void *vl_realloc_array(void *p, size_t n, size_t size, const char *what, struct vl_err *err);

#endif /* VOLLEY_BASE_ALLOC_H */
