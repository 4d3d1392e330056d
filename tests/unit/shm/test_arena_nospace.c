/*
 * test_arena_nospace.c - a full /dev/shm is an error at build time, never
 * a SIGBUS later: on a 1 MiB tmpfs (mounted here; skipped with 77 where
 * we may not mount), building a bigger arena fails with how much it needs
 * and how much is free, and leaves no file; with the free-space check
 * skipped (a fault point), the allocation itself fails cleanly.
 */
#include "shm/arena.h"

#include <errno.h>
#include <dirent.h>
#include <sys/mount.h>

#include "check.h"
#include "shm/arena_int.h"
#include "shm_test.h"

static char dir[] = "/tmp/volley-test-tmpfs-XXXXXX";

/* Async-signal-safe: shm_test.h runs it at exit and on fatal signals. An
 * unmount where nothing is mounted fails harmlessly (EINVAL). */
static void unmount(void)
{
    umount2(dir, MNT_DETACH);
    rmdir(dir);
}

static int skip_space_check(int point)
{
    return point == ARENA_FP_SPACE_CHECK;
}

static int files_in(const char *d)
{
    int n = 0;
    DIR *dd = opendir(d);
    struct dirent *e;
    while (dd && (e = readdir(dd)))
        n += e->d_name[0] != '.';
    if (dd)
        closedir(dd);
    return n;
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* armed before the mount: from here on an exit or a signal unmounts */
    shm_test_cleanup_hook = unmount;
    const char *path = shm_test_path(dir, "full");
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0700") != 0) {
        fprintf(stderr, "cannot mount a tmpfs (%s): skipped\n", strerror(errno));
        return CHECK_SKIP;
    }

    /* 20000 jobs: ~2 MiB */
    struct spec s;
    shm_test_spec(&s, 20000, NULL, 0, NULL);
    struct arena a;
    struct vl_err err = {0};
    CHECK_EQ(arena_build(&a, path, &s, NULL, &err), -ENOSPC);
    struct arena_dims d;
    struct arena_plan p;
    arena_dims_of(&s, NULL, &d);
    CHECK_EQ(arena_plan(&d, &p, NULL), 0);
    char sz[32], want[512];
    snprintf(want, sizeof want,
             "cannot create arena %s: it needs %s but %s has only 1.0 MiB free; free space there "
             "or run a smaller workflow",
             path, vl_fmt_bytes(p.bytes, sz, sizeof sz), dir);
    CHECK_STR(err.msg, want);
    CHECK_EQ(vl_exit_for(err.code), 3);
    CHECK_EQ(files_in(dir), 0);

    /* past the check: fallocate reserves every page or fails, here */
    arena__fault_hook = skip_space_check;
    CHECK_EQ(arena_build(&a, path, &s, NULL, &err), -ENOSPC);
    CHECK_HAS(err.msg, "No space left on device");
    CHECK_EQ(files_in(dir), 0);
    arena__fault_hook = NULL;

    /* a small one fits */
    spec_free(&s);
    shm_test_spec(&s, 100, NULL, 0, NULL);
    CHECK_EQ(arena_build(&a, path, &s, NULL, &err), 0);
    uint32_t w;
    CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &w, &err), 0);
    CHECK_EQ(shm_test_run(&a, w), 100);
    arena_close(&a);
    CHECK_EQ(arena_unlink(path), 0);
    CHECK_EQ(files_in(dir), 0);
    spec_free(&s);
    return check_done();
}
