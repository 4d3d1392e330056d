/*
 * str.h - string helpers more than one module needs.
 */
#ifndef VOLLEY_BASE_STR_H
#define VOLLEY_BASE_STR_H

#include <stddef.h>
#include <stdio.h>

/*
 * Levenshtein distance of a and b, or limit + 1 as soon as it must exceed
 * limit (the row minimum passed it, or the lengths differ by more). Strings
 * longer than 255 bytes are never close: limit + 1. The did-you-mean of the
 * loader (keys) and of the watch commands (job names) both use it; each keeps
 * its own policy of how far is close.
 */
unsigned vl_edit_distance(const char *a, const char *b, unsigned limit);

/*
 * Writes the n bytes at s as a JSON string literal, quotes included, to f
 * (RFC 8259: control characters as \u00XX; bytes that are not valid UTF-8
 * become U+FFFD, so the output always parses). tools/json.c's writer and
 * the run directory's events.jsonl (persist/watchlog.c) both use it.
 */
void vl_json_quote(FILE *f, const char *s, size_t n);

#endif /* VOLLEY_BASE_STR_H */
