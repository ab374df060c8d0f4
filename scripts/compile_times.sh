#!/bin/sh
# scripts/compile_times.sh — first-compile CPU seconds of every example, per function and
# stage (nnc --time-passes), with and without a flag: the table in docs/codegen.md
# ("Compile time"). Each example runs `nnc FILE --steps=1` with NNC_NO_CACHE=1 and
# OMP_NUM_THREADS=1 in a directory holding the data of its generator (as scripts/bench.sh's
# compile section); the number is the sum of the --time-passes totals (CPU, not wall).
#
#   scripts/compile_times.sh [BUILD_DIR]     (default: build/)
#   env: BEFORE="-fno-share-kernels" (the flags of the "before" column), RUNS=3 (median),
#        FILES="examples/a.nn ..." (default: every example), VERBOSE=1 (the per-stage lines)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd) || exit 1
NNC=$BUILD/nnc BEFORE=${BEFORE--fno-share-kernels} RUNS=${RUNS:-3}
work=$(mktemp -d /tmp/nnc-compile-times-XXXXXX)
gens=""
for d in "$ROOT"/examples/*/; do
  [ -f "$d/CMakeLists.txt" ] && gens="$gens $(sed -n 's/^add_executable(\([a-z0-9_]*gen[a-z0-9_]*\) .*/\1/p' "$d/CMakeLists.txt")"
done
cmake --build "$BUILD" --target nnc $gens >"$work/build.log" 2>&1 || echo "compile_times: some targets did not build" >&2
gen_data() {  # DIR: the data of examples/DIR in the current directory (bench.sh's sizes)
  g=$BUILD/examples/$1
  case $1 in
    fast_weights) mkdir -p data && "$g/fast_weights_gen" data 1280 256 4 1 ;;
    phased_lstm) mkdir -p data && "$g/phased_lstm_gen" data 1ms 256 64 1 ;;
    seq2seq_grounding) "$g/seq2seq_grounding_gen" . 1280 256 0 ;;
    zoneout | variational_dropout) "$BUILD/examples/zoneout/zoneout_gen" corpus.txt ;;
    multimodal) "$NNC" -I "$ROOT/stdlib" "$ROOT/examples/multimodal/feat.nn" --steps=20 --save=feat.safetensors \
                  --metrics=feat.csv && "$g/multimodal_gen_captions" . feat.safetensors 1280 0 ;;
    *) true ;;
  esac
}
cpu() {  # FILE FLAGS...: the summed --time-passes totals of one run, or nothing
  f=$1; shift
  NNC_NO_CACHE=1 OMP_NUM_THREADS=1 "$NNC" -I "$ROOT/stdlib" "$f" --steps=1 --no-save --metrics=m.csv \
    --time-passes "$@" >c.out 2>&1
  [ -n "${VERBOSE:-}" ] && grep '^time-passes' c.out | sed 's/^/    /' >&2
  awk '/^time-passes/ { s += $(NF-2); n++ } END { if (n) printf "%.3f\n", s }' c.out
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
echo "| example | before (CPU s, $BEFORE) | after (CPU s) | after / before |"
echo "|---|---|---|---|"
for f in ${FILES:-$ROOT/examples/*.nn $ROOT/examples/*/*.nn}; do
  case $f in /*) ;; *) f=$ROOT/$f ;; esac
  rel=${f#"$ROOT/"} dir=$(basename "$(dirname "$f")")
  [ "$dir" = examples ] && dir=top
  mkdir -p "$work/ex/$dir"
  cd "$work/ex/$dir" || exit 1
  [ -f .made ] || { gen_data "$dir" >gen.log 2>&1 || true; touch .made; }
  : >b.txt; : >a.txt
  for r in $(seq "$RUNS"); do
    # shellcheck disable=SC2086
    cpu "$f" $BEFORE >>b.txt; cpu "$f" >>a.txt
  done
  b=$(median <b.txt) a=$(median <a.txt)
  if [ -z "$a" ] || [ -z "$b" ]; then
    echo "| $rel | - | - | $(grep -m1 -E 'error' c.out | cut -c1-80 | sed 's/|/\\|/g') |"
  else
    echo "| $rel | $b | $a | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }') |"
  fi
done
rm -rf "$work"
