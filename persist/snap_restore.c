/*
 * snap_restore.c - restore: the spec and the job records back from a
 * volley.db (snap_open, snap.h), trusting nothing read.
 *
 * Restore trusts nothing it reads: sizes come from the blobs actually
 * present (bounded by the file's size) before anything is allocated, every
 * row's item count is checked against its bytes, the content hash is
 * recomputed from the bytes read, then spec_check and a name-uniqueness
 * check run on the rebuilt spec. The fuzz target feeds it arbitrary files.
 * Defensive SQLite settings (trusted_schema off, cell size checks) keep a
 * crafted file from running triggers or views of its own.
 */
#include "snap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault.h"
#include "snap_int.h"

#define MADV_POPULATE_WRITE_C 23 /* Linux 5.14; glibc 2.36's headers lack it */

/*
 * Restore fills ~100 MB of fresh arrays per 1M jobs. A first-touch fault
 * costs ~12 us per 4 KiB page on this VM, pre-faulting the range in one
 * madvise about a twelfth of that (research/platform-probe.md section 5),
 * so large arrays are populated before they are written. Best effort: an
 * old kernel just returns EINVAL and the pages fault in as usual.
 */
int snap__prefault = 1;

static void prefault(void *p, size_t bytes)
{
    if (!snap__prefault || !p || bytes < ((size_t)1 << 20))
        return;
    uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
    uintptr_t b = ((uintptr_t)p + bytes) & ~(uintptr_t)4095;
    if (b > a)
        madvise((void *)a, b - a, MADV_POPULATE_WRITE_C);
}

struct kind_meta {
    uint64_t items, bytes;
};

static uint64_t file_bytes(const char *path)
{
    struct stat sb;
    uint64_t n = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    char *wal = vl_xasprintf("%s-wal", path);
    if (stat(wal, &sb) == 0)
        n += (uint64_t)sb.st_size;
    free(wal);
    return n;
}

/* spec_array: each kind's declared items and bytes, checked against the
 * run record, our widths and the file size (so allocations stay bounded). */
static int read_kinds(sqlite3 *db, const char *path, int schema, const struct snap__run_row *r,
                      struct kind_meta km[SNAP__NKINDS], struct vl_err *err)
{
    uint64_t limit = file_bytes(path);
    struct spec dims = {
        .njobs = r->info.njobs, .nedges = r->info.nedges, .nfiles = (uint32_t)r->nfiles};
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT width, items, bytes FROM spec_array WHERE kind = ?", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return snap__sql_err(err, db, rc, "cannot read %s", path);
    int code = 0;
    uint64_t total = 0;
    for (int k = 0; k < SNAP__NKINDS && !code; k++) {
        if (snap__kind_optional(k) && schema < snap__kind_since(k)) {
            km[k].items = km[k].bytes = 0; /* an older file: no env, actions, priorities */
            continue;
        }
        sqlite3_bind_text(st, 1, snap__kinds[k].name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            code = rc == SQLITE_DONE
                       ? snap__damaged(err, path, "an array of the workflow is missing")
                       : snap__sql_err(err, db, rc, "cannot read %s", path);
            break;
        }
        int64_t w = sqlite3_column_int64(st, 0), it = sqlite3_column_int64(st, 1),
                by = sqlite3_column_int64(st, 2);
        sqlite3_reset(st);
        uint64_t want = 0;
        bool fixed_items = true;
        switch (k) {
        case SNAP__JOB_INS:
        case SNAP__JOB_OUTS:
            fixed_items = false; /* checked against the degrees later */
            break;
        case SNAP__ENV_KV:
        case SNAP__ACT_CMD:
        case SNAP__ACT_JOBS:
            /* checked against the tables that index them (spec_check);
               action commands are counted in 32 bits */
            want = k == SNAP__ACT_CMD && it > UINT32_MAX ? 0 : (uint64_t)it;
            break;
        case SNAP__JOB_ENV:
            want = it ? dims.njobs : 0; /* all or none */
            break;
        case SNAP__JOB_NINS:
        case SNAP__JOB_NOUTS:
            want = r->nfiles ? dims.njobs : 0;
            break;
        case SNAP__JOB_PRIO:
            want = it ? dims.njobs : 0; /* all or none */
            break;
        default:
            want = snap__kind_items(&dims, k);
        }
        unsigned kw = snap__kinds[k].width;
        bool csr = k == SNAP__JOB_INS || k == SNAP__JOB_OUTS;
        if (w != (int64_t)kw || it < 0 || by < 0 || (uint64_t)by > limit ||
            (fixed_items && (uint64_t)it != want) || (csr && !r->nfiles && it) ||
            (kw && (uint64_t)by != (uint64_t)it * kw) || (!kw && by < it))
            code = snap__damaged(err, path, "the workflow's array sizes do not match");
        km[k].items = (uint64_t)it;
        km[k].bytes = (uint64_t)by;
        total += (uint64_t)by;
    }
    sqlite3_finalize(st);
    if (!code && total > limit)
        code = snap__damaged(err, path, "the workflow's arrays are larger than the file");
    return code;
}

/* Reads the small tables into s (strings appended to small). */
static int read_small(sqlite3 *db, const char *path, const struct snap__run_row *r, struct spec *s,
                      struct vl_buf *small, struct vl_err *err)
{
    /* pool offsets of small strings are relative to small until placed */
    s->nrr = (uint32_t)r->nrr;
    s->nfh = (uint32_t)r->nfh;
    s->nrules = (uint32_t)r->nrules;
    s->ncodes = (uint32_t)r->ncodes;
    /* every row below is at least a few bytes of file: bound by its size */
    uint64_t limit = file_bytes(path);
    if (r->nrr + r->nfh + r->nrules + r->ncodes > limit)
        return snap__damaged(err, path, "the small tables are larger than the file");
    s->rrs = vl_xcalloc(s->nrr ? s->nrr : 1, sizeof *s->rrs);
    s->fhs = vl_xcalloc(s->nfh ? s->nfh : 1, sizeof *s->fhs);
    s->rules = vl_xcalloc(s->nrules ? s->nrules : 1, sizeof *s->rules);
    s->codes = vl_xcalloc(s->ncodes ? s->ncodes : 1, sizeof *s->codes);
    const char *const q[4] = {
        r->info.schema >= SNAP_SCHEMA_GOV
            ? "SELECT id, name, num_cpus, num_gpus, num_nodes, memory_bytes, runtime_ms, max_pids"
              " FROM resource_class ORDER BY id"
            : "SELECT id, name, num_cpus, num_gpus, num_nodes, memory_bytes, runtime_ms, 0 FROM "
              "resource_class ORDER BY id",
        "SELECT id, name, rule_first, nrules FROM failure_handler ORDER BY id",
        "SELECT id, code_first, ncodes, max_retries, flags, recovery_script FROM failure_rule "
        "ORDER BY id",
        "SELECT id, code FROM rule_code ORDER BY id",
    };
    const uint64_t want[4] = {r->nrr, r->nfh, r->nrules, r->ncodes};
    for (int t = 0; t < 4; t++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, q[t], -1, &st, NULL);
        uint64_t i = 0;
        bool bad = false;
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            rc = SQLITE_OK;
            if (i >= want[t] || sqlite3_column_int64(st, 0) != (int64_t)i) {
                bad = true;
                break;
            }
            if (t == 0) {
                struct spec_rr *x = &s->rrs[i];
                x->name_off = small->len;
                vl_buf_adds(small, snap__col_text(st, 1));
                vl_buf_addc(small, '\0');
                x->num_cpus = (uint32_t)sqlite3_column_int64(st, 2);
                x->num_gpus = (uint32_t)sqlite3_column_int64(st, 3);
                x->num_nodes = (uint32_t)sqlite3_column_int64(st, 4);
                x->memory_bytes = (uint64_t)sqlite3_column_int64(st, 5);
                x->runtime_ms = (uint64_t)sqlite3_column_int64(st, 6);
                int64_t mp = sqlite3_column_int64(st, 7);
                if (mp < 0 || mp > UINT32_MAX) {
                    bad = true;
                    break;
                }
                x->max_pids = (uint32_t)mp;
            } else if (t == 1) {
                struct spec_fh *x = &s->fhs[i];
                x->name_off = small->len;
                vl_buf_adds(small, snap__col_text(st, 1));
                vl_buf_addc(small, '\0');
                x->rule_first = (uint32_t)sqlite3_column_int64(st, 2);
                x->nrules = (uint32_t)sqlite3_column_int64(st, 3);
            } else if (t == 2) {
                struct spec_rule *x = &s->rules[i];
                x->code_first = (uint32_t)sqlite3_column_int64(st, 1);
                x->ncodes = (uint32_t)sqlite3_column_int64(st, 2);
                x->max_retries = (uint32_t)sqlite3_column_int64(st, 3);
                x->flags = (uint32_t)sqlite3_column_int64(st, 4);
                if (sqlite3_column_type(st, 5) == SQLITE_NULL) {
                    x->script_off = SPEC_NO_STR;
                } else {
                    x->script_off = small->len;
                    vl_buf_adds(small, snap__col_text(st, 5));
                    vl_buf_addc(small, '\0');
                }
            } else {
                s->codes[i] = (int32_t)sqlite3_column_int64(st, 1);
            }
            i++;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
            return snap__sql_err(err, db, rc, "cannot read %s", path);
        if (bad || i != want[t])
            return snap__damaged(err, path,
                                 "a table of resource classes or failure handlers is "
                                 "incomplete");
    }
    return 0;
}

/* Reads kind k's rows in order into dst; hashes them. For strings, fills
 * offs[i] with the pool offset of item i (when offs is not NULL). The
 * BLOBs are read with sqlite3_blob_read straight into dst: a column read
 * would first copy each 4 MiB row into a buffer of SQLite's own. */
static int read_kind(sqlite3_stmt *st, sqlite3 *db, const char *path, int k,
                     const struct kind_meta *km, char *dst, uint64_t pool_off, uint64_t *offs,
                     struct snap__hash *h, struct vl_err *err)
{
    sqlite3_bind_text(st, 1, snap__kinds[k].name, -1, SQLITE_STATIC);
    unsigned w = snap__kinds[k].width;
    uint64_t item = 0, at = 0, seq = 0;
    sqlite3_blob *blob = NULL;
    int rc, code = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64(st, 0), sq = sqlite3_column_int64(st, 1),
                first = sqlite3_column_int64(st, 2), cnt = sqlite3_column_int64(st, 3);
        int brc = blob ? sqlite3_blob_reopen(blob, rowid)
                       : sqlite3_blob_open(db, "main", "spec_chunk", "data", rowid, 0, &blob);
        if (brc != SQLITE_OK) {
            code = brc == SQLITE_ERROR ? snap__damaged(err, path,
                                                       "a row of the workflow's arrays "
                                                       "is not a BLOB")
                                       : snap__sql_err(err, db, brc, "cannot read %s", path);
            break;
        }
        uint64_t len = (uint64_t)sqlite3_blob_bytes(blob);
        if (sq != (int64_t)seq || first != (int64_t)item || cnt <= 0 ||
            (uint64_t)cnt > km->items - item || len > km->bytes - at ||
            (w && len != (uint64_t)cnt * w) || (!w && len == 0)) {
            code = snap__damaged(err, path, "a row of the workflow's arrays is out of place");
            break;
        }
        if (len && (brc = sqlite3_blob_read(blob, dst + at, (int)len, 0)) != SQLITE_OK) {
            code = snap__sql_err(err, db, brc, "cannot read %s", path);
            break;
        }
        snap__hash_add(h, dst + at, len);
        if (!w) { /* count the strings: exactly cnt, the last one ending the row */
            const char *p = dst + at, *e = p + len;
            uint64_t c = 0;
            while (p < e) {
                const char *z = memchr(p, '\0', (size_t)(e - p));
                if (!z || c == (uint64_t)cnt)
                    break;
                if (offs)
                    offs[item + c] = pool_off + (uint64_t)(p - dst);
                c++;
                p = z + 1;
            }
            if (c != (uint64_t)cnt || p != e) {
                code = snap__damaged(err, path, "a row of names or commands is cut short");
                break;
            }
        }
        at += len;
        item += (uint64_t)cnt;
        seq++;
    }
    sqlite3_blob_close(blob);
    if (!code && rc != SQLITE_DONE && rc != SQLITE_ROW)
        code = snap__sql_err(err, db, rc, "cannot read %s", path);
    if (!code && (item != km->items || at != km->bytes))
        code = snap__damaged(err, path, "the workflow's arrays are incomplete");
    sqlite3_reset(st);
    if (!code)
        snap__hash_kind_end(h, k, item, at);
    return code;
}

/* Prefix sums of per-job counts into CSR offsets; false if they overflow
 * or do not end at total. */
static bool degrees_to_off(const uint32_t *deg, uint32_t n, uint64_t *off, uint64_t total)
{
    off[0] = 0;
    for (uint32_t j = 0; j < n; j++)
        off[j + 1] = off[j] + deg[j];
    return off[n] == total;
}

/* Distinct job names: an open-addressing table of jids, 2x njobs. */
static int check_names(const struct spec *s, const char *path, struct vl_err *err)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)s->njobs * 2)
        cap <<= 1;
    uint32_t *tab = vl_alloc_array(cap, sizeof *tab, false, "the name check", err);
    if (!tab)
        return err ? err->code : VL_ETOOBIG;
    memset(tab, 0xff, cap * sizeof *tab);
    int code = 0;
    for (uint32_t j = 0; j < s->njobs && !code; j++) {
        const char *name = spec_job_name(s, j);
        uint64_t x = 0xcbf29ce484222325ull; /* FNV-1a, then a multiply to spread it */
        for (const char *p = name; *p; p++)
            x = (x ^ (uint8_t)*p) * 0x100000001b3ull;
        uint64_t i = ((x * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
        while (tab[i] != UINT32_MAX) {
            if (strcmp(spec_job_name(s, tab[i]), name) == 0) {
                code = snap__damaged(err, path, "two jobs have the same name");
                break;
            }
            i = (i + 1) & (cap - 1);
        }
        tab[i] = j;
    }
    free(tab);
    return code;
}

/* The job rows over the initial records; counts checked against the
 * state_count table. */
static int read_jobs(sqlite3 *db, const char *path, int schema, const struct spec *s,
                     const uint64_t *counts, struct snap_job *jobs, uint8_t *state,
                     struct vl_err *err)
{
    for (uint32_t j = 0; j < s->njobs; j++)
        snap_job_init(s, j, &jobs[j]);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, snap__job_select(schema, false), -1, &st, NULL);
    int code = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        int64_t jid = sqlite3_column_int64(st, 0), state8 = sqlite3_column_int64(st, 1),
                att = sqlite3_column_int64(st, 2), ec = sqlite3_column_int64(st, 3),
                lost = sqlite3_column_int64(st, 7);
        if (jid < 0 || jid >= s->njobs || state8 < 0 || state8 >= SNAP_NSTATES || att < 0 ||
            att > UINT32_MAX || ec < INT32_MIN || ec > INT32_MAX || lost < 0 || lost > 2047) {
            code = snap__damaged(err, path, "a job record is out of range");
            break;
        }
        struct snap_job *j = &jobs[jid];
        j->state = (uint8_t)state8;
        j->attempt = (uint32_t)att;
        j->exit_code = (int32_t)ec;
        j->start_ns = (uint64_t)sqlite3_column_int64(st, 4);
        j->end_ns = (uint64_t)sqlite3_column_int64(st, 5);
        j->log_ref = (uint64_t)sqlite3_column_int64(st, 6);
        j->lost = (uint16_t)lost;
        if (!snap__job_usage(st, 8, j)) {
            code = snap__damaged(err, path, "a job's recorded usage is out of range");
            break;
        }
    }
    sqlite3_finalize(st);
    if (!code && rc != SQLITE_DONE)
        code = snap__sql_err(err, db, rc, "cannot read the job records of %s", path);
    if (code)
        return code;
    uint64_t c[SNAP_NSTATES] = {0};
    for (uint32_t j = 0; j < s->njobs; j++) {
        state[j] = jobs[j].state;
        c[jobs[j].state]++;
    }
    if (memcmp(c, counts, sizeof c) != 0)
        return snap__damaged(err, path, "the per-state counts do not match the job records");
    return 0;
}

/* The arrays read into temporaries before they become the spec's. */
struct spec_tmp {
    uint32_t *nkids, *nins, *nouts, *prod, *fflags;
    uint64_t *fname, *fpath;
};

static void spec_tmp_free(struct spec_tmp *t)
{
    free(t->nkids);
    free(t->nins);
    free(t->nouts);
    free(t->prod);
    free(t->fflags);
    free(t->fname);
    free(t->fpath);
}

/* Every array of s and t, sized from the kinds' metadata (km): 0 or the
 * code of the first that could not be had. */
static int alloc_arrays(struct spec *s, struct spec_tmp *t, const struct kind_meta *km,
                        struct vl_err *err)
{
    uint32_t n = s->njobs, nf = s->nfiles;
    int code = 0;
#define ALLOC(p, cnt, what)                                                                        \
    do {                                                                                           \
        if (!code && !((p) = vl_alloc_array((cnt) ? (cnt) : 1, sizeof *(p), false, what, err)))    \
            code = err ? err->code : VL_ETOOBIG;                                                   \
    } while (0)
    ALLOC(s->name_off, n, "job names");
    ALLOC(s->cmd_off, n, "commands");
    ALLOC(s->npar, n, "in-degrees");
    ALLOC(t->nkids, n, "out-degrees");
    ALLOC(s->kid_off, (uint64_t)n + 1, "edge offsets");
    ALLOC(s->kids, s->nedges, "edges");
    ALLOC(s->rr, n, "resource classes");
    ALLOC(s->fh, n, "failure handlers");
    ALLOC(s->flags, n, "job flags");
    if (km[SNAP__JOB_ENV].items)
        ALLOC(s->env, n, "env sets");
    if ((s->nenvkv = km[SNAP__ENV_KV].items))
        ALLOC(s->envkv, s->nenvkv, "env entries");
    if ((s->nact_cmds = (uint32_t)km[SNAP__ACT_CMD].items))
        ALLOC(s->act_cmds, s->nact_cmds, "action commands");
    if ((s->nact_jobs = km[SNAP__ACT_JOBS].items))
        ALLOC(s->act_jobs, s->nact_jobs, "action jobs");
    if (km[SNAP__JOB_PRIO].items)
        ALLOC(s->prio, n, "job priorities");
    if (nf) {
        ALLOC(t->nins, n, "input files");
        ALLOC(t->nouts, n, "output files");
        ALLOC(s->in_off, (uint64_t)n + 1, "input files");
        ALLOC(s->out_off, (uint64_t)n + 1, "output files");
        ALLOC(s->ins, km[SNAP__JOB_INS].items, "input files");
        ALLOC(s->outs, km[SNAP__JOB_OUTS].items, "output files");
        ALLOC(s->files, nf, "files");
        ALLOC(t->fname, nf, "files");
        ALLOC(t->fpath, nf, "files");
        ALLOC(t->prod, nf, "files");
        ALLOC(t->fflags, nf, "files");
    }
#undef ALLOC
    return code;
}

/* Reads every kind into its array (numbers) or the pool at str_at[k]
 * (strings, with their offsets), hashing as it goes. */
static int read_arrays(sqlite3 *db, const char *path, struct spec *s, struct spec_tmp *t,
                       struct kind_meta *km, const uint64_t *str_at, struct snap__hash *h,
                       struct vl_err *err)
{
    /* where each kind goes: numbers to an array, strings' offsets to one */
    void *const dst[SNAP__NKINDS] = {
        [SNAP__JOB_NPAR] = s->npar, [SNAP__JOB_NKIDS] = t->nkids,    [SNAP__JOB_KIDS] = s->kids,
        [SNAP__JOB_RR] = s->rr,     [SNAP__JOB_FH] = s->fh,          [SNAP__JOB_FLAGS] = s->flags,
        [SNAP__JOB_NINS] = t->nins, [SNAP__JOB_INS] = s->ins,        [SNAP__JOB_NOUTS] = t->nouts,
        [SNAP__JOB_OUTS] = s->outs, [SNAP__FILE_PRODUCER] = t->prod, [SNAP__FILE_FLAGS] = t->fflags,
        [SNAP__JOB_ENV] = s->env,   [SNAP__ACT_JOBS] = s->act_jobs,  [SNAP__JOB_PRIO] = s->prio,
    };
    uint64_t *const offs[SNAP__NKINDS] = {
        [SNAP__JOB_NAME] = s->name_off, [SNAP__JOB_CMD] = s->cmd_off, [SNAP__FILE_NAME] = t->fname,
        [SNAP__FILE_PATH] = t->fpath,   [SNAP__ENV_KV] = s->envkv,    [SNAP__ACT_CMD] = s->act_cmds,
    };
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT rowid, seq, first, items FROM spec_chunk WHERE kind = ?"
                                " ORDER BY seq",
                                -1, &st, NULL);
    int code = rc != SQLITE_OK ? snap__sql_err(err, db, rc, "cannot read %s", path) : 0;
    for (int k = 0; k < SNAP__NKINDS && !code; k++) {
        if (snap__kind_optional(k) && !km[k].items)
            continue; /* absent: nothing read, nothing hashed */
        char *to = snap__kinds[k].width ? dst[k] : s->pool + str_at[k];
        code = read_kind(st, db, path, k, &km[k], to, str_at[k], offs[k], h, err);
    }
    sqlite3_finalize(st);
    return code;
}

/* The small tables' strings into the pool at small_at, the files, the
 * CSR offsets from the degrees. */
static int assemble(struct spec *s, const struct spec_tmp *t, const struct vl_buf *small,
                    uint64_t small_at, const struct kind_meta *km, const char *path,
                    struct vl_err *err)
{
    uint32_t n = s->njobs, nf = s->nfiles;
    memcpy(s->pool + small_at, small->p ? small->p : "", small->len);
    s->pool[s->pool_len - 1] = '\0';
    for (uint32_t i = 0; i < s->nrr; i++)
        s->rrs[i].name_off += small_at;
    for (uint32_t i = 0; i < s->nfh; i++)
        s->fhs[i].name_off += small_at;
    for (uint32_t i = 0; i < s->nrules; i++)
        if (s->rules[i].script_off != SPEC_NO_STR)
            s->rules[i].script_off += small_at;
    for (uint32_t i = 0; i < nf; i++)
        s->files[i] = (struct spec_file){.name_off = t->fname[i],
                                         .path_off = t->fpath[i],
                                         .producer = t->prod[i],
                                         .flags = t->fflags[i]};
    if (!degrees_to_off(t->nkids, n, s->kid_off, s->nedges) ||
        (nf && (!degrees_to_off(t->nins, n, s->in_off, km[SNAP__JOB_INS].items) ||
                !degrees_to_off(t->nouts, n, s->out_off, km[SNAP__JOB_OUTS].items))))
        return snap__damaged(err, path, "the edge counts do not add up");
    return 0;
}

/* The rebuilt spec is the one stored: its hash, spec_check, unique names. */
static int verify_spec(const struct spec *s, struct snap__hash *h, uint64_t want, const char *path,
                       struct vl_err *err)
{
    snap__hash_rest(h, s);
    if (snap__hash_end(h) != want)
        return snap__damaged(err, path, "the workflow's content hash does not match");
    struct vl_err e2 = {0};
    if (spec_check(s, &e2) != 0)
        return vl_err_set(err, VL_ECORRUPT,
                          "%s: the stored workflow is inconsistent (%s); the file is "
                          "damaged and this run cannot be resumed from it",
                          path, e2.msg);
    return check_names(s, path, err);
}

/* Rebuilds the spec from the arrays and small tables; verifies the hash. */
static int read_spec(sqlite3 *db, const char *path, int schema, const struct snap__run_row *r,
                     struct spec *s, struct vl_err *err)
{
    struct kind_meta km[SNAP__NKINDS];
    int code = read_kinds(db, path, schema, r, km, err);
    if (code)
        return code;
    struct vl_buf small = {0};
    code = read_small(db, path, r, s, &small, err);
    if (!code)
        code = snap__read_exec(db, path, schema, s, err);
    if (code) {
        vl_buf_free(&small);
        return code;
    }
    s->njobs = r->info.njobs;
    s->nedges = r->info.nedges;
    s->nfiles = (uint32_t)r->nfiles;
    s->name = vl_xstrdup(r->info.workflow ? r->info.workflow : "");
    s->description = r->description ? vl_xstrdup(r->description) : NULL;
    s->path = vl_xstrdup(r->info.source ? r->info.source : "<volley.db>");

    /* pool: [job names][commands][file names][file paths][env entries]
     * [action commands][small strings]NUL */
    uint64_t str_at[SNAP__NKINDS] = {0};
    uint64_t pool_len = 0;
    static const int str_kinds[] = {SNAP__JOB_NAME,  SNAP__JOB_CMD, SNAP__FILE_NAME,
                                    SNAP__FILE_PATH, SNAP__ENV_KV,  SNAP__ACT_CMD};
    for (size_t i = 0; i < VL_ARRAY_LEN(str_kinds); i++) {
        str_at[str_kinds[i]] = pool_len;
        pool_len += km[str_kinds[i]].bytes;
    }
    uint64_t small_at = pool_len;
    pool_len += small.len + 1;
    s->pool_len = pool_len;
    s->pool = vl_alloc_array(pool_len, 1, false, "the string pool", err);
    prefault(s->pool, pool_len);
    struct spec_tmp t = {0};
    struct snap__hash h;
    snap__hash_init(&h);
    if (!s->pool)
        code = err ? err->code : VL_ETOOBIG;
    if (!code)
        code = alloc_arrays(s, &t, km, err);
    if (!code)
        code = read_arrays(db, path, s, &t, km, str_at, &h, err);
    if (!code)
        code = assemble(s, &t, &small, small_at, km, path, err);
    if (!code)
        code = verify_spec(s, &h, r->info.spec_hash, path, err);
    spec_tmp_free(&t);
    vl_buf_free(&small);
    return code;
}

/* snap_open, and snap_read (writable false: a read-only connection, no
 * checkpoint statements; d is closed before it returns). */
static int restore(struct snap *d, const char *dir, bool writable, const struct snap_expect *want,
                   struct spec *spec, struct snap_job **jobs, struct snap_info *info,
                   struct vl_err *err)
{
    *jobs = NULL;
    memset(spec, 0, sizeof *spec);
    if (info)
        memset(info, 0, sizeof *info);
    d->path = snap__join(dir, RUNDIR_DB);
    char fs[32];
    d->netfs = snap_fs_network(dir, fs, sizeof fs);
    struct snap__run_row r;
    memset(&r, 0, sizeof r);
    struct snap_job *recs = NULL;
    int schema;
    int code = snap__open_checked(dir, d->path, writable, &d->db, &schema, err);
    if (code)
        goto fail;
    d->schema = schema;
    /* one read transaction: a consistent view even if the file is shared */
    int rc = snap__exec_sql(d->db, "BEGIN");
    if (rc != SQLITE_OK) {
        code = snap__sql_err(err, d->db, rc, "cannot read %s", d->path);
        goto fail;
    }
    if ((code = snap__read_run(d->db, d->path, &r, err)) ||
        (code = snap__check_expect(d->path, &r.info, want, err)) ||
        (code = snap__read_counts(d->db, d->path, &r.info, err)) ||
        (code = snap__read_opts(d->db, d->path, schema, &r.info, err)) ||
        (code = snap__read_gen(d->db, d->path, schema, &r.info, err)) ||
        (code = snap__read_gov(d->db, d->path, schema, &r.info, err)) ||
        (code = snap__read_allocs(d->db, d->path, schema, &r.info, err)) ||
        (code = read_spec(d->db, d->path, schema, &r, spec, err)))
        goto fail;
    d->spec = spec;
    if ((code = snap__read_actions(d, err)))
        goto fail;
    recs = vl_alloc_array(spec->njobs, sizeof *recs, false, "the job records", err);
    d->state = vl_alloc_array(spec->njobs, 1, false, "the checkpoint state table", err);
    prefault(recs, (size_t)spec->njobs * sizeof *recs);
    prefault(d->state, spec->njobs);
    if (!recs || !d->state) {
        code = err ? err->code : VL_ETOOBIG;
        goto fail;
    }
    if ((code = read_jobs(d->db, d->path, schema, spec, r.info.counts, recs, d->state, err)))
        goto fail;
    memcpy(d->counts, r.info.counts, sizeof d->counts);
    d->gen = r.info.gen;
    if (writable && schema >= SNAP_SCHEMA_GOV && spec->njobs) { /* the running CPU sum */
        d->cpu_ms = vl_alloc_array(spec->njobs, sizeof *d->cpu_ms, false, "the CPU table", err);
        if (!d->cpu_ms) {
            code = err ? err->code : VL_ETOOBIG;
            goto fail;
        }
        for (uint32_t j = 0; j < spec->njobs; j++) {
            d->cpu_ms[j] = snap__cpu_ms(&recs[j]);
            d->cpu_total += d->cpu_ms[j];
        }
    }
    snap__exec_sql(d->db, "COMMIT");
    d->spec = spec;
    rc = writable ? snap__prepare_writer(d) : SQLITE_OK;
    if (rc != SQLITE_OK) {
        code = snap__sql_err(err, d->db, rc, "cannot prepare checkpoints to %s", d->path);
        goto fail;
    }
    *jobs = recs;
    if (info) {
        *info = r.info;
        memset(&r.info, 0, sizeof r.info);
    }
    snap__run_row_fini(&r);
    return 0;
fail:
    snap__run_row_fini(&r);
    free(recs);
    spec_free(spec);
    return code;
}

int snap_open(struct snap **out, const char *dir, const struct snap_expect *want, struct spec *spec,
              struct snap_job **jobs, struct snap_info *info, struct vl_err *err)
{
    *out = NULL;
    struct snap *d = vl_xcalloc(1, sizeof *d);
    int code = restore(d, dir, true, want, spec, jobs, info, err);
    if (code) {
        snap_close(d);
        return code;
    }
    *out = d;
    return 0;
}

int snap_read(const char *dir, struct spec *spec, struct snap_job **jobs, struct snap_info *info,
              struct vl_err *err)
{
    struct snap *d = vl_xcalloc(1, sizeof *d);
    int code = restore(d, dir, false, NULL, spec, jobs, info, err);
    snap_close(d);
    return code;
}
