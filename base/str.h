/*
 * str.h - string helpers more than one module needs.
 */
#ifndef VOLLEY_BASE_STR_H
#define VOLLEY_BASE_STR_H

/*
 * Levenshtein distance of a and b, or limit + 1 as soon as it must exceed
 * limit (the row minimum passed it, or the lengths differ by more). Strings
 * longer than 255 bytes are never close: limit + 1. The did-you-mean of the
 * loader (keys) and of the watch commands (job names) both use it; each keeps
 * its own policy of how far is close.
 */
unsigned vl_edit_distance(const char *a, const char *b, unsigned limit);

#endif /* VOLLEY_BASE_STR_H */
