/*
 * defs.h - the few macros every volley file may use. No functions, no state.
 */
#ifndef VOLLEY_BASE_DEFS_H
#define VOLLEY_BASE_DEFS_H

#define VL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define VL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define VL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define VL_LIKELY(x) __builtin_expect(!!(x), 1)

#endif /* VOLLEY_BASE_DEFS_H */
