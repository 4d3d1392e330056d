/*
 * layout.h - the on-segment format of a volley arena: one file under
 * /dev/shm per run, shared by the supervisor, the worker processes, the
 * checkpointer and read-only observers (status, jobs). Processes map it at
 * different addresses, so it holds offsets and indices, never pointers.
 *
 * Segment = header (1 KiB) followed by sections, each starting on a 64-byte
 * line, in this order (hot first):
 *
 *   ctl      the arena's own control words: quiesce epoch, cancel
 *            sequence, sleep/wake futex word, the ready-queue chunk
 *            allocator, the age clock, the priority levels that may hold
 *            work, base state counts, repair counters. The run's control
 *            (stop, -j, resources) is not here: it is per process
 *            generation and lives in core/runctl.h's page
 *   slots    one per participant (worker, supervisor, client): its identity
 *            (pid and start time in one word), its scheduling countdowns,
 *            per-state counters
 *   state    [njobs] u64 state word: state | cancel-request | owner | attempt
 *   indeg    [njobs] u32 live in-degree (parents not yet finished)
 *   dirty    [njobs/64] u64 bitmap: job changed since the checkpointer looked
 *   kid_off  [njobs+1] u64 CSR offsets into kids
 *   kids     [nedges] u32 children, ascending per parent
 *   readyq   [nroots + nchunks * ARENA_CHUNK] u32 cells: each level's roots
 *            (the root log, ascending ids), then the queue chunks
 *   qd       [nslots * nlevels] one ready queue per slot and level: a range
 *            of cells taken oldest first, and a FIFO of chunks (arena.h)
 *   chunks   [nchunks] next chunk of the same queue, age of its tokens
 *   ages     [nlevels * nslots] u32 oldest age each slot holds per level
 *   lvl      [njobs] u8 priority level of each job (0 = highest); no
 *            entries when the workflow has one level (no priorities)
 *   sleep    [nslots/64] u64 bitmap: the slot said it is idle (about to
 *            wait on the futex word) and nobody has woken it since
 *   indeg0   [njobs] u32 initial in-degree, kept for restore and repair
 *   link     [njobs] u32 intrusive worklist for cancellation cascades
 *   cold     [njobs] pid, exit code, start/end ns, log reference, usage
 *   meta     [njobs] name/command offsets, resource class, handler, flags
 *   levels   [nlevels] each level's priority, root log and root cursor
 *   rrs, fhs, rules, codes   the spec's small tables
 *   pool     the spec's string pool, verbatim (so its offsets stay valid)
 *   envsets, envkv   the spec's env sets and their "KEY=VALUE" entries
 *            (pool offsets): what a worker exports to a job beside the
 *            VOLLEY_* variables
 *   jobenv   [njobs] u32 env set of each job; no entries when every job has
 *            set 0 (or there is no env), so a workflow without per-job env
 *            pays nothing per job
 *
 * Hot data per job (touched by claim and completion): state 8 + indeg 4 +
 * kid_off 8 + kids 4 per edge + readyq 4 (+ 8 per 64-cell chunk) + dirty
 * 1/8 bytes (+ lvl 1 with priorities): 28 B plus 4 B per child, 36 B for the
 * random shape's mean of 2 children (target <= 64 B); plus 64 B per queue
 * (slot x level).
 *
 * Rules: fixed-width types only; -Wpadded is an error here, so every hole is
 * a named pad; every size is pinned by a _Static_assert; hot counters and
 * each slot's lines sit on their own 64-byte line. Every atomic field's
 * comment names its writers (W), readers (R) and the memory order. Any
 * change to this file bumps ARENA_LAYOUT; ARENA_SHAPE (a hash of every
 * struct's size and alignment) catches a change that forgot to.
 */
#ifndef VOLLEY_SHM_LAYOUT_H
#define VOLLEY_SHM_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Only lock-free atomics work across processes. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wpadded"

#define ARENA_MAGIC "VOLLEYAR" /* 8 bytes, no NUL: visible in xxd */
#define ARENA_LAYOUT                                                                               \
    6u /* bump on ANY change in this file. 3 (2026-12-06): ctl loses the stop, running             \
          and resource words nothing read (core/runctl.h holds the live ones). 4                   \
          (2026-12-06): sections envsets, envkv, jobenv (env). 5 (2026-12-06): priority            \
          levels, per-slot FIFO queues of chunks, root logs, ages. 6: cold holds the               \
          attempt's usage, a class its max_pids (issue #18) */
#define ARENA_ALIGN 64u           /* section alignment: a cache line */
#define ARENA_LINE 64u            /* cache line */
#define ARENA_MAX_SLOTS 4096u     /* owner field is 16 bits; 0xffff = none */
#define ARENA_CHUNK 64u           /* cells per ready-queue chunk (power of two) */
#define ARENA_MAX_LEVELS 64u      /* distinct priorities in one arena */
#define ARENA_ROOT_CHUNK 512u     /* roots the cursor hands out at least at a time */
#define ARENA_NONE UINT32_MAX     /* no job */
#define ARENA_AGE_NONE UINT32_MAX /* ages[]: the slot holds no token at that level */

/* Job states (SPEC.md section 1), values stored in the state word. */
enum arena_state {
    ARENA_BLOCKED = 0,    /* waiting for parents */
    ARENA_READY = 1,      /* may be claimed */
    ARENA_RUNNING = 2,    /* claimed by the owner slot */
    ARENA_COMPLETED = 3,  /* finished: exit 0 */
    ARENA_FAILED = 4,     /* finished: non-zero exit, retries exhausted */
    ARENA_TERMINATED = 5, /* finished: killed for exceeding its runtime */
    ARENA_CANCELED = 6,   /* finished: canceled (by a user or a failed parent) */
    ARENA_NSTATES = 7
};

/*
 * The state word (u64, one per job):
 *   bits  0..3   enum arena_state
 *   bit   4      ARENA_W_CANCEL_REQ: a user canceled this job or an
 *                ancestor; cancel it as soon as it is not running, and its
 *                worker stops it if it is. Never cleared.
 *   bits  5..15  attempts cut short (a stop, a crash, a dead worker: the
 *                job came back ready, attempt + 1), saturating at 2047:
 *                they are not failures, so a failure handler does not
 *                count them against max_retries
 *   bits 16..31  owner slot (claimer or finisher), ARENA_W_NO_OWNER if none
 *   bits 32..63  attempt, 1-based: each attempt is one run of the job
 * Every change is a compare-and-swap of the whole word (seq_cst), so a job
 * is claimed once and finished once, and the cancel bit set concurrently by
 * another process makes the CAS fail and retry rather than get lost.
 */
#define ARENA_W_STATE_MASK 0xfull
#define ARENA_W_CANCEL_REQ (1ull << 4)
#define ARENA_W_OWNER_SHIFT 16
#define ARENA_W_NO_OWNER 0xffffull
#define ARENA_W_ATTEMPT_SHIFT 32
#define ARENA_W_LOST_SHIFT 5
#define ARENA_W_LOST_MAX 0x7ffull /* bits 5..15 */

/* A process identity in one word: pid in the high half, the low 32 bits of
 * its start time (clock ticks since boot, /proc/PID/stat field 22) in the
 * low half, so a reused pid is not mistaken for it. Never 0. */
#define ARENA_IDENT(pid, start) ((uint64_t)(uint32_t)(pid) << 32 | (uint32_t)(start))
#define ARENA_IDENT_PID(id) ((int32_t)((id) >> 32))

/* Counter indices of struct arena_slot.cnt and struct arena_ctl.base. */
enum {
    ARENA_CNT_RETRIES = ARENA_NSTATES, /* arena_retry calls (not a state) */
    ARENA_NCNT = 8
};

/* A section: where it starts and what it holds. */
struct arena_sect {
    uint64_t off;  /* bytes from the segment start, a multiple of ARENA_ALIGN */
    uint64_t n;    /* number of elements */
    uint32_t elem; /* bytes per element */
    uint32_t pad;
};

enum arena_sect_id {
    ARENA_SECT_CTL,
    ARENA_SECT_SLOTS,
    ARENA_SECT_STATE,
    ARENA_SECT_INDEG,
    ARENA_SECT_DIRTY,
    ARENA_SECT_KID_OFF,
    ARENA_SECT_KIDS,
    ARENA_SECT_READYQ,
    ARENA_SECT_QD,
    ARENA_SECT_CHUNKS,
    ARENA_SECT_AGES,
    ARENA_SECT_LVL,
    ARENA_SECT_SLEEP,
    ARENA_SECT_INDEG0,
    ARENA_SECT_LINK,
    ARENA_SECT_COLD,
    ARENA_SECT_META,
    ARENA_SECT_LEVELS,
    ARENA_SECT_RRS,
    ARENA_SECT_FHS,
    ARENA_SECT_RULES,
    ARENA_SECT_CODES,
    ARENA_SECT_POOL,
    ARENA_SECT_ENVSETS,
    ARENA_SECT_ENVKV,
    ARENA_SECT_JOBENV,
    ARENA_NSECT
};

/*
 * The header. Everything up to hdr_sum is written once by the builder and
 * covered by hdr_sum (FNV-1a 64); the runner identity after it is rewritten
 * by a resumed run.
 */
struct arena_hdr {
    char magic[8];          /* ARENA_MAGIC */
    uint32_t layout;        /* ARENA_LAYOUT */
    uint32_t shape;         /* ARENA_SHAPE */
    uint64_t bytes;         /* whole segment; attach checks fstat */
    uint8_t run_id[16];     /* random per run unless the builder got one */
    uint32_t njobs;         /* jobs: ids 0..njobs-1 */
    uint32_t nslots;        /* participant slots */
    uint64_t nedges;        /* job -> job edges */
    uint64_t nroots;        /* jobs with no parent */
    uint64_t pool_len;      /* bytes in the pool section */
    uint32_t nrr;           /* resource classes */
    uint32_t nfh;           /* failure handlers */
    uint32_t nrules;        /* failure rules */
    uint32_t ncodes;        /* exit codes of all rules */
    int32_t creator_pid;    /* the process that built it */
    uint32_t nlevels;       /* priority levels, 1..ARENA_MAX_LEVELS */
    uint64_t creator_start; /* its start time, clock ticks since boot */
    uint64_t created_ns;    /* CLOCK_REALTIME at build */
    struct arena_sect sect[ARENA_NSECT];
    uint64_t hdr_sum; /* FNV-1a 64 of every byte above */
    /* not checksummed: */
    _Atomic uint64_t runner; /* the runner's identity (ARENA_IDENT), 0 if none.
                                W: arena_set_runner (release). R: status (acquire) */
    uint8_t reserved[272];   /* zero */
};
_Static_assert(offsetof(struct arena_hdr, sect) == 112, "arena header");
_Static_assert(offsetof(struct arena_hdr, hdr_sum) == 736, "arena header");
_Static_assert(sizeof(struct arena_hdr) == 1024, "arena header");

/*
 * The arena's control words: one per segment, each group on its own cache line so the
 * read-mostly words never share a line with the written ones.
 */
struct arena_ctl {
    /* line 0: read-mostly */
    _Atomic uint32_t qs_word;    /* quiesce epoch, odd while requested. W: arena_recover
                                    (seq_cst). R: participants at each safe point
                                    (acquire); parked ones futex-wait on it */
    uint32_t pad0a;              /* zero */
    _Atomic uint32_t cancel_seq; /* W: arena_cancel, +1 per request (release), then
                                    arena_wake. R: workers, to rescan their running
                                    jobs' cancel bits (acquire) */
    _Atomic uint32_t slots_hw;   /* 1 + highest slot ever joined. W: arena_join
                                    (fetch_max by CAS, seq_cst). R: thieves, recover */
    _Atomic uint64_t qs_owner;   /* identity (ARENA_IDENT) of the process running
                                    arena_recover, so another can take over if it dies.
                                    W/R: recover (seq_cst) */
    uint8_t pad0b[40];
    /* line 1: sleep and wake */
    _Atomic uint32_t work_seq; /* THE futex word (32-bit, shared, not private). +1
                                  whenever ready work is published while someone
                                  sleeps, on quiesce, cancel and the end. W: any
                                  participant (seq_cst). R: sleepers */
    _Atomic uint32_t sleepers; /* participants between arena_sleep_prepare and
                                  arena_sleep_done. W: them (seq_cst RMW).
                                  R: publishers after a seq_cst fence */
    uint8_t pad1[56];
    /* line 2 */
    _Atomic uint64_t chunk_next; /* the next ready-queue chunk nobody has: a queue
                                    whose last chunk is full takes one. W: owners
                                    (fetch_add, relaxed, once per ARENA_CHUNK
                                    pushes), repair */
    uint8_t pad2[56];
    /* line 3 */
    _Atomic uint32_t tick; /* the age clock: +1 per ARENA_CHUNK completions of a
                              slot, so about one per ARENA_CHUNK completions of the
                              run. W: finishers (fetch_add, relaxed). R: pushers
                              that start a chunk (relaxed) */
    uint32_t pad3;
    uint8_t pad3b[56];
    /* line 4 */
    _Atomic uint64_t lvl_hint; /* bit L: priority level L may hold ready tokens (with
                                  one level: unused). W: a pusher that made a queue
                                  of L non-empty (fetch_or after a seq_cst fence),
                                  a taker that found L empty (fetch_and, then looks
                                  again), repair. R: takers (acquire) */
    uint8_t pad4[56];
    /* line 5 */
    _Atomic int64_t base[ARENA_NCNT]; /* state counts at build or last repair; the live
                                         count is base + sum of slots' cnt. W: build,
                                         repair (under quiesce). R: counters (relaxed) */
    /* line 6: repair counters */
    _Atomic uint64_t recoveries; /* arena_recover runs. W: recover (relaxed RMW, under
                                    quiesce). R: tests; nothing shows it yet */
    _Atomic uint64_t recovered;  /* jobs put back to ready by recover. W/R: as above */
    uint8_t pad6[48];
};
_Static_assert(sizeof(struct arena_ctl) == 7 * 64, "arena ctl");
_Static_assert(offsetof(struct arena_ctl, cancel_seq) == 8, "arena ctl");
_Static_assert(offsetof(struct arena_ctl, work_seq) == 64, "arena ctl");
_Static_assert(offsetof(struct arena_ctl, chunk_next) == 2 * 64, "arena ctl");
_Static_assert(offsetof(struct arena_ctl, tick) == 3 * 64, "arena ctl");
_Static_assert(offsetof(struct arena_ctl, lvl_hint) == 4 * 64, "arena ctl");
_Static_assert(offsetof(struct arena_ctl, base) == 5 * 64, "arena ctl");
_Static_assert(offsetof(struct arena_ctl, recoveries) == 6 * 64, "arena ctl");

/* Slot roles (informational: status prints them). */
enum arena_role { ARENA_ROLE_WORKER = 1, ARENA_ROLE_SUPERVISOR = 2, ARENA_ROLE_CLIENT = 3 };

/*
 * A participant slot. Its owner is the one process that joined it; the
 * counters and the deque stay with the slot when the process leaves (a new
 * joiner inherits them), so totals never lose a transition.
 */
struct arena_slot {
    /* line 0: identity */
    _Atomic uint64_t ident;    /* the owner process (ARENA_IDENT: pid and start time
                                  claimed together, so a joiner is never mistaken for a
                                  dead previous owner), 0 = free. W: arena_join (CAS
                                  0 -> ident, seq_cst), arena_leave and arena_recover
                                  (store 0, release). R: recover, status (acquire) */
    _Atomic uint32_t role;     /* enum arena_role. W: join. R: status */
    _Atomic uint32_t qs_ack;   /* the odd quiesce epoch this participant parked
                                  for. W: owner at a safe point (release).
                                  R: arena_recover (acquire) */
    _Atomic uint32_t sleeping; /* 1 while counted in ctl.sleepers. W: owner.
                                  R: repair (recounts sleepers) */
    uint8_t pad0[44];
    /* line 1: the owner's countdowns (its queues are in the qd section).
       W: owner (relaxed), repair, join. R: owner */
    _Atomic uint32_t tick_left; /* completions until it advances ctl.tick */
    _Atomic uint32_t scan_left; /* takes until it next looks for older work */
    uint8_t pad1[56];
    /* line 2: transitions made through this slot, per target/source state */
    _Atomic int64_t cnt[ARENA_NCNT]; /* +1 entering, -1 leaving a state. W: owner
                                        only (relaxed load + store), repair.
                                        R: anyone (relaxed); see arena_counts */
};
_Static_assert(sizeof(struct arena_slot) == 3 * 64, "arena slot");

/*
 * A ready queue: one per slot and priority level, on its own line. Tokens
 * (job ids) live in readyq cells. The owner pushes at the tail, into its
 * current chunk of ARENA_CHUNK cells, taking a fresh chunk from
 * ctl.chunk_next when that one is full; chunks[].next links them. Anyone
 * takes at the head with a CAS, oldest first: the owner one token at a
 * time, a thief up to the rest of the head chunk, which becomes its range.
 * A position is chunk << 32 | offset; offset ARENA_CHUNK is the end of that
 * chunk. A queue's chunks are allocated in increasing order, so positions
 * only grow and head == tail is empty. The range is a span of cells that
 * the slot takes before its queue, oldest first (lo up): roots from the
 * level's root log, or a span stolen from another queue's head; thieves
 * split off its top half. Cells are written once between two repairs.
 */
struct arena_qd {
    _Atomic uint64_t range;     /* (hi << 32) | lo, cells [lo, hi). W: owner (CAS lo up;
                                   store when empty), thieves (CAS hi down), repair.
                                   R: all (acquire) */
    _Atomic uint64_t head;      /* next cell to take. W: owner and thieves (CAS,
                                   acq_rel), repair. R: all (acquire) */
    _Atomic uint64_t tail;      /* next free cell. W: owner (release, after the cell),
                                   repair. R: thieves (acquire) */
    _Atomic uint32_t range_age; /* ctl.tick when the range's tokens became ready (0:
                                   roots). W: whoever sets the range, before it
                                   (relaxed). R: thieves, owner */
    _Atomic uint32_t pub_age;   /* what the owner last wrote to ages[]. W/R: owner,
                                   repair */
    uint8_t pad[32];
};
_Static_assert(sizeof(struct arena_qd) == 64, "arena qd");

/* A chunk of ARENA_CHUNK readyq cells. */
struct arena_chunk {
    _Atomic uint32_t next; /* the queue's next chunk, once this one is full. W: the
                              queue's owner before publishing the tail past it. R:
                              takers at its end (acquire via the tail) */
    _Atomic uint32_t age;  /* ctl.tick when its first token (since the queue was
                              last empty) was pushed. W: owner. R: thieves (hint) */
};
_Static_assert(sizeof(struct arena_chunk) == 8, "arena chunk");

/* A priority level (levels are sorted by priority, highest first). */
struct arena_level {
    int32_t prio; /* the workflow's priority value */
    uint32_t pad;
    uint64_t root_first; /* its roots: readyq cells [root_first, root_first + nroots) */
    uint64_t nroots;
    _Atomic uint64_t root_cursor; /* roots below it were handed to slots' ranges.
                                     W: takers (CAS, relaxed), repair. R: takers */
    _Atomic uint32_t roots_done;  /* 1: every root was handed out and no slot holds
                                     roots any more (until the next repair). W: a
                                     taker whose look at every slot found none,
                                     repair. R: takers (relaxed) */
    uint8_t pad1[28];
};
_Static_assert(sizeof(struct arena_level) == 64, "arena level");

/* Per-job data that workers write and others read (status, persist). */
struct arena_cold {
    _Atomic int32_t pid;       /* the job's process (and process group). W: its worker
                                  after spawn (relaxed; published by the next state
                                  CAS or read racily). R: cancel, status */
    _Atomic int32_t exit_code; /* W: arena_finish before its CAS (relaxed). R: persist */
    _Atomic uint64_t start_ns; /* CLOCK_REALTIME ns of the current attempt. W: worker */
    _Atomic uint64_t end_ns;   /* W: worker. R: persist, status */
    _Atomic uint64_t log_ref;  /* core's 64-bit reference into its log index. W: worker */
    /* what the attempt in start_ns..end_ns used (core/cgroup.h). W: worker, at the end of
       each attempt (relaxed; published as end_ns is). R: persist, status */
    _Atomic uint64_t max_rss_bytes; /* peak memory */
    _Atomic uint32_t cpu_user_ms;   /* CPU time in user mode, ms (49 days at most) */
    _Atomic uint32_t cpu_sys_ms;    /* ... in the kernel (16 bytes a job: 160 MB for 10M jobs,
                                       so milliseconds, as volley.db keeps them) */
};
_Static_assert(sizeof(struct arena_cold) == 48, "arena cold");

/* Per-job data from the spec, written once at build. */
struct arena_meta {
    uint64_t name_off; /* pool offset of the job name */
    uint64_t cmd_off;  /* pool offset of the command */
    uint16_t rr;       /* resource class or 0xffff */
    uint16_t fh;       /* failure handler or 0xffff */
    uint8_t flags;     /* enum spec_job_flag */
    uint8_t pad[3];
};
_Static_assert(sizeof(struct arena_meta) == 24, "arena meta");

/* The spec's small tables, copied (same fields as loader/spec.h). */
struct arena_rr {
    uint64_t name_off;
    uint64_t memory_bytes;
    uint64_t runtime_ms;
    uint32_t num_cpus;
    uint32_t num_gpus;
    uint32_t num_nodes;
    uint32_t max_pids; /* volley's extension: the class's process limit, 0: --max-pids */
};
_Static_assert(sizeof(struct arena_rr) == 40, "arena rr");

struct arena_fh {
    uint64_t name_off;
    uint32_t rule_first;
    uint32_t nrules;
};
_Static_assert(sizeof(struct arena_fh) == 16, "arena fh");

struct arena_rule {
    uint32_t code_first;
    uint32_t ncodes;
    uint32_t max_retries;
    uint32_t flags;
    uint64_t script_off; /* or UINT64_MAX */
};
_Static_assert(sizeof(struct arena_rule) == 24, "arena rule");

/* An env set (loader/spec.h struct spec_envset, field for field): its own
 * entries envkv[first .. first + n), then those of set base (an earlier
 * one, or UINT32_MAX) whose keys it does not have. */
struct arena_envset {
    uint64_t first;
    uint32_t n;
    uint32_t base;
};
_Static_assert(sizeof(struct arena_envset) == 16, "arena envset");

#pragma GCC diagnostic pop

/* ARENA_SHAPE: a constant hash of every struct's size and alignment and the
 * key offsets, so a layout change that forgot to bump ARENA_LAYOUT is still
 * refused by attach. */
#define ARENA_MIX_(h, v) ((((uint32_t)(h)) ^ (uint32_t)(v)) * 16777619u)
#define ARENA_SHAPE_A_                                                                             \
    ARENA_MIX_(                                                                                    \
        ARENA_MIX_(ARENA_MIX_(2166136261u, sizeof(struct arena_hdr)), sizeof(struct arena_ctl)),   \
        sizeof(struct arena_slot))
#define ARENA_SHAPE_B_                                                                             \
    ARENA_MIX_(ARENA_MIX_(ARENA_MIX_(ARENA_SHAPE_A_, sizeof(struct arena_cold)),                   \
                          sizeof(struct arena_meta)),                                              \
               sizeof(struct arena_rr))
#define ARENA_SHAPE_C_                                                                             \
    ARENA_MIX_(ARENA_MIX_(ARENA_MIX_(ARENA_SHAPE_B_, sizeof(struct arena_fh)),                     \
                          sizeof(struct arena_rule)),                                              \
               ARENA_NSECT)
#define ARENA_SHAPE_D_                                                                             \
    ARENA_MIX_(ARENA_MIX_(ARENA_MIX_(ARENA_SHAPE_C_, sizeof(struct arena_qd)),                     \
                          sizeof(struct arena_chunk)),                                             \
               sizeof(struct arena_level))
#define ARENA_SHAPE                                                                                \
    ARENA_MIX_(ARENA_MIX_(ARENA_MIX_(ARENA_SHAPE_D_, offsetof(struct arena_slot, cnt) * 31u +      \
                                                         _Alignof(struct arena_slot)),             \
                          ARENA_CHUNK * 31u + ARENA_MAX_LEVELS * 7u + ARENA_NSTATES),              \
               sizeof(struct arena_envset))

#endif /* VOLLEY_SHM_LAYOUT_H */
