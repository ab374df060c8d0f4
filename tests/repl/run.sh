#!/bin/sh
# run.sh NNC DIR — pipes DIR/session.in into `nnc repl` (stdin is not a terminal) and
# compares its output with DIR/session.out. Regenerate with UPDATE=1 after checking it.
set -e
nnc=$1 dir=$2
tmp=${TMPDIR:-/tmp}/nnc_repl_$$
sed "s|LOADME|$dir/loadme.nn|" "$dir/session.in" | grep -v '^#' | "$nnc" repl > "$tmp.out" 2>&1
if [ -n "$UPDATE" ]; then cp "$tmp.out" "$dir/session.out"; fi
diff -u "$dir/session.out" "$tmp.out"
rm -f "$tmp.out"
