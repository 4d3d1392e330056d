/*
 * fuzz_json5.c - libFuzzer target for the JSON5 path of the loader: any
 * bytes -> spec_load_buffer as "fuzz.json5" (json5.c's events, then the
 * same parser and expansion as YAML). A load that succeeds must give a
 * spec that passes spec_check and has no errors; a failed load must say
 * why; every diagnostic has a message and a caret inside its excerpt.
 *
 * Differential check: JSON is JSON5, and libyaml reads JSON too (the .json
 * path). When the input is strict JSON (RFC 8259, checked here: outside it
 * the grammars differ on purpose, e.g. YAML's "\P" is U+2029 and JSON5's
 * is P, YAML's single quotes know no escapes) and loads both ways, the two
 * specs must be the same workflow (jobs, names, commands, edges, files):
 * json5.c's strings, escapes and numbers must mean what libyaml's do.
 *
 * Seed corpus: tests/fuzz/corpus/fuzz_json5/ (torc-style JSON5 workflows,
 * valid and broken).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_diags(const struct spec_diags *d)
{
    for (uint32_t i = 0; i < d->n; i++) {
        const struct spec_diag *x = &d->v[i];
        if (!x->msg || (x->src && x->caret > strlen(x->src)))
            abort();
    }
}

static int load(const uint8_t *data, size_t size, const char *name, struct spec *s,
                struct spec_diags *d)
{
    memset(d, 0, sizeof *d);
    int rc = spec_load_buffer((const char *)data, size, name, s, d);
    if (rc == 0) {
        struct vl_err e = {0};
        if (spec_check(s, &e) != 0) {
            fprintf(stderr, "%s: spec_check failed on a loaded spec: %s\n", name, e.msg);
            abort();
        }
        if (d->nerrors)
            abort(); /* a valid load has no errors */
    } else if (d->n == 0 && d->dropped == 0) {
        abort(); /* a failed load always says why */
    }
    check_diags(d);
    return rc;
}

/* Strict JSON (RFC 8259): one value, blanks around. */
static const uint8_t *js_value(const uint8_t *p, const uint8_t *end, int depth);

static const uint8_t *js_ws(const uint8_t *p, const uint8_t *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const uint8_t *js_string(const uint8_t *p, const uint8_t *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        if (*p == '"')
            return p + 1;
        if (*p < 0x20)
            return NULL;
        if (*p != '\\')
            continue;
        if (++p >= end)
            return NULL;
        if (*p == 'u') {
            for (int i = 0; i < 4; i++)
                if (++p >= end || !strchr("0123456789abcdefABCDEF", *p) || !*p)
                    return NULL;
        } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
            return NULL;
        }
    }
    return NULL;
}

static const uint8_t *js_digits(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *s = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p > s ? p : NULL;
}

static const uint8_t *js_number(const uint8_t *p, const uint8_t *end)
{
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (!(p = js_digits(p, end)))
        return NULL;
    if (p < end && *p == '.' && !(p = js_digits(p + 1, end)))
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        p = js_digits(p, end);
    }
    return p;
}

static const uint8_t *js_list(const uint8_t *p, const uint8_t *end, int depth, char close, bool obj)
{
    p = js_ws(p + 1, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        if (obj) {
            if (!(p = js_string(p, end)) || (p = js_ws(p, end)) >= end || *p != ':')
                return NULL;
            p++;
        }
        if (!(p = js_value(p, end, depth + 1)) || p >= end)
            return NULL;
        if (*p == close)
            return p + 1;
        if (*p != ',')
            return NULL;
        p++;
    }
}

static const uint8_t *js_value(const uint8_t *p, const uint8_t *end, int depth)
{
    p = js_ws(p, end);
    if (p >= end || depth > 200)
        return NULL;
    if (*p == '{' || *p == '[')
        p = js_list(p, end, depth, *p == '{' ? '}' : ']', *p == '{');
    else if (*p == '"')
        p = js_string(p, end);
    else if (end - p >= 4 && (!memcmp(p, "true", 4) || !memcmp(p, "null", 4)))
        p += 4;
    else if (end - p >= 5 && !memcmp(p, "false", 5))
        p += 5;
    else
        p = js_number(p, end);
    return p ? js_ws(p, end) : NULL;
}

static bool strict_json(const uint8_t *data, size_t size)
{
    return js_value(data, data + size, 0) == data + size;
}

static void same_spec(const struct spec *a, const struct spec *b)
{
    if (a->njobs != b->njobs || a->nedges != b->nedges || a->nfiles != b->nfiles ||
        strcmp(a->name, b->name))
        abort();
    for (uint32_t j = 0; j < a->njobs; j++) {
        if (strcmp(spec_job_name(a, j), spec_job_name(b, j)) ||
            strcmp(spec_job_cmd(a, j), spec_job_cmd(b, j)) || a->npar[j] != b->npar[j] ||
            a->kid_off[j + 1] != b->kid_off[j + 1])
            abort();
    }
    for (uint64_t e = 0; e < a->nedges; e++)
        if (a->kids[e] != b->kids[e])
            abort();
    for (uint32_t f = 0; f < a->nfiles; f++)
        if (strcmp(spec_str(a, a->files[f].name_off), spec_str(b, b->files[f].name_off)) ||
            strcmp(spec_str(a, a->files[f].path_off), spec_str(b, b->files[f].path_off)))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spec s5, sj;
    struct spec_diags d5, dj;
    int rc5 = load(data, size, "fuzz.json5", &s5, &d5);
    if (rc5 == 0 && strict_json(data, size)) {
        int rcj = load(data, size, "fuzz.json", &sj, &dj);
        if (rcj == 0)
            same_spec(&s5, &sj);
        spec_free(&sj);
        spec_diags_free(&dj);
    }
    spec_free(&s5);
    spec_diags_free(&d5);
    return 0;
}
