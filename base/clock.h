/*
 * clock.h - clocks in nanoseconds, and the one sleep every module uses.
 */
#ifndef VOLLEY_BASE_CLOCK_H
#define VOLLEY_BASE_CLOCK_H

#include <stdint.h>

uint64_t vl_now_ns(void);  /* CLOCK_MONOTONIC */
uint64_t vl_wall_ns(void); /* CLOCK_REALTIME, since the epoch */
uint64_t vl_cpu_ns(void);  /* this process's CPU time, user + system, every thread */
/* Sleeps ns nanoseconds (a signal may end it early: callers poll a condition
 * around it, never count on the time slept). */
void vl_sleep_ns(uint64_t ns);

/*
 * A local date and time as people and Slurm write it, "YYYY-MM-DDTHH:MM"
 * (or a space for the T) with optional ":SS", to wall-clock ns (the local
 * time zone, daylight saving time as it is on that date). 0, or -EINVAL
 * if s is not exactly that.
 */
int vl_parse_local_time(const char *s, uint64_t *wall_ns);

#endif /* VOLLEY_BASE_CLOCK_H */
