#!/usr/bin/env bash
# Fails if any C file of the project is not clang-formatted (.clang-format).
set -euo pipefail
cd "${VOLLEY_SRC:?}"
command -v clang-format >/dev/null || { echo "clang-format not installed" >&2; exit 77; }
files=$(find base core shm persist loader tools bench tests -name '*.[ch]' 2>/dev/null | sort || true)
bad=0
for f in $files; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: make format)"
    bad=1
  fi
done
exit $bad
