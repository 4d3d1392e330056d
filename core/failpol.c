/*
 * failpol.c - see failpol.h.
 */
#include "failpol.h"

#include <stddef.h>

static bool rule_ok(const struct failpol *fh, const struct spec_rule *r)
{
    if (r->ncodes > fh->ncodes || r->code_first > fh->ncodes - r->ncodes)
        return false;
    return r->script_off == SPEC_NO_STR || r->script_off < fh->pool_len;
}

struct failpol_decision failpol_decide(const struct failpol *fh, int code, uint32_t attempt)
{
    struct failpol_decision d = {.retry = false, .rule = -1, .recovery = NULL};
    if (!fh || code == 0)
        return d;
    const struct spec_rule *hit = NULL;
    for (uint32_t i = 0; i < fh->nrules && !hit; i++) {
        const struct spec_rule *r = &fh->rules[i];
        if (!rule_ok(fh, r))
            continue;
        for (uint32_t c = 0; c < r->ncodes; c++)
            if (fh->codes[r->code_first + c] == code) {
                hit = r;
                d.rule = (int32_t)i;
                break;
            }
    }
    for (uint32_t i = 0; i < fh->nrules && !hit; i++) {
        const struct spec_rule *r = &fh->rules[i];
        if (rule_ok(fh, r) && (r->flags & SPEC_RULE_MATCH_ALL)) {
            hit = r;
            d.rule = (int32_t)i;
        }
    }
    if (!hit || attempt == 0 || attempt > hit->max_retries)
        return d;
    d.retry = true;
    if (hit->script_off != SPEC_NO_STR && fh->pool && fh->pool[hit->script_off])
        d.recovery = fh->pool + hit->script_off;
    return d;
}
