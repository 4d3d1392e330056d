/* clock.c - see clock.h. vl_now_ns is on hot paths: one vDSO call. */
#include "base/clock.h"

#include <errno.h>
#include <string.h>
#include <time.h>

uint64_t vl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vl_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vl_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vl_sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                          .tv_nsec = (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

int vl_parse_local_time(const char *s, uint64_t *wall_ns)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    if (!end || (*end != 'T' && *end != ' '))
        return -EINVAL;
    const char *t = end + 1;
    end = strptime(t, "%H:%M:%S", &tm);
    if (!end || *end) {
        tm.tm_sec = 0;
        end = strptime(t, "%H:%M", &tm);
    }
    if (!end || *end)
        return -EINVAL;
    tm.tm_isdst = -1;
    time_t when = mktime(&tm);
    if (when == (time_t)-1 || when < 0)
        return -EINVAL;
    *wall_ns = (uint64_t)when * 1000000000u;
    return 0;
}
