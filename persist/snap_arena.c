/*
 * snap_arena.c - see snap_arena.h.
 */
#include "persist/snap_arena.h"

#include <stdbool.h>

static bool attempt_began(unsigned state, uint64_t start_ns)
{
    return state == ARENA_RUNNING || (arena_state_finished(state) && start_ns != 0);
}

/* Seconds as the arena keeps them: whole ms, saturating (layout.h). */
static uint32_t ms_of(double s)
{
    double ms = s * 1e3 + 0.5;
    return ms <= 0 ? 0 : ms >= 4294967295.0 ? UINT32_MAX : (uint32_t)ms;
}

void snap_job_from_arena(uint32_t jid, const struct arena_job_rec *r, struct snap_job *out)
{
    unsigned state = r->state == ARENA_RUNNING && r->pid == 0 ? ARENA_READY : r->state;
    bool started = attempt_began(state, r->start_ns);
    *out = (struct snap_job){
        .jid = jid,
        .state = (uint8_t)state,
        .attempt = started ? r->attempt : (r->attempt ? r->attempt - 1 : 0),
        .exit_code = r->exit_code,
        .start_ns = r->start_ns,
        .end_ns = r->end_ns,
        .log_ref = r->log_ref ? r->log_ref : SNAP_NO_LOG,
        .lost = (uint16_t)VL_MIN(r->lost, 2047u),
        .max_rss_bytes = r->max_rss_bytes,
        .cpu_user_s = r->cpu_user_ms / 1e3,
        .cpu_sys_s = r->cpu_sys_ms / 1e3,
    };
}

void snap_job_to_arena(const struct snap_job *j, struct arena_job_rec *out)
{
    bool started = attempt_began(j->state, j->start_ns);
    *out = (struct arena_job_rec){
        .state = j->state,
        .attempt = started ? (j->attempt ? j->attempt : 1) : j->attempt + 1,
        .exit_code = j->exit_code,
        .start_ns = j->start_ns,
        .end_ns = j->end_ns,
        .log_ref = j->log_ref == SNAP_NO_LOG ? 0 : j->log_ref,
        .lost = j->lost,
        .owner = ARENA_NONE,
        .max_rss_bytes = j->max_rss_bytes,
        .cpu_user_ms = ms_of(j->cpu_user_s),
        .cpu_sys_ms = ms_of(j->cpu_sys_s),
    };
}

void snap_job_read(const struct arena *a, uint32_t jid, struct snap_job *out)
{
    struct arena_job_rec r;
    arena_job_read(a, jid, &r);
    snap_job_from_arena(jid, &r, out);
}
