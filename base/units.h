/*
 * units.h - sizes and whole numbers as users write them, and bytes as users
 * read them.
 */
#ifndef VOLLEY_BASE_UNITS_H
#define VOLLEY_BASE_UNITS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Sizes: "512k", "100m", "2g", "1t", "4096" (bytes), case-insensitive, an
 * optional trailing "b"/"ib" ("2GiB", "100MB": powers of 1024 either way).
 * Returns 0, or -EINVAL (not a size) / -ERANGE (above 2^64-1).
 */
int vl_parse_size(const char *s, uint64_t *bytes);
/* "14.2 GiB", "512 B"; writes into buf (at least 32 bytes) and returns it. */
const char *vl_fmt_bytes(uint64_t bytes, char *buf, size_t buflen);
/* Whole decimal number, no sign, no junk: 0, -EINVAL or -ERANGE (> max). */
int vl_parse_u64(const char *s, uint64_t max, uint64_t *out);

#endif /* VOLLEY_BASE_UNITS_H */
