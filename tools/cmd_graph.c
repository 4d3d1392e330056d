/*
 * cmd_graph.c - `volley graph WF [--format dot|json]`: the expanded DAG,
 * streamed job by job through stdio (a 1M-job graph is never one string):
 * dot lists jobs, then each job's edges to its children; json is
 * {"name", "jobs": [{"id","name","command"}], "edges": [[parent, child]],
 * "files": [{"id","name","path","producer"}]}.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/load.h"
#include "cli.h"
#include "commands.h"
#include "diag_print.h"
#include "json.h"

static void dot_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

static void print_dot(FILE *f, const struct spec *s)
{
    fputs("digraph ", f);
    dot_str(f, s->name);
    fputs(" {\n  rankdir=LR;\n  node [shape=box];\n", f);
    for (uint32_t j = 0; j < s->njobs; j++) {
        fputs("  ", f);
        dot_str(f, spec_job_name(s, j));
        fputs(";\n", f);
    }
    for (uint32_t j = 0; j < s->njobs; j++) {
        for (uint64_t e = s->kid_off[j]; e < s->kid_off[j + 1]; e++) {
            fputs("  ", f);
            dot_str(f, spec_job_name(s, j));
            fputs(" -> ", f);
            dot_str(f, spec_job_name(s, s->kids[e]));
            fputs(";\n", f);
        }
    }
    fputs("}\n", f);
}

static void print_json(FILE *f, const struct spec *s)
{
    struct json j;
    json_init(&j, f, false);
    json_obj_begin(&j);
    json_kv_str(&j, "name", s->name);
    json_key(&j, "jobs");
    json_arr_begin(&j);
    for (uint32_t i = 0; i < s->njobs; i++) {
        json_obj_begin(&j);
        json_kv_uint(&j, "id", i);
        json_kv_str(&j, "name", spec_job_name(s, i));
        json_kv_str(&j, "command", spec_job_cmd(s, i));
        json_obj_end(&j);
    }
    json_arr_end(&j);
    json_key(&j, "edges");
    json_arr_begin(&j);
    for (uint32_t i = 0; i < s->njobs; i++) {
        for (uint64_t e = s->kid_off[i]; e < s->kid_off[i + 1]; e++) {
            json_arr_begin(&j);
            json_uint(&j, i);
            json_uint(&j, s->kids[e]);
            json_arr_end(&j);
        }
    }
    json_arr_end(&j);
    json_key(&j, "files");
    json_arr_begin(&j);
    for (uint32_t i = 0; i < s->nfiles; i++) {
        const struct spec_file *fl = &s->files[i];
        json_obj_begin(&j);
        json_kv_uint(&j, "id", i);
        json_kv_str(&j, "name", spec_str(s, fl->name_off));
        if (fl->flags & SPEC_FILE_USER_DATA)
            json_kv_str(&j, "data", spec_str(s, fl->path_off));
        else
            json_kv_str(&j, "path", spec_str(s, fl->path_off));
        json_key(&j, "producer");
        if (fl->producer == SPEC_NONE)
            json_null(&j);
        else
            json_uint(&j, fl->producer);
        json_obj_end(&j);
    }
    json_arr_end(&j);
    json_obj_end(&j);
    json_finish(&j);
}

int cmd_graph(int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    const char *format = "dot";
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'f')
            format = optarg;
        else if (c == ':')
            return cli_usage_error("graph", "--format needs a value: dot or json");
        else
            return cli_usage_error("graph", "unknown option '%s'", cli_bad_opt(argv));
    }
    if (strcmp(format, "dot") && strcmp(format, "json"))
        return cli_usage_error("graph", "--format must be dot or json, not '%s'", format);
    if (optind >= argc)
        return cli_usage_error("graph", "missing the workflow file");
    if (optind + 1 < argc)
        return cli_usage_error("graph", "unexpected argument '%s'", argv[optind + 1]);

    struct spec s;
    struct spec_diags d;
    memset(&d, 0, sizeof d);
    int rc = spec_load_file(argv[optind], &s, &d);
    diag_print(stderr, &d);
    if (rc == 0) {
        static char obuf[1 << 20];
        setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
        if (!strcmp(format, "dot"))
            print_dot(stdout, &s);
        else
            print_json(stdout, &s);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "volley graph: cannot write the graph: %s\n", strerror(errno));
            rc = -EIO;
        }
    }
    spec_free(&s);
    spec_diags_free(&d);
    if (rc == 0)
        return VL_EXIT_OK;
    return rc == VL_ETOOBIG || rc == -EIO ? VL_EXIT_ENV : VL_EXIT_USAGE;
}
