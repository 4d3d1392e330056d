/*
 * jobs.c - pass A over job entries: instance names (into the job hash
 * table, PIPE lookups in flight), full commands (invocation_script
 * prefixed, ${files...} filled in), resource classes, failure handlers,
 * the files each job reads and writes (CSR per job) and the producer of
 * each file.
 *
 * Names that collide inside one entry (zip with repeated values, a
 * "{p:.0f}" that rounds two values to one) are one instance: its
 * combinations are listed by collapse_map and must agree on the command.
 */
#include "expand_int.h"

#include <inttypes.h>

static uint32_t find_named(struct X *X, const struct vec *tab_names, const struct rstr *want,
                           const char *got, uint64_t loc, const char *what, unsigned kind,
                           const struct E *E)
{
    /* tab_names: struct rrr or struct rfh, both starting with struct rstr name */
    size_t stride = tab_names->elem;
    for (uint64_t i = 0; i < tab_names->n; i++) {
        const struct rstr *nm = (const struct rstr *)((const char *)tab_names->p + i * stride);
        if (!strcmp(raw_str(X->R, nm->off), got))
            return (uint32_t)i;
    }
    const char *cands[64];
    size_t nc = 0;
    for (uint64_t i = 0; i < tab_names->n && nc < 64; i++)
        cands[nc++] =
            raw_str(X->R, ((const struct rstr *)((const char *)tab_names->p + i * stride))->off);
    const char *dym = did_you_mean(got, cands, nc);
    (void)want;
    if (dym)
        ldiag_add(X->g, SPEC_DIAG_ERROR, loc, kind,
                  "job '%s' uses %s '%s', which is not defined; did you mean '%s'?",
                  lcut(X->g, ename(X, E)), what, lcut(X->g, got), dym);
    else
        ldiag_add(X->g, SPEC_DIAG_ERROR, loc, kind, "job '%s' uses %s '%s', which is not defined",
                  lcut(X->g, ename(X, E)), what, lcut(X->g, got));
    return SPEC_NONE;
}

/* resource class and failure handler of the current combination */
static void job_classes(struct X *X, struct E *E, uint32_t jid, uint32_t *rr_cache,
                        uint32_t *fh_cache)
{
    X->rr[jid] = X->fh[jid] = SPEC_NONE16;
    if (E->t_rr.present) {
        uint32_t id = *rr_cache;
        if (id == SPEC_NONE - 1 || E->t_rr.mask) {
            X->scratch.len = 0;
            tmpl_render(X, E, &E->t_rr, &X->scratch);
            sbuf_addc(&X->scratch, '\0');
            id = find_named(X, &X->R->rrs, &E->e->rr, X->scratch.p, E->t_rr.loc,
                            "resource_requirements", K_UNKNOWN_RR, E);
            *rr_cache = id;
        }
        X->rr[jid] = id == SPEC_NONE ? SPEC_NONE16 : (uint16_t)id;
    }
    if (E->t_fh.present) {
        uint32_t id = *fh_cache;
        if (id == SPEC_NONE - 1 || E->t_fh.mask) {
            X->scratch.len = 0;
            tmpl_render(X, E, &E->t_fh, &X->scratch);
            sbuf_addc(&X->scratch, '\0');
            id = find_named(X, &X->R->fhs, &E->e->fh, X->scratch.p, E->t_fh.loc, "failure_handler",
                            K_UNKNOWN_FH, E);
            *fh_cache = id;
        }
        X->fh[jid] = id == SPEC_NONE ? SPEC_NONE16 : (uint16_t)id;
    }
}

/* Renders the full command (invocation_script prefixed) into out. */
void jobs_render_cmd(struct X *X, struct E *E, struct sbuf *out)
{
    if (E->t_script.present) {
        tmpl_render(X, E, &E->t_script, out);
        sbuf_addc(out, ' ');
    }
    tmpl_render(X, E, &E->t_cmd, out);
}

/* Reports the file or user_data name in X->scratch, which is not declared
 * (unless a dropped entry may have declared it). */
static void unknown_file(struct X *X, uint64_t loc, uint32_t jid, bool out, bool ud)
{
    static const char fmt[] = "'%s' %s %s '%s', which is not declared in %s%s%s%s";
    const char *s = X->scratch.p ? X->scratch.p : "";
    size_t n = X->scratch.len;
    if (ldiag_fold(X->g, SPEC_DIAG_ERROR, loc, K_UNKNOWN_FILE, fmt))
        return; /* counted into the first report */
    if (X->files_incomplete && unknown_maybe_dropped(X, 'f', s, n))
        return;
    const char *dym = unknown_dym(X, ud ? 'u' : 'f', s, n, SPEC_NONE);
    ldiag_add(X->g, SPEC_DIAG_ERROR, loc, K_UNKNOWN_FILE, fmt, lcut(X->g, jname(X, jid)),
              out ? "writes" : "reads", ud ? "user_data" : "file", lcutn(X->g, s, n),
              ud ? "user_data" : "files", dym ? "; did you mean '" : "", dym ? lcut(X->g, dym) : "",
              dym ? "'?" : "");
}

/* The file references (items) of the current combination into ins/outs. */
void jobs_file_items(struct X *X, struct E *E, uint32_t jid, bool fan_only)
{
    const struct raw *R = X->R;
    for (uint32_t k = 0; k < E->e->it_n; k++) {
        const struct ritem *it = &VEC_AT(R->items, struct ritem, E->e->it_first + k);
        const struct tmpl *t = &E->t_items[k];
        if (fan_only && !(t->mask & E->fan_mask))
            continue;
        bool out, ud, rx;
        switch (it->kind) {
        case IT_IN:
            out = false, ud = false, rx = false;
            break;
        case IT_OUT:
            out = true, ud = false, rx = false;
            break;
        case IT_UIN:
            out = false, ud = true, rx = false;
            break;
        case IT_UOUT:
            out = true, ud = true, rx = false;
            break;
        case IT_INRX:
            out = false, ud = false, rx = true;
            break;
        case IT_OUTRX:
            out = true, ud = false, rx = true;
            break;
        case IT_UINRX:
            out = false, ud = true, rx = true;
            break;
        case IT_UOUTRX:
            out = true, ud = true, rx = true;
            break;
        default:
            continue;
        }
        X->scratch.len = 0;
        tmpl_render(X, E, t, &X->scratch);
        struct vec *dst = out ? &X->tmpu2 : &X->tmpu;
        if (rx) {
            uint32_t id = rx_get(X, ud ? 'u' : 'f', X->scratch.p ? X->scratch.p : "",
                                 X->scratch.len, t->loc, t->mask == 0);
            const struct rx *r = &VEC_AT(X->rxs, struct rx, id);
            if (!r->bad && r->nres == 0 && !X->files_incomplete)
                ldiag_addf(X->g, SPEC_DIAG_ERROR, t->loc, K_RX_NONE,
                           "'%s': pattern '%s' matches no %s", lcut(X->g, jname(X, jid)),
                           lcutn(X->g, X->scratch.p ? X->scratch.p : "", X->scratch.len),
                           ud ? "user_data entry" : "file");
            for (uint64_t m = 0; m < r->nres; m++)
                u32_push(dst, VEC_AT(X->rxres, uint32_t, r->res + m));
            continue;
        }
        uint32_t fid = strtab_find(ud ? &X->utab : &X->ftab, X->scratch.p ? X->scratch.p : "",
                                   X->scratch.len, strtab_hash(X->scratch.p, X->scratch.len));
        if (fid == SPEC_NONE) {
            unknown_file(X, t->loc, jid, out, ud);
            continue;
        }
        u32_push(dst, fid);
    }
}

/* A job name is printed one per line and typed on command lines: it must
 * not be empty or hold a control character. Reports and returns false.
 * Only names that can hold one are scanned (name_scan). */
static bool job_name_ok(struct X *X, const struct E *E, const char *s, uint64_t n)
{
    size_t at = ctl_at(s, n);
    if (n && at == n)
        return true;
    if (!n) {
        lerr(X->g, E->t_name.loc, "a job name is empty");
        return false;
    }
    lerr(X->g, E->t_name.loc,
         "job name '%s' contains a control character (0x%02x); names are shown one per line and "
         "typed on command lines",
         lcutn(X->g, s, n), (unsigned char)s[at]);
    return false;
}

/* Whether the entry's names can hold a control character: its name template
 * does, or a parameter it uses has string values (numbers never do). */
static bool name_scan(const struct E *E)
{
    size_t len = E->t_name.src ? strlen(E->t_name.src) : 0;
    if (ctl_at(E->t_name.src, len) < len)
        return true;
    for (uint64_t m = E->t_name.mask; m; m &= m - 1)
        if (E->pt[__builtin_ctzll(m)]->types & VT_STR)
            return true;
    return false;
}

/* The names of the entry's instances into the job table, PIPE at a time:
 * render and hash a batch, prefetch the table slots, then insert; the slot
 * loads are the cost (a cache miss per name), and this way they overlap.
 * A name another entry has already is reported, and the instance kept as a
 * ghost, so its references are still checked (deps_check_ghosts). */
static void jobs_names(struct X *X, struct E *E, struct eout *eo)
{
    bool scan = E->t_name.mask ? name_scan(E) : true; /* no parameters: the name is src */
    uint64_t bstart[PIPE], blen[PIPE], bh[PIPE];
    for (uint64_t c0 = 0; c0 < E->C; c0 += PIPE) {
        uint32_t nb = (uint32_t)VL_MIN((uint64_t)PIPE, E->C - c0);
        for (uint32_t k = 0; k < nb; k++) {
            entry_set_combo(E, c0 + k);
            bstart[k] = X->pool.len;
            tmpl_render(X, E, &E->t_name, &X->pool);
            blen[k] = X->pool.len - bstart[k];
            sbuf_addc(&X->pool, '\0');
            if (scan || !blen[k])
                job_name_ok(X, E, X->pool.p + bstart[k], blen[k]);
            bh[k] = strtab_hash(X->pool.p + bstart[k], blen[k]);
            strtab_prefetch(&X->jtab, bh[k]);
        }
        for (uint32_t k = 0; k < nb; k++) {
            uint32_t jid = X->njobs;
            X->name_off[jid] = bstart[k];
            uint32_t old = strtab_put(&X->jtab, X->pool.p + bstart[k], blen[k], bh[k], jid);
            if (old == SPEC_NONE) {
                X->njobs++;
                continue;
            }
            /* the rejected name stays in the pool as dead bytes */
            if (old < eo->first) {
                const struct rent *o = entry_of(X, old, (uint64_t)(eo - X->eo));
                ldiag_addf(X->g, SPEC_DIAG_ERROR, E->t_name.loc, K_DUP,
                           "duplicate job name '%s' (the job at line %" PRIu32 " has it too)",
                           lcutn(X->g, X->pool.p + bstart[k], blen[k]),
                           o ? loc_line(o->loc) + 1 : 0);
                *(struct ghost *)vec_push(&X->ghosts) =
                    (struct ghost){c0 + k, (uint32_t)(eo - X->eo)};
            } else {
                eo->collapsed = true;
            }
        }
    }
    eo->n = X->njobs - eo->first;
}

/* The files job jid reads and writes (X->tmpu, X->tmpu2) into its CSR
 * rows, and jid as the producer of what it writes. */
static void jobs_files(struct X *X, struct E *E, uint32_t jid)
{
    u32_sort_unique(&X->tmpu);
    u32_sort_unique(&X->tmpu2);
    X->in_off[jid] = X->ins.n;
    for (uint64_t k = 0; k < X->tmpu.n; k++) {
        uint32_t fid = VEC_AT(X->tmpu, uint32_t, k);
        u32_push(&X->ins, fid);
        VEC_AT(X->files, struct spec_file, fid).flags |= SPEC_FILE_INPUT;
    }
    X->out_off[jid] = X->outs.n;
    for (uint64_t k = 0; k < X->tmpu2.n; k++) {
        uint32_t fid = VEC_AT(X->tmpu2, uint32_t, k);
        u32_push(&X->outs, fid);
        struct spec_file *f = &VEC_AT(X->files, struct spec_file, fid);
        if (f->producer != SPEC_NONE && f->producer != jid)
            ldiag_addf(X->g, SPEC_DIAG_ERROR, E->t_name.loc, K_PRODUCERS,
                       "%s '%s' is written by both '%s' and '%s'",
                       f->flags & SPEC_FILE_USER_DATA ? "user_data" : "file",
                       lcut(X->g, X->pool.p + f->name_off),
                       lcut(X->g, X->pool.p + X->name_off[f->producer]),
                       lcut(X->g, X->pool.p + X->name_off[jid]));
        else
            f->producer = jid;
    }
}

void jobs_expand_entry(struct X *X, struct E *E, struct eout *eo)
{
    const struct rent *e = E->e;
    eo->first = X->njobs;
    if (!jobs_reserve(X, E->C)) {
        eo->bad = true;
        return;
    }
    jobs_names(X, E, eo);
    uint32_t *order = NULL;
    uint64_t *off = NULL;
    if (eo->collapsed)
        entry_collapse_map(X, E, eo, &order, &off);
    uint32_t rr_cache = SPEC_NONE - 1, fh_cache = SPEC_NONE - 1, env_set = SPEC_NONE;
    uint8_t flags = (uint8_t)((e->cancel ? SPEC_JOB_CANCEL_ON_BLOCK : 0) |
                              (e->has_stdio ? e->stdio : X->R->wf_stdio));
    for (uint32_t i = 0; i < eo->n; i++) {
        uint32_t jid = eo->first + i;
        uint64_t nc = eo->collapsed ? off[i + 1] - off[i] : 1;
        X->tmpu.n = X->tmpu2.n = 0;
        for (uint64_t k = 0; k < nc; k++) {
            uint64_t c = eo->collapsed ? order[off[i] + k] : i;
            entry_set_combo(E, c);
            entry_first_fan(E);
            X->refs.n = 0;
            X->cur_jid = jid;
            if (k == 0) {
                X->cmd_off[jid] = X->pool.len;
                jobs_render_cmd(X, E, &X->pool);
                uint64_t cmd_len = X->pool.len - X->cmd_off[jid];
                sbuf_addc(&X->pool, '\0');
                job_classes(X, E, jid, &rr_cache, &fh_cache);
                X->flags[jid] = flags;
                X->prio[jid] = e->prio;
                X->any_prio |= e->prio != 0;
                if (X->env || cmd_len >= X->cmd_fast) /* else: no env of its own, and short */
                    env_job(X, E, jid, &env_set, cmd_len);
            } else {
                X->scratch.len = 0;
                jobs_render_cmd(X, E, &X->scratch);
                if (X->scratch.len != strlen(X->pool.p + X->cmd_off[jid]) ||
                    memcmp(X->scratch.p, X->pool.p + X->cmd_off[jid], X->scratch.len))
                    ldiag_addf(X->g, SPEC_DIAG_ERROR, E->t_name.loc, K_DIFF,
                               "two instances are both named '%s' but differ in command; use the "
                               "parameters that differ in the name",
                               lcut(X->g, X->pool.p + X->name_off[jid]));
            }
            for (uint64_t r = 0; r < X->refs.n; r++) {
                uint64_t v = VEC_AT(X->refs, uint64_t, r);
                uint32_t ref = (uint32_t)(v >> 32), fid = (uint32_t)v;
                u32_push(ref == REF_FOUT || ref == REF_UOUT ? &X->tmpu2 : &X->tmpu, fid);
            }
            jobs_file_items(X, E, jid, false);
            while (E->nfan && entry_next_fan(E))
                jobs_file_items(X, E, jid, true);
        }
        if (X->has_files)
            jobs_files(X, E, jid);
    }
    X->cur_jid = SPEC_NONE;
    free(order);
    free(off);
}
