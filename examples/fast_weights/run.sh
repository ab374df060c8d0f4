#!/usr/bin/env bash
# run.sh — the associative-retrieval experiment of Ba et al. 2016 (section 4.1), K = 4,
# H = 20: fast weights vs LSTM vs IRNN, the same steps for all three.
#
#   examples/fast_weights/run.sh [BUILD_DIR]        (default: build/ at the repository root)
#   env: STEPS=16000 (training steps per model), NTRAIN=256000 (training sequences),
#        OUT=fast_weights.out (working directory), THREADS=1,
#        MODELS="fw lstm irnn", LN_PRELIM=1 (0: the fast-weights h_0 = f(W h + C x), without layer normalization)
#
# The calibration (shared/models.md) trains on fresh random sequences every batch; the
# driver reads a fixed file, so the generator writes NTRAIN = 256k sequences up front
# (16k steps x 128 = 8 passes over them, far from the 20k set that overfits).
# Writes OUT/{fw,lstm,irnn}.csv (per-epoch metrics), OUT/error.svg (test error per step)
# and prints the final test errors side by side with wall and CPU seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
steps=${STEPS:-16000} ntrain=${NTRAIN:-256000} threads=${THREADS:-1} lnp=${LN_PRELIM:-1} models=${MODELS:-fw lstm irnn}
out=${OUT:-fast_weights.out}
mkdir -p "$out/data"
cd "$out"
"$build/examples/fast_weights/fast_weights_gen" data "$ntrain" 2000 4 1
epochs=$(( (steps * 128 + ntrain - 1) / ntrain ))
per_epoch=$(( ntrain / 128 ))
declare -A wall cpu
sed "s/embed = 100)/embed = 100, ln_preliminary = $([ "$lnp" = 0 ] && echo false || echo true))/" \
  "$here/fw.nn" > fw.nn
for m in $models; do
  src="$here/$m.nn"
  [ $m = fw ] && src=fw.nn
  echo "== $m: $epochs epochs of $per_epoch steps (stops at $steps)"
  t0=$(date +%s.%N); c0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  "$build/nnc" -I "$root/stdlib" "$src" --epochs="$epochs" --steps="$steps" --threads="$threads" \
    --metrics="$m.csv" --save="$m.safetensors" | tee "$m.log" | grep -E '^(epoch [0-9]+:|compiled|trained)'
  t1=$(date +%s.%N); c1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  wall[$m]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
  cpu[$m]=$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", (b - a) / hz }')
done
names=(); for m in $models; do case $m in fw) names+=("fast weights=fw.csv") ;; lstm) names+=("LSTM=lstm.csv") ;;
  irnn) names+=("IRNN=irnn.csv") ;; esac; done
"$here/plot.sh" error.svg "Associative retrieval (K=4, H=20): test error" step eval_metric "${names[@]}"
last() { awk -F, 'END { printf "%.2f", $5 * 100 }' "$1"; }
best() { awk -F, 'NR > 1 && ($5 < b || NR == 2) { b = $5 } END { printf "%.2f", b * 100 }' "$1"; }
echo
echo "associative retrieval, K=4, H=20, $steps steps, batch 128 (test set: 2000 sequences)"
printf '%-14s %12s %12s %8s %8s\n' model "test err %" "best err %" "wall s" "cpu s"
for m in $models; do
  printf '%-14s %12s %12s %8s %8s\n' "$m" "$(last $m.csv)" "$(best $m.csv)" "${wall[$m]}" "${cpu[$m]}"
done
[ "$models" = "fw lstm irnn" ] || exit 0
fw=$(last fw.csv) lstm=$(last lstm.csv) irnn=$(last irnn.csv)
echo
echo "paper: fast weights 1.81 % vs LSTM 60.81 %, IRNN 62.11 %"
echo "gates (calibration): FW < 10 %: $(awk -v a="$fw" 'BEGIN{print (a < 10) ? "yes" : "NO"}');" \
  "IRNN > 40 %: $(awk -v a="$irnn" 'BEGIN{print (a > 40) ? "yes" : "NO"}');" \
  "LSTM > 20 % and >= 2.5 x FW: $(awk -v a="$lstm" -v f="$fw" 'BEGIN{print (a > 20 && a >= 2.5 * f) ? "yes" : "NO"}')"
