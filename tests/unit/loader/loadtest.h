/* loadtest.h - what the loader's end-to-end tests share: load a workflow
 * from a string into S and D, and look at the result (job names, commands,
 * dependencies, diagnostics as "line:col: severity: message" lines). */
#ifndef VOLLEY_TESTS_LOADTEST_H
#define VOLLEY_TESTS_LOADTEST_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "base/base.h"
#include "loader/load.h"

static struct spec S;
static struct spec_diags D;

/* Loads text as a file called name; returns the load's result code.
 * Diagnostics stay in D. */
static int load_as(const char *text, const char *name)
{
    spec_free(&S);
    spec_diags_free(&D);
    int rc = spec_load_buffer(text, strlen(text), name, &S, &D);
    if (rc == 0) {
        struct vl_err e = {0};
        int c = spec_check(&S, &e);
        if (c)
            fprintf(stderr, "spec_check: %s\n", e.msg);
        CHECK_EQ(c, 0);
    }
    return rc;
}

static int load(const char *yaml)
{
    return load_as(yaml, "t.yaml");
}

/* All diagnostics as "L:C: sev: msg" lines. */
static char diagbuf[65536];
static const char *diags(void)
{
    size_t o = 0;
    diagbuf[0] = '\0';
    for (uint32_t i = 0; i < D.n && o < sizeof diagbuf; i++)
        o += (size_t)snprintf(diagbuf + o, sizeof diagbuf - o, "%u:%u: %s: %s\n", D.v[i].line,
                              D.v[i].col, D.v[i].severity ? "warning" : "error", D.v[i].msg);
    return diagbuf;
}

static uint32_t jid(const char *name)
{
    for (uint32_t j = 0; j < S.njobs; j++)
        if (!strcmp(spec_job_name(&S, j), name))
            return j;
    fprintf(stderr, "no job named %s\n", name);
    return SPEC_NONE;
}

static const char *cmd(const char *name)
{
    uint32_t j = jid(name);
    return j == SPEC_NONE ? "(none)" : spec_job_cmd(&S, j);
}

/* Whether child depends on parent. */
static bool dep(const char *parent, const char *child)
{
    uint32_t p = jid(parent), c = jid(child);
    if (p == SPEC_NONE || c == SPEC_NONE)
        return false;
    for (uint64_t e = S.kid_off[p]; e < S.kid_off[p + 1]; e++)
        if (S.kids[e] == c)
            return true;
    return false;
}

/* The job names in order, joined by spaces. */
static char namebuf[65536];
static const char *names(void)
{
    size_t o = 0;
    namebuf[0] = '\0';
    for (uint32_t j = 0; j < S.njobs && o < sizeof namebuf; j++)
        o += (size_t)snprintf(namebuf + o, sizeof namebuf - o, "%s%s", j ? " " : "",
                              spec_job_name(&S, j));
    return namebuf;
}

#endif /* VOLLEY_TESTS_LOADTEST_H */
