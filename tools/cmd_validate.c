/*
 * cmd_validate.c - `volley validate WF [--json]`: load and expand WF, print
 * every diagnostic and a one-line summary (or one JSON object on stdout).
 * Exit 0 valid, 2 invalid or unreadable (SPEC.md section 2), 3 when the
 * workflow does not fit in this machine's memory.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "loader/load.h"
#include "cli.h"
#include "commands.h"
#include "diag_print.h"
#include "json.h"

static int exit_for(int rc)
{
    if (rc == 0)
        return VL_EXIT_OK;
    return rc == VL_ETOOBIG || rc == -ENOMEM ? VL_EXIT_ENV : VL_EXIT_USAGE;
}

int cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    bool as_json = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'j')
            as_json = true;
        else
            return cli_usage_error("validate", "unknown option '%s'", cli_bad_opt(argv));
    }
    if (optind >= argc)
        return cli_usage_error("validate", "missing the workflow file");
    if (optind + 1 < argc)
        return cli_usage_error("validate", "unexpected argument '%s'", argv[optind + 1]);
    const char *path = argv[optind];

    struct spec s;
    struct spec_diags d;
    memset(&d, 0, sizeof d);
    int rc = spec_load_file(path, &s, &d);
    uint32_t nfiles = 0, nud = 0, ninputs = 0;
    for (uint32_t i = 0; i < s.nfiles; i++) {
        bool ud = s.files[i].flags & SPEC_FILE_USER_DATA;
        ud ? nud++ : nfiles++;
        if (!ud && s.files[i].producer == SPEC_NONE)
            ninputs++;
    }
    int wrc = 0; /* the JSON's write */
    if (as_json) {
        struct json j;
        json_init(&j, stdout, false);
        json_obj_begin(&j);
        json_kv_str(&j, "file", path);
        json_kv_bool(&j, "valid", rc == 0);
        json_kv_str(&j, "name", rc == 0 ? s.name : NULL);
        json_kv_uint(&j, "jobs", s.njobs);
        json_kv_uint(&j, "edges", s.nedges);
        json_kv_uint(&j, "files", nfiles);
        json_kv_uint(&j, "input_files", ninputs);
        json_kv_uint(&j, "user_data", nud);
        json_kv_uint(&j, "resource_classes", s.nrr);
        json_kv_uint(&j, "failure_handlers", s.nfh);
        json_kv_uint(&j, "string_bytes", s.pool_len);
        diag_print_json(&j, &d);
        json_obj_end(&j);
        wrc = json_finish(&j);
    } else {
        diag_print(stderr, &d);
        if (rc == 0) {
            printf("%s: %" PRIu32 " jobs, %" PRIu64 " dependencies, %" PRIu32 " files, %" PRIu32
                   " resource classes\n",
                   path, s.njobs, s.nedges, nfiles, s.nrr);
        } else if (d.nerrors) {
            fprintf(stderr, "%s: %" PRIu64 " error%s, %" PRIu64 " warning%s\n", path, d.nerrors,
                    d.nerrors == 1 ? "" : "s", d.nwarnings, d.nwarnings == 1 ? "" : "s");
        }
    }
    spec_free(&s);
    spec_diags_free(&d);
    struct vl_err err = {0};
    if (cli_stdout_check(&err, wrc) < 0) /* the summary is lost: an environment error */
        return cli_print_err(&err);
    return exit_for(rc);
}
