/*
 * deps.c - pass B over job entries: each job's parents, from depends_on,
 * depends_on_regexes and the producers of the files it reads, sorted and
 * distinct, appended in jid order (X->pars, X->npar), so the child-major
 * CSR needs no sort of all edges.
 *
 * depends_on names without fan-in are rendered PIPE instances ahead and
 * their hash slots prefetched: the table lookups (a cache miss each) then
 * overlap.
 */
#include "expand_int.h"

#include <inttypes.h>

/* A dependency name rendered ahead (pass B batches), with its hash. */
struct pre {
    uint64_t off, len, h;
};

/* Reports depends_on name s, which matches no job (unless a dropped entry
 * may have had it). */
static void unknown_job(struct X *X, uint64_t loc, uint32_t jid, const char *s, size_t n)
{
    static const char fmt[] = "'%s' depends on '%s', which matches no job%s%s%s";
    if (ldiag_fold(X->g, SPEC_DIAG_ERROR, loc, K_UNKNOWN_JOB, fmt))
        return; /* counted into the first report */
    if (X->jobs_incomplete && unknown_maybe_dropped(X, 'j', s, n))
        return;
    const char *dym = unknown_dym(X, 'j', s, n, jid);
    ldiag_add(X->g, SPEC_DIAG_ERROR, loc, K_UNKNOWN_JOB, fmt, lcut(X->g, jname(X, jid)),
              lcutn(X->g, s, n), dym ? "; did you mean '" : "", dym ? lcut(X->g, dym) : "",
              dym ? "'?" : "");
}

static void add_dep_items(struct X *X, struct E *E, uint32_t jid, bool fan_only,
                          const struct pre *pre, uint64_t *pi)
{
    const struct raw *R = X->R;
    for (uint32_t k = 0; k < E->e->it_n; k++) {
        const struct ritem *it = &VEC_AT(R->items, struct ritem, E->e->it_first + k);
        if (it->kind != IT_DEP && it->kind != IT_DEPRX)
            continue;
        const struct tmpl *t = &E->t_items[k];
        if (fan_only && !(t->mask & E->fan_mask))
            continue;
        const char *s;
        uint64_t slen, h;
        if (pre && it->kind == IT_DEP && !(t->mask & E->fan_mask)) {
            const struct pre *q = &pre[(*pi)++];
            s = X->scratch2.p ? X->scratch2.p + q->off : ""; /* NULL: all names empty */
            slen = q->len;
            h = q->h;
        } else {
            X->scratch.len = 0;
            tmpl_render(X, E, t, &X->scratch);
            s = X->scratch.p ? X->scratch.p : "";
            slen = X->scratch.len;
            h = it->kind == IT_DEP ? strtab_hash(s, slen) : 0;
        }
        if (it->kind == IT_DEP) {
            uint32_t p = strtab_find(&X->jtab, s, slen, h);
            if (p == SPEC_NONE) {
                unknown_job(X, t->loc, jid, s, slen);
                continue;
            }
            if (p == jid) {
                ldiag_addf(X->g, SPEC_DIAG_ERROR, t->loc, K_SELF,
                           "dependency cycle: %s -> %s (a job cannot depend on itself)",
                           lcut(X->g, jname(X, jid)), lcut(X->g, jname(X, jid)));
                continue;
            }
            u32_push(&X->tmpu, p);
            continue;
        }
        uint32_t id = rx_get(X, 'j', s, slen, t->loc, t->mask == 0);
        const struct rx *r = &VEC_AT(X->rxs, struct rx, id);
        if (r->bad)
            continue;
        uint64_t added = 0;
        for (uint64_t m = 0; m < r->nres; m++) {
            uint32_t p = VEC_AT(X->rxres, uint32_t, r->res + m);
            if (p != jid) {
                u32_push(&X->tmpu, p);
                added++;
            }
        }
        if (!added && !X->jobs_incomplete)
            ldiag_addf(X->g, SPEC_DIAG_ERROR, t->loc, K_RX_NONE,
                       "'%s': depends_on_regexes pattern '%s' matches no other job",
                       lcut(X->g, jname(X, jid)), lcutn(X->g, s, slen));
    }
}

void deps_expand_entry(struct X *X, struct E *E, const struct eout *eo)
{
    bool has_dep = false;
    uint32_t npre = 0; /* depends_on items without fan-in: rendered ahead */
    for (uint32_t k = 0; k < E->e->it_n; k++) {
        uint8_t kind = VEC_AT(X->R->items, struct ritem, E->e->it_first + k).kind;
        has_dep |= kind == IT_DEP || kind == IT_DEPRX;
        npre += kind == IT_DEP && !(E->t_items[k].mask & E->fan_mask);
    }
    uint32_t *order = NULL;
    uint64_t *off = NULL;
    if (eo->collapsed && has_dep)
        entry_collapse_map(X, E, eo, &order, &off);
    bool batch = npre && !eo->collapsed;
    struct pre *pre = batch ? vl_xmalloc((size_t)PIPE * npre * sizeof *pre) : NULL;
    for (uint32_t i0 = 0; i0 < eo->n; i0 += PIPE) {
        uint32_t nb = VL_MIN((uint32_t)PIPE, eo->n - i0);
        if (batch) {
            X->scratch2.len = 0;
            uint64_t np = 0;
            for (uint32_t b = 0; b < nb; b++) {
                entry_set_combo(E, i0 + b);
                entry_first_fan(E);
                for (uint32_t k = 0; k < E->e->it_n; k++) {
                    const struct tmpl *t = &E->t_items[k];
                    if (VEC_AT(X->R->items, struct ritem, E->e->it_first + k).kind != IT_DEP ||
                        (t->mask & E->fan_mask))
                        continue;
                    struct pre *q = &pre[np++];
                    q->off = X->scratch2.len;
                    tmpl_render(X, E, t, &X->scratch2);
                    q->len = X->scratch2.len - q->off;
                    q->h = strtab_hash(X->scratch2.p ? X->scratch2.p + q->off : "", q->len);
                    strtab_prefetch(&X->jtab, q->h);
                }
            }
        }
        uint64_t pi = 0;
        for (uint32_t b = 0; b < nb; b++) {
            uint32_t i = i0 + b;
            uint32_t jid = eo->first + i;
            X->tmpu.n = 0;
            if (has_dep) {
                uint64_t nc = eo->collapsed ? off[i + 1] - off[i] : 1;
                for (uint64_t k = 0; k < nc; k++) {
                    entry_set_combo(E, eo->collapsed ? order[off[i] + k] : i);
                    entry_first_fan(E);
                    add_dep_items(X, E, jid, false, pre, &pi);
                    while (E->nfan && entry_next_fan(E))
                        add_dep_items(X, E, jid, true, NULL, NULL);
                }
            }
            for (uint64_t k = X->has_files ? X->in_off[jid] : 0;
                 X->has_files && k < X->in_off[jid + 1]; k++) {
                uint32_t p =
                    VEC_AT(X->files, struct spec_file, VEC_AT(X->ins, uint32_t, k)).producer;
                if (p != SPEC_NONE && p != jid)
                    u32_push(&X->tmpu, p);
            }
            u32_sort_unique(&X->tmpu);
            X->npar[jid] = 0;
            if (X->pars.n + X->tmpu.n > MAX_EDGES_BUILD) {
                if (!X->too_big)
                    lerr(X->g, LOC_NONE, "the workflow has more than %" PRIu64 " dependencies",
                         (uint64_t)MAX_EDGES_BUILD);
                X->too_big = true;
                continue;
            }
            for (uint64_t k = 0; k < X->tmpu.n; k++)
                u32_push(&X->pars, VEC_AT(X->tmpu, uint32_t, k));
            X->npar[jid] = (uint32_t)X->tmpu.n;
        }
    }
    free(pre);
    free(order);
    free(off);
}

/* One ghost's references, for their messages: its command's ${files...},
 * its file items and its dependencies, into scratch lists that are then
 * dropped (a ghost is no job: it has no edges). */
static void check_ghost(struct X *X, struct E *E, const struct ghost *gh)
{
    entry_set_combo(E, gh->combo);
    entry_first_fan(E);
    X->ghost_name.len = 0;
    tmpl_render(X, E, &E->t_name, &X->ghost_name);
    sbuf_addc(&X->ghost_name, '\0');
    X->cur_jid = JID_GHOST;
    X->refs.n = 0;
    X->ghost_cmd.len = 0;
    jobs_render_cmd(X, E, &X->ghost_cmd);
    X->tmpu.n = X->tmpu2.n = 0;
    jobs_file_items(X, E, JID_GHOST, false);
    add_dep_items(X, E, JID_GHOST, false, NULL, NULL);
    while (E->nfan && entry_next_fan(E)) {
        jobs_file_items(X, E, JID_GHOST, true);
        add_dep_items(X, E, JID_GHOST, true, NULL, NULL);
    }
    X->tmpu.n = X->tmpu2.n = X->refs.n = 0;
    X->cur_jid = SPEC_NONE;
}

void deps_check_ghosts(struct X *X)
{
    struct E E;
    X->quiet = true;
    for (uint64_t i = 0; i < X->ghosts.n;) {
        uint32_t entry = VEC_AT(X->ghosts, struct ghost, i).entry;
        X->segs.n = 0;
        bool ok = entry_begin(X, &E, &VEC_AT(X->R->jobs, struct rent, entry));
        for (; i < X->ghosts.n && VEC_AT(X->ghosts, struct ghost, i).entry == entry; i++)
            if (ok)
                check_ghost(X, &E, &VEC_AT(X->ghosts, struct ghost, i));
        entry_end(&E);
    }
}
