#!/usr/bin/env bash
# run.sh — frequency discrimination of Neil, Pfeiffer & Liu 2016 (task 1): Phased LSTM vs
# LSTM (given the normalized time as an input), 64 units, under three samplings.
#
#   examples/phased_lstm/run.sh [BUILD_DIR]       (default: build/ at the repository root)
#   env: CONDS="1ms 0.1ms async", EPOCHS_1MS=30, EPOCHS_01MS=2, EPOCHS_ASYNC=30,
#        OUT=phased_lstm.out, THREADS=1, SEED=1 (initialization and shuffling)
#
# Writes OUT/<cond>/{plstm,lstm}.csv, OUT/accuracy_<cond>.svg, and prints test accuracy
# after the first and the last epoch, the epochs each model needed to reach 85 %, and the
# Phased LSTM's open fraction (units with k > 0) on the test set, with wall and CPU seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
conds=${CONDS:-1ms 0.1ms async} threads=${THREADS:-1} seed=${SEED:-1}
out=${OUT:-phased_lstm.out}
mkdir -p "$out"
cd "$out"
cpu_now() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15 + $16 + $17) / hz }' /proc/$$/stat; }
acc_at() { awk -F, -v e="$2" 'NR == e + 1 { printf "%.1f", $5 * 100 }' "$1"; }
acc_last() { awk -F, 'END { printf "%.1f", $5 * 100 }' "$1"; }
reach() { awk -F, 'NR > 1 && $5 >= 0.85 && !r { r = $1 } END { print r ? r : "never" }' "$1"; }
summary=""
for c in $conds; do
  case $c in
    1ms) steps=15 epochs=${EPOCHS_1MS:-30} ;;
    0.1ms) steps=150 epochs=${EPOCHS_01MS:-2} ;;
    async) steps=15 epochs=${EPOCHS_ASYNC:-30} ;;
    *) echo "unknown condition $c" >&2; exit 2 ;;
  esac
  mkdir -p "$c/data"
  "$build/examples/phased_lstm/phased_lstm_gen" "$c/data" "$c"
  for m in plstm lstm plstm_gates; do
    sed "s/^const steps = 15$/const steps = $steps/" "$here/$m.nn" > "$c/$m.nn"
  done
  for m in plstm lstm; do
    echo "== $c: $m, $epochs epochs"
    t0=$(date +%s.%N) c0=$(cpu_now)
    (cd "$c" && "$build/nnc" -I "$root/stdlib" $m.nn --epochs="$epochs" --threads="$threads" --seed="$seed" \
       --metrics=$m.csv --save=$m.safetensors > $m.log)
    grep -E '^(compiled|epoch [0-9]+:)' "$c/$m.log" | sed -n '1,2p;$p'
    t1=$(date +%s.%N) c1=$(cpu_now)
    eval "wall_$m=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')"
    eval "cpu_$m=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.0f", b - a }')"
  done
  (cd "$c" && "$build/nnc" -I "$root/stdlib" plstm_gates.nn --load=plstm.safetensors --epochs=1 \
     --threads="$threads" --no-save --metrics=gates.csv > gates.log)
  open=$(awk -F, 'END { printf "%.4f", $5 }' "$c/gates.csv")
  "$here/../fast_weights/plot.sh" "accuracy_$c.svg" "Frequency discrimination, $c sampling: test accuracy" \
    epoch eval_metric "Phased LSTM=$c/plstm.csv" "LSTM=$c/lstm.csv"
  summary+=$(printf '%-6s %6s %11s %11s %11s %11s %9s %9s %8s %11s\n' "$c" "$epochs" \
    "$(acc_at $c/plstm.csv 1)" "$(acc_last $c/plstm.csv)" "$(acc_at $c/lstm.csv 1)" "$(acc_last $c/lstm.csv)" \
    "$(reach $c/plstm.csv)" "$(reach $c/lstm.csv)" "$open" "$wall_plstm/$cpu_plstm $wall_lstm/$cpu_lstm")$'\n'
done
echo
echo "frequency discrimination, 4000 train / 1000 test, H=64, batch 32 (accuracy %, test set)"
printf '%-6s %6s %11s %11s %11s %11s %9s %9s %8s %11s\n' cond epochs "PLSTM ep1" "PLSTM last" "LSTM ep1" \
  "LSTM last" "PLSTM 85%" "LSTM 85%" "open" "wall/cpu s"
printf '%s' "$summary"
echo
echo "paper: Phased LSTM ~90 % in all three samplings, clearly above LSTM when asynchronous;"
echo "calibration gates: 0.1ms PLSTM >= 85 % after epoch 1 and reaches 85 % in fewer epochs;"
echo "open fraction in [0.03, 0.08]; both >= 85 % at 30 epochs in 1ms and async."
