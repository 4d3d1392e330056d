/*
 * diag_print.h - prints the loader's diagnostics like a compiler
 * (STYLE.md section 4), and as JSON objects for --json.
 */
#ifndef VOLLEY_TOOLS_DIAG_PRINT_H
#define VOLLEY_TOOLS_DIAG_PRINT_H

#include <stdio.h>

#include "loader/load.h"
#include "json.h"

/* "file:line:col: error: message", the source line and a caret, for every
 * diagnostic, then a note if some were not kept. */
void diag_print(FILE *f, const struct spec_diags *d);
/* Two arrays' worth: writes "warnings": [...], "errors": [...] into the
 * open JSON object (objects with file, line, col, message). */
void diag_print_json(struct json *j, const struct spec_diags *d);

#endif /* VOLLEY_TOOLS_DIAG_PRINT_H */
