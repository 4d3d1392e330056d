/*
 * diag_print.c - see diag_print.h. The caret line repeats the tabs of the
 * source line before the column, so the caret lands under the character
 * in a terminal whatever its tab width.
 */
#include "diag_print.h"

#include <inttypes.h>
#include <string.h>

static void print_one(FILE *f, const char *path, const struct spec_diag *x)
{
    const char *sev = x->severity == SPEC_DIAG_WARNING ? "warning" : "error";
    if (x->line)
        fprintf(f, "%s:%" PRIu32 ":%" PRIu32 ": %s: %s\n", path, x->line, x->col, sev, x->msg);
    else
        fprintf(f, "%s: %s: %s\n", path, sev, x->msg);
    if (!x->src)
        return;
    fprintf(f, "%s\n", x->src);
    size_t n = strlen(x->src);
    for (size_t i = 0; i < x->caret && i < n; i++) {
        unsigned char c = (unsigned char)x->src[i];
        if (c == '\t')
            fputc('\t', f);
        else if ((c & 0xc0) != 0x80)
            fputc(' ', f);
    }
    fputs("^\n", f);
}

void diag_print(FILE *f, const struct spec_diags *d)
{
    const char *path = d->path ? d->path : "<input>";
    for (uint32_t i = 0; i < d->n; i++)
        print_one(f, path, &d->v[i]);
    if (d->dropped)
        fprintf(f, "%s: note: %" PRIu64 " more diagnostics were not shown\n", path, d->dropped);
}

static void diag_array(struct json *j, const struct spec_diags *d, uint32_t sev)
{
    json_arr_begin(j);
    for (uint32_t i = 0; i < d->n; i++) {
        const struct spec_diag *x = &d->v[i];
        if (x->severity != sev)
            continue;
        json_obj_begin(j);
        json_kv_str(j, "file", d->path ? d->path : "<input>");
        json_kv_uint(j, "line", x->line);
        json_kv_uint(j, "col", x->col);
        json_kv_str(j, "message", x->msg);
        json_obj_end(j);
    }
    json_arr_end(j);
}

void diag_print_json(struct json *j, const struct spec_diags *d)
{
    json_key(j, "warnings");
    diag_array(j, d, SPEC_DIAG_WARNING);
    json_key(j, "errors");
    diag_array(j, d, SPEC_DIAG_ERROR);
}
