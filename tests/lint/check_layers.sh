#!/usr/bin/env bash
# Fails if an include crosses the layering of STYLE.md section 1 and
# docs/architecture.md:
#
#   base <- loader <- shm <- persist <- core <- tools      (bench beside tools)
#
# A file may include its own folder and the folders below it, spelled from
# the top ("shm/arena.h"; never "../"). tools/ may also include bench/ (the
# `volley bench` command); bench/ never includes tools/, and only the header-
# only tests/lib/ of tests/. Inside core/, only the run side (supervisor,
# resume and its resume_*.c, actions) includes persist/: a worker's completion never waits on
# SQLite.
# SQLite itself (<sqlite3.h>) belongs to persist/ (and to bench/persist's
# reference workloads and the tests that damage files on purpose).
set -uo pipefail
cd "${VOLLEY_SRC:?}"

floor() {
  case $1 in
    base) echo 0 ;; loader) echo 1 ;; shm) echo 2 ;; persist) echo 3 ;;
    core) echo 4 ;; bench) echo 5 ;; tools) echo 6 ;; *) echo -1 ;;
  esac
}

bad=0
fail() { echo "$1"; bad=1; }

for dir in base loader shm persist core bench tools; do
  mine=$(floor "$dir")
  while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    inc=$(sed -E 's/^[^"]*"([^"]*)".*/\1/' <<<"${rest#*:}")
    case $inc in
      ../*|*/../*) fail "$file:$line: includes \"$inc\": spell it from the top" ; continue ;;
      */*) ;;
      *) continue ;; # same folder
    esac
    top=${inc%%/*}
    if [ "$top" = tests ]; then
      [ "$dir" = bench ] && [[ $inc == tests/lib/* ]] && continue
      fail "$file:$line: includes \"$inc\": only bench/ may use tests/lib/"
      continue
    fi
    theirs=$(floor "$top")
    if [ "$theirs" -lt 0 ]; then
      fail "$file:$line: includes \"$inc\": not a module of volley"
    elif [ "$theirs" -gt "$mine" ]; then
      fail "$file:$line: $dir/ includes \"$inc\": $top/ is above it"
    fi
    if [ "$dir" = core ] && [ "$top" = persist ]; then
      case ${file#core/} in
        supervisor.[ch]|resume.[ch]|resume_*.c|actions.[ch]) ;;
        *) fail "$file:$line: includes \"$inc\": only core's run side (supervisor, resume, actions) may use persist/" ;;
      esac
    fi
  done < <(grep -rn --include='*.[ch]' '^#include "' "$dir" 2>/dev/null)
done

# SQLite: persist/ only (bench/persist's reference tables and tests aside).
while IFS= read -r hit; do
  fail "${hit%%:*}: includes <sqlite3.h>: SQLite is persist/'s (read volley.db through persist/snap.h)"
done < <(grep -rln --include='*.[ch]' '#include <sqlite3.h>' base loader shm core tools bench \
           2>/dev/null | grep -v '^bench/persist/')

[ $bad = 0 ] && echo "layers: every include points down the floors"
exit $bad
