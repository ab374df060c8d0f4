#!/bin/sh
# Builds the libFuzzer targets (tests/fuzz/) with clang-19 + ASan/UBSan in build-fuzz/ and
# runs each one for SECONDS seconds (default 60) on one core, one after the other.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     TARGET: lang compile repl weights npy idx csv
# Each target starts from its committed seeds (tests/fuzz/corpus/<t>/, plus the .nn files
# of stdlib/, examples/ and tests/lang/ for lang and compile) and grows a working corpus
# in build-fuzz/corpus/<t>/ (kept between runs). First the committed regression inputs
# (tests/fuzz/regress/<t>/: crashes found and fixed) are replayed. Exits 1 if any target
# crashed, leaked, hit UB or timed out; the reproducer is in build-fuzz/artifacts/.
# Prints one summary line per target: executions, coverage (edges) and features.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECS=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-"lang compile repl weights npy idx csv"}
B=${NNC_FUZZ_BUILD_DIR:-build-fuzz}

# clang-19 -fopenmp needs an omp.h; LLVM 14's libomp (preinstalled) serves, behind a shim
# (its omp.h uses intptr_t without including <stdint.h>). libomp-19-dev would do too, but
# it uninstalls libomp-dev (14).
OMP_H=/usr/lib/llvm-14/lib/clang/14.0.6/include/omp.h
OMP_LIB=/usr/lib/llvm-14/lib/libomp.so
mkdir -p "$B/omp"
printf '#include <stdint.h>\n#include "%s"\n' "$OMP_H" >"$B/omp/omp.h"

if [ ! -f "$B/build.ninja" ]; then
  CC=clang-19 cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DNNC_FUZZ=ON -DNNC_SANITIZE=ON -DNNC_FUZZ_OMP14=ON \
    "-DOpenMP_C_FLAGS=-fopenmp -I$ROOT/$B/omp" -DOpenMP_C_LIB_NAMES=omp \
    "-DOpenMP_omp_LIBRARY=$OMP_LIB" "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath,$(dirname $OMP_LIB)" \
    >"$B/configure.log"
fi
exes=""
for t in $TARGETS; do exes="$exes fuzz_$t"; done
# shellcheck disable=SC2086 # a word list
cmake --build "$B" --target $exes -j "${NNC_FUZZ_JOBS:-2}" >"$B/build.log" 2>&1 ||
  { tail -30 "$B/build.log"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1
mkdir -p "$B/artifacts" "$B/logs"
fail=0
for t in $TARGETS; do
  exe="$B/tests/fuzz/fuzz_$t"
  [ -x "$exe" ] || { echo "fuzz: no target $t"; fail=1; continue; }
  seeds="tests/fuzz/corpus/$t"
  case $t in
    lang|compile) seeds="$seeds stdlib examples tests/lang/golden tests/lang/bad" ;;
  esac
  dict=""
  [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
  case $t in lang|compile) dict="-dict=tests/fuzz/nn.dict" ;; esac
  if [ -d "tests/fuzz/regress/$t" ] && [ -n "$(ls "tests/fuzz/regress/$t")" ]; then
    "$exe" -timeout=10 -rss_limit_mb=2048 "tests/fuzz/regress/$t"/* >"$B/logs/$t.regress.log" 2>&1 ||
      { echo "fuzz: $t: a regression input fails again (see $B/logs/$t.regress.log)"; fail=1; continue; }
  fi
  mkdir -p "$B/corpus/$t"
  # libFuzzer exits when a seed directory is missing: keep only those that exist
  keep=""
  for d in $seeds; do [ -e "$d" ] && keep="$keep $d"; done
  seeds=$keep
  log="$B/logs/$t.log"
  # shellcheck disable=SC2086 # seeds and dict are word lists
  if "$exe" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
      -max_len=8192 -print_final_stats=1 -artifact_prefix="$B/artifacts/$t-" $dict \
      "$B/corpus/$t" $seeds >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    fail=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
  echo "fuzz: $t: $status, ${SECS}s, ${execs:-?} execs, cov ${cov:-?} edges, ft ${ft:-?}, corpus ${corp:-?}"
  [ $status = ok ] || grep -m3 -E 'ERROR:|runtime error|SUMMARY|Test unit written' "$log" || true
done
exit $fail
