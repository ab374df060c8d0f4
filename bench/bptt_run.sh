#!/bin/sh
# bench/bptt_run.sh [T ...] — nnc's checkpointed BPTT and PyTorch side by side (one run):
# bench/bptt_lstm_bench.c (build target bptt_lstm_bench, bench/bptt.cmake) then
# bench/bptt_torch.py. BENCH=path/to/bptt_lstm_bench overrides the binary's location.
BENCH=${BENCH:-build/bench/bptt_lstm_bench}
echo "## nnc"; "$BENCH" "$@" --steps=${STEPS:-2}
echo; echo "## PyTorch"; python3 "$(dirname "$0")/bptt_torch.py" "$@" --steps=${STEPS:-2}
echo; echo "host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load: $(cut -d' ' -f1-3 /proc/loadavg)"
