/* test_loader.c - the loader end to end on small workflows: expansion,
 * fan-in, templates, regexes, files, resources, handlers, diagnostics,
 * cycles, and a 1M-job chain (the cycle check must not recurse). */
#include "loader/load.h"

#include <stdlib.h>

#include "loadtest.h"

static void test_expansion(void)
{
    CHECK_EQ(load("name: w\n"
                  "parameters: {lr: \"[0.001,0.01]\"}\n"
                  "jobs:\n"
                  "  - name: \"t_{lr}_{seed:02d}\"\n"
                  "    command: \"train --lr {lr:.3f} --seed {seed}\"\n"
                  "    use_parameters: [lr]\n"
                  "    parameters: {seed: \"1:3\"}\n"),
             0);
    CHECK_STR(names(), "t_0.001_01 t_0.001_02 t_0.001_03 t_0.01_01 t_0.01_02 t_0.01_03");
    CHECK_STR(cmd("t_0.01_02"), "train --lr 0.010 --seed 2");
    CHECK_EQ(S.nedges, 0);
    CHECK(S.flags[0] & SPEC_JOB_CANCEL_ON_BLOCK); /* default true */

    /* zip pairs values; product is the default */
    CHECK_EQ(load("name: w\njobs:\n"
                  "  - name: \"z_{a}_{b}\"\n    command: x\n"
                  "    parameters: {a: \"1:3\", b: \"[x,y,z]\"}\n    parameter_mode: zip\n"
                  "  - name: \"p_{a}_{b}\"\n    command: x\n"
                  "    parameters: {a: \"1:2\", b: \"[x,y]\"}\n    parameter_mode: product\n"),
             0);
    CHECK_STR(names(), "z_1_x z_2_y z_3_z p_1_x p_1_y p_2_x p_2_y");

    /* every placeholder is filled, also a plain one next to a formatted one */
    CHECK_EQ(load("name: w\njobs:\n  - name: \"j{p}_{p:03d}\"\n    command: \"echo {p} {p:>4}\"\n"
                  "    parameters: {p: \"5:5\"}\n"),
             0);
    CHECK_STR(names(), "j5_005");
    CHECK_STR(cmd("j5_005"), "echo 5    5");

    /* plain YAML numbers and YAML lists are values too */
    CHECK_EQ(load("name: w\njobs:\n  - name: \"n{a}_{b}_{c}\"\n    command: x\n"
                  "    parameters: {a: 0.5, b: [1, two], c: 7}\n"),
             0);
    CHECK_STR(names(), "n0.5_1_7 n0.5_two_7");
}

static void test_templates(void)
{
    CHECK_EQ(load("name: w\njobs:\n"
                  "  - name: \"a{i}\"\n"
                  "    command: \"awk '{t += $1} END {print t}' f; find . -exec {} \\\\; ; "
                  "echo '{\\\"k\\\": 1}' ${HOME} ${x:-y} {i}\"\n"
                  "    parameters: {i: \"1:1\"}\n"),
             0);
    CHECK_STR(cmd("a1"), "awk '{t += $1} END {print t}' f; find . -exec {} \\; ; echo '{\"k\": 1}' "
                         "${HOME} ${x:-y} 1");
    CHECK_EQ(D.nwarnings, 0);

    /* an unknown placeholder in a command is shell text: kept, with a warning */
    CHECK_EQ(load("name: w\njobs:\n  - name: a\n    command: \"echo {nope}\"\n"), 0);
    CHECK_STR(cmd("a"), "echo {nope}");
    CHECK_HAS(diags(), "4:20: warning: '{nope}' in the command names no parameter of job 'a'");

    /* ... but in a name it is an error */
    CHECK_EQ(load("name: w\njobs:\n  - name: \"a_{nope}\"\n    command: x\n"
                  "    parameters: {i: \"1:2\"}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "3:14: error: '{nope}' in the name names no parameter of job 'a_{nope}' "
                       "(it has: i)");

    /* invocation_script is prefixed */
    CHECK_EQ(load("name: w\njobs:\n  - {name: a, command: run.sh, invocation_script: "
                  "\"bash -x\"}\n"),
             0);
    CHECK_STR(cmd("a"), "bash -x run.sh");

    CHECK_EQ(load("name: w\njobs:\n  - name: \"a{i:05q}\"\n    command: x\n"
                  "    parameters: {i: \"1:2\"}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "bad format '{i:05q}' for parameter 'i'");
    CHECK_EQ(load("name: w\njobs:\n  - name: \"a{i:d}\"\n    command: x\n"
                  "    parameters: {i: \"[0.5]\"}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "'d' formats integers only");
}

static void test_fanin(void)
{
    /* a parameter the name does not use fans in: one job, both parents */
    CHECK_EQ(load("name: w\njobs:\n"
                  "  - name: \"train_{lr}\"\n    command: \"t {lr}\"\n"
                  "    parameters: {lr: \"[1,2]\"}\n"
                  "  - name: aggregate\n    command: agg\n"
                  "    parameters: {lr: \"[1,2]\"}\n    depends_on: [\"train_{lr}\"]\n"),
             0);
    CHECK_EQ(S.njobs, 3);
    CHECK(dep("train_1", "aggregate"));
    CHECK(dep("train_2", "aggregate"));
    CHECK_EQ(S.nedges, 2);

    /* copies that would differ in command are an error */
    CHECK_EQ(load("name: w\njobs:\n  - name: agg\n    command: \"echo {lr}\"\n"
                  "    parameters: {lr: \"[1,2]\"}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "3:11: error: job name 'agg' does not use parameter 'lr', so its copies "
                       "would differ in command; put {lr} in the name");

    /* zip with a repeated name value: the instances merge (union of deps) */
    CHECK_EQ(load("name: w\njobs:\n"
                  "  - {name: \"s{i}\", command: x, parameters: {i: \"1:3\"}}\n"
                  "  - name: \"m{g}\"\n    command: \"echo {g}\"\n"
                  "    parameters: {g: \"[a,a,b]\", i: \"1:3\"}\n    parameter_mode: zip\n"
                  "    depends_on: [\"s{i}\"]\n"),
             0);
    CHECK_STR(names(), "s1 s2 s3 ma mb");
    CHECK(dep("s1", "ma") && dep("s2", "ma") && dep("s3", "mb") && !dep("s3", "ma"));

    CHECK_EQ(load("name: w\njobs:\n  - name: \"m{g}\"\n    command: \"echo {i}\"\n"
                  "    parameters: {g: \"[a,a]\", i: \"1:2\"}\n    parameter_mode: zip\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "two instances are both named 'ma' but differ in command");
}

static void test_regexes(void)
{
    CHECK_EQ(load("name: w\njobs:\n"
                  "  - {name: \"stage1_{i:03d}\", command: x, parameters: {i: \"0:9\"}}\n"
                  "  - {name: pre_stage1_x, command: x}\n"
                  "  - name: barrier\n    command: x\n"
                  "    depends_on_regexes: [\"^stage1_\\\\d+$\"]\n"
                  "  - name: \"stage2_{i:03d}\"\n    command: x\n"
                  "    parameters: {i: \"0:9\"}\n    depends_on_regexes: [\"stage1_\"]\n"),
             0);
    CHECK(dep("stage1_000", "barrier") && dep("stage1_009", "barrier"));
    CHECK(!dep("pre_stage1_x", "barrier"));   /* anchored */
    CHECK(dep("pre_stage1_x", "stage2_003")); /* unanchored: matches anywhere, as torc */
    CHECK_EQ(S.npar[jid("barrier")], 10);
    CHECK_EQ(S.npar[jid("stage2_000")], 11);

    /* \d, \w and \b are Unicode's, as in torc (Rust's regex crate) */
    CHECK_EQ(load("name: w\njobs:\n  - {name: \"r_\xd9\xa3\", command: x}\n"
                  "  - {name: \"r_\xc3\xa9t\xc3\xa9\", command: x}\n"
                  "  - {name: d, command: x, depends_on_regexes: [\"^r_\\\\d$\"]}\n"
                  "  - {name: w, command: x, depends_on_regexes: [\"^r_\\\\w+$\"]}\n"),
             0);
    CHECK(dep("r_\xd9\xa3", "d"));                                    /* ARABIC-INDIC DIGIT THREE */
    CHECK(dep("r_\xc3\xa9t\xc3\xa9", "w") && dep("r_\xd9\xa3", "w")); /* "été" */

    /* never the job itself */
    CHECK_EQ(load("name: w\njobs:\n  - {name: a1, command: x}\n"
                  "  - {name: a2, command: x, depends_on_regexes: [\"^a\"]}\n"),
             0);
    CHECK(dep("a1", "a2"));
    CHECK_EQ(S.nedges, 1);

    CHECK_EQ(load("name: w\njobs:\n  - {name: a, command: x, depends_on_regexes: [\"^b(\"]}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "3:52: error: bad regular expression '^b(': missing closing parenthesis "
                       "at column 4");
    CHECK_EQ(load("name: w\njobs:\n  - {name: a, command: x, depends_on_regexes: [\"^b$\"]}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "'a': depends_on_regexes pattern '^b$' matches no other job");
}

static void test_files(void)
{
    CHECK_EQ(load("name: w\n"
                  "files:\n"
                  "  - {name: raw, path: in/raw.txt}\n"
                  "  - {name: \"m_{k}\", path: \"out/m_{k}.txt\", parameters: {k: \"1:2\"}}\n"
                  "  - {name: sum, path: out/sum.txt}\n"
                  "user_data:\n"
                  "  - {name: cfg, data: {a: [1, true, null], b: \"x\"}}\n"
                  "jobs:\n"
                  "  - name: \"make_{k}\"\n"
                  "    command: \"f ${files.input.raw} > ${files.output.m_{k}} "
                  "${user_data.input.cfg}\"\n"
                  "    parameters: {k: \"1:2\"}\n"
                  "  - name: sum\n    command: cat\n"
                  "    parameters: {k: \"1:2\"}\n"
                  "    input_files: [\"m_{k}\"]\n    output_files: [sum]\n"),
             0);
    CHECK_STR(cmd("make_2"), "f in/raw.txt > out/m_2.txt {\"a\":[1,true,null],\"b\":\"x\"}");
    CHECK(dep("make_1", "sum") && dep("make_2", "sum"));
    CHECK_EQ(S.nedges, 2);
    CHECK_EQ(S.nfiles, 5);
    /* raw is an input no job produces: volley run checks it exists */
    uint32_t inputs = 0;
    for (uint32_t f = 0; f < S.nfiles; f++)
        if (S.files[f].producer == SPEC_NONE && !(S.files[f].flags & SPEC_FILE_USER_DATA)) {
            inputs++;
            CHECK_STR(spec_str(&S, S.files[f].path_off), "in/raw.txt");
        }
    CHECK_EQ(inputs, 1);

    /* regexes over file and user_data names; user_data with a producer */
    CHECK_EQ(load("name: w\n"
                  "files: [{name: \"m_{k}\", path: \"m{k}\", parameters: {k: \"1:3\"}}]\n"
                  "user_data: [{name: params}, {name: result}]\n"
                  "jobs:\n"
                  "  - {name: \"w{k}\", command: x, parameters: {k: \"1:3\"},\n"
                  "     output_files: [\"m_{k}\"]}\n"
                  "  - {name: p, command: x, output_user_data: [params]}\n"
                  "  - {name: r, command: x, input_file_regexes: [\"^m_[12]$\"],\n"
                  "     input_user_data: [params], output_user_data_regexes: [\"^res\"]}\n"
                  "  - {name: s, command: x, input_user_data_regexes: [\"^result$\"]}\n"),
             0);
    CHECK(dep("w1", "r") && dep("w2", "r") && !dep("w3", "r") && dep("p", "r"));
    CHECK(dep("r", "s"));
    CHECK_EQ(S.nedges, 4);
    CHECK_EQ(load("name: w\nfiles: [{name: a, path: a}]\n"
                  "jobs: [{name: x, command: y, input_file_regexes: [\"^b\"]}]\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "'x': pattern '^b' matches no file");

    CHECK_EQ(load("name: w\nfiles: [{name: a, path: a}]\njobs:\n"
                  "  - {name: x, command: \"cat ${files.input.b}\"}\n"
                  "  - {name: y, command: z, input_files: [c]}\n"
                  "  - {name: p, command: z, output_files: [a]}\n"
                  "  - {name: q, command: z, output_files: [a]}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "4:29: error: 'x' uses ${files.input.b}, but no file is named 'b'");
    CHECK_HAS(diags(), "5:41: error: 'y' reads file 'c', which is not declared in files");
    CHECK_HAS(diags(), "file 'a' is written by both 'p' and 'q'");
}

static void test_resources(void)
{
    CHECK_EQ(load("name: w\n"
                  "resource_requirements:\n"
                  "  - {name: s, num_cpus: 2, memory: 100m, runtime: PT2S}\n"
                  "  - {name: m, num_gpus: 1, memory: 2g, runtime: PT1H30M}\n"
                  "  - {name: l, runtime: P1DT2H}\n"
                  "  - {name: w, runtime: P1W}\n"
                  "  - {name: f, runtime: PT0.5S}\n"
                  "failure_handlers:\n"
                  "  - name: h\n    rules:\n"
                  "      - {exit_codes: [12, 75], max_retries: 2}\n"
                  "      - {match_all_exit_codes: true, recovery_script: ./fix.sh}\n"
                  "jobs:\n"
                  "  - {name: a, command: x, resource_requirements: m, failure_handler: h,\n"
                  "     cancel_on_blocking_job_failure: false, supports_termination: true}\n"
                  "  - {name: b, command: x}\n"),
             0);
    CHECK_EQ(S.nrr, 5);
    CHECK_EQ(S.rrs[0].num_cpus, 2);
    CHECK_U64(S.rrs[0].memory_bytes, 100u << 20);
    CHECK_U64(S.rrs[0].runtime_ms, 2000);
    CHECK_U64(S.rrs[1].runtime_ms, 5400000);
    CHECK_EQ(S.rrs[1].num_cpus, 1); /* default */
    CHECK_U64(S.rrs[1].memory_bytes, 2ull << 30);
    CHECK_U64(S.rrs[2].runtime_ms, 93600000);
    CHECK_U64(S.rrs[3].runtime_ms, 7 * 86400000ull);
    CHECK_U64(S.rrs[4].runtime_ms, 500);
    CHECK_EQ(S.rr[jid("a")], 1);
    CHECK_EQ(S.rr[jid("b")], SPEC_NONE16);
    CHECK_EQ(S.fh[jid("a")], 0);
    CHECK_EQ(S.nrules, 2);
    CHECK_EQ(S.rules[0].ncodes, 2);
    CHECK_EQ(S.codes[S.rules[0].code_first + 1], 75);
    CHECK_EQ(S.rules[0].max_retries, 2);
    CHECK_EQ(S.rules[1].max_retries, 3); /* default */
    CHECK(S.rules[1].flags & SPEC_RULE_MATCH_ALL);
    CHECK_STR(spec_str(&S, S.rules[1].script_off), "./fix.sh");
    CHECK_EQ(S.flags[jid("a")] & SPEC_JOB_CANCEL_ON_BLOCK, 0);
    CHECK(S.flags[jid("b")] & SPEC_JOB_CANCEL_ON_BLOCK);

    CHECK_EQ(load("name: w\nresource_requirements:\n"
                  "  - {name: s, memory: 12q, runtime: PT}\n"
                  "  - {name: t, runtime: P1M, num_cpus: -1}\n"
                  "jobs:\n  - {name: a, command: x, resource_requirements: ss}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "3:23: error: memory '12q' is not a size");
    CHECK_HAS(diags(), "3:37: error: runtime 'PT' is not an ISO-8601 duration (PT2S, PT1H30M, "
                       "P1DT2H): nothing follows 'T'");
    CHECK_HAS(diags(), "years and months have no fixed length");
    CHECK_HAS(diags(), "'num_cpus' must be a whole number, not '-1'");
    CHECK_HAS(diags(), "job 'a' uses resource_requirements 'ss', which is not defined; did you "
                       "mean 's'?");
    /* a runtime of zero would be taken for no limit: it is an error */
    CHECK_EQ(load("name: w\nresource_requirements:\n"
                  "  - {name: z, runtime: PT0S}\n  - {name: y, runtime: P0D}\n"
                  "  - {name: x, runtime: PT0.0004S}\n  - {name: v, runtime: PT0.001S}\n"
                  "jobs:\n  - {name: a, command: x}\n"),
             VL_ESPEC);
    CHECK_STR(diags(), "3:24: error: runtime 'PT0S' rounds to 0 ms: the shortest limit is "
                       "PT0.001S; leave runtime out for no limit\n"
                       "4:24: error: runtime 'P0D' rounds to 0 ms: the shortest limit is "
                       "PT0.001S; leave runtime out for no limit\n"
                       "5:24: error: runtime 'PT0.0004S' rounds to 0 ms: the shortest limit is "
                       "PT0.001S; leave runtime out for no limit\n");
}

static void test_diagnostics(void)
{
    /* every error in one pass, in source order, with torc keys warned */
    CHECK_EQ(load("name: w\n"
                  "slurm_schedulers: []\n"
                  "jobs:\n"
                  "  - {name: a, comand: x, command: x}\n"
                  "  - name: b\n    command: x\n    depends_on: [zz]\n    scheduler: s\n"
                  "  - name: b\n    command: y\n"
                  "resource_monitor: {}\n"),
             VL_ESPEC);
    CHECK_STR(diags(), "2:1: warning: 'slurm_schedulers' is ignored: volley runs the jobs on "
                       "this node, not through Slurm\n"
                       "4:15: error: unknown key 'comand' in a job; did you mean 'command'?\n"
                       "7:18: error: 'b' depends on 'zz', which matches no job\n"
                       "8:16: warning: 'scheduler' is ignored: volley runs jobs on this node\n"
                       "9:11: error: duplicate job name 'b' (the job at line 5 has it too)\n"
                       "11:1: warning: 'resource_monitor' is ignored: volley records each job's "
                       "peak memory and CPU time always (volley jobs, volley report)\n");
    /* the source line and caret */
    CHECK_EQ(load("name: w\njobs:\n  - {name: a, command: x, depends_on: [nope]}\n"), VL_ESPEC);
    CHECK_EQ(D.n, 1);
    CHECK_STR(D.v[0].src, "  - {name: a, command: x, depends_on: [nope]}");
    CHECK_EQ(D.v[0].caret, 39);
    /* JSON goes through the same parser */
    CHECK_EQ(load("{\"name\": \"j\", \"jobs\": [{\"name\": \"a\", \"command\": \"x\"},\n"
                  "\t{\"name\": \"b\", \"command\": \"y\", \"depends_on\": [\"a\"]}]}"),
             0);
    CHECK(dep("a", "b"));
    /* a job name is shown one per line and typed on command lines: not
     * empty, no control characters */
    CHECK_EQ(load("name: w\njobs:\n  - {name: \"\", command: x}\n"
                  "  - {name: \"a\\tb\", command: x}\n"
                  "  - {name: \"c{i}\", command: x, parameters: {i: \"['1', '\\n']\"}}\n"
                  "  - {name: \"d e\", command: x}\n"),
             VL_ESPEC);
    CHECK_STR(diags(), "3:13: error: a job name is empty\n"
                       "4:12: error: job name 'a?b' contains a control character (0x09); names "
                       "are shown one per line and typed on command lines\n"
                       "5:13: error: job name 'c?' contains a control character (0x0a); names "
                       "are shown one per line and typed on command lines\n");
    /* the workflow's name names the run directory: not empty, no control
     * characters */
    CHECK_EQ(load("name: \"x\\ny\"\njobs: [{name: a, command: x}]\n"), VL_ESPEC);
    CHECK_STR(diags(), "1:7: error: the workflow name contains a control character (0x0a); it "
                       "names the run directory\n");
    CHECK_EQ(load("name: ''\njobs: [{name: a, command: x}]\n"), VL_ESPEC);
    CHECK_HAS(diags(), "the workflow name is empty");
    /* torc 0.23's job priority: a whole number per job (instances of a
     * parameterized entry share it); no priority anywhere leaves prio NULL */
    CHECK_EQ(load("name: w\njobs:\n  - {name: a, command: x, priority: 10}\n"
                  "  - {name: \"b{i}\", command: x, priority: -2, parameters: {i: \"1:2\"}}\n"
                  "  - {name: c, command: x}\n"),
             0);
    CHECK_STR(diags(), "");
    CHECK(S.prio != NULL);
    CHECK_EQ(S.njobs, 4);
    CHECK_EQ(S.prio[0], 10);
    CHECK_EQ(S.prio[1], -2);
    CHECK_EQ(S.prio[2], -2);
    CHECK_EQ(S.prio[3], 0);
    CHECK_EQ(load("name: w\njobs: [{name: a, command: x, priority: 0}, {name: b, command: x}]\n"),
             0);
    CHECK(S.prio == NULL);
    CHECK_EQ(load("name: w\njobs: [{name: a, command: x, priority: -2147483648}]\n"), 0);
    CHECK_EQ(S.prio[0], INT32_MIN);
    CHECK_EQ(load("name: w\njobs: [{name: a, command: x, priority: high}]\n"), VL_ESPEC);
    CHECK_STR(diags(), "2:40: error: 'priority' must be a whole number from -2147483648 to "
                       "2147483647, not 'high'\n");
    CHECK_EQ(load("name: w\njobs: [{name: a, command: x, priority: 2147483648}]\n"), VL_ESPEC);
    CHECK_HAS(diags(), "not '2147483648'");
    CHECK_EQ(load("name: w\njobs: [{name: a, command: x, priority: 1.5}]\n"), VL_ESPEC);
    CHECK_HAS(diags(), "not '1.5'");
    /* YAML's null is no parameter value (it was the string "~") */
    CHECK_EQ(load("name: w\njobs:\n  - {name: \"a{i}\", command: x, parameters: {i: ~}}\n"
                  "  - {name: \"b{i}\", command: x, parameters: {i: [1, null]}}\n"
                  "  - {name: \"c{i}\", command: x, parameters: {i: [1, ]}}\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "3:48: error: parameter 'i' has no value ('~' is YAML's null)\n");
    CHECK_HAS(diags(), "4:52: error: parameter 'i': the list has an empty item ('null' is YAML's "
                       "null)\n");
    CHECK_EQ(load("name: w\njobs:\n  - {name: \"a{i}\", command: \"x {i}\", "
                  "parameters: {i: [\"~\", 'null']}}\n"),
             0);
    CHECK_STR(names(), "a~ anull");
    /* a UTF-8 byte order mark (Windows editors write one) is not content */
    CHECK_EQ(load("\xef\xbb\xbfname: w\njobs:\n  - name: a\n    command: x\n"), 0);
    CHECK_STR(names(), "a");
    CHECK_EQ(load("\xef\xbb\xbfname: w\nnme: v\njobs:\n  - name: a\n    command: x\n"), VL_ESPEC);
    CHECK_STR(diags(), "2:1: error: unknown key 'nme' in the workflow; did you mean 'name'?\n");
    CHECK_EQ(load("\xef\xbb\xbfnme: w\njobs: []\n"), VL_ESPEC);
    CHECK_HAS(diags(), "1:1: error: unknown key 'nme' in the workflow");
    CHECK_STR(D.v[0].src, "nme: w");
    /* YAML anchors, aliases and merge keys */
    CHECK_EQ(load("name: w\nx-common: &c {command: echo hi}\njobs:\n"
                  "  - {<<: *c, name: a}\n  - {<<: *c, name: b, command: echo b}\n"),
             0);
    CHECK_STR(cmd("a"), "echo hi");
    CHECK_STR(cmd("b"), "echo b");
    /* a job's own list or parameters replace the merged ones */
    CHECK_EQ(load("name: w\nx-d: &d {command: x, depends_on: [a], parameters: {i: \"1:2\"}}\n"
                  "jobs:\n  - {name: a, command: x}\n  - {name: z, command: x}\n"
                  "  - {<<: *d, name: \"b{i}\", depends_on: [z]}\n"
                  "  - {<<: *d, name: \"c{j}\", parameters: {j: \"[7]\"}}\n"),
             0);
    CHECK_STR(names(), "a z b1 b2 c7");
    CHECK(dep("z", "b1") && !dep("a", "b1") && dep("a", "c7"));
    CHECK_EQ(S.nedges, 3);
    /* a billion laughs stops */
    CHECK_EQ(
        load("name: w\njobs: []\nx-a: &a [1,1,1,1,1,1,1,1,1,1]\nx-b: &b "
             "[*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
             "x-c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nx-d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
             "x-e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nx-f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
             "x-g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nx-h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"),
        VL_ESPEC);
    CHECK_HAS(diags(), "YAML aliases expand to more than");
    /* job source lines for messages */
    CHECK_EQ(load("name: w\njobs:\n  - {name: a, command: x}\n\n"
                  "  - {name: \"b{i}\", command: x, parameters: {i: \"1:3\"}}\n"),
             0);
    CHECK_EQ(spec_job_line(&S, jid("a")), 3);
    CHECK_EQ(spec_job_line(&S, jid("b2")), 5);
}

/* YAML merge keys: the mapping's own keys win over merged ones at every
 * depth and in every mapping (lists and parameters are replaced, not
 * joined); '<<' takes a mapping or a list of mappings (the first wins). */
static void test_merges(void)
{
    /* nested: b's own command wins over the a it merges */
    CHECK_EQ(load("name: w\nx-a: &a {command: echo a}\nx-b: &b {<<: *a, command: echo b}\n"
                  "jobs:\n  - {<<: *b, name: j}\n  - {name: k, <<: *b, command: echo k}\n"),
             0);
    CHECK_STR(cmd("j"), "echo b");
    CHECK_STR(cmd("k"), "echo k");
    /* the workflow's own parameters and lists replace merged ones */
    CHECK_EQ(load("x-base: &base\n  name: base\n  parameters: {i: \"1:2\"}\n"
                  "  resource_requirements: [{name: r1, num_cpus: 3}]\n"
                  "  files: [{name: f1, path: p1}]\n"
                  "<<: *base\nname: own\nparameters: {i: \"5:6\"}\n"
                  "resource_requirements: [{name: r2, num_cpus: 2}]\n"
                  "files: [{name: f2, path: p2}]\n"
                  "jobs:\n  - {name: \"a{i}\", command: x, use_parameters: [i],\n"
                  "     resource_requirements: r2, input_files: [f2]}\n"),
             0);
    CHECK_STR(names(), "a5 a6");
    CHECK_EQ(S.nrr, 1);
    CHECK_EQ(S.rrs[0].num_cpus, 2);
    CHECK_EQ(S.nfiles, 1);
    /* a file's own parameters win */
    CHECK_EQ(load("name: w\nx-f: &f {parameters: {k: \"1:3\"}}\n"
                  "files: [{<<: *f, name: \"f{k}\", path: \"p{k}\", parameters: {k: \"[9]\"}}]\n"
                  "jobs: [{name: a, command: x, output_files: [f9]}]\n"),
             0);
    CHECK_EQ(S.nfiles, 1);
    /* a rule's own exit_codes replace the merged ones */
    CHECK_EQ(load("name: w\nx-r: &r {exit_codes: [5], max_retries: 2}\n"
                  "failure_handlers: [{name: h, rules: [{<<: *r, exit_codes: [7]}]}]\n"
                  "jobs: [{name: a, command: x, failure_handler: h}]\n"),
             0);
    CHECK_EQ(S.nrules, 1);
    CHECK_EQ(S.rules[0].ncodes, 1);
    CHECK_EQ(S.codes[S.rules[0].code_first], 7);
    CHECK_EQ(S.rules[0].max_retries, 2);
    /* merges inside parameters and user_data are merges, not keys */
    CHECK_EQ(load("name: w\nx-p: &p {i: \"1:2\", j: \"[3]\"}\n"
                  "x-d: &d {a: 1, b: 2}\n"
                  "user_data: [{name: u, data: {<<: *d, b: 3, c: 4}}]\n"
                  "jobs: [{name: \"a{i}{j}\", command: \"x ${user_data.input.u}\",\n"
                  "        parameters: {<<: *p, j: \"[4]\"}}]\n"),
             0);
    CHECK_STR(names(), "a14 a24");
    CHECK_STR(cmd("a14"), "x {\"b\":3,\"c\":4,\"a\":1}");
    /* a list of mappings: the first one that has a key gives it */
    CHECK_EQ(load("name: w\nx-m: &m {command: echo m}\nx-n: &n {command: echo n, name: nn}\n"
                  "jobs: [{<<: [*m, *n]}]\n"),
             0);
    CHECK_STR(cmd("nn"), "echo m");
    /* a quoted '<<' is a plain key */
    CHECK_EQ(load("name: w\njobs: [{name: a, command: x, \"<<\": {command: y}}]\n"), VL_ESPEC);
    CHECK_HAS(diags(), "unknown key '<<' in a job");
    /* '<<' of something else */
    CHECK_EQ(load("name: w\njobs: [{name: a, command: x, <<: [1]}]\n"), VL_ESPEC);
    CHECK_STR(diags(), "2:30: error: '<<' (a YAML merge) takes a mapping or a list of mappings, "
                       "like <<: *defaults\n");
    CHECK_EQ(load("name: w\njobs: [{name: a, command: x, <<: 3}]\n"), VL_ESPEC);
    CHECK_STR(diags(), "2:30: error: '<<' (a YAML merge) takes a mapping or a list of mappings, "
                       "like <<: *defaults\n");
    /* a merged mapping nested too deep is an error, not a deep recursion */
    static char deep[4096];
    int o = snprintf(deep, sizeof deep, "name: w\njobs: [{name: a, command: x, <<: {k: ");
    for (int i = 0; i < 300; i++)
        deep[o++] = '[';
    deep[o++] = '1';
    for (int i = 0; i < 300; i++)
        deep[o++] = ']';
    snprintf(deep + o, sizeof deep - (size_t)o, "}}]\n");
    CHECK_EQ(load(deep), VL_ESPEC);
    CHECK_HAS(diags(), "a mapping merged with '<<' nests deeper than 256 levels");
    /* an explicit duplicate is still one */
    CHECK_EQ(load("name: w\nx-c: &c {command: z}\njobs: [{<<: *c, name: a, command: x, "
                  "command: y}]\n"),
             VL_ESPEC);
    CHECK_HAS(diags(), "duplicate key 'command' in a job");
}

static void test_cycles(void)
{
    CHECK_EQ(load("name: w\njobs:\n"
                  "  - {name: a, command: x, depends_on: [c]}\n"
                  "  - {name: b, command: x, depends_on: [a]}\n"
                  "  - {name: c, command: x, depends_on: [b]}\n"
                  "  - {name: d, command: x, depends_on: [c]}\n"),
             VL_ESPEC);
    CHECK_STR(diags(), "3:12: error: dependency cycle: a -> b -> c -> a\n");
    CHECK_EQ(load("name: w\njobs:\n  - {name: a, command: x, depends_on: [a]}\n"), VL_ESPEC);
    CHECK_HAS(diags(), "dependency cycle: a -> a");
}

/* A chain of n jobs (c_0 <- c_1 <- ... ), through zip so the file is small;
 * with back set, c_0 also depends on the last: one cycle through all. */
static void chain(uint32_t n, bool back)
{
    char *y = vl_xasprintf("name: chain\njobs:\n"
                           "  - {name: c_0, command: x%s%u]}\n"
                           "  - name: \"c_{i}\"\n    command: x\n"
                           "    parameters: {i: \"1:%u\", prev: \"0:%u\"}\n"
                           "    parameter_mode: zip\n    depends_on: [\"c_{prev}\"]\n",
                           back ? ", depends_on: [c_" : "", back ? n - 1 : 0, n - 1, n - 2);
    if (!back) {
        char *p = strstr(y, "0]}");
        memmove(p, p + 2, strlen(p + 2) + 1); /* "x0]}" -> "x}" without the back edge */
        p = strstr(y, "x0}");
        if (p)
            memmove(p + 1, p + 2, strlen(p + 2) + 1);
    }
    load(y);
    free(y);
}

static void test_long_chain(void)
{
    const uint32_t n = 1000000;
    chain(n, false);
    CHECK_EQ(D.nerrors, 0);
    CHECK_EQ(S.njobs, n);
    CHECK_U64(S.nedges, n - 1);
    CHECK(dep("c_999998", "c_999999"));
    chain(n, true);
    CHECK_HAS(diags(), "dependency cycle: c_0 -> c_1 -> c_2 -> c_3 -> c_4 -> c_5 -> c_6 -> c_7 "
                       "-> ... (999989 more) ... -> c_999997 -> c_999998 -> c_999999 -> c_0");
}

int main(void)
{
    test_expansion();
    test_templates();
    test_fanin();
    test_regexes();
    test_files();
    test_resources();
    test_diagnostics();
    test_merges();
    test_cycles();
    test_long_chain();
    spec_free(&S);
    spec_diags_free(&D);
    return check_done();
}
