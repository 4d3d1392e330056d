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

#endif /* VOLLEY_BASE_CLOCK_H */
