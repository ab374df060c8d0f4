#!/usr/bin/env bash
# run.sh — the variational dropout experiment (Gal & Ghahramani 2016), entry 38 of
# shared/models.md with the calibration's settings: character LM on fortunes (50 KB train /
# 50 KB validation, split by fortune, seed 0; the corpus generator of examples/zoneout),
# E = 64, H = 256, T = 100, batch 32, Adam 5e-3, clip 5, 50 epochs, p = 0.25, no embedding
# dropout. Runs (in parallel, one thread each): none, naive (per-step masks on input and
# output), naive + per-step recurrent, variational (per-sequence masks on input, recurrent
# state and output); then MC dropout (S = 20) against the standard approximation on the
# variational model's final weights. Prints the best validation bits per character side by
# side; writes OUT/bpc.svg and OUT/<run>_bpc.csv.
#
#   examples/variational_dropout/run.sh [BUILD_DIR]     (default: build/)
#   env: EPOCHS=50, OUT=variational_dropout.out, THREADS=1, RUNS="none naive naive_rec variational"
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
epochs=${EPOCHS:-50} threads=${THREADS:-1} out=${OUT:-variational_dropout.out}
runs=${RUNS:-none naive naive_rec variational}
mkdir -p "$out" && cd "$out" || exit 1
export OMP_NUM_THREADS=$threads
"$build/examples/zoneout/zoneout_gen" corpus.txt || exit 1
t0=$(date +%s)
for m in $runs; do
  echo "== $m, $epochs epochs"
  /usr/bin/time -f "%e %U %S" -o "$m.time" "$build/nnc" -I "$root/stdlib" "$here/$m.nn" --epochs="$epochs" \
    --threads="$threads" --metrics="$m.csv" --save="$m.safetensors" > "$m.log" 2>&1 &
done
wait
summary=""
for m in $runs; do
  if [ -s "$m.csv" ] && grep -q trained "$m.log"; then
    best=$(awk -F, 'NR > 1 && ($4 < b || NR == 2) { b = $4; e = $1 } END { printf "%.3f (epoch %d)", b / log(2), e }' "$m.csv")
    last=$(awk -F, 'END { printf "%.3f", $4 / log(2) }' "$m.csv")
  else
    best="failed" last="($(grep -m1 error "$m.log" | cut -c1-60))"
  fi
  summary+=$(printf '%-12s %18s %9s %7.0f %7.0f' "$m" "$best" "$last" "$(awk '{ print $1 }' "$m.time")" \
    "$(awk '{ print $2 + $3 }' "$m.time")")$'\n'
  awk -F, 'NR == 1 { print "epoch,valid_bpc"; next } { printf "%s,%.4f\n", $1, $4 / log(2) }' "$m.csv" > "${m}_bpc.csv" 2>/dev/null
done
mcline="MC dropout: not run (no variational.safetensors)"
if [ -s variational.safetensors ]; then
  echo "== MC dropout (S = 20) on the variational model's final weights"
  if /usr/bin/time -f "%e %U %S" -o mc.time "$build/nnc" -I "$root/stdlib" "$here/mc.nn" \
       --load=variational.safetensors --threads="$threads" --metrics=mc.csv --no-save > mc.log 2>&1; then
    mcline=$(awk -F, 'END { printf "standard approximation %.3f bpc, MC dropout (S = 20) %.3f bpc", $4 / log(2), $5 / log(2) }' mc.csv)
  else
    mcline="MC dropout failed: $(grep -m1 error mc.log | cut -c1-80)"
  fi
  mcline+=" ($(awk '{ printf "%.0f s wall, %.0f s CPU", $1, $2 + $3 }' mc.time))"
fi
"$here/../fast_weights/plot.sh" bpc.svg "Variational dropout: validation bits per character" epoch valid_bpc \
  $(for m in $runs; do [ -s "${m}_bpc.csv" ] && echo "$m=${m}_bpc.csv"; done)
echo
echo "character LM, fortunes 50 KB / 50 KB, H=256, $epochs epochs (validation bits per character)"
printf '%-12s %18s %9s %7s %7s\n' model "best bpc" "last bpc" "wall s" "cpu s"
printf '%s' "$summary"
echo "$mcline"
echo "all runs: $(( $(date +%s) - t0 )) s wall"
echo "calibration (PyTorch): variational 2.836 < naive 2.865 - 0.01; naive < none 2.934 - 0.03; MC <= standard + 0.01"
