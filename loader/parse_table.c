/*
 * parse_table.c - the small named tables: user_data entries (their data kept
 * as compact JSON text), resource classes (sizes, durations) and failure
 * handlers with their rules.
 */
#include "parse_int.h"

#include <errno.h>
#include <inttypes.h>

static const char *const ud_keys[] = {"name", "data", "is_ephemeral"};

/* torc's parameterized user_data (one record per combination) */
static const char ud_params[] = "volley does not expand user_data entries yet; write one entry per "
                                "record";
static const struct mapnote ud_notes[] = {
    {"parameters", SPEC_DIAG_ERROR, ud_params},
    {"parameter_mode", SPEC_DIAG_ERROR, ud_params},
    {"use_parameters", SPEC_DIAG_ERROR, ud_params},
    {NULL, 0, NULL},
};

void parse_ud(struct P *P)
{
    struct rud u = {.name = {RSTR_NONE, LOC_NONE}, .data = RSTR_NONE};
    struct mapit m = {.keys = ud_keys,
                      .nkeys = VL_ARRAY_LEN(ud_keys),
                      .notes = ud_notes,
                      .where = "a user_data entry"};
    if (!mapit_begin(P, &m, "a user_data entry"))
        return;
    int k;
    bool b;
    while ((k = mapit_next(P, &m)) >= 0) {
        if (k == 0) {
            parse_str(P, "name", &u.name);
        } else if (k == 1) {
            u.data = P->R->pool.len;
            yread_json(P->r, &P->R->pool);
            sbuf_addc(&P->R->pool, '\0');
        } else {
            parse_bool(P, "is_ephemeral", &b);
        }
    }
    if (parse_failed(P))
        return;
    if (u.name.off == RSTR_NONE || u.name.off == RSTR_BAD) {
        if (u.name.off == RSTR_NONE)
            lerr(P->g, m.loc, "a user_data entry needs a 'name'");
        P->R->bad_files++;
        return;
    }
    if (m.refused) { /* reported; its name may be referenced */
        P->R->bad_files++;
        *(struct rdrop *)vec_push(&P->R->dropped) = (struct rdrop){u.name.off, 'f'};
        return;
    }
    if (u.data == RSTR_NONE)
        u.data = sbuf_addz(&P->R->pool, "null", 4);
    *(struct rud *)vec_push(&P->R->uds) = u;
}

/* max_pids is volley's own key (docs/workflow-format.md): torc has no
 * process limit */
static const char *const rr_keys[] = {"name",   "num_cpus", "num_gpus", "num_nodes",
                                      "memory", "runtime",  "max_pids"};

void parse_rr(struct P *P)
{
    struct rrr x;
    memset(&x, 0, sizeof x);
    x.name.off = RSTR_NONE;
    x.v.num_cpus = 1;
    x.v.num_nodes = 1;
    struct mapit m = {
        .keys = rr_keys, .nkeys = VL_ARRAY_LEN(rr_keys), .where = "a resource_requirements entry"};
    if (!mapit_begin(P, &m, "a resource_requirements entry"))
        return;
    int k;
    while ((k = mapit_next(P, &m)) >= 0) {
        const struct yev *e;
        switch (k) {
        case 0:
            parse_str(P, "name", &x.name);
            break;
        case 1:
            parse_u32(P, "num_cpus", 1u << 20, &x.v.num_cpus);
            break;
        case 2:
            parse_u32(P, "num_gpus", 1u << 16, &x.v.num_gpus);
            break;
        case 3:
            if (parse_u32(P, "num_nodes", UINT32_MAX, &x.v.num_nodes) && x.v.num_nodes != 1)
                lwarn(P->g, m.key_loc,
                      "num_nodes is %" PRIu32 ": volley runs each job on this one node",
                      x.v.num_nodes);
            break;
        case 4:
            if (!parse_want_scalar(P, "memory", "a size like 512k, 100m or 2g"))
                break;
            e = yread_peek(P->r);
            {
                int rc = vl_parse_size(e->val, &x.v.memory_bytes);
                if (rc == -ERANGE)
                    lerr(P->g, e->loc, "memory '%s' is too large", lcut(P->g, e->val));
                else if (rc)
                    lerr(P->g, e->loc,
                         "memory '%s' is not a size: expected a number with k, m, g "
                         "or t (512k, 100m, 2g)",
                         lcut(P->g, e->val));
            }
            yread_next(P->r);
            break;
        case 5:
            if (!parse_want_scalar(P, "runtime", "an ISO-8601 duration like PT30M"))
                break;
            e = yread_peek(P->r);
            {
                const char *why = NULL;
                if (parse_duration(e->val, &x.v.runtime_ms, &why) && !why)
                    lerr(P->g, e->loc,
                         "runtime '%s' rounds to 0 ms: the shortest limit is PT0.001S; leave "
                         "runtime out for no limit",
                         lcut(P->g, e->val));
                else if (why)
                    lerr(P->g, e->loc,
                         "runtime '%s' is not an ISO-8601 duration (PT2S, PT1H30M, P1DT2H): %s",
                         lcut(P->g, e->val), why);
            }
            yread_next(P->r);
            break;
        case 6:
            if (parse_u32(P, "max_pids", 1u << 22, &x.v.max_pids) && x.v.max_pids == 0)
                lerr(P->g, m.key_loc,
                     "max_pids is 0: a job needs at least one process; leave it out for "
                     "--max-pids");
            break;
        }
    }
    if (parse_failed(P))
        return;
    if (x.name.off == RSTR_NONE || x.name.off == RSTR_BAD) {
        if (x.name.off == RSTR_NONE)
            lerr(P->g, m.loc, "a resource_requirements entry needs a 'name'");
        return;
    }
    *(struct rrr *)vec_push(&P->R->rrs) = x;
}

static const char *const rule_keys[] = {"exit_codes", "match_all_exit_codes", "recovery_script",
                                        "max_retries"};

static void parse_rule(struct P *P)
{
    struct rrule x;
    memset(&x, 0, sizeof x);
    x.v.max_retries = 3;
    x.v.script_off = SPEC_NO_STR;
    x.script.off = RSTR_NONE;
    x.v.code_first = (uint32_t)P->R->codes.n;
    struct mapit m = {
        .keys = rule_keys, .nkeys = VL_ARRAY_LEN(rule_keys), .where = "a failure handler rule"};
    if (!mapit_begin(P, &m, "a failure handler rule"))
        return;
    int k;
    bool b, has_codes = false;
    while ((k = mapit_next(P, &m)) >= 0) {
        const struct yev *e;
        switch (k) {
        case 0:
            e = yread_peek(P->r);
            if (e->type != YEV_SEQ) {
                if (e->type == YEV_ERR || e->type == YEV_END)
                    break;
                lerr(P->g, e->loc, "'exit_codes' must be a list of whole numbers, not %s",
                     yev_kind_name(e));
                yread_skip(P->r);
                break;
            }
            has_codes = true;
            yread_next(P->r);
            for (;;) {
                e = yread_peek(P->r);
                if (e->type == YEV_SEQ_END) {
                    yread_next(P->r);
                    break;
                }
                if (e->type == YEV_ERR || e->type == YEV_END)
                    break;
                int64_t c = 0;
                char *end = NULL;
                if (e->type == YEV_SCALAR) {
                    errno = 0;
                    c = strtoll(e->val, &end, 10);
                }
                if (e->type != YEV_SCALAR || !end || *end || end == e->val || errno ||
                    c < -2147483648LL || c > 2147483647LL) {
                    lerr(P->g, e->loc, "exit codes must be whole numbers, not %s",
                         e->type == YEV_SCALAR ? lcut(P->g, e->val) : yev_kind_name(e));
                    yread_skip(P->r);
                    continue;
                }
                *(int32_t *)vec_push(&P->R->codes) = (int32_t)c;
                x.v.ncodes++;
                yread_next(P->r);
            }
            break;
        case 1:
            if (parse_bool(P, "match_all_exit_codes", &b) && b)
                x.v.flags |= SPEC_RULE_MATCH_ALL;
            break;
        case 2:
            parse_str(P, "recovery_script", &x.script);
            break;
        case 3:
            parse_u32(P, "max_retries", 1000000, &x.v.max_retries);
            break;
        }
    }
    if (parse_failed(P))
        return;
    if (!has_codes && !(x.v.flags & SPEC_RULE_MATCH_ALL))
        lwarn(P->g, m.loc,
              "this rule has no exit_codes and no match_all_exit_codes: it never "
              "applies");
    *(struct rrule *)vec_push(&P->R->rules) = x;
}

static const char *const fh_keys[] = {"name", "rules"};

void parse_fh(struct P *P)
{
    struct rfh x;
    memset(&x, 0, sizeof x);
    x.name.off = RSTR_NONE;
    x.rule_first = (uint32_t)P->R->rules.n;
    struct mapit m = {
        .keys = fh_keys, .nkeys = VL_ARRAY_LEN(fh_keys), .where = "a failure handler"};
    if (!mapit_begin(P, &m, "a failure handler"))
        return;
    int k;
    while ((k = mapit_next(P, &m)) >= 0) {
        if (k == 0) {
            parse_str(P, "name", &x.name);
            continue;
        }
        const struct yev *e = yread_peek(P->r);
        if (e->type != YEV_SEQ) {
            if (e->type == YEV_ERR || e->type == YEV_END)
                break;
            lerr(P->g, e->loc, "'rules' must be a list of rules, not %s", yev_kind_name(e));
            yread_skip(P->r);
            continue;
        }
        yread_next(P->r);
        while (!parse_failed(P) && yread_peek(P->r)->type != YEV_SEQ_END)
            parse_rule(P);
        yread_next(P->r);
    }
    x.nrules = (uint32_t)(P->R->rules.n - x.rule_first);
    if (parse_failed(P))
        return;
    if (x.name.off == RSTR_NONE || x.name.off == RSTR_BAD) {
        if (x.name.off == RSTR_NONE)
            lerr(P->g, m.loc, "a failure handler needs a 'name'");
        return;
    }
    *(struct rfh *)vec_push(&P->R->fhs) = x;
}
