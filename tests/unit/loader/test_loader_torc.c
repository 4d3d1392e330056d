/* test_loader_torc.c - the loader on torc's current format: JSON5 (and the
 * choice of format), variables, env, stdio, execution_config, actions, the
 * kernel's argument limits, and spec_check on what they add to the spec. */
#include "loader/load.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "loadtest.h"

/* The merged env of job name as "K=V K=V". */
static char envbuf[4096];
static const char *env_of(const char *name)
{
    uint64_t offs[64];
    uint32_t n = spec_job_env(&S, jid(name), offs, 64);
    size_t o = 0;
    envbuf[0] = '\0';
    for (uint32_t i = 0; i < n && i < 64; i++)
        o +=
            (size_t)snprintf(envbuf + o, sizeof envbuf - o, "%s%s", i ? " " : "", S.pool + offs[i]);
    return envbuf;
}

static void test_json5(void)
{
    static const char yaml[] = "name: w\n"
                               "jobs:\n"
                               "  - name: \"p_{i}\"\n"
                               "    command: \"echo 'x' {i}\"\n"
                               "    parameters: {i: \"1:3\"}\n"
                               "  - name: q\n"
                               "    command: \"cat\"\n"
                               "    depends_on_regexes: [\"^p_\\\\d$\"]\n";
    static const char json5[] = "// the same, as torc's .json5 files write it\n"
                                "{\n"
                                "  name: 'w', /* a comment */\n"
                                "  jobs: [\n"
                                "    {name: 'p_{i}', command: \"echo 'x' {i}\", parameters: {i: "
                                "'1:3',},},\n"
                                "    {name: \"q\", command: 'cat', depends_on_regexes: "
                                "['^p_\\\\d$'],},\n"
                                "  ],\n"
                                "}\n";
    CHECK_EQ(load(yaml), 0);
    char names_y[256], cmd_y[64];
    snprintf(names_y, sizeof names_y, "%s", names());
    snprintf(cmd_y, sizeof cmd_y, "%s", cmd("p_2"));
    uint64_t edges_y = S.nedges;
    CHECK_EQ(load_as(json5, "w.json5"), 0);
    CHECK_STR(names(), names_y);
    CHECK_STR(cmd("p_2"), cmd_y);
    CHECK_U64(S.nedges, edges_y);
    CHECK(dep("p_3", "q"));

    /* numbers as JSON writes them; strings stay strings */
    CHECK_EQ(load_as("{name: 'w', jobs: [{name: 'a{x}_{h}_{d}', command: 'c', parameters: "
                     "{x: +1, h: 0x1F, d: .5}}]}",
                     "w.json5"),
             0);
    CHECK_STR(names(), "a1_31_0.5");
    CHECK_EQ(load_as("{name: 'w', resource_requirements: [{name: 'r', num_cpus: 0x4}], jobs: "
                     "[{name: 'a', command: 'c', resource_requirements: 'r'}]}",
                     "w.json5"),
             0);
    CHECK_EQ(S.rrs[0].num_cpus, 4);

    /* positions: an unknown key, a bad placeholder inside a string */
    CHECK_EQ(load_as("{\n  name: 'w',\n  jobs: [{name: 'a', comand: 'x', command: 'y'},\n"
                     "         {name: \"b_{nope}\", command: 'z'}],\n}\n",
                     "w.json5"),
             VL_ESPEC);
    CHECK_HAS(diags(), "3:22: error: unknown key 'comand' in a job; did you mean 'command'?");
    CHECK_HAS(diags(), "4:20: error: '{nope}' in the name names no parameter of job 'b_{nope}'");

    /* syntax errors: where, and nothing after them */
    CHECK_EQ(load_as("{name: 'w',\n jobs: [{name: 'a' command: 'b'}]}", "w.json5"), VL_ESPEC);
    CHECK_STR(diags(), "2:20: error: JSON5 syntax error: expected ',' or '}' here, not 'c'\n");
    CHECK_EQ(load_as("{name: 'w', jobs: [{name: 'a\n', command: 'b'}]}", "w.json5"), VL_ESPEC);
    CHECK_HAS(diags(), "1:29: error: JSON5 syntax error: a line break inside a string");
    CHECK_EQ(load_as("{name: 'w', /* not closed\n jobs: []}", "w.json5"), VL_ESPEC);
    CHECK_HAS(diags(), "1:13: error: JSON5 syntax error: this comment is not closed");
    CHECK_EQ(load_as("{name: 'w', jobs: []} {}", "w.json5"), VL_ESPEC);
    CHECK_HAS(diags(), "more after the end of the document: '{'");
    CHECK_EQ(load_as("{name: 'w', jobs: [{name: 'a', command: '\\1'}]}", "w.json5"), VL_ESPEC);
    CHECK_HAS(diags(), "a digit cannot be escaped");
    CHECK_EQ(load_as("{name: 'w', jobs: [{name: 'a', command: yes}]}", "w.json5"), VL_ESPEC);
    CHECK_HAS(diags(), "'yes' is not a JSON5 value");
    CHECK_EQ(load_as("{name: 'w', jobs: [{name: 'a', command: '\\ud800x'}]}", "w.json5"), VL_ESPEC);
    CHECK_HAS(diags(), "must be followed by its low half");
    CHECK_EQ(load_as("// only a comment\n", "w.json5"), VL_ESPEC);
    CHECK_HAS(diags(), "the file is empty");

    /* escapes: \x, \u with a surrogate pair, a line continuation */
    CHECK_EQ(load_as("{name: 'w', jobs: [{name: 'a', command: 'x\\x41\\u00e9\\ud83d\\ude00 \\\n"
                     "y'}]}",
                     "w.json5"),
             0);
    CHECK_STR(cmd("a"), "xA\xc3\xa9\xf0\x9f\x98\x80 y");
}

static void test_formats(void)
{
    static const char y[] = "name: w\njobs:\n  - {name: a, command: x}\n";
    static const char j5[] = "// json5\n{name: 'w', jobs: [{name: 'a', command: 'x'}]}\n";
    /* by name, case aside */
    CHECK_EQ(load_as(y, "w.yml"), 0);
    CHECK_EQ(load_as(j5, "w.JSON5"), 0);
    CHECK_EQ(load_as(j5, "w.yaml"), VL_ESPEC); /* a .yaml file is YAML */
    /* sniffed without a known extension: '{' or '/' first is JSON5 */
    CHECK_EQ(load_as(j5, "workflow"), 0);
    CHECK_EQ(load_as("  {name: 'w', jobs: [{name: 'a', command: 'x'}],}", "wf.txt"), 0);
    CHECK_EQ(load_as(y, "workflow"), 0);
    /* KDL is refused, naming the formats volley reads */
    CHECK_EQ(load_as("workflow \"w\" {}\n", "w.kdl"), VL_ESPEC);
    CHECK_STR(diags(), "0:0: error: KDL workflow files are not supported: volley reads YAML "
                       "(.yaml, .yml), JSON (.json) and JSON5 (.json5), as torc does; write the "
                       "workflow in one of those\n");
}

static void test_variables(void)
{
    CHECK_EQ(load("name: \"{proj}_run\"\n"
                  "variables: {root: /data, proj: p42, n: \"3\", w: ab}\n"
                  "parameters: {k: \"1:{n}\"}\n"
                  "files:\n  - {name: \"in_{k}\", path: \"{root}/in_{k}\", use_parameters: [k]}\n"
                  "user_data:\n  - {name: cfg, data: {dir: \"{root}/cfg\", keep: \"{x}\"}}\n"
                  "resource_requirements:\n  - {name: r, memory: \"{n}g\", num_cpus: \"{n}\"}\n"
                  "jobs:\n"
                  "  - name: \"t_{k}\"\n"
                  "    command: \"run {root}/x ${root} {w:>4}| {n:03d} ${files.input.in_{k}}\"\n"
                  "    use_parameters: [k]\n"
                  "    resource_requirements: r\n"
                  "  - {name: u, command: \"echo ${user_data.input.cfg}\"}\n"),
             0);
    CHECK_STR(S.name, "p42_run");
    CHECK_STR(names(), "t_1 t_2 t_3 u");
    CHECK_STR(cmd("t_2"), "run /data/x ${root}   ab| 003 /data/in_2");
    CHECK_STR(cmd("u"), "echo {\"dir\":\"/data/cfg\",\"keep\":\"{x}\"}");
    CHECK_U64(S.rrs[0].memory_bytes, 3ull << 30);
    CHECK_EQ(S.rrs[0].num_cpus, 3);
    CHECK_EQ(D.nerrors, 0);

    /* variables written after what uses them: the same result */
    CHECK_EQ(load("name: w\njobs:\n  - {name: \"a_{v}\", command: \"echo {v}\"}\n"
                  "variables: {v: one}\n"),
             0);
    CHECK_STR(names(), "a_one");
    CHECK_STR(cmd("a_one"), "echo one");
    /* ... also after non-ASCII text (libyaml counts characters, not bytes) */
    CHECK_EQ(load("description: \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"\nname: w\njobs:\n"
                  "  - {name: \"a_{v}\", command: x}\nvariables: {v: one}\n"),
             0);
    CHECK_STR(names(), "a_one");
    /* ... and an error before them is reported once */
    CHECK_EQ(load("name: w\nbogus: 1\njobs:\n  - {name: \"a_{v}\", command: x}\n"
                  "variables: {v: one}\n"),
             VL_ESPEC);
    CHECK_STR(diags(), "2:1: error: unknown key 'bogus' in the workflow\n");

    /* not in keys, not in use_parameters, not in the variables themselves */
    CHECK_EQ(load("name: w\nvariables: {k: lr, v: \"${HOME}\"}\nparameters: {lr: \"[1]\"}\n"
                  "jobs:\n  - {name: \"a{lr}\", command: \"echo {v}\", use_parameters: [k]}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "use_parameters: 'k' is not a shared parameter");

    /* torc's rules: plain values, identifiers, no parameter's name */
    CHECK_EQ(load("name: w\nvariables: {a: \"x{b}\", b: y, 9z: q, c: ~, d: [1]}\n"
                  "parameters: {b: \"1:2\"}\njobs:\n  - {name: a, command: x}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "2:17: error: variable 'a' holds the placeholder '{b}'");
    CHECK_HAS(diags(), "2:30: error: variable name '9z' is not an identifier");
    CHECK_HAS(diags(), "2:40: error: variable 'c' must be a string, not null");
    CHECK_HAS(diags(), "2:46: error: variable 'd' must be a string, not a sequence");
    CHECK_HAS(diags(), "2:24: error: variable 'b' has the name of a parameter (line 3)");
    /* a format that does not fit the value */
    CHECK_EQ(load("name: w\nvariables: {v: abc}\njobs:\n  - {name: a, command: \"x {v:05d}\"}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "bad format '{v:05d}' for variable 'v' ('abc'): 'd' formats whole numbers");
}

static void test_env(void)
{
    CHECK_EQ(load("name: w\n"
                  "env: {A: wf_a, B: wf_b}\n"
                  "jobs:\n"
                  "  - {name: plain, command: x}\n"
                  "  - name: \"j{i}\"\n"
                  "    command: x\n"
                  "    parameters: {i: \"1:3\"}\n"
                  "    env: {B: job_b, C: c}\n"
                  "  - name: \"k{i}\"\n"
                  "    command: x\n"
                  "    parameters: {i: \"1:2\"}\n"
                  "    env: {C: \"c{i}\", N: 5}\n"),
             0);
    CHECK_STR(env_of("plain"), "A=wf_a B=wf_b");
    CHECK_STR(env_of("j2"), "B=job_b C=c A=wf_a");
    CHECK_STR(env_of("k2"), "C=c2 N=5 A=wf_a B=wf_b");
    /* compact: the workflow's set once, one set for all j{i}, one per k{i} */
    CHECK_EQ(S.nenvsets, 1 + 1 + 2);
    CHECK_EQ(S.env[jid("j1")], S.env[jid("j3")]);
    CHECK_EQ(S.env[jid("plain")], 0);
    CHECK_U64(S.nenvkv, 2 + 2 + 2 * 2);
    CHECK(spec_effects(&S) & SPEC_FX_ENV);

    /* no env anywhere: nothing is allocated */
    CHECK_EQ(load("name: w\njobs:\n  - {name: a, command: x}\n"), 0);
    CHECK_EQ(S.nenvsets, 0);
    CHECK(S.env == NULL);
    CHECK_EQ(spec_job_env(&S, 0, NULL, 0), 0);
    CHECK_EQ(spec_effects(&S), 0);

    CHECK_EQ(load("name: w\nenv: {\"1A\": x, B: ~, C: [1], VOLLEY_JOB_ID: 7}\n"
                  "jobs:\n  - {name: a, command: x, env: {D: 1, D: 2}}\n"
                  "  - name: \"b\"\n    command: x\n    parameters: {i: \"1:2\"}\n"
                  "    env: {E: \"{i}\"}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "2:8: error: env: '1A' is not an environment variable name");
    CHECK_HAS(diags(), "2:19: error: env 'B' must be a string, not null");
    CHECK_HAS(diags(), "2:25: error: env 'C' must be a string, not a sequence");
    CHECK_HAS(diags(), "2:30: warning: env: volley sets the VOLLEY_* variables of each job");
    CHECK_HAS(diags(), "4:39: error: duplicate env name 'D'");
    CHECK_HAS(diags(), "5:12: error: job name 'b' does not use parameter 'i', so its copies "
                       "would differ in env; put {i} in the name");
}

static void test_stdio(void)
{
    CHECK_EQ(load("name: w\n"
                  "execution_config: {stdio: {mode: no_stdout, delete_on_success: true}}\n"
                  "jobs:\n"
                  "  - {name: a, command: x}\n"
                  "  - {name: b, command: x, stdio: {mode: combined}}\n"
                  "  - {name: c, command: x, stdio: none}\n"
                  "  - {name: d, command: x, stdio: {delete_on_success: true}}\n"
                  "  - {name: e, command: x, cancel_on_blocking_job_failure: false}\n"),
             0);
    uint8_t a = S.flags[jid("a")], b = S.flags[jid("b")], c = S.flags[jid("c")],
            d = S.flags[jid("d")], e = S.flags[jid("e")];
    CHECK_EQ(spec_flags_stdio(a), SPEC_STDIO_NO_STDOUT);
    CHECK(a & SPEC_JOB_DELETE_ON_SUCCESS);
    CHECK(a & SPEC_JOB_CANCEL_ON_BLOCK);
    /* a job's stdio replaces the workflow's whole, as in torc */
    CHECK_EQ(spec_flags_stdio(b), SPEC_STDIO_COMBINED);
    CHECK(!(b & SPEC_JOB_DELETE_ON_SUCCESS));
    CHECK_EQ(spec_flags_stdio(c), SPEC_STDIO_NONE);
    CHECK_EQ(spec_flags_stdio(d), SPEC_STDIO_SEPARATE);
    CHECK(d & SPEC_JOB_DELETE_ON_SUCCESS);
    CHECK_EQ(spec_flags_stdio(e), SPEC_STDIO_NO_STDOUT);
    CHECK(!(e & SPEC_JOB_CANCEL_ON_BLOCK));
    CHECK(spec_effects(&S) & SPEC_FX_STDIO);
    CHECK(spec_effects(&S) & SPEC_FX_DELETE_OUTPUT);

    CHECK_EQ(load("name: w\njobs:\n  - {name: a, command: x, stdio: {mode: combind, x: 1}}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "stdio mode 'combind' is none of separate, combined, no_stdout, no_stderr "
                       "and none; did you mean 'combined'?");
    CHECK_HAS(diags(), "unknown key 'x' in stdio");
}

static void test_exec(void)
{
    CHECK_EQ(load("name: w\njobs:\n  - {name: a, command: x}\n"), 0);
    CHECK_EQ(spec_timeout_exit_code(&S), 152);
    CHECK_EQ(spec_oom_exit_code(&S), 137);
    CHECK_EQ(spec_term_signal(&S), SIGTERM);
    CHECK_EQ(spec_term_lead_s(&S), 30);
    CHECK(spec_limit_resources(&S));

    CHECK_EQ(load("name: w\n"
                  "execution_config:\n"
                  "  mode: direct\n"
                  "  limit_resources: false\n"
                  "  termination_signal: SIGUSR1\n"
                  "  sigterm_lead_seconds: 45\n"
                  "  timeout_exit_code: 124\n"
                  "  oom_exit_code: 9\n"
                  "  sigkill_headroom_seconds: 60\n"
                  "jobs:\n  - {name: a, command: x}\n"),
             0);
    CHECK_EQ(spec_timeout_exit_code(&S), 124);
    CHECK_EQ(spec_oom_exit_code(&S), 9);
    CHECK_EQ(spec_term_signal(&S), SIGUSR1);
    CHECK_EQ(spec_term_lead_s(&S), 45);
    CHECK(!spec_limit_resources(&S));
    CHECK_HAS(diags(), "9:3: warning: 'sigkill_headroom_seconds' is ignored");
    CHECK_EQ(spec_effects(&S), SPEC_FX_TIMEOUT_CODE | SPEC_FX_OOM_CODE | SPEC_FX_TERM_SIGNAL |
                                   SPEC_FX_TERM_LEAD | SPEC_FX_NO_LIMITS);
    CHECK_EQ(load("name: w\nexecution_config: {termination_signal: 2}\n"
                  "jobs:\n  - {name: a, command: x}\n"),
             0);
    CHECK_EQ(spec_term_signal(&S), SIGINT);

    CHECK_EQ(load("name: w\n"
                  "execution_config:\n"
                  "  mode: slurm\n"
                  "  termination_signal: SIGFOO\n"
                  "  timeout_exit_code: 0\n"
                  "  oom_exit_code: 300\n"
                  "  srun_mpi: none\n"
                  "  limits: true\n"
                  "jobs:\n  - {name: a, command: x}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "3:9: warning: 'mode: slurm' is ignored");
    CHECK_HAS(diags(), "4:23: error: termination_signal 'SIGFOO' is not a signal");
    CHECK_HAS(diags(), "'timeout_exit_code' must be an exit status from 1 to 255, not 0");
    CHECK_HAS(diags(), "6:18: error: 'oom_exit_code' is 300, more than 255");
    CHECK_HAS(diags(), "7:3: warning: 'srun_mpi' is ignored: it is a slurm-mode setting");
    CHECK_HAS(diags(), "8:3: error: unknown key 'limits' in execution_config");
}

static void test_actions(void)
{
    CHECK_EQ(load("name: w\n"
                  "jobs:\n"
                  "  - {name: \"t{i}\", command: x, parameters: {i: \"1:4\"}}\n"
                  "  - {name: report, command: x}\n"
                  "actions:\n"
                  "  - {trigger_type: on_workflow_start, action_type: run_commands,\n"
                  "     commands: [\"mkdir -p out\", \"date > out/start\"]}\n"
                  "  - {trigger_type: on_jobs_complete, action_type: run_commands,\n"
                  "     jobs: [t3, report], job_name_regexes: [\"^t[12]$\", \"t3\"],\n"
                  "     commands: [\"echo done\"]}\n"
                  "  - {trigger_type: on_jobs_ready, action_type: schedule_nodes, jobs: [t1],\n"
                  "     scheduler: s, scheduler_type: slurm, num_allocations: 1}\n"
                  "  - {trigger_type: on_worker_start, action_type: run_commands, commands: [x]}\n"
                  "  - {trigger_type: on_workflow_complete, action_type: run_commands, "
                  "persistent: true,\n"
                  "     commands: [\"echo bye\"]}\n"),
             0);
    CHECK_EQ(S.nactions, 3);
    CHECK_EQ(S.actions[0].trigger, SPEC_ON_WORKFLOW_START);
    CHECK_EQ(S.actions[0].line, 6);
    CHECK_EQ(S.actions[0].ncmds, 2);
    CHECK_STR(spec_str(&S, S.act_cmds[S.actions[0].cmd_first + 1]), "date > out/start");
    CHECK_EQ(S.actions[0].njobs, 0);
    const struct spec_action *a = &S.actions[1];
    CHECK_EQ(a->trigger, SPEC_ON_JOBS_COMPLETE);
    CHECK_EQ(a->njobs, 4); /* t1 t2 t3 report: sorted, once each */
    CHECK_EQ(S.act_jobs[a->job_first], jid("t1"));
    CHECK_EQ(S.act_jobs[a->job_first + 3], jid("report"));
    CHECK_EQ(S.actions[2].trigger, SPEC_ON_WORKFLOW_COMPLETE);
    CHECK_HAS(diags(), "11:5: warning: a schedule_nodes action is ignored");
    CHECK_HAS(diags(), "13:5: warning: an action with trigger_type on_worker_start is ignored");
    CHECK(spec_effects(&S) & SPEC_FX_ACTIONS);

    CHECK_EQ(load("name: w\njobs:\n  - {name: train, command: x}\n"
                  "actions:\n"
                  "  - {trigger_type: on_jobs_ready, action_type: run_commands, jobs: [trian],\n"
                  "     job_name_regexes: [\"^eval\"], commands: [x]}\n"
                  "  - {trigger_type: on_jobs_done, action_type: run_command, commands: [x]}\n"
                  "  - {trigger_type: on_jobs_ready, action_type: run_commands, commands: [x]}\n"
                  "  - {action_type: run_commands}\n"
                  "  - {trigger_type: on_workflow_start, action_type: run_commands, jobs: [train]"
                  ", commands: []}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "5:69: error: the action's job 'trian' matches no job; did you mean "
                       "'train'?");
    CHECK_HAS(diags(), "6:26: error: the action's job_name_regexes pattern '^eval' matches no "
                       "job");
    CHECK_HAS(diags(), "trigger_type 'on_jobs_done' is not one torc knows");
    CHECK_HAS(diags(), "action_type 'run_command' is not one torc knows; did you mean "
                       "'run_commands'?");
    CHECK_HAS(diags(), "8:5: error: an on_jobs_ready action needs 'jobs' or 'job_name_regexes'");
    CHECK_HAS(diags(), "9:5: error: an action needs a 'trigger_type'");
    CHECK_HAS(diags(), "10:5: error: a run_commands action needs 'commands'");
}

static void test_arg_limits(void)
{
    long page = sysconf(_SC_PAGESIZE), argmax = sysconf(_SC_ARG_MAX);
    size_t big = (size_t)(32 * page) + 16; /* over MAX_ARG_STRLEN */
    char *y = malloc(big + 4096);
    int n = snprintf(y, 4096, "name: w\njobs:\n  - name: long\n    command: \"echo ");
    memset(y + n, 'x', big);
    snprintf(y + n + big, 4096, "\"\n");
    CHECK_EQ(load(y), VL_ESPEC);
    CHECK_HAS(diags(), "4:15: error: the command of 'long' is ");
    CHECK_HAS(diags(), "bytes: more than the kernel takes in one argument (MAX_ARG_STRLEN, ");
    CHECK_HAS(diags(), "volley runs it as sh -c COMMAND; put it in a script");
    free(y);

    /* env strings each under the limit, together over ARG_MAX */
    size_t each = (size_t)(16 * page), k = (size_t)argmax / each + 2;
    if (argmax > 0 && k < 1000) {
        size_t cap = k * (each + 64) + 4096;
        y = malloc(cap);
        size_t o = (size_t)snprintf(y, cap, "name: w\nenv:\n");
        for (size_t i = 0; i < k; i++) {
            o += (size_t)snprintf(y + o, cap - o, "  V%zu: ", i);
            memset(y + o, 'v', each);
            o += each;
            y[o++] = '\n';
        }
        snprintf(y + o, cap - o, "jobs:\n  - {name: a, command: x}\n");
        CHECK_EQ(load(y), VL_ESPEC);
        CHECK_HAS(diags(), "error: the command and env of 'a' take ");
        CHECK_HAS(diags(), "more than the kernel's ARG_MAX (");
        free(y);
    }
}

static void test_check(void)
{
    /* spec_check refuses what a broken producer could give */
    CHECK_EQ(load("name: w\nenv: {A: a}\njobs:\n  - {name: a, command: x, env: {B: b}}\n"
                  "actions:\n  - {trigger_type: on_jobs_ready, action_type: run_commands, "
                  "jobs: [a], commands: [x]}\n"),
             0);
    struct vl_err e = {0};
    CHECK_EQ(spec_check(&S, &e), 0);
    S.envsets[1].base = 1; /* a set based on itself */
    CHECK_EQ(spec_check(&S, &e), VL_ECORRUPT);
    S.envsets[1].base = 0;
    S.env[0] = 7;
    CHECK_EQ(spec_check(&S, &e), VL_ECORRUPT);
    S.env[0] = 1;
    S.act_jobs[0] = 5;
    CHECK_EQ(spec_check(&S, &e), VL_ECORRUPT);
    S.act_jobs[0] = 0;
    S.flags[0] |= 7u << SPEC_JOB_STDIO_SHIFT;
    CHECK_EQ(spec_check(&S, &e), VL_ECORRUPT);
    S.flags[0] &= (uint8_t)~SPEC_JOB_STDIO_MASK;
    CHECK_EQ(spec_check(&S, &e), 0);
}

int main(void)
{
    test_json5();
    test_formats();
    test_variables();
    test_env();
    test_stdio();
    test_exec();
    test_actions();
    test_arg_limits();
    test_check();
    spec_free(&S);
    spec_diags_free(&D);
    return check_done();
}
