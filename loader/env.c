/*
 * env.c - torc's env: the workflow's variables and each job's, merged per
 * job with the job's winning (spec.h: struct spec_envset, spec_job_env),
 * and the kernel's limits on what a job's execve may carry.
 *
 * Compact by construction: the workflow's env is set 0, stored once. A job
 * entry whose env values use no parameter has one set for all its
 * instances (its own entries, base 0); only values that use parameters
 * give a set per instance, and then only the job's own entries are
 * rendered per instance, never the workflow's. A job without env of its
 * own points at set 0. So a million jobs cost 4 bytes each (spec.env), not
 * a million copies of the workflow's env.
 *
 * Limits: a job runs as /bin/sh -c COMMAND (volley may exec the program
 * directly, but falls back to sh when that fails, so the shell's form must
 * work too). The kernel refuses an argument or environment string longer
 * than MAX_ARG_STRLEN (32 pages, 128 KiB here), and argv and envp together
 * larger than ARG_MAX (sysconf; a quarter of the stack limit, 2 MiB by
 * default): execve fails with E2BIG ("errno 7"). Both are checked here,
 * per job, with what the file contributes (the command, the env); the
 * runner's own environment and VOLLEY_* come on top at run time.
 */
#include "expand_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

/* What one string adds to an execve: its bytes, its NUL, its pointer. */
static uint64_t exec_cost(uint64_t len)
{
    return len + 1 + sizeof(char *);
}

/* Appends "KEY=VALUE" (value rendered by t, or the raw value) to the pool
 * and to envkv; returns its length. */
static uint64_t add_kv(struct X *X, struct E *E, const char *key, const struct tmpl *t,
                       const char *raw_val)
{
    uint64_t start = X->pool.len;
    sbuf_add(&X->pool, key, strlen(key));
    sbuf_addc(&X->pool, '=');
    if (t)
        tmpl_render(X, E, t, &X->pool);
    else if (raw_val) /* always, when t is NULL; said so for gcc -O3's -Wnonnull */
        sbuf_add(&X->pool, raw_val, strlen(raw_val));
    uint64_t len = X->pool.len - start;
    sbuf_addc(&X->pool, '\0');
    *(uint64_t *)vec_push(&X->envkv) = start;
    return len;
}

/* One env string within MAX_ARG_STRLEN, else an error at loc. */
static void check_kv(struct X *X, uint64_t loc, uint64_t off, uint64_t len)
{
    if (len + 1 <= X->arg_strlen)
        return;
    ldiag_add(X->g, SPEC_DIAG_ERROR, loc, K_ARG,
              "env '%s' is %" PRIu64 " bytes: more than the kernel takes in one environment "
              "string (MAX_ARG_STRLEN, %" PRIu64 " bytes with its NUL); put the value in a file",
              lcutn(X->g, X->pool.p + off, strcspn(X->pool.p + off, "=")), len, X->arg_strlen);
}

void env_begin(struct X *X)
{
    const struct raw *R = X->R;
    X->envsets.elem = sizeof(struct spec_envset);
    X->envkv.elem = X->envbytes.elem = sizeof(uint64_t);
    X->arg_max = (uint64_t)sysconf(_SC_ARG_MAX);
    X->arg_strlen = 32 * (uint64_t)sysconf(_SC_PAGESIZE);
    /* commands shorter than this pass both checks with no env (or set 0's,
     * below): argv's few other bytes are well inside the 4 KiB margin */
    X->cmd_fast = VL_MIN(X->arg_strlen - 1, X->arg_max > 4096 ? X->arg_max - 4096 : 0);
    if (!R->wf_envs.n && !R->envs.n)
        return;
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < R->wf_envs.n; i++) {
        const struct renv *v = &VEC_AT(R->wf_envs, struct renv, i);
        uint64_t off = X->pool.len;
        uint64_t len = add_kv(X, NULL, raw_str(R, v->key.off), NULL, raw_str(R, v->val.off));
        check_kv(X, v->key.loc, off, len);
        bytes += exec_cost(len);
    }
    *(struct spec_envset *)vec_push(&X->envsets) =
        (struct spec_envset){0, (uint32_t)R->wf_envs.n, SPEC_NONE};
    *(uint64_t *)vec_push(&X->envbytes) = bytes;
    X->cmd_fast = VL_MIN(X->cmd_fast, X->arg_max > bytes + 4096 ? X->arg_max - bytes - 4096 : 0);
}

/* What the workflow's entry of key (in set 0) adds to an execve; 0 if it
 * has none. */
static uint64_t wf_cost(struct X *X, const char *key)
{
    size_t kl = strlen(key);
    for (uint64_t i = 0; i < X->R->wf_envs.n; i++) {
        const char *kv = X->pool.p + VEC_AT(X->envkv, uint64_t, i);
        if (!strncmp(kv, key, kl) && kv[kl] == '=')
            return exec_cost(strlen(kv));
    }
    return 0;
}

/* A set for the entry's env, rendered for E's current values. */
static uint32_t make_set(struct X *X, struct E *E)
{
    const struct raw *R = X->R;
    const struct rent *e = E->e;
    uint64_t first = X->envkv.n, bytes = 0, base_bytes = VEC_AT(X->envbytes, uint64_t, 0);
    for (uint32_t i = 0; i < e->env_n; i++) {
        const struct renv *v = &VEC_AT(R->envs, struct renv, e->env_first + i);
        const char *key = raw_str(R, v->key.off);
        uint64_t off = X->pool.len;
        uint64_t len = add_kv(X, E, key, &E->t_env[i], NULL);
        check_kv(X, v->val.loc, off, len);
        bytes += exec_cost(len);
        base_bytes -= wf_cost(X, key); /* the workflow's entry of that key is not passed */
    }
    uint32_t id = (uint32_t)X->envsets.n;
    *(struct spec_envset *)vec_push(&X->envsets) = (struct spec_envset){first, e->env_n, 0};
    *(uint64_t *)vec_push(&X->envbytes) = bytes + base_bytes;
    return id;
}

bool env_check_arg(struct X *X, uint64_t loc, uint64_t cmd_len, const char *what)
{
    if (cmd_len + 1 <= X->arg_strlen)
        return true;
    ldiag_add(X->g, SPEC_DIAG_ERROR, loc, K_ARG,
              "%s is %" PRIu64 " bytes: more than the kernel takes in one argument "
              "(MAX_ARG_STRLEN, %" PRIu64 " bytes with its NUL), and volley runs it as "
              "sh -c COMMAND; put it in a script",
              what, cmd_len, X->arg_strlen);
    return false;
}

void env_job(struct X *X, struct E *E, uint32_t jid, uint32_t *entry_set, uint64_t cmd_len)
{
    uint32_t set = 0;
    if (X->env) {
        if (E->e->env_n) {
            if (*entry_set == SPEC_NONE || E->env_mask)
                *entry_set = make_set(X, E);
            set = *entry_set;
        }
        X->env[jid] = set;
    }
    char what[LCUT_BYTES + 32];
    if (cmd_len + 1 > X->arg_strlen) {
        snprintf(what, sizeof what, "the command of '%s'", lcut(X->g, jname(X, jid)));
        env_check_arg(X, E->t_cmd.loc, cmd_len, what);
        return;
    }
    /* execve's argv ("sh", "-c", the command) and the env the file gives */
    uint64_t total = exec_cost(2) + exec_cost(2) + exec_cost(cmd_len) + 2 * sizeof(char *);
    if (X->envbytes.n)
        total += VEC_AT(X->envbytes, uint64_t, set);
    if (total <= X->arg_max)
        return;
    ldiag_add(X->g, SPEC_DIAG_ERROR, E->t_cmd.loc, K_ARG,
              "the command and env of '%s' take %" PRIu64 " bytes: more than the kernel's "
              "ARG_MAX (%" PRIu64 " bytes) for a new program; put the command in a script",
              lcut(X->g, jname(X, jid)), total, X->arg_max);
}
