/*
 * resume_reset.c - jobs of a stopped or finished run back to their initial
 * state (resume.h, "reset"; docs/running.md, "volley reset"). One pass over
 * the jobs and, from the selected ones, a breadth-first walk down their
 * children (each job entered once): O(jobs + edges reached).
 */
#include "core/resume.h"

#include <stdlib.h>
#include <string.h>

/* Job j back to its initial state; true if its record changed. */
static bool reset_one(const struct spec *s, struct snap_job *r, uint32_t j)
{
    struct snap_job init;
    snap_job_init(s, j, &init);
    if (r->state == init.state && !r->exit_code && !r->start_ns && !r->end_ns)
        return false; /* never ran, or already reset */
    r->state = init.state;
    r->exit_code = 0;
    r->start_ns = r->end_ns = 0;                   /* the next run is attempt + 1 */
    r->lost = (uint16_t)VL_MIN(r->attempt, 2047u); /* its handler's retries anew */
    return true;
}

void resume_reset(const struct spec *s, struct snap_job *jobs, const uint8_t *sel, bool downstream,
                  struct snap_job *diff, size_t *n)
{
    *n = 0;
    uint32_t *queue = vl_xmalloc(((size_t)s->njobs + 1) * sizeof *queue);
    uint8_t *seen = vl_xcalloc((size_t)s->njobs + 1, 1);
    uint32_t head = 0, tail = 0;
    for (uint32_t j = 0; j < s->njobs; j++)
        if (sel[j]) {
            seen[j] = 1;
            queue[tail++] = j;
        }
    while (head < tail) {
        uint32_t j = queue[head++];
        if (reset_one(s, &jobs[j], j))
            diff[(*n)++] = jobs[j];
        for (uint64_t k = s->kid_off[j]; k < s->kid_off[j + 1]; k++) {
            uint32_t c = s->kids[k];
            if (seen[c] || (!downstream && jobs[c].state != SNAP_STATE_CANCELED))
                continue;
            seen[c] = 1;
            queue[tail++] = c;
        }
    }
    free(seen);
    free(queue);
}
