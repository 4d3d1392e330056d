/*
 * proc.h - facts about processes and the machine read from /proc, and how
 * this process treats stop signals.
 */
#ifndef VOLLEY_BASE_PROC_H
#define VOLLEY_BASE_PROC_H

#include <stdbool.h>
#include <stdint.h>

/* Start time of a process in clock ticks since boot (/proc/PID/stat field
 * 22): with the pid, it names a process across pid reuse. 0 if gone. */
uint64_t vl_proc_start(int pid);
/* True if pid is alive and started at start_ticks (0: any start time). */
bool vl_proc_alive(int pid, uint64_t start_ticks);
/* Boot id from /proc/sys/kernel/random/boot_id (36 chars + NUL). */
int vl_boot_id(char out[37]);
/* Whether volley stops on sig (SIGINT, SIGTERM or SIGHUP) in this process:
 * SIGTERM always; SIGINT and SIGHUP unless they are ignored now (nohup, a
 * script's background job), as make leaves them. The supervisor, its
 * workers and the setup's handler (tools/intr.h) all ask this. */
bool vl_stop_signal_taken(int sig);
/* The processes in process group pgid, by a scan of /proc/PID/stat (a
 * millisecond per few hundred processes: for the rare case, a job that
 * left processes behind). */
uint32_t vl_proc_count_pgrp(int pgid);

#endif /* VOLLEY_BASE_PROC_H */
