/*
 * test_runctl.c - the control page's discipline (core/runctl.h): a worker
 * started on a page of another magic, version or shape, or with an index
 * beyond the page's workers, refuses it before it touches anything (exit
 * 3, its slot untouched); on a page that passes those checks it goes on
 * (here: to the arena, which does not exist, and reports that in its slot).
 * Each case runs the worker in a forked child, as the supervisor would.
 */
#include "core/runctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/worker.h"

/* Runs worker_main(fd, index) in a child; its exit code, -1 if it did not exit. */
static int run_worker(int fd, uint32_t index)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(99);
        int dup_fd = dup(fd); /* worker_main closes what it is given */
        _exit(worker_main(dup_fd, index));
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void)
{
    int fd = memfd_create("test-runctl", MFD_CLOEXEC);
    CHECK(fd >= 0);
    if (fd < 0 || ftruncate(fd, sizeof(struct runctl)) < 0)
        return check_done();
    struct runctl *c = mmap(NULL, sizeof(struct runctl), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(c != MAP_FAILED);
    if (c == MAP_FAILED)
        return check_done();

    /* A good page, but for an arena that is not there. */
    c->magic = RUNCTL_MAGIC;
    c->version = RUNCTL_VERSION;
    c->shape = RUNCTL_SHAPE;
    c->supervisor_pid = getpid();
    c->nworkers = 2;
    c->max_running = 1;
    snprintf(c->arena_path, sizeof c->arena_path, "/dev/shm/volley-test-runctl-none-%d",
             (int)getpid());
    CHECK_EQ(run_worker(fd, 1), 3);
    CHECK_EQ(atomic_load(&c->w[1].state), RUNCTL_W_ERROR);
    CHECK_HAS(c->w[1].msg, "no arena at /dev/shm/volley-test-runctl-none-");

    /* Pages it must refuse without writing its slot. */
    struct {
        const char *what;
        uint32_t *field, bad;
        uint32_t index;
    } bad[] = {
        {"magic", &c->magic, RUNCTL_MAGIC ^ 1, 0},
        {"version", &c->version, RUNCTL_VERSION + 1, 0},
        {"shape", &c->shape, RUNCTL_SHAPE ^ 0x100, 0},
        {"index", &c->nworkers, 1, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t keep = *bad[i].field;
        *bad[i].field = bad[i].bad;
        atomic_store(&c->w[bad[i].index].state, RUNCTL_W_STARTING);
        c->w[bad[i].index].msg[0] = 0;
        int rc = run_worker(fd, bad[i].index);
        if (rc != 3 || atomic_load(&c->w[bad[i].index].state) != RUNCTL_W_STARTING)
            fprintf(stderr, "case %s:\n", bad[i].what);
        CHECK_EQ(rc, 3);
        CHECK_EQ(atomic_load(&c->w[bad[i].index].state), RUNCTL_W_STARTING);
        CHECK_STR(c->w[bad[i].index].msg, "");
        *bad[i].field = keep;
    }
    munmap(c, sizeof *c);
    close(fd);
    return check_done();
}
