/*
 * persist_test.h - helpers shared by persist/'s unit tests: scratch run
 * directories under /tmp (removed at the end, also after failed checks, an
 * early exit, or SIGINT/SIGTERM/SIGHUP),
 * a field-by-field spec comparison, and a few file manipulations.
 */
#ifndef VOLLEY_TESTS_PERSIST_TEST_H
#define VOLLEY_TESTS_PERSIST_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "loader/spec.h"
#include "scratch.h"

#define PT_UNUSED __attribute__((unused))

/* A fresh directory /tmp/volley-persist-XXXXXX; *path owned by caller.
 * Removed by pt_rmrf, or at exit or on a fatal signal if the test did not
 * get there (scratch_guard: one directory at a time, the first made while
 * none is guarded). */
static PT_UNUSED char *pt_tmpdir(void)
{
    char *p = vl_xstrdup("/tmp/volley-persist-XXXXXX");
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        exit(1);
    }
    if (!scratch_guard_live)
        scratch_guard(p);
    return p;
}

static PT_UNUSED void pt_rmrf(const char *dir)
{
    if (scratch_guard_live && strcmp(dir, scratch_guard_dir) == 0)
        scratch_guard_live = 0;
    scratch_rmtree_at(AT_FDCWD, dir, 8);
    if (access(dir, F_OK) == 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* A sub-directory of base, created. */
static PT_UNUSED char *pt_subdir(const char *base, const char *name)
{
    char *p = vl_xasprintf("%s/%s", base, name);
    mkdir(p, 0755);
    return p;
}

static PT_UNUSED char *pt_path(const char *dir, const char *name)
{
    return vl_xasprintf("%s/%s", dir, name);
}

static PT_UNUSED long long pt_file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static PT_UNUSED int pt_copy(const char *from, const char *to)
{
    char *cmd = vl_xasprintf("cp '%s' '%s'", from, to);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

/* Reads a whole file (malloc'd, *len set); NULL if it cannot. */
static PT_UNUSED char *pt_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = vl_xmalloc((size_t)n + 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

static PT_UNUSED void pt_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

static PT_UNUSED bool pt_str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Logical equality of two specs: every field, strings by content. */
static PT_UNUSED void pt_check_same_spec(const struct spec *a, const struct spec *b)
{
    CHECK_STR(a->name, b->name);
    CHECK(pt_str_eq(a->description, b->description));
    CHECK(pt_str_eq(a->path, b->path));
    CHECK_U64(a->njobs, b->njobs);
    CHECK_U64(a->nedges, b->nedges);
    if (a->njobs != b->njobs || a->nedges != b->nedges)
        return;
    int bad = 0;
    for (uint32_t j = 0; j < a->njobs && bad < 5; j++) {
        if (strcmp(spec_job_name(a, j), spec_job_name(b, j)) ||
            strcmp(spec_job_cmd(a, j), spec_job_cmd(b, j)) || a->npar[j] != b->npar[j] ||
            a->kid_off[j + 1] != b->kid_off[j + 1] || a->rr[j] != b->rr[j] ||
            a->fh[j] != b->fh[j] || a->flags[j] != b->flags[j]) {
            fprintf(stderr, "job %u differs\n", j);
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
    CHECK(a->nedges == 0 || memcmp(a->kids, b->kids, a->nedges * 4) == 0);
    CHECK_U64(a->nrr, b->nrr);
    for (uint32_t i = 0; i < a->nrr && i < b->nrr; i++) {
        CHECK_STR(spec_str(a, a->rrs[i].name_off), spec_str(b, b->rrs[i].name_off));
        CHECK_U64(a->rrs[i].memory_bytes, b->rrs[i].memory_bytes);
        CHECK_U64(a->rrs[i].runtime_ms, b->rrs[i].runtime_ms);
        CHECK_U64(a->rrs[i].num_cpus, b->rrs[i].num_cpus);
        CHECK_U64(a->rrs[i].num_gpus, b->rrs[i].num_gpus);
        CHECK_U64(a->rrs[i].num_nodes, b->rrs[i].num_nodes);
        CHECK_U64(a->rrs[i].max_pids, b->rrs[i].max_pids);
    }
    CHECK_U64(a->nfh, b->nfh);
    for (uint32_t i = 0; i < a->nfh && i < b->nfh; i++) {
        CHECK_STR(spec_str(a, a->fhs[i].name_off), spec_str(b, b->fhs[i].name_off));
        CHECK_U64(a->fhs[i].rule_first, b->fhs[i].rule_first);
        CHECK_U64(a->fhs[i].nrules, b->fhs[i].nrules);
    }
    CHECK_U64(a->nrules, b->nrules);
    for (uint32_t i = 0; i < a->nrules && i < b->nrules; i++) {
        const struct spec_rule *x = &a->rules[i], *y = &b->rules[i];
        CHECK_U64(x->code_first, y->code_first);
        CHECK_U64(x->ncodes, y->ncodes);
        CHECK_U64(x->max_retries, y->max_retries);
        CHECK_U64(x->flags, y->flags);
        CHECK_EQ(x->script_off == SPEC_NO_STR, y->script_off == SPEC_NO_STR);
        CHECK_STR(spec_str(a, x->script_off), spec_str(b, y->script_off));
    }
    CHECK_U64(a->ncodes, b->ncodes);
    for (uint32_t i = 0; i < a->ncodes && i < b->ncodes; i++)
        CHECK_EQ(a->codes[i], b->codes[i]);
    CHECK_U64(a->nfiles, b->nfiles);
    if (a->nfiles != b->nfiles || !a->nfiles)
        return;
    for (uint32_t i = 0; i < a->nfiles; i++) {
        CHECK_STR(spec_str(a, a->files[i].name_off), spec_str(b, b->files[i].name_off));
        CHECK_STR(spec_str(a, a->files[i].path_off), spec_str(b, b->files[i].path_off));
        CHECK_U64(a->files[i].producer, b->files[i].producer);
        CHECK_U64(a->files[i].flags, b->files[i].flags);
    }
    CHECK(memcmp(a->in_off, b->in_off, ((size_t)a->njobs + 1) * 8) == 0);
    CHECK(memcmp(a->out_off, b->out_off, ((size_t)a->njobs + 1) * 8) == 0);
    CHECK(memcmp(a->ins, b->ins, a->in_off[a->njobs] * 4) == 0);
    CHECK(memcmp(a->outs, b->outs, a->out_off[a->njobs] * 4) == 0);
}

#endif /* VOLLEY_TESTS_PERSIST_TEST_H */
