/*
 * intr.c - see intr.h.
 */
#include "intr.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "persist/runlock.h"
#include "persist/snap.h"

static const int intr_sigs[] = {SIGINT, SIGTERM, SIGHUP};

static struct {
    volatile sig_atomic_t phase;     /* enum intr_phase */
    volatile sig_atomic_t locked;    /* we hold the run directory's lock: its files are ours */
    volatile sig_atomic_t has_arena; /* arena holds a whole path */
    bool made_dir;                   /* the run directory is ours: remove it */
    bool made_lock;                  /* volley.lock did not exist before us */
    char dir[PATH_MAX], kept_dir[PATH_MAX];
    char tmp[PATH_MAX + 32], journal[PATH_MAX + 32], lock[PATH_MAX + 32], db[PATH_MAX + 32],
        arena[256];
    bool armed[3];
    sigset_t held; /* the mask before intr_hold(true) */
} in;

static void put_err(const char *text)
{
    ssize_t r = write(2, text, strlen(text));
    (void)r;
}

static void interrupted(int sig)
{
    (void)sig;
    if (in.phase == INTR_LOADING) {
        put_err("\nvolley: interrupted while loading the workflow: nothing was made, no job ran\n");
    } else if (in.phase == INTR_CREATING && in.locked && in.kept_dir[0] &&
               faccessat(AT_FDCWD, in.db, F_OK, 0) == 0) {
        /* volley.db was renamed into place, intr_kept not called yet: the
         * run is made (it used to be reported removed, its lock gone) */
        put_err("\nvolley: interrupted before any job started; state saved; continue with: "
                "volley resume ");
        put_err(in.kept_dir);
        put_err("\n");
    } else if (in.phase == INTR_CREATING) {
        if (in.locked) {
            unlink(in.tmp);
            unlink(in.journal);
            if (in.made_lock)
                unlink(in.lock);
        }
        bool removed = in.made_dir && rmdir(in.dir) == 0;
        put_err("\nvolley: interrupted while setting up the run: no job ran; ");
        put_err(removed ? "removed " : "what it wrote is removed from ");
        put_err(in.dir);
        put_err("\n");
    } else if (in.phase == INTR_KEPT) {
        if (in.has_arena)
            unlink(in.arena);
        put_err("\nvolley: interrupted before any job started; state saved; continue with: "
                "volley resume ");
        put_err(in.kept_dir);
        put_err("\n");
    }
    _exit(VL_EXIT_INTR);
}

/* SIGUSR1 (the allocation ends soon) while the run is set up: kept for
 * the supervisor, whose default action would otherwise end volley. */
static volatile sig_atomic_t usr1_seen, usr1_armed;

static void usr1_early(int sig)
{
    (void)sig;
    usr1_seen = 1;
}

void intr_arm(void)
{
    in.phase = INTR_LOADING;
    /* A reader of our output that goes away (`volley run ... | head`)
     * must not kill the setup half way (an arena built, a run directory
     * made): our lines meet EPIPE from here on, as the supervisor's do.
     * Jobs get SIGPIPE at its default again (spawn's sig_dfl). */
    signal(SIGPIPE, SIG_IGN);
    usr1_armed = vl_stop_signal_taken(SIGUSR1);
    if (usr1_armed) {
        struct sigaction su = {.sa_handler = usr1_early};
        sigemptyset(&su.sa_mask);
        sigaction(SIGUSR1, &su, NULL);
    }
    struct sigaction sa = {.sa_handler = interrupted};
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < VL_ARRAY_LEN(intr_sigs); i++) {
        in.armed[i] = vl_stop_signal_taken(intr_sigs[i]);
        if (in.armed[i])
            sigaction(intr_sigs[i], &sa, NULL);
    }
}

/* Each setter writes what the handler reads before the phase that lets it
 * read it. */
void intr_creating(const char *dir, bool made_dir)
{
    snprintf(in.dir, sizeof in.dir, "%s", dir);
    in.made_dir = made_dir;
    snprintf(in.tmp, sizeof in.tmp, "%s/%s", dir, RUNDIR_DB_TMP);
    snprintf(in.journal, sizeof in.journal, "%s/%s", dir, RUNDIR_DB_TMP_JOURNAL);
    snprintf(in.lock, sizeof in.lock, "%s/%s", dir, RUNDIR_LOCK);
    snprintf(in.db, sizeof in.db, "%s/%s", dir, RUNDIR_DB);
    in.made_lock = made_dir || faccessat(AT_FDCWD, in.lock, F_OK, AT_EACCESS) != 0;
    in.phase = INTR_CREATING;
}

void intr_locked(const char *abs_dir)
{
    snprintf(in.kept_dir, sizeof in.kept_dir, "%s", abs_dir);
    in.locked = 1;
}

void intr_hold(bool on)
{
    if (in.phase == INTR_OFF)
        return;
    if (on) {
        sigset_t set;
        sigemptyset(&set);
        for (size_t i = 0; i < VL_ARRAY_LEN(intr_sigs); i++)
            if (in.armed[i])
                sigaddset(&set, intr_sigs[i]);
        sigprocmask(SIG_BLOCK, &set, &in.held);
    } else {
        sigprocmask(SIG_SETMASK, &in.held, NULL); /* one that came is taken now */
    }
}

void intr_kept(const char *dir)
{
    snprintf(in.kept_dir, sizeof in.kept_dir, "%s", dir);
    in.phase = INTR_KEPT;
}

void intr_arena(const char *arena_path)
{
    in.has_arena = 0;
    snprintf(in.arena, sizeof in.arena, "%s", arena_path);
    in.has_arena = 1;
}

void intr_disarm(void)
{
    if (in.phase == INTR_OFF)
        return;
    in.phase = INTR_OFF;
    for (size_t i = 0; i < VL_ARRAY_LEN(intr_sigs); i++)
        if (in.armed[i])
            signal(intr_sigs[i], SIG_DFL);
    if (!usr1_armed)
        return;
    usr1_armed = 0;
    /* Blocked now (the supervisor waits for it): a SIGUSR1 that came
     * during the setup is raised again, pending, for the supervisor to
     * take. Not blocked (an error return): it is dropped. */
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    bool blocked = sigismember(&cur, SIGUSR1) == 1;
    if (blocked)
        signal(SIGUSR1, SIG_DFL);
    if (blocked && usr1_seen)
        raise(SIGUSR1);
    if (!blocked)
        signal(SIGUSR1, SIG_DFL);
}
