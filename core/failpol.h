/*
 * failpol.h - failure handlers as a pure function: from an attempt's exit
 * code and number, whether the job runs again and whether a recovery
 * script runs first (SPEC.md section 1, "Failure handlers").
 *
 * The first rule whose exit_codes contain the code applies, else the first
 * match_all_exit_codes rule. A rule allows max_retries retries after the
 * first run (default 3, set by the loader): attempt a (1 for the first run)
 * is retried while a <= max_retries. Its recovery_script, if any, runs
 * before the retry (not when retries are exhausted); if the script fails,
 * the job fails. Exit code 0 is never retried; a death by signal s is
 * matched as 128 + s, the shell's convention; an attempt that could not be
 * started is matched as -1 (only match_all rules catch it); one killed at
 * its runtime as FAILPOL_TIMEOUT_CODE (the engine passes that code).
 *
 * No I/O, no allocation: the engine calls it on every failed attempt, and
 * tests call it directly.
 */
#ifndef VOLLEY_CORE_FAILPOL_H
#define VOLLEY_CORE_FAILPOL_H

#include <stdbool.h>
#include <stdint.h>

#include "loader/spec.h"

/* The exit code a failure handler sees for an attempt killed for
 * exceeding its runtime (state terminated): torc's timeout_exit_code,
 * Slurm's code for a step ended at its time limit. A rule with
 * exit_codes: [152] (or match_all_exit_codes) retries such a job. */
#define FAILPOL_TIMEOUT_CODE 152

/* One failure handler: rules and the spec arrays they index. Pointers into
 * a struct spec (or the arena), owned by the caller. */
struct failpol {
    const struct spec_rule *rules; /* the handler's rules, in order */
    uint32_t nrules;
    const int32_t *codes; /* spec.codes */
    uint32_t ncodes;      /* entries in codes (bounds check) */
    const char *pool;     /* spec.pool, for recovery scripts */
    uint64_t pool_len;
};

struct failpol_decision {
    bool retry;           /* run attempt + 1 */
    int32_t rule;         /* index of the rule that matched, -1 if none */
    const char *recovery; /* script to run before the retry, or NULL */
};

/* Decides for an attempt that ended with code (see above). fh may be NULL
 * (no handler: never retry). Rules whose code range or script offset is out
 * of bounds are skipped. */
struct failpol_decision failpol_decide(const struct failpol *fh, int code, uint32_t attempt);

#endif /* VOLLEY_CORE_FAILPOL_H */
