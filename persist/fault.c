/*
 * fault.c - the failure-injection table and the delegating SQLite VFS
 * (see fault.h).
 *
 * The VFS "volley" wraps each file the default VFS opens: our sqlite3_file
 * is followed in memory by the real one (szOsFile is the sum), and every
 * io_method forwards to the real file's methods. Only xWrite, xSync and
 * xTruncate look at the fault counter; the WAL index (xShm*) and memory
 * maps (xFetch) are forwarded untouched, since they are memory, not disk.
 * The wrapped methods table mirrors the real file's iVersion, so SQLite
 * sees exactly the capabilities of "unix".
 *
 * Used by every connection persist/ opens, not only in tests: the tested
 * path is the shipped path, at the price of one indirect call per I/O.
 */
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_bool armed;
static atomic_uint_fast64_t ops;
static uint64_t fail_at;
static int fail_errno;
static bool fail_after; /* every op from fail_at on fails */
static atomic_bool fired;

void fault_arm(uint64_t nth, int err)
{
    atomic_store(&armed, false);
    fail_after = false;
    fail_at = nth;
    fail_errno = err;
    atomic_store(&ops, 0);
    atomic_store(&fired, false);
    atomic_store(&armed, true);
}

void fault_arm_from(uint64_t nth, int err)
{
    fault_arm(nth, err);
    atomic_store(&armed, false);
    fail_after = true;
    atomic_store(&armed, true);
}

void fault_disarm(void)
{
    atomic_store(&armed, false);
}

uint64_t fault_ops(void)
{
    return atomic_load(&ops);
}

bool fault_fired(void)
{
    return atomic_load(&fired);
}

/* 0, or the errno the current operation must fail with. */
static int fault_check(void)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return 0;
    uint64_t n = atomic_fetch_add(&ops, 1) + 1;
    if (fail_after ? n < fail_at : n != fail_at)
        return 0;
    atomic_store(&fired, true);
    return fail_errno;
}

ssize_t fault_write(int fd, const void *buf, size_t len)
{
    int e = fault_check();
    if (e) {
        errno = e;
        return -1;
    }
    return write(fd, buf, len);
}

int fault_fsync(int fd)
{
    int e = fault_check();
    if (e) {
        errno = e;
        return -1;
    }
    return fsync(fd);
}

int fault_ftruncate(int fd, off_t len)
{
    int e = fault_check();
    if (e) {
        errno = e;
        return -1;
    }
    return ftruncate(fd, len);
}

int fault_rename(const char *from, const char *to, unsigned flags)
{
    int e = fault_check();
    if (e) {
        errno = e;
        return -1;
    }
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, flags);
}

/* ---- the VFS shim ---- */

struct vfile {
    sqlite3_file base;          /* pMethods: &vfile_methods[...] or NULL */
    sqlite3_file *real;         /* points just behind this struct */
    sqlite3_io_methods methods; /* a copy of the real methods with ours patched in */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs volley_vfs;
static int vfs_rc = SQLITE_OK;
static pthread_once_t vfs_once = PTHREAD_ONCE_INIT;

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((struct vfile *)f)->real;
}

static int io_code(int e, int ioerr)
{
    return e == ENOSPC ? SQLITE_FULL : ioerr;
}

static int v_close(sqlite3_file *f)
{
    sqlite3_file *r = real_of(f);
    int rc = r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
    f->pMethods = NULL;
    return rc;
}

static int v_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xRead(r, buf, amt, off);
}

static int v_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    int e = fault_check();
    if (e)
        return io_code(e, SQLITE_IOERR_WRITE);
    sqlite3_file *r = real_of(f);
    return r->pMethods->xWrite(r, buf, amt, off);
}

static int v_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int e = fault_check();
    if (e)
        return io_code(e, SQLITE_IOERR_TRUNCATE);
    sqlite3_file *r = real_of(f);
    return r->pMethods->xTruncate(r, size);
}

static int v_sync(sqlite3_file *f, int flags)
{
    int e = fault_check();
    if (e)
        return io_code(e, SQLITE_IOERR_FSYNC);
    sqlite3_file *r = real_of(f);
    return r->pMethods->xSync(r, flags);
}

static int v_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xFileSize(r, size);
}

static int v_lock(sqlite3_file *f, int lock)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xLock(r, lock);
}

static int v_unlock(sqlite3_file *f, int lock)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xUnlock(r, lock);
}

static int v_check_reserved(sqlite3_file *f, int *out)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xCheckReservedLock(r, out);
}

static int v_file_control(sqlite3_file *f, int op, void *arg)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xFileControl(r, op, arg);
}

static int v_sector_size(sqlite3_file *f)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xSectorSize(r);
}

static int v_device_chars(sqlite3_file *f)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xDeviceCharacteristics(r);
}

static int v_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xShmMap(r, pg, pgsz, extend, pp);
}

static int v_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xShmLock(r, offset, n, flags);
}

static void v_shm_barrier(sqlite3_file *f)
{
    sqlite3_file *r = real_of(f);
    r->pMethods->xShmBarrier(r);
}

static int v_shm_unmap(sqlite3_file *f, int del)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xShmUnmap(r, del);
}

static int v_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xFetch(r, off, amt, pp);
}

static int v_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->xUnfetch(r, off, p);
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    struct vfile *v = (struct vfile *)f;
    memset(v, 0, sizeof *v);
    v->real = (sqlite3_file *)((char *)f + sizeof *v);
    int rc = real_vfs->xOpen(real_vfs, name, v->real, flags, out_flags);
    const sqlite3_io_methods *rm = v->real->pMethods;
    if (!rm) {
        f->pMethods = NULL;
        return rc;
    }
    /* Forward exactly what the real file offers, version by version. */
    v->methods = (sqlite3_io_methods){
        .iVersion = rm->iVersion,
        .xClose = v_close,
        .xRead = v_read,
        .xWrite = v_write,
        .xTruncate = v_truncate,
        .xSync = v_sync,
        .xFileSize = v_file_size,
        .xLock = v_lock,
        .xUnlock = v_unlock,
        .xCheckReservedLock = v_check_reserved,
        .xFileControl = v_file_control,
        .xSectorSize = v_sector_size,
        .xDeviceCharacteristics = v_device_chars,
    };
    if (rm->iVersion >= 2) {
        v->methods.xShmMap = rm->xShmMap ? v_shm_map : NULL;
        v->methods.xShmLock = rm->xShmLock ? v_shm_lock : NULL;
        v->methods.xShmBarrier = rm->xShmBarrier ? v_shm_barrier : NULL;
        v->methods.xShmUnmap = rm->xShmUnmap ? v_shm_unmap : NULL;
    }
    if (rm->iVersion >= 3) {
        v->methods.xFetch = rm->xFetch ? v_fetch : NULL;
        v->methods.xUnfetch = rm->xUnfetch ? v_unfetch : NULL;
    }
    f->pMethods = &v->methods;
    return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, h);
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int v_current_time(sqlite3_vfs *vfs, double *t)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, t);
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, msg);
}

static int v_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, t);
}

static void vfs_register(void)
{
    vfs_rc = sqlite3_initialize();
    if (vfs_rc != SQLITE_OK)
        return;
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs || real_vfs->iVersion < 2) {
        vfs_rc = SQLITE_ERROR;
        return;
    }
    volley_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct vfile) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = "volley",
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full_pathname,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_randomness,
        .xSleep = v_sleep,
        .xCurrentTime = v_current_time,
        .xGetLastError = v_last_error,
        .xCurrentTimeInt64 = v_current_time64,
    };
    vfs_rc = sqlite3_vfs_register(&volley_vfs, 0);
}

const char *fault_vfs(int *rc)
{
    pthread_once(&vfs_once, vfs_register);
    if (rc)
        *rc = vfs_rc;
    return vfs_rc == SQLITE_OK ? "volley" : NULL;
}
