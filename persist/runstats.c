/*
 * runstats.c - see runstats.h.
 */
#include "persist/runstats.h"

#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persist/rundir.h"

#define CPU_KEY "\"runner_cpu_us_per_job\":"

bool runstats_write(const char *dir, const struct runstats *st)
{
    char path[PATH_MAX];
    if (rundir_path(path, sizeof path, dir, RUNDIR_STATS) < 0)
        return false;
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    double secs = st->wall_s, here = (double)st->finished_here;
    double cpu = st->supervisor_cpu_s + st->workers_cpu_s;
    fprintf(f,
            "{\"jobs\": %u, \"finished_here\": %" PRIu64 ", \"spawned\": %" PRIu64
            ", \"wall_s\": %.6f, \"jobs_per_s\": %.1f, \"workers\": %u, \"max_running\": %u, "
            "\"supervisor_cpu_s\": %.6f, \"workers_cpu_s\": %.6f, " CPU_KEY
            " %.2f, \"worker_restarts\": %u, \"stop\": ",
            st->jobs, st->finished_here, st->spawned, secs, secs > 0 ? here / secs : 0.0,
            st->workers, st->max_running, st->supervisor_cpu_s, st->workers_cpu_s,
            st->finished_here ? cpu * 1e6 / here : 0.0, st->worker_restarts);
    if (st->stop_sig)
        fprintf(f, "{\"signal\": \"SIG%s\", ", sigabbrev_np(st->stop_sig));
    else if (st->stop_deadline)
        fprintf(f, "{\"signal\": null, ");
    if (st->stop_sig || st->stop_deadline)
        fprintf(f, "\"wall_ns\": %" PRIu64 ", \"workers_running\": %u, \"deadline\": %s}",
                st->stop_wall_ns, st->stop_running, st->stop_deadline ? "true" : "false");
    else
        fprintf(f, "null");
    /* why is one of the supervisor's own words: no escaping needed */
    if (st->drain_why)
        fprintf(f, ", \"drain\": {\"why\": \"%s\", \"wall_ns\": %" PRIu64 "}}\n", st->drain_why,
                st->drain_wall_ns);
    else
        fprintf(f, ", \"drain\": null}\n");
    return fclose(f) == 0;
}

double runstats_cpu_us_per_job(const char *dir)
{
    char path[PATH_MAX], buf[1024];
    if (rundir_path(path, sizeof path, dir, RUNDIR_STATS) < 0)
        return -1;
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *key = strstr(buf, CPU_KEY);
    if (!key)
        return -1;
    char *end;
    double v = strtod(key + strlen(CPU_KEY), &end);
    return end == key + strlen(CPU_KEY) ? -1 : v;
}
