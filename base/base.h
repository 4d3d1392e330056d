/*
 * base.h - the ground floor of volley (DESIGN.md, "Modules"): errors,
 * allocation, buffers, clocks, units, logging, process facts and string
 * helpers, one header each. This header includes them all, for the files that
 * use most of them; a file that needs one may include just that one.
 *
 * base/ includes no other module of volley. A helper that two modules need
 * lives here, once.
 *
 * Not here: anything about YAML, shared memory, processes' execution or
 * SQLite.
 */
#ifndef VOLLEY_BASE_BASE_H
#define VOLLEY_BASE_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/defs.h"
#include "base/err.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/str.h"
#include "base/units.h"

#endif /* VOLLEY_BASE_BASE_H */
