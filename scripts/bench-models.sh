#!/bin/sh
# The model benchmarks of issue 4, side by side in one run: nnc's Fashion-MNIST MLP and
# CNN (seconds per epoch, test accuracy), compile time of each example (first run and
# cached re-run), against PyTorch's anchors from bench/torch_models.py (Debian's torch,
# its best thread setting "1+blas2": torch 1 thread, OpenBLAS 2, OPENBLAS_CORETYPE=SkylakeX).
# Medians of RUNS runs (default 3). Prints a table and writes the "models" section of
# docs/benchmarks.md (NNC_BENCH_NO_DOC=1: print only). The CNN epoch is timed on its
# first CNN_STEPS steps (default: the whole epoch) and scaled; THREADS="1 2" the nnc settings.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${NNC_BENCH_BUILD:-$ROOT/build-bench}
RUNS=${RUNS:-3}
CNN_STEPS=${CNN_STEPS:-0}
THREADS=${THREADS:-1 2}
DOC=$ROOT/docs/benchmarks.md
sh "$ROOT/scripts/bench-setup.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DNNC_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target nnc >/dev/null
NNC=$BUILD/nnc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# epoch seconds and accuracy of one nnc run: "epoch 1: ... eval accuracy A (S s)"
nnc_epoch() {  # file threads [steps]
  steps=${3:-0}
  extra=""
  [ "$steps" -gt 0 ] && extra="--steps=$steps"
  OMP_NUM_THREADS=$2 "$NNC" "$ROOT/examples/$1.nn" --epochs=1 --no-save $extra --metrics=m.csv >out.txt 2>&1
  if [ "$steps" -gt 0 ]; then
    awk -v s="$steps" '/^trained/ { print $5 * 937 / s, "nan" }' out.txt
  else
    awk '/^epoch 1:/ { for (i = 1; i <= NF; i++) if ($i == "accuracy") a = $(i + 1); gsub(/[()]/, "", $NF); t = $(NF - 1); gsub(/\(/, "", t); print t, a }' out.txt
  fi
}
rows=""
for t in $THREADS; do
  for m in fashion_mlp fashion_cnn; do
    st=0
    [ "$m" = fashion_cnn ] && st=$CNN_STEPS
    : >times
    acc=nan
    for r in $(seq "$RUNS"); do
      set -- $(nnc_epoch "$m" "$t" "$st")
      echo "$1" >>times
      acc=$2
    done
    rows="$rows$m $t $(median <times) $acc
"
  done
done
# compile time: first run without the cache, then the cached re-run
comp=""
for m in fashion_mlp fashion_cnn char_lstm; do
  a=$(NNC_NO_CACHE=1 OMP_NUM_THREADS=1 "$NNC" "$ROOT/examples/$m.nn" --steps=1 --no-save --metrics=m.csv 2>&1 | awk '/^compiled/ { print $4 }')
  OMP_NUM_THREADS=1 "$NNC" "$ROOT/examples/$m.nn" --steps=1 --no-save --metrics=m.csv >/dev/null 2>&1
  b=$(OMP_NUM_THREADS=1 "$NNC" "$ROOT/examples/$m.nn" --steps=1 --no-save --metrics=m.csv 2>&1 | awk '/^compiled/ { print $4 }')
  comp="$comp$m $a $b
"
done
# PyTorch anchors (skipped when torch is not importable)
torch=""
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  eb=""
  [ "$CNN_STEPS" -gt 0 ] && eb="--epoch-batches $CNN_STEPS"
  torch=$(/usr/bin/python3 "$ROOT/bench/torch_models.py" --threads 1+blas2 --only mlp_epoch,cnn_epoch \
          --epoch-runs "$RUNS" $eb 2>/dev/null || true)
fi
tval() {  # bench -> median seconds of torch's 1+blas2 setting
  printf '%s\n' "$torch" | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"): continue
    d = json.loads(line)
    if d.get("bench") == sys.argv[1]:
        a = d.get("accuracy")
        if isinstance(a, list): a = next((x for x in a if x is not None), None)
        print("%.2f" % d.get("median"), "nan" if a is None else "%.4f" % a); break
else: print("nan nan")' "$1"
}
set -- $(tval mlp_epoch); tm=$1 tma=$2
set -- $(tval cnn_epoch); tc=$1 tca=$2
load=$(cut -d' ' -f1-3 /proc/loadavg)
table=$(printf '%s' "$rows" | awk -v tm="$tm" -v tc="$tc" -v tma="$tma" -v tca="$tca" '
  NF == 4 { t = ($1 == "fashion_mlp") ? tm : tc; ta = ($1 == "fashion_mlp") ? tma : tca
    r = (t == "nan" || t == "") ? "-" : sprintf("%.2f", $3 / t)
    printf "| %s | %s | %.2f | %s | %s | %s | %s |\n", $1, $2, $3, $4, t, ta, r }')
ctable=$(printf '%s' "$comp" | awk 'NF == 3 { printf "| %s | %s | %s | %.0f %% |\n", $1, $2, $3, ($2 > 0) ? 100 * $3 / $2 : 0 }')
section=$(cat <<MD
<!-- models:begin (written by scripts/bench-models.sh; edit the script, not this section) -->
## Training: nnc vs PyTorch

- Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) vCPUs; $(date -u '+%Y-%m-%d %H:%M UTC');
  load average before the run: $load. Medians of $RUNS runs.
- nnc with OMP_NUM_THREADS = threads; PyTorch (Debian 1.13) at its best setting here,
  torch 1 thread + OpenBLAS 2 (OPENBLAS_CORETYPE=SkylakeX). Seconds per epoch (MLP batch
  128, CNN batch 64); accuracy on the 10,000 test images after that epoch.
$( [ "$CNN_STEPS" -gt 0 ] && echo "- CNN epochs timed on their first $CNN_STEPS steps and scaled (no accuracy)." )

| model | nnc threads | nnc s/epoch | nnc accuracy | PyTorch s/epoch | PyTorch accuracy | nnc / PyTorch |
|---|---:|---:|---:|---:|---:|---:|
$table

Compile time of each example (seconds; parse, check, trace, passes, LLVM; the first run
with the cache off, then a re-run from the compile cache):

| example | first | cached | cached / first |
|---|---:|---:|---:|
$ctable
<!-- models:end -->
MD
)
printf '%s\n' "$section"
[ "${NNC_BENCH_NO_DOC:-0}" = 1 ] && exit 0
if grep -q '<!-- models:begin' "$DOC"; then
  awk -v s="$section" '/<!-- models:begin/ { print s; skip = 1; next } /<!-- models:end/ { skip = 0; next } !skip' "$DOC" >"$work/doc"
else
  { cat "$DOC"; echo; printf '%s\n' "$section"; } >"$work/doc"
fi
cp "$work/doc" "$DOC"
