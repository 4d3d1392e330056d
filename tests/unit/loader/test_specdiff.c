/* test_specdiff.c - what a reload sees as changed, job by job: each part of
 * a job's definition on its own, what is not part of it (the names of the
 * resource class and the handler, the order of jobs in the file), new and
 * removed jobs, and dependencies by name. */
#include "loader/specdiff.h"

#include <stdlib.h>

#include "check.h"
#include "loader/load.h"

static void load(struct spec *s, const char *yaml)
{
    struct spec_diags d = {0};
    int rc = spec_load_buffer(yaml, strlen(yaml), "t.yaml", s, &d);
    if (rc != 0)
        for (uint32_t i = 0; i < d.n; i++)
            fprintf(stderr, "%u:%u: %s\n", d.v[i].line, d.v[i].col, d.v[i].msg);
    CHECK_EQ(rc, 0);
    spec_diags_free(&d);
}

static uint32_t jid_of(const struct spec *s, const char *name)
{
    for (uint32_t j = 0; j < s->njobs; j++)
        if (!strcmp(spec_job_name(s, j), name))
            return j;
    fprintf(stderr, "no job %s\n", name);
    check_failures++;
    return 0;
}

static const char *BASE = "name: w\n"
                          "resource_requirements:\n"
                          "  - {name: small, num_cpus: 1, memory: 1m}\n"
                          "failure_handlers:\n"
                          "  - name: h\n"
                          "    rules: [{exit_codes: [3], max_retries: 2}]\n"
                          "files:\n"
                          "  - {name: f, path: out/f.txt}\n"
                          "jobs:\n"
                          "  - {name: a, command: echo a, resource_requirements: small}\n"
                          "  - {name: b, command: echo b, depends_on: [a], failure_handler: h}\n"
                          "  - {name: c, command: echo c, output_files: [f]}\n"
                          "  - {name: d, command: echo d, input_files: [f]}\n"
                          "  - {name: gone, command: echo gone}\n";

/* The diff of BASE and edited, for job `job` of edited. */
static enum specdiff_what diff_of(const char *edited, const char *job)
{
    struct spec a = {0}, b = {0};
    load(&a, BASE);
    load(&b, edited);
    struct specdiff d;
    struct vl_err e = {0};
    CHECK_EQ(specdiff_init(&d, &a, &b, &e), 0);
    enum specdiff_what w = specdiff_job(&d, jid_of(&b, job));
    specdiff_fini(&d);
    spec_free(&a);
    spec_free(&b);
    return w;
}

/* text with every `from` replaced by `to` (allocated). */
static char *subst(const char *text, const char *from, const char *to)
{
    struct vl_buf b = {0};
    for (const char *at; (at = strstr(text, from)); text = at + strlen(from)) {
        vl_buf_printf(&b, "%.*s%s", (int)(at - text), text, to);
    }
    vl_buf_adds(&b, text);
    vl_buf_addc(&b, '\0');
    return b.p;
}

/* BASE with one substring replaced. */
static char *edit(const char *from, const char *to)
{
    const char *at = strstr(BASE, from);
    CHECK(at != NULL);
    if (!at)
        return vl_xstrdup(BASE);
    return vl_xasprintf("%.*s%s%s", (int)(at - BASE), BASE, to, at + strlen(from));
}

static void expect(const char *from, const char *to, const char *job, enum specdiff_what want)
{
    char *y = edit(from, to);
    enum specdiff_what got = diff_of(y, job);
    if (got != want)
        fprintf(stderr, "edit '%s' -> '%s', job %s: %s, expected %s\n", from, to, job,
                specdiff_what_name(got), specdiff_what_name(want));
    CHECK_EQ(got, want);
    free(y);
}

int main(void)
{
    /* the same file: every job the same */
    expect("echo a", "echo a", "a", SPECDIFF_SAME);
    expect("echo a", "echo a", "d", SPECDIFF_SAME);
    /* each part of a definition */
    expect("command: echo b", "command: echo B", "b", SPECDIFF_COMMAND);
    expect("memory: 1m", "memory: 2m", "a", SPECDIFF_RESOURCES);
    expect("max_retries: 2", "max_retries: 3", "b", SPECDIFF_HANDLER);
    expect("exit_codes: [3]", "exit_codes: [3, 4]", "b", SPECDIFF_HANDLER);
    expect("command: echo c,", "command: echo c, cancel_on_blocking_job_failure: false,", "c",
           SPECDIFF_FLAGS);
    expect("path: out/f.txt", "path: out/g.txt", "c", SPECDIFF_FILES);
    expect("path: out/f.txt", "path: out/g.txt", "d", SPECDIFF_FILES);
    expect("command: echo c,", "command: echo c, depends_on: [a],", "c", SPECDIFF_DEPS);
    expect("depends_on: [a]", "depends_on: []", "b", SPECDIFF_DEPS);
    /* a parent renamed: the child's dependency is another job now */
    expect("{name: a, command: echo a, resource_requirements: small}\n"
           "  - {name: b, command: echo b, depends_on: [a]",
           "{name: a2, command: echo a, resource_requirements: small}\n"
           "  - {name: b, command: echo b, depends_on: [a2]",
           "a2", SPECDIFF_NEW);
    expect("{name: a, command: echo a, resource_requirements: small}\n"
           "  - {name: b, command: echo b, depends_on: [a]",
           "{name: a2, command: echo a, resource_requirements: small}\n"
           "  - {name: b, command: echo b, depends_on: [a2]",
           "b", SPECDIFF_DEPS);
    /* not part of a definition: table names, the order of the file */
    {
        char *y = subst(BASE, "small", "tiny");
        char *z = subst(y, "name: h\n", "name: h2\n");
        free(y);
        y = subst(z, "failure_handler: h}", "failure_handler: h2}");
        free(z);
        CHECK_EQ(diff_of(y, "a"), SPECDIFF_SAME);
        CHECK_EQ(diff_of(y, "b"), SPECDIFF_SAME);
        free(y);
    }
    expect("  - {name: b, command: echo b, depends_on: [a], failure_handler: h}\n"
           "  - {name: c, command: echo c, output_files: [f]}\n",
           "  - {name: c, command: echo c, output_files: [f]}\n"
           "  - {name: b, command: echo b, depends_on: [a], failure_handler: h}\n",
           "b", SPECDIFF_SAME);
    /* a handler dropped: its rules are gone */
    expect(", failure_handler: h}", "}", "b", SPECDIFF_HANDLER);

    /* env (the merged set, in any order) and stdio */
    {
        static const char *ENVW = "name: w\n"
                                  "env: {A: '1', B: '2'}\n"
                                  "jobs:\n"
                                  "  - {name: x, command: echo x, env: {C: '3'}}\n"
                                  "  - {name: y, command: echo y}\n";
        struct spec a = {0}, b = {0};
        load(&a, ENVW);
        struct specdiff d;
        struct vl_err e = {0};
        const char *edits[][3] = {
            {"env: {A: '1', B: '2'}", "env: {B: '2', A: '1'}", "same"},
            {"env: {C: '3'}", "env: {C: '4'}", "x"},
            {"env: {A: '1', B: '2'}", "env: {A: '1', B: '5'}", "xy"},
            {"env: {C: '3'}", "env: {C: '3', A: '1'}", "same"}, /* the same merged set */
            {"{name: y, command: echo y}", "{name: y, command: echo y, stdio: combined}", "y"},
        };
        for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
            char *y = subst(ENVW, edits[i][0], edits[i][1]);
            load(&b, y);
            CHECK_EQ(specdiff_init(&d, &a, &b, &e), 0);
            enum specdiff_what wx = specdiff_job(&d, jid_of(&b, "x"));
            enum specdiff_what wy = specdiff_job(&d, jid_of(&b, "y"));
            char got[4] = "";
            if (wx != SPECDIFF_SAME)
                strcat(got, "x");
            if (wy != SPECDIFF_SAME)
                strcat(got, "y");
            CHECK_STR(got[0] ? got : "same", edits[i][2]);
            if (i == 1 || i == 2)
                CHECK_EQ(wx, SPECDIFF_ENV);
            if (i == 4)
                CHECK_EQ(wy, SPECDIFF_STDIO);
            specdiff_fini(&d);
            spec_free(&b);
            free(y);
        }
        /* a stored spec without env (a run written before volley.db kept
         * env ran its jobs without it): a job with env now did change */
        struct spec bare = {0};
        char *y = subst(ENVW, "env: {A: '1', B: '2'}\n", "");
        char *z = subst(y, ", env: {C: '3'}", "");
        load(&bare, z);
        CHECK_EQ(specdiff_init(&d, &bare, &a, &e), 0);
        CHECK_EQ(specdiff_job(&d, jid_of(&a, "x")), SPECDIFF_ENV);
        specdiff_fini(&d);
        spec_free(&bare);
        free(y);
        free(z);
        spec_free(&a);
    }

    /* removed jobs: no new job of their name */
    {
        struct spec a = {0}, b = {0};
        load(&a, BASE);
        char *y = edit("  - {name: gone, command: echo gone}\n", "");
        load(&b, y);
        free(y);
        struct specdiff d;
        struct vl_err e = {0};
        CHECK_EQ(specdiff_init(&d, &a, &b, &e), 0);
        CHECK_EQ(d.cur_of[jid_of(&a, "gone")], SPEC_NONE);
        CHECK_EQ(d.cur_of[jid_of(&a, "a")], jid_of(&b, "a"));
        CHECK_EQ(d.old_of[jid_of(&b, "d")], jid_of(&a, "d"));
        for (uint32_t j = 0; j < b.njobs; j++)
            CHECK_EQ(specdiff_job(&d, j), SPECDIFF_SAME);
        specdiff_fini(&d);
        spec_free(&a);
        spec_free(&b);
    }
    CHECK_STR(specdiff_what_name(SPECDIFF_DEPS), "dependencies changed");
    CHECK_STR(specdiff_what_name(99), "?");
    return check_done();
}
