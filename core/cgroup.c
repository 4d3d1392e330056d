/*
 * cgroup.c - see cgroup.h: finding the hierarchies, picking a backend,
 * the run's tree, a slot's files, and the slot operations (the v1 and v2
 * specifics are in cgroup_v1.c and cgroup_v2.c; cgroup_int.h).
 *
 * A slot's operations cost, per `true` job on the development machine
 * (cgroup1 mode, v2 tracking; docs/limits.md): one read of cgroup.procs
 * when the job exits (empty: 0 bytes), the peak read and reset and
 * cpu.stat read when it ends, and nothing at its start unless its limits
 * differ from the last job's. The child's own cost is the v1 joins.
 *
 * Not here: when these are called (exec.c, worker.c, supervisor.c,
 * resume.c) and what a person reads about them (tools/).
 */
#include "core/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cgroup_int.h"

/* ---- small file helpers (cgroup_int.h) ---- */

int cgroup__put(int fd, const char *s)
{
    size_t n = strlen(s);
    ssize_t w = pwrite(fd, s, n, 0);
    if (w < 0)
        return -errno;
    return (size_t)w == n ? 0 : -EIO;
}

int cgroup__set_pids(struct cgroup_slot *s, uint32_t want, struct vl_err *err)
{
    struct cgroup_shared *sh = s->sh;
    if (want == sh->pids_max || s->pids_max_fd < 0)
        return 0;
    char v[16];
    if (want)
        snprintf(v, sizeof v, "%u", want);
    else
        snprintf(v, sizeof v, "max");
    int rc = cgroup__put(s->pids_max_fd, v);
    if (rc < 0)
        return vl_err_sys(err, rc, "cannot set pids.max of cgroup slot %u to %s", s->idx, v);
    sh->pids_max = want;
    return 0;
}

ssize_t cgroup__get(int fd, char *buf, size_t len)
{
    ssize_t n = pread(fd, buf, len - 1, 0);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return n;
}

int cgroup__open(const char *dir, const char *file, int flags)
{
    char p[CGROUP_PATH + 64];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, file) >= sizeof p)
        return -ENAMETOOLONG;
    int fd = open(p, flags | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cgroup__put_path(const char *dir, const char *file, const char *s)
{
    int fd = cgroup__open(dir, file, O_WRONLY);
    if (fd < 0)
        return fd;
    int rc = cgroup__put(fd, s);
    close(fd);
    return rc;
}

ssize_t cgroup__get_path(const char *dir, const char *file, char *buf, size_t len)
{
    int fd = cgroup__open(dir, file, O_RDONLY);
    if (fd < 0)
        return fd;
    ssize_t n = cgroup__get(fd, buf, len);
    close(fd);
    return n;
}

uint64_t cgroup__key(const char *buf, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, key, kl) && p[kl] == ' ')
            return strtoull(p + kl + 1, NULL, 10);
    return 0;
}

int cgroup__slot_dir(char *out, size_t len, const char *dir, uint32_t i)
{
    char num[16];
    int nl = snprintf(num, sizeof num, "/s%u", i);
    size_t dl = strlen(dir);
    if (dl + (size_t)nl + 1 > len)
        return -ENAMETOOLONG;
    memcpy(out, dir, dl);
    memcpy(out + dl, num, (size_t)nl + 1);
    return 0;
}

ssize_t cgroup__track(struct cgroup_slot *s, char *buf, size_t len)
{
    if (s->events_fd >= 0)
        return cgroup__get(s->track_fd, buf, len);
    const char *top =
        s->t->dir[CGROUP_H_FREEZER][0] ? s->t->dir[CGROUP_H_FREEZER] : s->t->dir[CGROUP_H_MEMORY];
    char d[CGROUP_PATH];
    if (cgroup__slot_dir(d, sizeof d, top, s->idx) < 0)
        return -ENAMETOOLONG;
    return cgroup__get_path(d, "cgroup.procs", buf, len);
}

uint32_t cgroup__count_lines(const char *buf, ssize_t n)
{
    uint32_t c = 0;
    for (ssize_t i = 0; i < n; i++)
        c += buf[i] == '\n';
    return c;
}

uint32_t cgroup__kill_pids(const char *buf, ssize_t n)
{
    uint32_t c = 0;
    for (const char *p = buf; n > 0 && *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
            c++;
        p = end + (*end == '\n');
    }
    return c;
}

void cgroup__mem_end(struct cgroup_slot *s, bool failed, uint64_t mem_limit, bool oom_without_peak,
                     const char *reset, struct cgroup_usage *u)
{
    struct cgroup_shared *sh = s->sh;
    char buf[1024];
    uint64_t p = 0; /* the group's peak since the last reset */
    if (s->peak_fd >= 0 && cgroup__get(s->peak_fd, buf, sizeof buf) > 0) {
        p = strtoull(buf, NULL, 10);
        u->peak_bytes = p > sh->base_bytes ? p - sh->base_bytes : 0;
        u->have_mem = true;
    }
    if (failed || (oom_without_peak && !u->have_mem) ||
        (mem_limit && p >= mem_limit - mem_limit / 16)) {
        if (cgroup__get(s->oom_fd, buf, sizeof buf) > 0) {
            uint64_t k = cgroup__key(buf, "oom_kill");
            u->oom_kills = k > sh->oom_kills ? (uint32_t)(k - sh->oom_kills) : 0;
            u->have_oom = true;
            sh->oom_kills = k;
            /* the group reached its limit: what an earlier job left in
             * the page cache was reclaimed first, so the job's own peak
             * is the group's */
            if (u->oom_kills && u->have_mem)
                u->peak_bytes = p;
        }
    }
    if (s->peak_fd >= 0)
        (void)cgroup__put(s->peak_fd, reset);
    sh->base_bytes = 0;
    if (s->peak_fd >= 0 && (p >= CGROUP__BASE_READ_BYTES || !(sh->flags & CGROUP_SH_READY)) &&
        cgroup__get(s->usage_fd, buf, sizeof buf) > 0)
        sh->base_bytes = strtoull(buf, NULL, 10);
}

uint32_t cgroup__kill_listed(const char *dir)
{
    char buf[16384];
    ssize_t n = cgroup__get_path(dir, "cgroup.procs", buf, sizeof buf);
    return cgroup__kill_pids(buf, n);
}

/* The processes listed in dir/cgroup.procs (0 if it cannot be read). */
static uint32_t count_procs(const char *dir)
{
    char buf[16384];
    ssize_t n = cgroup__get_path(dir, "cgroup.procs", buf, sizeof buf);
    return n > 0 ? cgroup__count_lines(buf, n) : 0;
}

/* v2: cgroup.kill (killfile: the group is removed next, or the kernel
 * lets a later CLONE_INTO_CGROUP child live), else freeze, kill, thaw;
 * then until "populated 0" (CGROUP__WAIT_MS at most). */
static uint32_t drain_v2(const char *dir, bool killfile)
{
    uint32_t n = count_procs(dir);
    int ev = cgroup__open(dir, "cgroup.events", O_RDONLY);
    if (n || ev < 0 || !cgroup_v2__empty(ev)) {
        if (!killfile || cgroup__put_path(dir, "cgroup.kill", "1") < 0)
            cgroup_v2__freeze_kill_path(dir); /* also a kernel before 5.14 */
        for (uint32_t t = 0; ev >= 0 && t < CGROUP__WAIT_MS && !cgroup_v2__empty(ev); t += 10) {
            struct pollfd pf = {.fd = ev, .events = POLLPRI};
            poll(&pf, 1, 10);
            if (t % 100 == 90)
                cgroup_v2__freeze_kill_path(dir); /* what was forked since */
        }
    }
    if (ev >= 0)
        close(ev);
    return n;
}

int cgroup__empty_and_remove(const char *dir, bool v2, uint32_t *killed)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    /* children first (slots, the runner leaf) */
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        char sub[CGROUP_PATH + 300];
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name) < sizeof sub)
            (void)cgroup__empty_and_remove(sub, v2, killed);
    }
    closedir(d);
    char probe[CGROUP_PATH + 32];
    snprintf(probe, sizeof probe, "%s/freezer.state", dir);
    bool freezer = access(probe, F_OK) == 0;
    uint32_t n = v2 ? drain_v2(dir, true) : cgroup_v1__drain(dir, freezer);
    if (killed)
        *killed += n;
    for (int i = 0; i < 200; i++) { /* a process just killed leaves its group soon after */
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return -errno;
        usleep(10000);
    }
    return -EBUSY;
}

/* ---- names ---- */

const char *cgroup_mode_name(int mode)
{
    switch (mode) {
    case CGROUP_V1:
        return "cgroup1";
    case CGROUP_V2:
        return "cgroup2";
    default:
        return "none";
    }
}

int cgroup_mode_parse(const char *s, bool *ok)
{
    *ok = true;
    if (!strcmp(s, "auto"))
        return CGROUP_AUTO;
    if (!strcmp(s, "cgroup2"))
        return CGROUP_V2;
    if (!strcmp(s, "cgroup1"))
        return CGROUP_V1;
    if (!strcmp(s, "none"))
        return CGROUP_NONE;
    *ok = false;
    return -1;
}

/* ---- finding the hierarchies ---- */

static const char *const h_ctrl[CGROUP_NHIER] = {"memory", "pids", "freezer", ""};

/* A mounted hierarchy as /proc/self/mountinfo shows it. */
struct mnt {
    char root[CGROUP_PATH]; /* the group mounted at point */
    char point[CGROUP_PATH];
};

/* True if the comma-separated list has word. */
static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p; p = strchr(p, ','), p = p ? p + 1 : NULL)
        if (!strncmp(p, word, n) && (p[n] == ',' || p[n] == '\0' || p[n] == '\n'))
            return true;
    return false;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* The mount of hierarchy h (v2 for CGROUP_H_UNIFIED): 0 or -ENOENT. */
static int find_mount(int h, struct mnt *m)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    char line[4096];
    int rc = -ENOENT;
    while (rc && fgets(line, sizeof line, f)) {
        /* id parent maj:min root point opts [optional...] - fstype source superopts */
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        char fstype[32], src[256], super[1024] = "";
        if (sscanf(sep + 3, "%31s %255s %1023s", fstype, src, super) < 2)
            continue;
        bool v2 = !strcmp(fstype, "cgroup2");
        if (h == CGROUP_H_UNIFIED ? !v2 : (strcmp(fstype, "cgroup") || !has_word(super, h_ctrl[h])))
            continue;
        char root[CGROUP_PATH], point[CGROUP_PATH];
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, point) != 2)
            continue;
        unescape(root);
        unescape(point);
        snprintf(m->root, sizeof m->root, "%s", root);
        snprintf(m->point, sizeof m->point, "%s", point);
        rc = 0;
    }
    fclose(f);
    return rc;
}

/* This process's group in hierarchy h (/proc/self/cgroup): 0 or -ENOENT. */
static int own_group(int h, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return -errno;
    char line[4096];
    int rc = -ENOENT;
    while (rc && fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *path = c2 + 1;
        bool match =
            h == CGROUP_H_UNIFIED ? !strncmp(line, "0:", 2) && !*ctrls : has_word(ctrls, h_ctrl[h]);
        if (!match)
            continue;
        size_t n = strcspn(path, "\n");
        if (n >= len)
            break;
        memcpy(out, path, n);
        out[n] = '\0';
        rc = 0;
    }
    fclose(f);
    return rc;
}

/* The directory of this process's group in hierarchy h: 0, or -ENOENT
 * (not mounted, not ours to see: a group outside the mount's root). */
static int own_dir(int h, char *out, size_t len)
{
    struct mnt m;
    char own[CGROUP_PATH];
    int rc = find_mount(h, &m);
    if (rc == 0)
        rc = own_group(h, own, sizeof own);
    if (rc)
        return rc;
    size_t rl = strcmp(m.root, "/") ? strlen(m.root) : 0;
    if (rl && (strncmp(own, m.root, rl) || (own[rl] != '/' && own[rl] != '\0')))
        return -ENOENT;
    const char *rest = own + rl;
    if (!strcmp(rest, "/"))
        rest = "";
    if ((size_t)snprintf(out, len, "%s%s", m.point, rest) >= len)
        return -ENAMETOOLONG;
    return 0;
}

/* A group directory this process may make groups in and move jobs into. */
static int writable(const char *dir)
{
    char p[CGROUP_PATH + 32];
    snprintf(p, sizeof p, "%s/cgroup.procs", dir);
    if (access(dir, W_OK) != 0 || access(p, W_OK) != 0)
        return -errno;
    return 0;
}

/* Why hierarchy h is not usable, into why: "" if it is. */
static bool usable(int h, char *dir, size_t len, char *why, size_t wlen)
{
    int rc = own_dir(h, dir, len);
    const char *name = h == CGROUP_H_UNIFIED ? "v2" : h_ctrl[h];
    if (rc == -ENOENT) {
        snprintf(why, wlen, "no %s hierarchy is mounted where this process can see its group",
                 name);
        return false;
    }
    if (rc == 0 && (rc = writable(dir)) == 0) {
        why[0] = '\0';
        return true;
    }
    snprintf(why, wlen, "%s is not writable (%s)", rc == -ENAMETOOLONG ? "a group path" : dir,
             strerror(-rc));
    return false;
}

int cgroup_detect(int want, struct cgroup_env *env, struct vl_err *err)
{
    memset(env, 0, sizeof *env);
    if (want == CGROUP_NONE) {
        snprintf(env->why, sizeof env->why, "--limits-backend none");
        return 0;
    }
    char dirs[CGROUP_NHIER][CGROUP_PATH], why[CGROUP_NHIER][300];
    bool ok[CGROUP_NHIER];
    for (int h = 0; h < CGROUP_NHIER; h++)
        ok[h] = usable(h, dirs[h], sizeof dirs[h], why[h], sizeof why[h]);
    uint32_t v2c = ok[CGROUP_H_UNIFIED] ? cgroup_v2__controllers(dirs[CGROUP_H_UNIFIED]) : 0;
    bool v2_full = v2c == (CGROUP_CAN_MEMORY | CGROUP_CAN_PIDS);
    int mode = want;
    if (want == CGROUP_AUTO)
        mode = ok[CGROUP_H_UNIFIED] && v2_full ? CGROUP_V2
               : ok[CGROUP_H_MEMORY]           ? CGROUP_V1
               : ok[CGROUP_H_UNIFIED]          ? CGROUP_V2
                                               : CGROUP_NONE;
    if (want == CGROUP_V2 && !ok[CGROUP_H_UNIFIED])
        return vl_err_set(err, VL_EUSAGE, "--limits-backend cgroup2 is not available here: %s",
                          why[CGROUP_H_UNIFIED]);
    if (want == CGROUP_V1 && !ok[CGROUP_H_MEMORY])
        return vl_err_set(err, VL_EUSAGE, "--limits-backend cgroup1 is not available here: %s",
                          why[CGROUP_H_MEMORY]);
    env->mode = mode;
    if (mode == CGROUP_NONE) {
        snprintf(env->why, sizeof env->why, "no writable cgroup hierarchy (v2: %.100s; v1: %.100s)",
                 why[CGROUP_H_UNIFIED], why[CGROUP_H_MEMORY]);
        return 0;
    }
    if (mode == CGROUP_V2) {
        snprintf(env->base[CGROUP_H_UNIFIED], CGROUP_PATH, "%s", dirs[CGROUP_H_UNIFIED]);
        env->can = v2c | CGROUP_CAN_TRACK | CGROUP_CAN_CPU | CGROUP_CAN_INTO;
        if (!v2_full) {
            char c[256] = "";
            (void)cgroup__get_path(dirs[CGROUP_H_UNIFIED], "cgroup.controllers", c, sizeof c);
            c[strcspn(c, "\n")] = '\0';
            snprintf(env->why, sizeof env->why,
                     "the v2 group %.80s has no %s controller; its cgroup.controllers: %.60s",
                     dirs[CGROUP_H_UNIFIED],
                     !v2c                      ? "memory or pids"
                     : v2c & CGROUP_CAN_MEMORY ? "pids"
                                               : "memory",
                     *c ? c : "empty");
        }
        return 0;
    }
    /* cgroup1: memory always; pids when it is there; tracking by a v2 slot
     * beside it when one can be made (no join), else the freezer, else a
     * kill loop over the memory group */
    env->can = CGROUP_CAN_MEMORY | CGROUP_CAN_TRACK;
    snprintf(env->base[CGROUP_H_MEMORY], CGROUP_PATH, "%s", dirs[CGROUP_H_MEMORY]);
    if (ok[CGROUP_H_PIDS]) {
        env->can |= CGROUP_CAN_PIDS;
        snprintf(env->base[CGROUP_H_PIDS], CGROUP_PATH, "%s", dirs[CGROUP_H_PIDS]);
    } else {
        snprintf(env->why, sizeof env->why, "%.200s", why[CGROUP_H_PIDS]);
    }
    const char *no_v2 = getenv("VOLLEY_CGROUP1_NO_V2"); /* tests: the pure v1 paths */
    if (ok[CGROUP_H_UNIFIED] && !(no_v2 && *no_v2 == '1')) {
        /* joined by the child, as the v1 groups are, not cloned into:
         * CLONE_INTO_CGROUP cost the runner ~5-10 us a job here (a css_set
         * made under cgroup_mutex in the clone, docs/limits.md) */
        env->can |= CGROUP_CAN_CPU;
        snprintf(env->base[CGROUP_H_UNIFIED], CGROUP_PATH, "%s", dirs[CGROUP_H_UNIFIED]);
    } else if (ok[CGROUP_H_FREEZER]) {
        snprintf(env->base[CGROUP_H_FREEZER], CGROUP_PATH, "%s", dirs[CGROUP_H_FREEZER]);
    }
    return 0;
}

/* ---- the run's tree ---- */

static void tree_undo(const struct cgroup_tree *t)
{
    for (int h = 0; h < CGROUP_NHIER; h++)
        if (t->dir[h][0])
            (void)cgroup__empty_and_remove(t->dir[h], h == CGROUP_H_UNIFIED, NULL);
}

int cgroup_tree_create(const struct cgroup_env *env, const char *run_hex, uint32_t nslots,
                       struct cgroup_tree *t, struct vl_err *err)
{
    memset(t, 0, sizeof *t);
    t->mode = env->mode;
    t->can = env->can;
    t->nslots = nslots;
    if (env->mode == CGROUP_NONE)
        return 0;
    int rc = 0;
    for (int h = 0; h < CGROUP_NHIER && !rc; h++) {
        if (!env->base[h][0])
            continue;
        if ((size_t)snprintf(t->dir[h], CGROUP_PATH, "%s/" CGROUP__RUN_PREFIX "%s", env->base[h],
                             run_hex) >= CGROUP_PATH - 16) {
            t->dir[h][0] = '\0';
            rc = vl_err_set(err, -ENAMETOOLONG, "the cgroup path under %s is too long",
                            env->base[h]);
            break;
        }
        if (mkdir(t->dir[h], 0755) < 0) {
            rc = vl_err_sys(err, -errno, "cannot create the cgroup %s", t->dir[h]);
            t->dir[h][0] = '\0';
            break;
        }
        if (h == CGROUP_H_UNIFIED && env->mode == CGROUP_V2 &&
            (env->can & (CGROUP_CAN_MEMORY | CGROUP_CAN_PIDS)))
            rc = cgroup_v2__enable(env->base[h], t->dir[h], env->can, err);
        for (uint32_t i = 0; i < nslots && !rc; i++) {
            char d[CGROUP_PATH];
            if (cgroup__slot_dir(d, sizeof d, t->dir[h], i) < 0 || mkdir(d, 0755) < 0)
                rc = vl_err_sys(err, -errno, "cannot create the cgroup %s", d);
        }
    }
    if (!rc && (t->can & CGROUP_CAN_INTO) && nslots) {
        char d[CGROUP_PATH];
        cgroup__slot_dir(d, sizeof d, t->dir[CGROUP_H_UNIFIED], 0);
        int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = fd < 0 ? -errno : cgroup_v2__probe_into(fd);
        if (fd >= 0)
            close(fd);
        if (rc)
            vl_err_sys(err, rc,
                       "cannot start a process in the cgroup %s (clone3 with "
                       "CLONE_INTO_CGROUP needs Linux 5.7)",
                       d);
        else if (cgroup_v2__killfile_ok(t->dir[CGROUP_H_UNIFIED]))
            t->can |= CGROUP_CAN_KILLFILE;
    } else if (!rc && t->dir[CGROUP_H_UNIFIED][0]) {
        t->can |= CGROUP_CAN_KILLFILE; /* the kernel's bug is CLONE_INTO_CGROUP's alone */
    }
    if (rc) {
        if (t->mode == CGROUP_V2 && t->dir[CGROUP_H_UNIFIED][0])
            cgroup_v2__disable(env->base[CGROUP_H_UNIFIED], t->dir[CGROUP_H_UNIFIED]);
        tree_undo(t);
        memset(t, 0, sizeof *t);
    }
    return rc;
}

int cgroup_tree_remove(const struct cgroup_tree *t, uint32_t *killed)
{
    if (killed)
        *killed = 0;
    if (t->mode == CGROUP_NONE)
        return 0;
    int rc = 0;
    /* The tracking hierarchy first: once it is empty, so are the others. */
    static const int order[CGROUP_NHIER] = {CGROUP_H_UNIFIED, CGROUP_H_FREEZER, CGROUP_H_MEMORY,
                                            CGROUP_H_PIDS};
    for (int k = 0; k < CGROUP_NHIER; k++) {
        int h = order[k];
        if (!t->dir[h][0])
            continue;
        if (h == CGROUP_H_UNIFIED && t->mode == CGROUP_V2) {
            char base[CGROUP_PATH];
            snprintf(base, sizeof base, "%s", t->dir[h]);
            char *slash = strrchr(base, '/');
            if (slash)
                *slash = '\0';
            /* the slots go before the controllers can be turned off */
            for (uint32_t i = 0; i < t->nslots; i++) {
                char d[CGROUP_PATH];
                cgroup__slot_dir(d, sizeof d, t->dir[h], i);
                int r = cgroup__empty_and_remove(d, true, killed);
                rc = rc ? rc : r;
            }
            cgroup_v2__disable(base, t->dir[h]);
        }
        int r = cgroup__empty_and_remove(t->dir[h], h == CGROUP_H_UNIFIED, killed);
        rc = rc ? rc : r;
    }
    return rc;
}

uint32_t cgroup_tree_empty_slot(const struct cgroup_tree *t, uint32_t i)
{
    uint32_t n = 0;
    static const int order[CGROUP_NHIER] = {CGROUP_H_UNIFIED, CGROUP_H_FREEZER, CGROUP_H_MEMORY,
                                            CGROUP_H_PIDS};
    for (int k = 0; k < CGROUP_NHIER; k++) {
        int h = order[k];
        char d[CGROUP_PATH];
        if (!t->dir[h][0] || cgroup__slot_dir(d, sizeof d, t->dir[h], i) < 0)
            continue;
        if (h == CGROUP_H_UNIFIED)
            n += drain_v2(d, t->can & CGROUP_CAN_KILLFILE);
        else
            n += cgroup_v1__drain(d, h == CGROUP_H_FREEZER);
    }
    return n;
}

uint32_t cgroup_find(const char *run_hex, char (*out)[CGROUP_PATH], uint32_t max)
{
    uint32_t n = 0;
    for (int h = 0; h < CGROUP_NHIER; h++) {
        char base[CGROUP_PATH], d[CGROUP_PATH + 64];
        struct stat st;
        if (own_dir(h, base, sizeof base) < 0)
            continue;
        snprintf(d, sizeof d, "%s/" CGROUP__RUN_PREFIX "%s", base, run_hex);
        if (stat(d, &st) != 0)
            continue;
        if (n < max)
            snprintf(out[n], CGROUP_PATH, "%.*s", (int)CGROUP_PATH - 1, d);
        n++;
    }
    return n;
}

int cgroup_sweep(const char *run_hex, uint32_t *found, uint32_t *killed)
{
    uint32_t f = 0, k = 0;
    int rc = 0;
    static const int order[CGROUP_NHIER] = {CGROUP_H_UNIFIED, CGROUP_H_FREEZER, CGROUP_H_MEMORY,
                                            CGROUP_H_PIDS};
    for (int i = 0; i < CGROUP_NHIER; i++) {
        int h = order[i];
        char base[CGROUP_PATH], d[CGROUP_PATH + 64];
        if (own_dir(h, base, sizeof base) < 0)
            continue;
        snprintf(d, sizeof d, "%s/" CGROUP__RUN_PREFIX "%s", base, run_hex);
        struct stat st;
        if (stat(d, &st) != 0)
            continue;
        f++;
        if (h == CGROUP_H_UNIFIED) { /* its slots, then the controllers it may have enabled */
            DIR *dd = opendir(d);
            struct dirent *de;
            while (dd && (de = readdir(dd)) != NULL)
                if (de->d_type == DT_DIR && de->d_name[0] == 's') {
                    char sd[CGROUP_PATH + 400];
                    snprintf(sd, sizeof sd, "%s/%s", d, de->d_name);
                    (void)cgroup__empty_and_remove(sd, true, &k);
                }
            if (dd)
                closedir(dd);
            cgroup_v2__disable(base, d);
        }
        int r = cgroup__empty_and_remove(d, h == CGROUP_H_UNIFIED, &k);
        rc = rc ? rc : r;
    }
    if (found)
        *found = f;
    if (killed)
        *killed = k;
    return rc;
}

/* ---- a slot ---- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void cgroup_slot_close(struct cgroup_slot *s)
{
    if (!s || !s->open)
        return;
    int *fds[] = {&s->dir_fd,      &s->events_fd,   &s->kill_fd,      &s->cpu_fd,
                  &s->track_fd,    &s->freeze_fd,   &s->v2_freeze_fd, &s->v1_tasks[0],
                  &s->v1_tasks[1], &s->v1_tasks[2], &s->mem_max_fd,   &s->memsw_fd,
                  &s->peak_fd,     &s->usage_fd,    &s->oom_fd,       &s->pids_max_fd,
                  &s->v2_procs_fd};
    for (size_t i = 0; i < VL_ARRAY_LEN(fds); i++)
        close_fd(fds[i]);
    s->open = false;
}

int cgroup_slot_open(struct cgroup_slot *s, const struct cgroup_tree *t, uint32_t i,
                     struct cgroup_shared *sh, struct vl_err *err)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->sh = sh;
    s->idx = i;
    s->open = true;
    s->dir_fd = s->events_fd = s->kill_fd = s->cpu_fd = s->track_fd = s->freeze_fd = -1;
    s->v2_freeze_fd = s->v2_procs_fd = -1;
    s->v1_tasks[0] = s->v1_tasks[1] = s->v1_tasks[2] = -1;
    s->mem_max_fd = s->memsw_fd = s->peak_fd = s->usage_fd = s->oom_fd = s->pids_max_fd = -1;
    int rc = 0;
    for (int h = 0; h < CGROUP_NHIER && !rc; h++) {
        char d[CGROUP_PATH];
        if (!t->dir[h][0])
            continue;
        if (cgroup__slot_dir(d, sizeof d, t->dir[h], i) < 0)
            rc = vl_err_set(err, -ENAMETOOLONG, "a cgroup path under %s is too long", t->dir[h]);
        else if (h == CGROUP_H_UNIFIED)
            rc = cgroup_v2__open(s, d, err);
        else
            rc = cgroup_v1__open(s, h, d, err);
    }
    if (rc)
        cgroup_slot_close(s);
    return rc;
}

int cgroup_slot_begin(struct cgroup_slot *s, const struct cgroup_limits *lim,
                      struct cgroup_spawn *sp, struct vl_err *err)
{
    sp->into_fd = s->dir_fd;
    sp->njoin = 0;
    int rc;
    if (s->t->mode == CGROUP_V2) {
        rc = cgroup_v2__limits(s, lim, err);
    } else {
        rc = cgroup_v1__limits(s, lim, err);
        sp->into_fd = -1;
        sp->join[sp->njoin++] = s->v1_tasks[0]; /* memory: always (its peak) */
        if (lim->pids && s->v1_tasks[1] >= 0)
            sp->join[sp->njoin++] = s->v1_tasks[1];
        if (s->v1_tasks[2] >= 0)
            sp->join[sp->njoin++] = s->v1_tasks[2]; /* freezer: the tracking */
        if (s->v2_procs_fd >= 0)
            sp->join[sp->njoin++] = s->v2_procs_fd; /* the v2 group: the tracking */
    }
    if (rc == 0 && !(s->sh->flags & CGROUP_SH_READY)) {
        /* a fresh slot, or one a dead worker left: what is in the
         * counters now is not the next job's */
        struct cgroup_usage u;
        cgroup_slot_end(s, true, 0, &u);
    }
    return rc;
}

int cgroup_slot_reap(struct cgroup_slot *s)
{
    char buf[4096];
    ssize_t n = cgroup__track(s, buf, sizeof buf);
    if (n <= 0)
        return n < 0 ? (int)n : 0;
    uint32_t c = cgroup__count_lines(buf, n);
    if (n == (ssize_t)sizeof buf - 1)
        c = (uint32_t)n / 8; /* more than a page of pids: an estimate is all a note needs */
    int rc = cgroup_slot_kill(s);
    return rc < 0 ? rc : (int)(c ? c : 1);
}

int cgroup_slot_kill(struct cgroup_slot *s)
{
    if (s->kill_fd >= 0)
        return cgroup__put(s->kill_fd, "1");
    if (s->v2_freeze_fd >= 0) {
        cgroup_v2__freeze_kill(s);
        return 0;
    }
    if (s->freeze_fd >= 0)
        return cgroup_v1__freeze_kill(s) >= 0 ? 0 : -EIO;
    char buf[16384];
    ssize_t n = cgroup__track(s, buf, sizeof buf);
    for (char *p = buf; n > 0 && *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 0)
            kill((pid_t)pid, SIGKILL);
        p = end + (*end == '\n');
    }
    return 0;
}

bool cgroup_slot_empty(struct cgroup_slot *s)
{
    if (s->events_fd >= 0) {
        if (cgroup_v2__empty(s->events_fd))
            return true;
        if (s->kill_fd < 0) /* freeze-kill: a listing cut short at 16 KiB of pids */
            (void)cgroup_slot_kill(s);
        return false;
    }
    char buf[64];
    ssize_t n = cgroup__track(s, buf, sizeof buf);
    if (n <= 0)
        return true;
    (void)cgroup_slot_kill(s); /* what was forked since the last kill */
    return false;
}

void cgroup_slot_end(struct cgroup_slot *s, bool failed, uint64_t mem_limit, struct cgroup_usage *u)
{
    memset(u, 0, sizeof *u);
    if (s->t->mode == CGROUP_V1)
        cgroup_v1__end(s, failed, mem_limit, u);
    if (s->dir_fd >= 0)
        cgroup_v2__end(s, failed, mem_limit, u);
    s->sh->flags |= CGROUP_SH_READY;
}
