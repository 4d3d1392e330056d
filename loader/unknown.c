/*
 * unknown.c - what to say about a reference that matches nothing: the
 * closest name (a did-you-mean), and whether an entry dropped for an error
 * elsewhere might have been what it meant.
 *
 * Every error is reported in one pass, whatever else is wrong. The one
 * exception is a reference that an entry left out for its own error could
 * have satisfied: `depends_on: [prep_3]` when `prep_{i}` had a bad
 * parameter is an echo of that error, not a second mistake. So a name is
 * kept quiet only when a dropped entry's name template matches it, each
 * placeholder standing for any text; any other unknown name is reported.
 *
 * The did-you-mean compares the name with every job (or file, or
 * user_data) name, by bounded edit distance. That is O(names) per
 * suggestion, so callers ask only for the first report at a location (the
 * rest fold into it), and a load compares at most DYM_BUDGET names in all:
 * ~0.2 s on a 10M-job workflow, after which messages come without a
 * suggestion.
 */
#include "expand_int.h"

#define DYM_BUDGET 4000000u

/* Whether template t (a name as written: text and {placeholders}) can
 * render to s[0..n), a placeholder matching any text. Iterative with one
 * backtrack point, as glob's '*' is matched. */
static bool tmpl_may_match(const char *t, const char *s, size_t n)
{
    const char *star_t = NULL;
    size_t star_s = 0, i = 0;
    for (;;) {
        if (*t == '{') {
            const char *c = strchr(t, '}');
            if (c && c > t + 1) {
                star_t = t = c + 1;
                star_s = i;
                continue;
            }
        }
        if (*t && i < n && *t == s[i]) {
            t++;
            i++;
            continue;
        }
        if (!*t && i == n)
            return true;
        if (!star_t || star_s >= n)
            return false;
        t = star_t;
        i = ++star_s;
    }
}

bool unknown_maybe_dropped(const struct X *X, char kind, const char *s, size_t n)
{
    const struct vec *v = kind == 'j' ? &X->dropped_j : &X->dropped_f;
    for (uint64_t i = 0; i < v->n; i++)
        if (tmpl_may_match(raw_str(X->R, VEC_AT(*v, uint64_t, i)), s, n))
            return true;
    return false;
}

const char *unknown_dym(struct X *X, char kind, const char *s, size_t n, uint32_t self)
{
    char want[256];
    if (!n || n >= sizeof want || X->dym_spent > DYM_BUDGET)
        return NULL;
    memcpy(want, s, n);
    want[n] = '\0';
    unsigned limit = n <= 4 ? 1 : n <= 10 ? 2 : 3;
    unsigned bd = limit + 1;
    const char *best = NULL;
    if (kind == 'j') {
        X->dym_spent += X->njobs;
        for (uint32_t j = 0; j < X->njobs && bd > 1; j++) {
            if (j == self)
                continue; /* a job does not depend on itself */
            const char *c = X->pool.p + X->name_off[j];
            unsigned d = vl_edit_distance(want, c, bd - 1);
            if (d < bd) {
                bd = d;
                best = c;
            }
        }
        return best;
    }
    X->dym_spent += X->files.n;
    for (uint64_t f = 0; f < X->files.n && bd > 1; f++) {
        const struct spec_file *sf = &VEC_AT(X->files, struct spec_file, f);
        if (((sf->flags & SPEC_FILE_USER_DATA) != 0) != (kind == 'u'))
            continue;
        const char *c = X->pool.p + sf->name_off;
        unsigned d = vl_edit_distance(want, c, bd - 1);
        if (d < bd) {
            bd = d;
            best = c;
        }
    }
    return best;
}
