/*
 * batch.c - the batch job a run goes on in (batch.h).
 */
#include "batch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

void batch_detect(struct batch_job *b)
{
    memset(b, 0, sizeof *b);
    b->restart = -1;
    const char *id = getenv("SLURM_JOB_ID");
    if (id && *id) {
        b->in_slurm = true;
        snprintf(b->job_id, sizeof b->job_id, "%s", id);
    }
    const char *node = getenv("SLURMD_NODENAME");
    if (node && *node)
        snprintf(b->node, sizeof b->node, "%s", node);
    else if (gethostname(b->node, sizeof b->node - 1) < 0)
        snprintf(b->node, sizeof b->node, "?");
    uint64_t r;
    const char *rc = getenv("SLURM_RESTART_COUNT");
    if (rc && vl_parse_u64(rc, INT64_MAX, &r) == 0)
        b->restart = (int64_t)r;
    /* names as volley.db keeps them: printable text */
    for (char *p = b->job_id; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    for (char *p = b->node; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* Runs argv with stdout and stderr to a pipe; reads up to len - 1 bytes
 * within timeout_ms. 0 (the exit status in *status), or a negative code. */
static int run_capture(char *const argv[], char *out, size_t len, int timeout_ms, int *status)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[1]);
    if (rc) {
        close(p[0]);
        return -rc;
    }
    size_t n = 0;
    uint64_t until = vl_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    bool timed_out = false;
    for (;;) {
        uint64_t now = vl_now_ns();
        if (now >= until) {
            timed_out = true;
            break;
        }
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int r = poll(&pf, 1, (int)((until - now) / 1000000ull) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            timed_out = r == 0;
            break;
        }
        char tmp[4096];
        ssize_t k = read(p[0], tmp, sizeof tmp);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        size_t take = VL_MIN((size_t)k, len - 1 - n);
        memcpy(out + n, tmp, take);
        n += take;
    }
    out[n] = 0;
    close(p[0]);
    if (timed_out)
        kill(pid, SIGKILL); /* our own child, by its pid */
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return timed_out ? -ETIMEDOUT : 0;
}

int batch_end_time(const struct batch_job *b, const char *scontrol, uint64_t *end_ns,
                   struct vl_err *err)
{
    *end_ns = 0;
    if (!b->in_slurm)
        return vl_err_set(err, -ENOENT, "not in a Slurm job (no SLURM_JOB_ID)");
    char *argv[] = {
        (char *)(scontrol ? scontrol : "scontrol"), "show", "job", "-o", (char *)b->job_id, NULL};
    char out[16384];
    int status = 0;
    int rc = run_capture(argv, out, sizeof out, BATCH_ASK_MS, &status);
    if (rc == -ENOENT)
        return vl_err_set(err, -ENOEXEC, "%s is not installed", argv[0]);
    if (rc == -ETIMEDOUT)
        return vl_err_set(err, rc, "%s show job %s gave no answer within %u s", argv[0], b->job_id,
                          BATCH_ASK_MS / 1000);
    if (rc < 0)
        return vl_err_sys(err, rc, "cannot run %s", argv[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        out[strcspn(out, "\n")] = 0;
        return vl_err_set(err, -EPROTO, "%s show job %s failed: %s", argv[0], b->job_id,
                          out[0] ? out : "no message");
    }
    /* " EndTime=2026-12-06T13:45:00 " among the job's fields */
    const char *k = out;
    while ((k = strstr(k, "EndTime=")) && k != out && k[-1] != ' ' && k[-1] != '\n')
        k++;
    if (!k)
        return vl_err_set(err, -EPROTO, "%s show job %s: no EndTime in its answer", argv[0],
                          b->job_id);
    k += strlen("EndTime=");
    char when[64];
    size_t n = strcspn(k, " \n");
    snprintf(when, sizeof when, "%.*s", (int)VL_MIN(n, sizeof when - 1), k);
    if (!strcmp(when, "Unknown") || !strcmp(when, "None") || !strcmp(when, "NONE"))
        return vl_err_set(err, -ENOENT, "Slurm job %s has no time limit (EndTime=%s)", b->job_id,
                          when);
    if (vl_parse_local_time(when, end_ns) < 0)
        return vl_err_set(err, -EPROTO, "%s show job %s: EndTime=%s is not a time", argv[0],
                          b->job_id, when);
    return 0;
}
