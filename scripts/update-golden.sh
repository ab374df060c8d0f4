#!/bin/sh
# Regenerates the front end's expected outputs from the current nnc. Review the diff
# (git diff tests/lang) before committing: a golden file is only as good as its review.
#
#   scripts/update-golden.sh [BUILD_DIR]            golden ASTs: tests/lang/golden/ok/*.ast
#   scripts/update-golden.sh [BUILD_DIR] NAME...    also tests/lang/bad/NAME.expected
#
# BUILD_DIR defaults to build/. Run from anywhere; paths are relative to the repository.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=build
if [ $# -gt 0 ] && [ -d "$1" ]; then build=$1; shift; fi
case $build in /*) ;; *) build=$root/$build ;; esac
nnc=$build/nnc
[ -x "$nnc" ] || { echo "update-golden: $nnc not built" >&2; exit 1; }
cd "$root"
for f in tests/lang/golden/ok/*.nn; do
  "$nnc" --dump=ast "$f" > "${f%.nn}.ast"
done
for name in "$@"; do
  f=tests/lang/bad/$name.nn
  [ -f "$f" ] || { echo "update-golden: no $f" >&2; exit 1; }
  # exactly the diagnostic lines: source lines and carets (which start with a space) dropped
  NO_COLOR=1 "$nnc" --check "$f" 2>&1 | grep -a -v '^ ' > "tests/lang/bad/$name.expected" || true
done
