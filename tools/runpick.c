/*
 * runpick.c - see runpick.h.
 */
#include "runpick.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/rundir.h"
#include "persist/runs.h"
#include "cli.h"

int runpick_dir(const char *cmd, const char *given, char *out, size_t len)
{
    if (given) {
        snprintf(out, len, "%s", given);
        return 0;
    }
    struct vl_err err = {0};
    if (runs_latest(RUNDIR_RUNS, out, len, &err) < 0) {
        fprintf(stderr, "volley %s: %s\n", cmd, err.msg);
        return vl_exit_for(err.code);
    }
    struct runs_entry e;
    const char *state = "?";
    if (runs_probe(out, &e) == 0)
        state = runs_state_name(e.state);
    /* shown relative to here when it is below here */
    char cwd[PATH_MAX];
    const char *shown = out;
    size_t n = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
    if (n && !strncmp(out, cwd, n) && out[n] == '/')
        shown = out + n + 1;
    fprintf(stderr, "volley %s: the latest run: %s (%s)\n", cmd, shown, state);
    runs_entry_fini(&e);
    return 0;
}

bool runpick_is_run(const char *arg)
{
    char db[PATH_MAX];
    struct stat sb;
    return rundir_path(db, sizeof db, arg, RUNDIR_DB) == 0 && stat(db, &sb) == 0 &&
           S_ISREG(sb.st_mode);
}
