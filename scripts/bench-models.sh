#!/bin/sh
# The model benchmarks of issue 4 (Fashion-MNIST MLP and CNN against PyTorch, compile time
# of every example): now two sections of scripts/bench.sh, which this runs. Its variables
# (RUNS, CNN_STEPS, THREADS, QUICK, NNC_BENCH_BUILD, NNC_BENCH_NO_DOC) apply.
exec sh "$(dirname "$0")/bench.sh" models compile
