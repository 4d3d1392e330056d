/*
 * bench_print.h - the outputs of `volley bench` (docs/benchmarks.md): the
 * human lines and tables with ratios on stdout, one JSON document
 *   {"results":[{"runner":"volley","shape":...,"mode":"noexec","jobs":N,
 *     "workers":W,"wall_s":...,"completions_per_s":...,"bytes_per_job":...,
 *     "verified":true}, ...], "skipped":[{"runner":"ninja","why":...}]}
 * a CSV file (--csv) and a gnuplot PNG (--plot). The rows come from
 * bench/lib/bench_matrix.h.
 */
#ifndef VOLLEY_TOOLS_BENCH_PRINT_H
#define VOLLEY_TOOLS_BENCH_PRINT_H

#include <stddef.h>
#include <stdint.h>

#include "bench/lib/bench_matrix.h"

/* A noexec row: two lines. */
void bench_print_human(const struct bench_row *r);
/* The process-mode rows as a table, then the ratios of each cell (nothing
 * if there is no process row). */
void bench_print_process(const struct bench_row *rows, size_t n, uint32_t reps);
/* The JSON document; 0 or json_finish's error. */
int bench_print_json(const struct bench_row *rows, size_t n, const struct bench_skip *skips,
                     size_t nskips);
/* --csv FILE: one line per row. 0 or a negative errno. */
int bench_write_csv(const char *path, const struct bench_row *rows, size_t n);
/*
 * --plot FILE.png: completions/s against job count (each series at its
 * largest K) and against workers (each at its largest job count), one
 * line per runner, mode and shape, log scales, drawn by gnuplot (its
 * messages go to stderr). 0, or a negative code.
 */
int bench_write_plot(const char *path, const struct bench_row *rows, size_t n);

#endif /* VOLLEY_TOOLS_BENCH_PRINT_H */
