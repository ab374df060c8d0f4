#!/bin/sh
# bench/bptt_run.sh [T ...] — nnc's checkpointed BPTT and PyTorch side by side (one run):
# bench/bptt_lstm_bench.c (build target bptt_lstm_bench, bench/bptt.cmake) then
# bench/bptt_torch.py. Default T = 100 1000 5000; QUICK=1 runs T = 100 1000 only (a
# subset for a check on a busy machine). Environment:
#   BENCH    path to bptt_lstm_bench (default build/bench/bptt_lstm_bench)
#   STEPS    timed steps per configuration, medians reported (default 5)
#   THREADS  nnc's OMP_NUM_THREADS (default 1: CPU time is the measure on a shared host)
#   PYTHON   the PyTorch anchor's interpreter (default Debian's /usr/bin/python3, torch
#            1.13, the issue's anchor), run with torch.set_num_threads(1), OpenBLAS 2
#            threads and OPENBLAS_CORETYPE=SkylakeX (its best setting here)
BENCH=${BENCH:-build/bench/bptt_lstm_bench}
PYTHON=${PYTHON:-/usr/bin/python3}
STEPS=${STEPS:-5}
if [ $# -eq 0 ]; then
  if [ -n "$QUICK" ]; then set -- 100 1000; else set -- 100 1000 5000; fi
fi
echo "## nnc (OMP_NUM_THREADS=${THREADS:-1})"
OMP_NUM_THREADS=${THREADS:-1} "$BENCH" "$@" --steps="$STEPS"
echo; echo "## PyTorch ($PYTHON)"
OPENBLAS_NUM_THREADS=2 OPENBLAS_CORETYPE=SkylakeX TORCH_THREADS=1 \
  "$PYTHON" "$(dirname "$0")/bptt_torch.py" "$@" --steps="$STEPS"
echo; echo "host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load: $(cut -d' ' -f1-3 /proc/loadavg)"
