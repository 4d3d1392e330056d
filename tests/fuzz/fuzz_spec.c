/*
 * fuzz_spec.c - libFuzzer target for the workflow loader: any bytes ->
 * spec_load_buffer; a load that succeeds must give a spec that passes
 * spec_check (every invariant of spec.h), and every diagnostic must have a
 * message and a sane position. Seed corpus: tests/fuzz/corpus/fuzz_spec/
 * (small valid and broken workflows, YAML and JSON).
 *
 * The fuzz build caps expansion (MAX_JOBS_BUILD in expand.c) so a
 * "0:999999999" range is an error there instead of an -rss_limit_mb abort.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spec s;
    struct spec_diags d;
    memset(&d, 0, sizeof d);
    int rc = spec_load_buffer((const char *)data, size, "fuzz.yaml", &s, &d);
    if (rc == 0) {
        struct vl_err e = {0};
        if (spec_check(&s, &e) != 0) {
            fprintf(stderr, "spec_check failed on a loaded spec: %s\n", e.msg);
            abort();
        }
        if (d.nerrors)
            abort(); /* a valid load has no errors */
    } else if (d.n == 0 && d.dropped == 0) {
        abort(); /* a failed load always says why */
    }
    for (uint32_t i = 0; i < d.n; i++) {
        const struct spec_diag *x = &d.v[i];
        if (!x->msg || (x->src && x->caret > strlen(x->src)))
            abort();
    }
    spec_free(&s);
    spec_diags_free(&d);
    return 0;
}
