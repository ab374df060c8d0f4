#!/bin/sh
# Builds the whole test suite with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DNNC_SANITIZE=ON: -fno-sanitize-recover=all, so UB fails the test) in build-asan/ and
# runs it. Fails on a failing test AND on any sanitizer report in any test's output:
# a LeakSanitizer report inside a Criterion test does not fail that test by itself
# (shared/notes/toolchain.md section 7), so the output is searched for it.
#   scripts/sanitize.sh [ctest args...]      e.g. scripts/sanitize.sh -R rt_
set -eu
cd "$(dirname "$0")/.."
B=${NNC_ASAN_BUILD_DIR:-build-asan}
JOBS=${NNC_JOBS:-2}

mkdir -p "$B"
if [ ! -f "$B/build.ninja" ]; then
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNNC_SANITIZE=ON >"$B/configure.log" 2>&1 ||
    { cat "$B/configure.log"; exit 1; }
fi
cmake --build "$B" -j "$JOBS" >"$B/build.log" 2>&1 || { tail -40 "$B/build.log"; exit 1; }

# allocator_may_return_null: a 16 TB request (tests/robust, model_too_large_for_memory) must
# return NULL as malloc does, not stop the process.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# tests/lsan.supp: leaks inside third-party code (Criterion's runner), each with its reason.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
log="$B/ctest.log"
rc=0
(cd "$B" && ctest -V -j "$JOBS" --timeout 900 "$@" </dev/null) >"$log" 2>&1 || rc=$?
grep -E '(tests passed|tests failed|Total Test time)' "$log" | tail -3 || true
if grep -qE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$log"; then
  echo "sanitize: sanitizer reports (see $log):"
  grep -nE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:|SUMMARY: ' "$log" | head -40
  rc=1
fi
if [ $rc -ne 0 ]; then
  grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(\*\*\*|Failed|Timeout)' "$log" | head -40 || true
  echo "sanitize: FAILED"
  exit 1
fi
echo "sanitize: clean"
