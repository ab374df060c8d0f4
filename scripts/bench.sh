#!/bin/sh
# Builds bench/gemm_bench, runs it for 1 and 2 threads against OpenBLAS, and writes the
# GEMM section of docs/benchmarks.md (between the gemm:begin / gemm:end markers; other
# sections are left alone).
#   RUNS=n (default 7) runs per point; NNC_BENCH_BUILD=dir (default build-bench);
#   NNC_BENCH_SIZES=64,128,... ; NNC_BENCH_NO_DOC=1 prints the table only.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${NNC_BENCH_BUILD:-$ROOT/build-bench}
RUNS=${RUNS:-7}
SIZES=${NNC_BENCH_SIZES:-64,128,256,512,1024,2048}
DOC=$ROOT/docs/benchmarks.md

sh "$ROOT/scripts/bench-setup.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DNNC_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target gemm_bench >/dev/null

load=$(cut -d' ' -f1-3 /proc/loadavg)
rows=$(mktemp)
trap 'rm -f "$rows" "$rows.doc" "$rows.cpu"' EXIT
for t in 1 2; do
  # Debian's DYNAMIC_ARCH OpenBLAS misdetects this VM's core without OPENBLAS_CORETYPE.
  OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t \
    "$BUILD/bench/gemm_bench" -t "$t" -r "$RUNS" -n "$SIZES" | tee -a "$rows"
done
# One thread again, timed with the thread's CPU clock: time the OS gives to other jobs
# does not count, so this is the steadier number on a busy machine.
OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
  "$BUILD/bench/gemm_bench" -t 1 -r "$RUNS" -n "$SIZES" -c 1 | tee "$rows.cpu"
[ "${NNC_BENCH_NO_DOC:-0}" = 1 ] && exit 0

model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
cpus=$(nproc)
flags=$(grep -o -w -E 'avx512f|avx2|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')
info=$(grep -m1 '^<!--' "$rows" | sed 's/<!-- //; s/, [0-9] thread.*//')
{
  echo "<!-- gemm:begin (written by scripts/bench.sh; edit the script, not this section) -->"
  echo "## SGEMM: nnc vs OpenBLAS"
  echo
  echo "- Machine: $model, $cpus vCPUs ($flags), $(uname -r); measured $(date -u '+%Y-%m-%d %H:%M UTC'),"
  echo "  load average before the run: $load."
  echo "- What: C = A B, square n x n, row-major, no transposes, alpha = 1, beta = 0;"
  echo "  GFLOP/s = 2 n^3 / time. Median of $RUNS runs per point; each run repeats the call for"
  echo "  at least 20 ms; nnc and OpenBLAS alternate run by run (bench/gemm_bench.c)."
  echo "- Versions: $info."
  echo "- OpenBLAS runs with OPENBLAS_CORETYPE=SkylakeX (its AVX-512 kernels; without it this VM"
  echo "  gets a ~31 GFLOP/s kernel) and OPENBLAS_NUM_THREADS = threads; nnc with OMP_NUM_THREADS."
  echo "- Caveat: a shared, noisy 2-vCPU VM: other engineers' builds and tests run at the same"
  echo "  time, so single points vary by 10-30 % (medians help; read the ratios, not the third"
  echo "  digit). Two threads need the second vCPU free: under load both libraries lose most"
  echo "  of it, and nnc runs GEMMs under 2*320^3 flops on one thread for that reason."
  echo
  echo "| n | threads | nnc GFLOP/s | OpenBLAS GFLOP/s | nnc / OpenBLAS |"
  echo "|---:|---:|---:|---:|---:|"
  grep '^|' "$rows" | sed 's/ <!--.*//'
  echo
  echo "The same, one thread, timed with the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID):"
  echo "time the OS gives to other jobs is not counted, so these are steadier here; above"
  echo "~175 GFLOP/s means the core ran at a higher clock than when the peak was measured."
  echo
  echo "| n | threads | nnc GFLOP/s | OpenBLAS GFLOP/s | nnc / OpenBLAS |"
  echo "|---:|---:|---:|---:|---:|"
  grep '^|' "$rows.cpu" | sed 's/ <!--.*//'
  echo "<!-- gemm:end -->"
} > "$rows.doc"

if [ -f "$DOC" ] && grep -q '<!-- gemm:begin' "$DOC"; then
  awk -v f="$rows.doc" '
    /<!-- gemm:begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
    /<!-- gemm:end/ { skip = 0; next }
    !skip { print }' "$DOC" > "$DOC.tmp" && mv "$DOC.tmp" "$DOC"
else
  [ -f "$DOC" ] || printf '# nnc benchmarks\n\nEach section is written by the script it names.\n\n' > "$DOC"
  cat "$rows.doc" >> "$DOC"
fi
echo "bench: wrote the gemm section of $DOC"
