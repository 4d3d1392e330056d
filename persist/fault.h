/*
 * fault.h - failure injection for everything persist/ writes to disk
 * (STYLE.md section 7): the Nth write, sync, truncate or rename fails.
 *
 * Two doors lead to the disk and both are counted here. SQLite's own I/O
 * goes through the VFS "volley" (fault.c), a shim that delegates every call
 * to the default "unix" VFS and, only while a test has armed a fault,
 * counts xWrite/xSync/xTruncate and fails the chosen one. persist/'s own
 * syscalls (the snapshot's fsync and rename, the lock file's write) call
 * fault_fsync() and friends instead of libc. Unarmed, the cost is one
 * relaxed atomic load per call.
 *
 * Tests loop N upward: fault_arm(N, ENOSPC), run the operation, check that
 * the previous state is intact, until the operation completes without the
 * fault firing. Process-wide; not for use while two tests share a process.
 */
#ifndef VOLLEY_PERSIST_FAULT_H
#define VOLLEY_PERSIST_FAULT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The nth counted operation from now (1-based) fails with errno err
 * (ENOSPC becomes SQLITE_FULL inside SQLite, anything else SQLITE_IOERR). */
void fault_arm(uint64_t nth, int err);
/* Every counted operation from the nth on fails with err, until
 * fault_disarm: a disk that stays full. */
void fault_arm_from(uint64_t nth, int err);
/* Stops counting and failing. */
void fault_disarm(void);
/* Counted operations since fault_arm. */
uint64_t fault_ops(void);
/* True once the armed fault has fired (stays true until the next arm). */
bool fault_fired(void);

/* Name of the delegating SQLite VFS, registered on first use; NULL (and
 * *rc set to a SQLite code) if registration failed. */
const char *fault_vfs(int *rc);

/* libc calls with the same contract, counted and failable. */
ssize_t fault_write(int fd, const void *buf, size_t len);
int fault_fsync(int fd);
int fault_ftruncate(int fd, off_t len);
/* renameat2(AT_FDCWD, from, AT_FDCWD, to, flags) */
int fault_rename(const char *from, const char *to, unsigned flags);

#endif /* VOLLEY_PERSIST_FAULT_H */
