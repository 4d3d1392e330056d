/*
 * test_logs.c - the log segment writer and reader (logfmt.h): round trips,
 * merged records, the reference hint, reopening (torn index tail and
 * unindexed segment bytes are dropped), "latest BEGIN wins", a live
 * writer's partial record, write errors (sticky, reported by the engine),
 * and every kind of damage the reader must refuse with its message.
 */
#include <signal.h>
#include <sys/resource.h>

#include "core/logread.h"
#include "core/logseg.h"
#include "core/worker.h"
#include "exec_testlib.h"

static struct tl_log rd(const char *dir, uint32_t jid, uint32_t a, unsigned st,
                        const struct logread_ref *hint)
{
    return tl_read_log(dir, jid, a, st, hint);
}

static void open_ok(struct logseg *ls, const char *dir, uint32_t id)
{
    struct vl_err err = {0};
    int rc = logseg_open(ls, dir, id, &err);
    if (rc)
        fprintf(stderr, "logseg_open: %s\n", err.msg);
    CHECK_EQ(rc, 0);
}

static void test_roundtrip(void)
{
    const char *dir = tl_mkdir();
    struct logseg ls;
    open_ok(&ls, dir, 3);
    uint64_t b1 = logseg_begin(&ls, 1, 1, 100);
    uint64_t b2 = logseg_begin(&ls, 2, 1, 101);
    CHECK_U64(b1, 0);
    CHECK_U64(b2, 1);
    /* interleaved chunks; the same stream twice in a row merges */
    logseg_data(&ls, 1, 1, LOG_STDOUT, "hel", 3);
    logseg_data(&ls, 1, 1, LOG_STDOUT, "lo\n", 3);
    logseg_data(&ls, 2, 1, LOG_STDOUT, "two\n", 4);
    logseg_data(&ls, 1, 1, LOG_STDERR, "e1", 2);
    logseg_data(&ls, 2, 1, LOG_STDERR, "e2", 2);
    logseg_data(&ls, 1, 1, LOG_STDOUT, "more", 4);
    logseg_end(&ls, 1, 1, LOG_STDOUT, LOGREC_EOF);
    logseg_end(&ls, 1, 1, LOG_STDERR, LOGREC_CUT);
    logseg_note(&ls, 1, 1, "volley: note %d", 7);
    CHECK_EQ(logseg_flush(&ls), 0);
    /* 2 BEGIN + 6 DATA (one merged) + 2 ends + 1 note = 10 records */
    CHECK_U64(ls.nrec, 10);
    /* a big write crosses the 1 MiB staging buffer */
    size_t big = 3u << 20;
    uint8_t *b = malloc(big);
    for (size_t i = 0; i < big; i++)
        b[i] = (uint8_t)(i * 7 + (i >> 9));
    logseg_data(&ls, 2, 1, LOG_STDOUT, b, big);
    logseg_end(&ls, 2, 1, LOG_STDOUT, LOGREC_EOF);
    logseg_close(&ls);

    struct logread_ref h1 = {.log_id = 3, .rec = b1}, h2 = {.log_id = 3, .rec = b2};
    struct tl_log l = rd(dir, 1, 1, LOG_STDOUT, &h1);
    CHECK_STR(l.p, "hello\nmore");
    CHECK(l.info.ended && !l.info.cut && l.info.start_ns == 100 && l.info.log_id == 3);
    free(l.p);
    l = rd(dir, 1, 1, LOG_STDERR, NULL);
    CHECK_STR(l.p, "e1");
    CHECK(l.info.ended && l.info.cut);
    free(l.p);
    l = rd(dir, 1, 1, LOG_NOTE, NULL);
    CHECK_STR(l.p, "volley: note 7\n");
    CHECK(!l.info.ended);
    free(l.p);
    l = rd(dir, 2, 1, LOG_STDOUT, &h2);
    CHECK_EQ(l.len, 4 + big);
    CHECK(l.len == 4 + big && memcmp(l.p, "two\n", 4) == 0 && memcmp(l.p + 4, b, big) == 0);
    free(l.p);
    /* a wrong hint falls back to the scan */
    struct logread_ref bad = {.log_id = 3, .rec = 5};
    l = rd(dir, 2, 1, LOG_STDERR, &bad);
    CHECK_STR(l.p, "e2");
    free(l.p);
    bad.log_id = 77;
    l = rd(dir, 2, 1, LOG_STDERR, &bad);
    CHECK_STR(l.p, "e2");
    free(l.p);
    /* nothing there */
    l = rd(dir, 9, 1, LOG_STDOUT, NULL);
    CHECK_EQ(l.rc, -ENOENT);
    char want[600];
    snprintf(want, sizeof want, "no log for job 9, attempt 1 in %s", dir);
    CHECK_STR(l.msg, want);
    free(l.p);
    l = rd(dir, 1, 1, 9, NULL);
    CHECK_EQ(l.rc, -EINVAL);
    CHECK_HAS(l.msg, "no stream 9 or attempt 1 in job logs");
    free(l.p);
    /* the reader's output closed: -EPIPE, not a crash */
    signal(SIGPIPE, SIG_IGN);
    int pfd[2];
    CHECK_EQ(pipe(pfd), 0);
    close(pfd[0]);
    struct logread_info info;
    struct vl_err err;
    CHECK_EQ(logread_copy(dir, 2, 1, LOG_STDOUT, &h2, pfd[1], &info, &err), -EPIPE);
    CHECK_HAS(err.msg, "cannot write the log of job 2");
    close(pfd[1]);
    signal(SIGPIPE, SIG_DFL);
    free(b);
    tl_rmdir(dir);
}

static void test_merge_and_latest(void)
{
    const char *dir = tl_mkdir();
    struct logseg ls;
    open_ok(&ls, dir, 0);
    logseg_begin(&ls, 5, 1, 1000);
    for (int i = 0; i < 10000; i++)
        logseg_data(&ls, 5, 1, LOG_STDOUT, "x", 1);
    logseg_end(&ls, 5, 1, LOG_STDOUT, LOGREC_EOF);
    CHECK_EQ(logseg_flush(&ls), 0);
    CHECK_U64(ls.nrec, 3); /* 10000 one-byte reads, one DATA record */
    logseg_close(&ls);
    /* the same attempt begun again later, in another index: it wins */
    open_ok(&ls, dir, 1);
    logseg_begin(&ls, 5, 1, 2000);
    logseg_data(&ls, 5, 1, LOG_STDOUT, "second", 6);
    logseg_end(&ls, 5, 1, LOG_STDOUT, LOGREC_EOF);
    logseg_begin(&ls, 5, 2, 3000);
    logseg_close(&ls);
    struct tl_log l = rd(dir, 5, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "second");
    CHECK_U64(l.info.start_ns, 2000);
    free(l.p);
    uint32_t last = 0;
    struct vl_err err;
    CHECK_EQ(logread_last_attempt(dir, 5, &last, &err), 0);
    CHECK_EQ(last, 2);
    CHECK_EQ(logread_last_attempt(dir, 6, &last, &err), 0);
    CHECK_EQ(last, 0);
    l = rd(dir, 5, 2, LOG_STDOUT, NULL);
    CHECK_EQ(l.rc, 0);
    CHECK_EQ(l.len, 0);
    CHECK(!l.info.ended);
    free(l.p);
    tl_rmdir(dir);
}

static void append_raw(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(write(fd, p, n) == (ssize_t)n);
    close(fd);
}

static void test_reopen(void)
{
    const char *dir = tl_mkdir();
    struct logseg ls;
    open_ok(&ls, dir, 2);
    logseg_begin(&ls, 1, 1, 10);
    logseg_data(&ls, 1, 1, LOG_STDOUT, "abc", 3);
    logseg_close(&ls);
    /* a crash: half a record in the index, bytes nobody indexed */
    char idx[600], seg[600];
    logseg_path(idx, sizeof idx, dir, 2, true);
    logseg_path(seg, sizeof seg, dir, 2, false);
    append_raw(idx, "0123456789abc", 13);
    append_raw(seg, "orphan", 6);
    /* a live reader ignores the partial record */
    struct tl_log l = rd(dir, 1, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "abc");
    free(l.p);
    open_ok(&ls, dir, 2);
    CHECK_U64(ls.nrec, 2);
    CHECK_U64(ls.seg_end, 64 + 3);
    logseg_data(&ls, 1, 1, LOG_STDOUT, "def", 3);
    logseg_end(&ls, 1, 1, LOG_STDOUT, LOGREC_EOF);
    logseg_close(&ls);
    struct stat st;
    stat(idx, &st);
    CHECK_EQ(st.st_size, 64 + 4 * 32);
    l = rd(dir, 1, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "abcdef");
    CHECK(l.info.ended);
    free(l.p);
    tl_rmdir(dir);
}

/* Rewrites record i of an index with f applied (re-sealed if seal). */
static void patch_rec(const char *idx, uint64_t i, void (*f)(struct logfmt_rec *), bool seal)
{
    int fd = open(idx, O_RDWR);
    struct logfmt_rec r;
    off_t off = (off_t)(64 + i * 32);
    CHECK(pread(fd, &r, sizeof r, off) == sizeof r);
    f(&r);
    if (seal)
        logfmt_rec_seal(&r);
    CHECK(pwrite(fd, &r, sizeof r, off) == sizeof r);
    close(fd);
}

static void flip_jid(struct logfmt_rec *r)
{
    r->jid ^= 0x100;
}
static void shift_off(struct logfmt_rec *r)
{
    r->off -= 1;
}
static void bad_kind(struct logfmt_rec *r)
{
    r->kind = 9;
}
static void bad_stream(struct logfmt_rec *r)
{
    r->stream = 7;
}
static void nonzero(struct logfmt_rec *r)
{
    r->aux = 1;
}
static void zero_len(struct logfmt_rec *r)
{
    r->len = 0;
}
static void begin_len(struct logfmt_rec *r)
{
    r->len = 4;
}
static void end_off(struct logfmt_rec *r)
{
    r->off = 12;
}

/* A fresh pair: BEGIN(1,1), DATA "abc", DATA(err) "de", EOF. */
static void fresh(const char *dir)
{
    char p[600];
    logseg_path(p, sizeof p, dir, 0, true);
    unlink(p);
    logseg_path(p, sizeof p, dir, 0, false);
    unlink(p);
    struct logseg ls;
    open_ok(&ls, dir, 0);
    logseg_begin(&ls, 1, 1, 10);
    logseg_data(&ls, 1, 1, LOG_STDOUT, "abc", 3);
    logseg_data(&ls, 1, 1, LOG_STDERR, "de", 2);
    logseg_end(&ls, 1, 1, LOG_STDOUT, LOGREC_EOF);
    logseg_close(&ls);
}

static void expect_damage(const char *dir, int code, const char *msg)
{
    struct tl_log l = rd(dir, 1, 1, LOG_STDOUT, NULL);
    CHECK_EQ(l.rc, code);
    CHECK_HAS(l.msg, msg);
    free(l.p);
}

static void test_damage(void)
{
    const char *dir = tl_mkdir();
    char idx[600], seg[600], want[900];
    logseg_path(idx, sizeof idx, dir, 0, true);
    logseg_path(seg, sizeof seg, dir, 0, false);

    fresh(dir);
    patch_rec(idx, 1, flip_jid, false);
    snprintf(want, sizeof want, "log index %s is damaged: record 1 (byte 96): checksum mismatch",
             idx);
    expect_damage(dir, VL_ECORRUPT, want);
    /* the writer refuses to append to it as well */
    fresh(dir);
    patch_rec(idx, 3, flip_jid, false);
    struct logseg ls;
    struct vl_err err;
    CHECK_EQ(logseg_open(&ls, dir, 0, &err), VL_ECORRUPT);
    CHECK_HAS(err.msg, "record 3 is damaged: checksum mismatch");

    fresh(dir);
    patch_rec(idx, 2, shift_off, true);
    expect_damage(dir, VL_ECORRUPT, "record 2 (byte 128): DATA record does not follow");
    fresh(dir);
    patch_rec(idx, 1, bad_kind, true);
    expect_damage(dir, VL_ECORRUPT, "unknown record kind");
    fresh(dir);
    patch_rec(idx, 1, bad_stream, true);
    expect_damage(dir, VL_ECORRUPT, "unknown stream");
    fresh(dir);
    patch_rec(idx, 1, nonzero, true);
    expect_damage(dir, VL_ECORRUPT, "reserved fields are not zero");
    fresh(dir);
    patch_rec(idx, 1, zero_len, true);
    expect_damage(dir, VL_ECORRUPT, "DATA record of length 0");
    fresh(dir);
    patch_rec(idx, 0, begin_len, true);
    expect_damage(dir, VL_ECORRUPT, "BEGIN record with a stream or a length");
    fresh(dir);
    patch_rec(idx, 3, end_off, true);
    expect_damage(dir, VL_ECORRUPT, "end record with an offset or a length");

    /* segment shorter than its index says */
    fresh(dir);
    CHECK_EQ(truncate(seg, 64 + 2), 0);
    expect_damage(dir, VL_ECORRUPT, "record 1 (byte 96): DATA record points outside the segment");
    CHECK_EQ(logseg_open(&ls, dir, 0, &err), VL_ECORRUPT);
    CHECK_HAS(err.msg, "refers to 69 bytes of");

    /* headers */
    fresh(dir);
    int fd = open(idx, O_RDWR);
    struct logfmt_hdr h;
    CHECK(pread(fd, &h, sizeof h, 0) == sizeof h);
    struct logfmt_hdr v = h;
    v.version = 2;
    v.check = logfmt_check(&v, offsetof(struct logfmt_hdr, check));
    CHECK(pwrite(fd, &v, sizeof v, 0) == sizeof v);
    snprintf(want, sizeof want, "log index %s is damaged: written by another log format version",
             idx);
    expect_damage(dir, VL_EVERSION, want);
    v = h;
    memcpy(v.magic, "NOTALOG", 8);
    CHECK(pwrite(fd, &v, sizeof v, 0) == sizeof v);
    expect_damage(dir, VL_ECORRUPT, "not a volley log index (bad magic)");
    v = h;
    v.log_id = 1;
    CHECK(pwrite(fd, &v, sizeof v, 0) == sizeof v);
    expect_damage(dir, VL_ECORRUPT, "header checksum mismatch");
    v.check = logfmt_check(&v, offsetof(struct logfmt_hdr, check));
    CHECK(pwrite(fd, &v, sizeof v, 0) == sizeof v);
    expect_damage(dir, VL_ECORRUPT, "does not belong to index");
    v = h;
    v.reserved[3] = 1;
    v.check = logfmt_check(&v, offsetof(struct logfmt_hdr, check));
    CHECK(pwrite(fd, &v, sizeof v, 0) == sizeof v);
    expect_damage(dir, VL_ECORRUPT, "reserved header bytes are not zero");
    CHECK_EQ(ftruncate(fd, 10), 0);
    snprintf(want, sizeof want,
             "log index %s is damaged: 10 bytes, shorter than its 64-byte header", idx);
    expect_damage(dir, VL_ECORRUPT, want);
    close(fd);
    CHECK_EQ(logseg_open(&ls, dir, 0, &err), VL_ECORRUPT);
    CHECK_HAS(err.msg, "shorter than its header; move it and");

    fresh(dir);
    fd = open(seg, O_RDWR);
    CHECK(pwrite(fd, "XX", 2, 0) == 2);
    close(fd);
    expect_damage(dir, VL_ECORRUPT, "not a volley log segment (bad magic)");
    unlink(seg);
    expect_damage(dir, -ENOENT, "cannot open log segment");

    /* the in-memory checker */
    fresh(dir);
    uint8_t buf[64 + 4 * 32 + 5];
    fd = open(idx, O_RDONLY);
    CHECK(read(fd, buf, sizeof buf) == 64 + 4 * 32);
    close(fd);
    CHECK_EQ(logread_check_index(buf, 64 + 4 * 32, 64 + 5, &err), 0);
    CHECK_EQ(logread_check_index(buf, 64 + 4 * 32 + 5, 64 + 5, &err), 0);
    CHECK_EQ(logread_check_index(buf, 64 + 4 * 32, 64 + 4, &err), VL_ECORRUPT);
    CHECK_HAS(err.msg, "record 2 (byte 128): DATA record points outside the segment");
    CHECK_EQ(logread_check_index(buf, 20, 0, &err), VL_ECORRUPT);
    CHECK_HAS(err.msg, "20 bytes, shorter than its 64-byte header");
    tl_rmdir(dir);
}

/* Writes fail (file size limit): the error is sticky, no record describes
 * bytes that are not there, and the engine stops at once: the attempt
 * whose bytes were lost is "stopped" (it stays running in the arena and
 * runs again on resume, rather than counting as completed with its output
 * gone), no further job starts, and the error is returned. */
static void test_write_error(void)
{
    const char *dir = tl_mkdir();
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    struct logseg ls;
    open_ok(&ls, dir, 0);
    logseg_begin(&ls, 1, 1, 10);
    logseg_data(&ls, 1, 1, LOG_STDOUT, "kept", 4);
    CHECK_EQ(logseg_flush(&ls), 0);
    setrlimit(RLIMIT_FSIZE, &lim);
    static uint8_t big[8192];
    logseg_data(&ls, 1, 1, LOG_STDOUT, big, sizeof big);
    CHECK_EQ(logseg_flush(&ls), -EFBIG);
    logseg_data(&ls, 1, 1, LOG_STDOUT, "x", 1);
    CHECK_EQ(logseg_flush(&ls), -EFBIG);
    setrlimit(RLIMIT_FSIZE, &old);
    logseg_close(&ls);
    struct tl_log l = rd(dir, 1, 1, LOG_STDOUT, NULL);
    CHECK_EQ(l.rc, 0);
    CHECK_STR(l.p, "kept");
    free(l.p);
    /* and a reopen cuts the unindexed bytes that did get written */
    open_ok(&ls, dir, 0);
    CHECK_U64(ls.seg_end, 64 + 4);
    logseg_close(&ls);

    struct exec_engine *e = tl_open(dir, 1, NULL);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "chatty", "head -c 20000 /dev/zero");
    setrlimit(RLIMIT_FSIZE, &lim);
    struct exec_source src = tl_source(&ts);
    struct vl_err err;
    int rc = exec_engine_run(e, &src, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_EQ(rc, -EFBIG);
    CHECK_HAS(err.msg, "job logs could not be written to");
    CHECK_HAS(err.msg, "File too large");
    CHECK(tl_final(&ts, 0) && tl_final(&ts, 0)->outcome == EXEC_STOPPED);
    exec_engine_close(e);

    /* Ten jobs of 3000 bytes one at a time, the disk full after the second:
     * the first two are complete and exact, the third is stopped, and no
     * other job starts. */
    tl_rmdir(dir); /* tl_mkdir reuses one buffer: one scratch dir at a time */
    dir = tl_mkdir();
    e = tl_open(dir, 1, NULL);
    tl_src_init(&ts, TL_FLAT, 0);
    for (int j = 0; j < 10; j++)
        tl_add(&ts, "fill", "head -c 3000 /dev/zero");
    lim.rlim_cur = 8192;
    setrlimit(RLIMIT_FSIZE, &lim);
    src = tl_source(&ts);
    rc = exec_engine_run(e, &src, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_EQ(rc, -EFBIG);
    for (uint32_t j = 0; j < 2; j++) {
        const struct exec_result *r = tl_final(&ts, j);
        CHECK(r && r->outcome == EXEC_COMPLETED);
        struct tl_log o = tl_read_log(dir, j, 1, LOG_STDOUT, r ? &r->log : NULL);
        static const uint8_t zeros[3000];
        CHECK(o.len == sizeof zeros && !memcmp(o.p, zeros, sizeof zeros));
        free(o.p);
    }
    CHECK(tl_final(&ts, 2) && tl_final(&ts, 2)->outcome == EXEC_STOPPED);
    for (uint32_t j = 3; j < 10; j++)
        CHECK(!tl_final(&ts, j));
    CHECK_EQ(ts.next, 3u);
    exec_engine_close(e);
    signal(SIGXFSZ, SIG_DFL);
    tl_check_clean("write_error");
    tl_rmdir(dir);
}

/* Another worker's pair being created: its index (and segment) exist with
 * no header yet. A reader scanning for a job logged elsewhere must not
 * take that moment for damage (a failure announced without its output). */
static void test_pair_being_created(void)
{
    const char *dir = tl_mkdir();
    struct logseg ls;
    open_ok(&ls, dir, 0);
    logseg_begin(&ls, 7, 1, 100);
    logseg_data(&ls, 7, 1, LOG_STDERR, "not found\n", 10);
    logseg_end(&ls, 7, 1, LOG_STDERR, LOGREC_EOF);
    CHECK_EQ(logseg_flush(&ls), 0);
    char idx[600];
    logseg_path(idx, sizeof idx, dir, 1, true);
    int fd = open(idx, O_RDWR | O_CREAT | O_CLOEXEC, 0644); /* the other's, no header */
    CHECK(fd >= 0);
    struct tl_log l = rd(dir, 7, 1, LOG_STDERR, NULL);
    if (l.rc)
        fprintf(stderr, "read: %s\n", l.msg);
    CHECK_EQ(l.rc, 0);
    CHECK(l.len == 10 && !memcmp(l.p, "not found\n", 10));
    free(l.p);
    /* a header cut short is damage, as before */
    CHECK_EQ(pwrite(fd, "x", 1, 0), 1);
    l = rd(dir, 7, 1, LOG_STDERR, NULL);
    CHECK_EQ(l.rc, VL_ECORRUPT);
    free(l.p);
    close(fd);
    logseg_close(&ls);
    tl_rmdir(dir);
}

/* The first record of log 0 is a real reference: it must not read as
 * "no log" (0 in the arena), or the reader falls back to scanning. */
static void test_log_ref_zero(void)
{
    uint64_t r = worker_log_ref(0, 0);
    CHECK(r != 0 && r != UINT64_MAX);
    CHECK_EQ(worker_log_ref_id(r), 0u);
    CHECK_U64(worker_log_ref_rec(r), 0);
    r = worker_log_ref(4095, (1ull << 40) - 1);
    CHECK_EQ(worker_log_ref_id(r), 4095u);
    CHECK_U64(worker_log_ref_rec(r), (1ull << 40) - 1);
    CHECK((int64_t)r > 0); /* stored in SQLite as a positive integer */
    /* references stored by earlier versions (no marker bit) still decode */
    uint64_t old = (3ull << 40) | 17;
    CHECK_EQ(worker_log_ref_id(old), 3u);
    CHECK_U64(worker_log_ref_rec(old), 17);
}

int main(void)
{
    test_roundtrip();
    test_merge_and_latest();
    test_reopen();
    test_damage();
    test_write_error();
    test_pair_being_created();
    test_log_ref_zero();
    return check_done();
}
