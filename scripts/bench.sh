#!/bin/sh
# scripts/bench.sh [SECTION ...] — the benchmarks of issue 4 in one command: builds what
# they need, runs nnc and its anchors side by side in this one run with the same thread
# count per row, prints each table and rewrites its section of docs/benchmarks.md (between
# its <!-- NAME:begin --> / <!-- NAME:end --> markers; other text is left alone), then the
# summary table at the top: each issue-4 target, the measured ratio, met or missed.
#
# Sections (default: all, in this order):
#   gemm     SGEMM GFLOP/s, n = 64..2048, nnc vs cblas_sgemm (bench/gemm_bench.c), 1 and 2 threads
#   models   Fashion-MNIST MLP and CNN, s/epoch and accuracy, `nnc FILE` vs bench/torch_models.py
#   lstm     LSTM training step, 3 shapes, bench/lstm_bench.c vs nn.LSTM and an nn.LSTMCell loop
#   latency  MLP batch-1 inference, JIT API and AOT object (bench/latency_bench.c) vs PyTorch
#   compile  compile time of every example the CLI compiles: no cache, then cached
#   bptt     memory-budgeted BPTT: calls bench/bptt_run.sh (the BPTT benchmark's own script)
# e.g. `scripts/bench.sh gemm lstm`. The anchors: OpenBLAS and Debian's PyTorch with
# OPENBLAS_CORETYPE=SkylakeX; PyTorch per thread count at its fastest setting (1 core: torch
# 1 thread + OpenBLAS 1; 2 cores: the faster of torch 1 + OpenBLAS 2 and torch 2 threads).
#
# Environment:
#   QUICK=1            smoke test in a few minutes: few runs, CNN timed on 50 steps, 2 LSTM
#                      steps, short latency runs, BPTT at T = 100 only; prints, does not write
#                      the doc (unless NNC_BENCH_NO_DOC=0)
#   RUNS=n             runs per point (default: gemm 7, models 3, latency 7; QUICK: 3, 1, 3)
#   LSTM_STEPS=n       timed LSTM steps after one warm-up (5; QUICK 2)
#   THREADS="1 2"      nnc thread counts (OMP_NUM_THREADS) of the models, lstm and latency rows
#   NNC_BENCH_SKIP="bptt ..."  sections to leave out of the default list
#   NNC_BENCH_BUILD=dir  build directory (default build-bench); NNC_BENCH_NO_DOC=1: print only
#   BPTT_T="100 1000"  sequence lengths of the bptt section (default: bptt_run.sh's own; QUICK: 100)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${NNC_BENCH_BUILD:-$ROOT/build-bench}
QUICK=${QUICK:-0}
[ "$QUICK" = 1 ] && NNC_BENCH_NO_DOC=${NNC_BENCH_NO_DOC:-1}   # a smoke test does not write the doc
THREADS=${THREADS:-1 2}
DOC=${NNC_BENCH_DOC:-$ROOT/docs/benchmarks.md}
PY=/usr/bin/python3
# The commit measured, taken before this script writes docs/benchmarks.md (its own writes
# must not mark the tree dirty); "-dirty" when other tracked files differ from HEAD.
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$ROOT" diff --quiet HEAD -- . ':!docs/benchmarks.md' 2>/dev/null || REV="$REV-dirty"
ALL="gemm models lstm latency compile bptt"

sections=${*:-}
if [ -z "$sections" ]; then
  for s in $ALL; do
    case " ${NNC_BENCH_SKIP:-} " in *" $s "*) ;; *) sections="$sections $s" ;; esac
  done
fi
for s in $sections; do
  case " $ALL " in *" $s "*) ;; *) echo "bench: unknown section '$s' (sections: $ALL)" >&2; exit 2 ;; esac
done
has() { case " $sections " in *" $1 "*) return 0 ;; esac; return 1; }
q() { [ "$QUICK" = 1 ] && echo "$1" || echo "$2"; }  # quick value, full value

sh "$ROOT/scripts/bench-setup.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NNC_CACHE_DIR=$work/cache   # a private compile cache: cold and warm are this run's

# ------------------------------------------------------------------ build
targets=""
has gemm && targets="$targets gemm_bench"
has models && targets="$targets nnc"
has lstm && targets="$targets lstm_bench"
has latency && targets="$targets latency_bench"
has compile && targets="$targets nnc"
has bptt && targets="$targets bptt_lstm_bench"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DNNC_TESTS=OFF >/dev/null
echo "bench: building$targets in $BUILD"
cmake --build "$BUILD" --target $targets >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
NNC=$BUILD/nnc
have_torch=0
$PY -c 'import torch' 2>/dev/null && have_torch=1

# ------------------------------------------------------------------ helpers
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
machine() {
  echo "- Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) vCPUs ($(grep -o -w -E 'avx512f|avx2|fma' /proc/cpuinfo | sort -u | tr '\n' ' ' | sed 's/ $//')), $(uname -r);"
  echo "  measured $(date -u '+%Y-%m-%d %H:%M UTC') at nnc $REV;"
  echo "  load average before the section: $(cut -d' ' -f1-3 /proc/loadavg).$( [ "$QUICK" = 1 ] && echo ' QUICK=1 (a smoke test: few runs; not a measurement).')"
}
# torch_json SETTINGS ONLY [extra args]: PyTorch's JSON lines, one process per setting
torch_json() {
  settings=$1 only=$2
  shift 2
  [ "$have_torch" = 1 ] || { echo "bench: PyTorch not importable: no anchors" >&2; return 0; }
  for st in $settings; do
    $PY "$ROOT/bench/torch_models.py" --threads "$st" --only "$only" "$@" $( [ "$QUICK" = 1 ] && echo --quick ) \
      2>>"$work/torch.err" || echo "bench: torch_models.py --threads $st --only $only failed" >&2
  done
}
# the PyTorch settings that match nnc's thread counts
torch_settings() {
  out=""
  for t in $THREADS; do
    case $t in 1) out="$out 1" ;; 2) out="$out 1+blas2 2" ;; esac
  done
  echo "$out"
}
# splice NAME FILE: FILE (one section, markers included) replaces NAME's section of the doc
splice() {
  if [ -f "$DOC" ] && grep -q "<!-- $1:begin" "$DOC"; then
    awk -v f="$2" -v b="<!-- $1:begin" -v e="<!-- $1:end" '
      index($0, b) == 1 { while ((getline l < f) > 0) print l; skip = 1; next }
      index($0, e) == 1 { skip = 0; next }
      !skip { print }' "$DOC" >"$work/doc" && cp "$work/doc" "$DOC"
  else
    [ -f "$DOC" ] || printf '# nnc benchmarks\n\nEach section is written by scripts/bench.sh.\n' >"$DOC"
    { echo; cat "$2"; } >>"$DOC"
  fi
}
# section NAME TITLE BODY_FILE: wraps, prints, and writes the section; summary lines to $work/summary.NAME
section() {
  { echo "<!-- $1:begin (written by scripts/bench.sh $1; edit the script, not this section) -->"
    echo "## $2"; echo; cat "$3"; echo "<!-- $1:end -->"; } >"$work/sec.$1"
  echo; cat "$work/sec.$1"
  [ "${NNC_BENCH_NO_DOC:-0}" = 1 ] || splice "$1" "$work/sec.$1"
}

# ------------------------------------------------------------------ gemm
sec_gemm() {
  runs=${RUNS:-$(q 3 7)} sizes=${NNC_BENCH_SIZES:-64,128,256,512,1024,2048}
  : >"$work/gemm.rows"
  for t in 1 2; do
    # Debian's DYNAMIC_ARCH OpenBLAS misdetects this VM's core without OPENBLAS_CORETYPE.
    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t \
      "$BUILD/bench/gemm_bench" -t "$t" -r "$runs" -n "$sizes" >>"$work/gemm.rows"
  done
  OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
    "$BUILD/bench/gemm_bench" -t 1 -r "$runs" -n "$sizes" -c 1 >"$work/gemm.cpu"
  info=$(grep -m1 '^<!--' "$work/gemm.rows" | sed 's/<!-- //; s/, [0-9] thread.*//')
  { machine
    echo "- What: C = A B, square n x n, row-major, no transposes, alpha = 1, beta = 0;"
    echo "  GFLOP/s = 2 n^3 / time. Median of $runs runs per point; each run repeats the call for"
    echo "  at least 20 ms; nnc and OpenBLAS alternate run by run (bench/gemm_bench.c)."
    echo "- Versions: $info."
    echo "- OpenBLAS with OPENBLAS_CORETYPE=SkylakeX (without it this VM gets a ~31 GFLOP/s kernel)"
    echo "  and OPENBLAS_NUM_THREADS = threads; nnc with OMP_NUM_THREADS = threads."
    echo
    echo "| n | threads | nnc GFLOP/s | OpenBLAS GFLOP/s | nnc / OpenBLAS |"
    echo "|---:|---:|---:|---:|---:|"
    grep '^|' "$work/gemm.rows" | sed 's/ <!--.*//'
    echo
    echo "One thread again, timed with the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID): time the OS"
    echo "gives to other jobs is not counted (steadier on a shared machine):"
    echo
    echo "| n | threads | nnc GFLOP/s | OpenBLAS GFLOP/s | nnc / OpenBLAS |"
    echo "|---:|---:|---:|---:|---:|"
    grep '^|' "$work/gemm.cpu" | sed 's/ <!--.*//'
  } >"$work/gemm.md"
  section gemm "SGEMM: nnc vs OpenBLAS" "$work/gemm.md"
  # targets: one thread (the wall-clock table), >= 0.9x for n >= 256, >= 0.8x for n = 64..128
  grep '^| [0-9]* | 1 |' "$work/gemm.rows" | awk -F'|' '
    { n = $2 + 0; r = $6 + 0; if ($6 ~ /-/) next
      if (n >= 256) { if (!big || r < lo) lo = r; big = 1 } else { if (!small || r < ls) ls = r; small = 1 } }
    function v(r, t) { return r >= t ? "met" : sprintf("missed by %.0f %%", 100 * (1 - r / t)) }
    END { if (big) printf "sgemm >= 0.9x OpenBLAS for n >= 256 (1 thread)|%.2f (lowest n >= 256)|%s\n", lo, v(lo, 0.9)
          if (small) printf "sgemm >= 0.8x OpenBLAS for n = 64-128 (1 thread)|%.2f (lowest)|%s\n", ls, v(ls, 0.8) }' \
    >"$work/summary.gemm"
}

# ------------------------------------------------------------------ models
# nnc_epoch FILE THREADS STEPS: "seconds accuracy cpu_s" of one nnc run (STEPS > 0: scaled)
nnc_epoch() {
  extra="" per=468
  [ "$1" = fashion_cnn ] && per=937
  [ "$3" -gt 0 ] && extra="--steps=$3"
  OMP_NUM_THREADS=$2 /usr/bin/time -f "cpu %U %S" -o "$work/time.txt" \
    "$NNC" "$ROOT/examples/$1.nn" --epochs=1 --no-save $extra --metrics="$work/m.csv" >"$work/out.txt" 2>&1 || true
  cpu=$(awk '/^cpu/ { print $2 + $3 }' "$work/time.txt")
  if [ "$3" -gt 0 ]; then
    # the process's CPU time includes data loading and compiling: not scaled, not reported
    awk -v s="$3" -v p="$per" '/^trained/ { print $5 * p / s, "null", "null" }' "$work/out.txt"
  else
    # the training seconds ("train T s)" at the end), like PyTorch's loop: no evaluation
    awk -v c="$cpu" '/^epoch 1:/ { for (i = 1; i <= NF; i++) if ($i == "accuracy") a = $(i + 1)
      t = $(NF - 1); print t, a, c }' "$work/out.txt"
  fi
}
sec_models() {
  runs=${RUNS:-$(q 1 3)} cnn_steps=${CNN_STEPS:-$(q 50 0)}
  : >"$work/models.json"
  for t in $THREADS; do
    for m in fashion_mlp fashion_cnn; do
      st=0
      [ "$m" = fashion_cnn ] && st=$cnn_steps
      : >"$work/times" ; : >"$work/cpus"; acc=null
      for r in $(seq "$runs"); do
        set -- $(nnc_epoch "$m" "$t" "$st") "" "" ""
        [ -n "$1" ] || { echo "bench: nnc $m failed: $(tail -1 "$work/out.txt")" >&2; continue; }
        echo "$1" >>"$work/times"; echo "$3" >>"$work/cpus"; acc=$2
      done
      b=mlp_epoch; [ "$m" = fashion_cnn ] && b=cnn_epoch
      cm=$(grep -v null "$work/cpus" | median)
      [ -s "$work/times" ] && echo "{\"bench\": \"$b\", \"impl\": \"nnc\", \"threads\": $t, \"median\": $(median <"$work/times"), \"cpu_median\": ${cm:-null}, \"accuracy\": $acc}" >>"$work/models.json"
    done
  done
  eb=""
  [ "$cnn_steps" -gt 0 ] && eb="--epoch-batches $cnn_steps"
  torch_json "$(torch_settings)" mlp_epoch,cnn_epoch --epoch-runs "$runs" $eb >>"$work/models.json"
  : >"$work/summary.models"
  { machine
    echo "- Seconds per epoch (MLP batch 128, CNN batch 64) and accuracy on the 10,000 test images"
    echo "  after that one epoch; medians of $runs runs. nnc: \`nnc examples/fashion_{mlp,cnn}.nn --epochs=1\`"
    echo "  with OMP_NUM_THREADS = threads (its \"epoch 1: ... (S s, train T s)\" line: T, the training"
    echo "  alone, as PyTorch's loop is timed; CPU = the whole process,"
    echo "  data loading, compile and evaluation included; not given for scaled epochs). PyTorch:"
    echo "  bench/torch_models.py, the same"
    echo "  models, optimizer and batches, its fastest setting on as many cores."
    [ "$cnn_steps" -gt 0 ] && echo "- CNN epochs timed on their first $cnn_steps steps and scaled to 937 (no accuracy)."
    echo
    $PY "$ROOT/bench/bench_report.py" models "$work/models.json" "$work/summary.models"
  } >"$work/models.md"
  section models "Training: nnc vs PyTorch" "$work/models.md"
}

# ------------------------------------------------------------------ lstm
sec_lstm() {
  steps=${LSTM_STEPS:-$(q 2 5)}
  : >"$work/lstm.json"
  for t in $THREADS; do
    OMP_NUM_THREADS=$t "$BUILD/bench/lstm_bench" --steps="$steps" >>"$work/lstm.json" 2>>"$work/lstm.err" || true
  done
  torch_json "$(torch_settings)" lstm_step --lstm-steps "$steps" >>"$work/lstm.json"
  : >"$work/summary.lstm"
  { machine
    echo "- One training step of a one-layer LSTM over xs [B, T, in] from a zero state: forward over T,"
    echo "  loss = mean(h^2) over every state, backward, SGD (lr 0.01). nnc: bench/lstm_bench.c through"
    echo "  nnc.h on bench/lstm_step.nn (PyTorch's cell; tests/api/test_lstm_bench.c checks its loss and"
    echo "  gradients). PyTorch: bench/torch_models.py, nn.LSTM and a hand-written nn.LSTMCell loop."
    echo "  Median wall ms of $steps steps after one warm-up step; CPU = all threads of the process."
    echo
    $PY "$ROOT/bench/bench_report.py" lstm "$work/lstm.json" "$work/summary.lstm"
    if [ -s "$work/lstm.err" ]; then
      echo; echo "nnc failed on some shapes (the row shows -):"; echo
      sed 's/^/    /' "$work/lstm.err"
    fi
  } >"$work/lstm.md"
  section lstm "LSTM training step: nnc vs PyTorch" "$work/lstm.md"
}

# ------------------------------------------------------------------ latency
sec_latency() {
  runs=${RUNS:-$(q 3 7)} calls=$(q 200 2000)
  : >"$work/lat.json"
  for t in $THREADS; do
    OMP_NUM_THREADS=$t "$BUILD/bench/latency_bench" --runs="$runs" --calls="$calls" >>"$work/lat.json" \
      2>>"$work/lat.err" || true
  done
  torch_json "$(torch_settings)" mlp_latency --runs "$runs" >>"$work/lat.json"
  : >"$work/summary.latency"
  { machine
    echo "- Batch-1 inference of the Fashion-MNIST MLP 784-256-256-10: microseconds per call, median of"
    echo "  $runs runs of $calls calls after 100 warm-up calls. nnc (bench/latency_bench.c): the JIT through"
    echo "  the C API (nnc_run, result written in place) and the object of \`nnc -c examples/fashion_mlp.nn\`;"
    echo "  both on the same weights, their logits compared. PyTorch: the same MLP under no_grad."
    echo
    $PY "$ROOT/bench/bench_report.py" latency "$work/lat.json" "$work/summary.latency"
    [ -s "$work/lat.err" ] && { echo; sed 's/^/    /' "$work/lat.err"; }
  } >"$work/latency.md"
  section latency "Batch-1 MLP inference latency: nnc vs PyTorch" "$work/latency.md"
}

# ------------------------------------------------------------------ compile
# Every examples/*.nn and examples/*/*.nn, each in a directory holding the data it reads
# (the example's generator with small sizes, as its run.sh calls it); "compiled NAME in X s"
# of `nnc FILE --steps=1`: first with NNC_NO_CACHE=1, then a re-run from the cache.
gen_data() {  # DIR: makes the data of examples/DIR in the current directory
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
compile_s() {  # FILE [env...]: seconds of the "compiled" line, or empty
  f=$1; shift
  env "$@" OMP_NUM_THREADS=1 "$NNC" -I "$ROOT/stdlib" "$f" --steps=1 --no-save --metrics=m.csv >"$work/c.out" 2>&1 || true
  awk '/^compiled/ { print $4 }' "$work/c.out"
}
sec_compile() {
  runs=${RUNS:-$(q 1 3)}
  gens=""
  for d in "$ROOT"/examples/*/; do
    [ -f "$d/CMakeLists.txt" ] && gens="$gens $(sed -n 's/^add_executable(\([a-z0-9_]*gen[a-z0-9_]*\) .*/\1/p' "$d/CMakeLists.txt")"
  done
  cmake --build "$BUILD" --target $gens >>"$work/build.log" 2>&1 || echo "bench: some example generators did not build" >&2
  : >"$work/compile.rows"
  for f in "$ROOT"/examples/*.nn "$ROOT"/examples/*/*.nn; do
    rel=${f#"$ROOT/"} dir=$(basename "$(dirname "$f")")
    [ "$dir" = examples ] && dir=top
    mkdir -p "$work/ex/$dir"
    ( cd "$work/ex/$dir"
      [ -f .made ] || { gen_data "$dir" >gen.log 2>&1 || true; touch .made; }
      : >"$work/first"
      for r in $(seq "$runs"); do
        s=$(compile_s "$f" NNC_NO_CACHE=1); [ -n "$s" ] && echo "$s" >>"$work/first"
      done
      if [ ! -s "$work/first" ]; then
        why=$(grep -m1 -E 'error|cannot|No such' "$work/c.out" | cut -c1-110 | sed 's/|/\\|/g')
        echo "| $rel | - | - | - | ${why:-no compiled line} |"
      else
        compile_s "$f" >/dev/null   # fills the cache
        : >"$work/again"
        for r in $(seq "$runs"); do s=$(compile_s "$f"); [ -n "$s" ] && echo "$s" >>"$work/again"; done
        a=$(median <"$work/first") b=$(median <"$work/again" 2>/dev/null)
        echo "| $rel | $a | ${b:--} | $(awk -v a="$a" -v b="${b:-0}" 'BEGIN { printf "%.0f %%", (a > 0) ? 100 * b / a : 0 }') | |"
      fi ) >>"$work/compile.rows"
  done
  { machine
    echo "- \`nnc FILE --steps=1\`, one thread, its \"compiled NAME in X s\" line (parse, check, trace,"
    echo "  autodiff, passes, LLVM, link; data loading not counted): first with NNC_NO_CACHE=1, then a"
    echo "  re-run from a warm compile cache. Median of $runs runs each. Examples under examples/*/ run in a"
    echo "  directory holding small data from their own generator; \"-\" with a reason: no compile"
    echo "  (examples/zoneout/gradflow.nn is run by its own C driver, gradflow.c, not by the CLI)."
    echo
    echo "| example | first s | cached s | cached / first | not compiled because |"
    echo "|---|---:|---:|---:|---|"
    cat "$work/compile.rows"
  } >"$work/compile.md"
  section compile "Compile time of every example" "$work/compile.md"
  awk -F'|' '$3 ~ /[0-9]/ { n++; if ($3 + 0 > mx) { mx = $3 + 0; w = $2 } } $3 ~ /-/ { miss++ }
    END { gsub(/ /, "", w); printf "compiling any example < 1 s|%.2f s (slowest: %s; %d compiled%s)|%s\n", mx, w, n,
          miss ? ", " miss " not compiled" : "", mx < 1 ? "met" : sprintf("missed by %.0f %%", 100 * (mx - 1)) }' \
    "$work/compile.rows" >"$work/summary.compile"
}

# ------------------------------------------------------------------ bptt
sec_bptt() {
  ts=${BPTT_T:-$(q 100 "")}   # empty: the script's own default lengths and steps
  # /usr/bin first: its python3 is Debian's, the one with torch; THREADS is ours, not its
  ( unset THREADS; [ "$QUICK" = 1 ] && export STEPS=1
    PATH=/usr/bin:$PATH BENCH="$BUILD/bench/bptt_lstm_bench" sh "$ROOT/bench/bptt_run.sh" $ts ) \
    >"$work/bptt.out" 2>&1 || true
  { machine
    echo "- \`bench/bptt_run.sh${ts:+ $ts}\` (the BPTT benchmark's own script: bench/bptt_lstm_bench.c, then"
    echo "  bench/bptt_torch.py), its output as printed. Earlier runs and their discussion: the"
    echo "  hand-written section \"Memory-budgeted BPTT (LSTM, hidden 256, batch 16, input 64)\" below."
    echo
    sed 's/^## /### /' "$work/bptt.out"
  } >"$work/bptt.md"
  section bptt "Memory-budgeted BPTT (bench/bptt_run.sh)" "$work/bptt.md"
}

# ------------------------------------------------------------------ run, then the summary
for s in $sections; do
  echo "bench: == $s ($(date -u '+%H:%M:%S'))"
  "sec_$s" || echo "bench: section $s failed" >&2
done

# The summary keeps the rows of sections not run this time (each row is tagged with its section).
: >"$work/summary.rows"
if [ -f "$DOC" ] && grep -q '<!-- summary:begin' "$DOC"; then
  awk '/<!-- summary:begin/ { s = 1 } /<!-- summary:end/ { s = 0 } s && /<!-- s:/' "$DOC" >"$work/summary.old"
  for sec in $ALL; do
    if has "$sec"; then
      [ -f "$work/summary.$sec" ] && awk -F'|' -v s="$sec" '{ printf "| %s | %s | %s | %s <!-- s:%s --> |\n", $1, $2, $3, s, s }' \
        "$work/summary.$sec" >>"$work/summary.rows"
    else
      grep "<!-- s:$sec -->" "$work/summary.old" >>"$work/summary.rows" || true
    fi
  done
else
  for sec in $ALL; do
    [ -f "$work/summary.$sec" ] && awk -F'|' -v s="$sec" '{ printf "| %s | %s | %s | %s <!-- s:%s --> |\n", $1, $2, $3, s, s }' \
      "$work/summary.$sec" >>"$work/summary.rows"
  done
fi
{ echo "<!-- summary:begin (written by scripts/bench.sh; edit the script, not this section) -->"
  echo "## Summary: the targets of issue 4"
  echo
  echo "Ratios are nnc / anchor (lower is better, except sgemm where it is nnc's share of OpenBLAS's"
  echo "GFLOP/s), medians from one run of each section, the same thread count on both sides; a"
  echo "PyTorch target gives its ratio at every thread count measured (each side on as many cores)"
  echo "and says at which it is met. Last run: $(date -u '+%Y-%m-%d %H:%M UTC'),"
  echo "sections \`$(echo $sections)\`$( [ "$QUICK" = 1 ] && echo ', QUICK=1 (smoke test, not a measurement)')."
  echo
  echo "| target | measured | verdict | section |"
  echo "|---|---|---|---|"
  cat "$work/summary.rows"
  echo "<!-- summary:end -->"
} >"$work/summary.md"
echo; cat "$work/summary.md"
if [ "${NNC_BENCH_NO_DOC:-0}" != 1 ]; then
  if [ -f "$DOC" ] && grep -q '<!-- summary:begin' "$DOC"; then
    splice summary "$work/summary.md"
  else
    [ -f "$DOC" ] || printf '# nnc benchmarks\n\nEach section is written by scripts/bench.sh.\n' >"$DOC"
    awk -v f="$work/summary.md" 'NR == 1 { print; print ""; while ((getline l < f) > 0) print l; next } { print }' \
      "$DOC" >"$work/doc" && cp "$work/doc" "$DOC"
  fi
  echo "bench: wrote $DOC"
fi
