/*
 * cmd_cgroups.c - the hidden `volley __cgroups DIR [--sweep]` command: the
 * directories of the cgroups of the run in DIR that exist now (core/
 * cgroup.h), one per line; with --sweep, what is in them is killed and
 * they are removed, as `volley resume` does for a run that crashed. For
 * the tests (tests/run/lib.sh checks that no run leaves a group behind,
 * and sweeps those of runs it killed on purpose); not for people.
 */
#include <stdio.h>
#include <string.h>

#include "core/cgroup.h"
#include "persist/snap.h"
#include "cli.h"
#include "commands.h"

int cmd_cgroups(int argc, char **argv)
{
    bool sweep = argc == 3 && !strcmp(argv[2], "--sweep");
    if (argc != 2 && !sweep) {
        fprintf(stderr, "volley __cgroups: internal command: volley __cgroups DIR [--sweep]\n");
        return VL_EXIT_USAGE;
    }
    struct snap_info info;
    struct vl_err err = {0};
    if (snap_info_read(argv[1], &info, &err) < 0)
        return cli_print_err(&err);
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", info.run_id[i]);
    snap_info_fini(&info);
    if (sweep) {
        uint32_t found = 0, killed = 0;
        int rc = cgroup_sweep(hex, &found, &killed);
        printf("%u directories removed, %u processes killed\n", found, killed);
        if (rc < 0) {
            vl_err_sys(&err, rc, "cannot remove a cgroup of run %s", hex);
            return cli_print_err(&err);
        }
        return 0;
    }
    char dirs[CGROUP_NHIER][CGROUP_PATH];
    uint32_t n = cgroup_find(hex, dirs, CGROUP_NHIER);
    for (uint32_t i = 0; i < n && i < CGROUP_NHIER; i++)
        printf("%s\n", dirs[i]);
    return 0;
}
