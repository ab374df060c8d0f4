#!/usr/bin/env bash
# run.sh — the zoneout experiments (Krueger et al. 2016), settings of the calibration in
# shared/models.md:
#  (b) gradient flow at initialization: ||d loss / d c~_t|| for t = 1..196 on permuted
#      sequential Fashion-MNIST 14 x 14, LSTM 64, zoneout z_c = z_h = 0.15 vs none, the same
#      weights (gradflow.c on the interpreter; OUT/gradflow.svg);
#  (a) character LM on fortunes (50 KB train / 50 KB validation, split by fortune), H = 256,
#      50 epochs: none / recurrent dropout p = 0.25 / zoneout z_c = 0.5, z_h = 0.05; best
#      validation bits per character (OUT/bpc.svg).
#
#   examples/zoneout/run.sh [BUILD_DIR]     (default: build/ at the repository root)
#   env: PARTS="b a", N=32 (images for b), EPOCHS=50, OUT=zoneout.out, THREADS=1
#
# Part (a) needs the JIT to run random ops (tests/models/repro/jit_random_seed_slot.nn);
# until then nnc stops with "a leaf of the compiled function is not bound" and the table
# says so.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
parts=${PARTS:-b a} n=${N:-32} epochs=${EPOCHS:-50} threads=${THREADS:-1}
out=${OUT:-zoneout.out}
mkdir -p "$out"
cd "$out"
cpu_now() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15 + $16 + $17) / hz }' /proc/$$/stat; }
for part in $parts; do
  if [ "$part" = b ]; then
    echo "== (b) gradient flow at initialization, $n images"
    t0=$(date +%s) c0=$(cpu_now)
    "$build/examples/zoneout/zoneout_gradflow" "$here/gradflow.nn" . "$n" 1 | tee gradflow.txt
    echo "(b) took $(( $(date +%s) - t0 )) s wall, $(awk -v a="$c0" -v b="$(cpu_now)" 'BEGIN { printf "%.0f", b - a }') s CPU"
    awk -F, 'NR == 1 { print "step,log10_grad_norm"; next } { printf "%s,%.4f\n", $1, log($2) / log(10) }' Zoneout.csv > zoneout_log.csv
    awk -F, 'NR == 1 { print "step,log10_grad_norm"; next } { printf "%s,%.4f\n", $1, log($2) / log(10) }' Plain.csv > plain_log.csv
    "$here/../fast_weights/plot.sh" gradflow.svg "Zoneout (b): log10 ||dL/dc~_t|| at initialization" step \
      log10_grad_norm "zoneout 0.15=zoneout_log.csv" "no zoneout=plain_log.csv"
  fi
  if [ "$part" = a ]; then
    "$build/examples/zoneout/zoneout_gen" corpus.txt
    summary=""
    for m in none recdrop zoneout; do
      echo "== (a) $m, $epochs epochs"
      t0=$(date +%s) c0=$(cpu_now)
      if "$build/nnc" -I "$root/stdlib" "$here/$m.nn" --epochs="$epochs" --threads="$threads" \
           --metrics="$m.csv" --save="$m.safetensors" > "$m.log" 2>&1; then
        best=$(awk -F, 'NR > 1 && ($4 < b || NR == 2) { b = $4 } END { printf "%.3f", b / log(2) }' "$m.csv")
        last=$(awk -F, 'END { printf "%.3f", $4 / log(2) }' "$m.csv")
      else
        best="failed" last="($(grep -m1 error "$m.log" | cut -c1-60))"
      fi
      summary+=$(printf '%-9s %10s %10s %7s %7s' "$m" "$best" "$last" "$(( $(date +%s) - t0 ))" \
        "$(awk -v a="$c0" -v b="$(cpu_now)" 'BEGIN { printf "%.0f", b - a }')")$'\n'
    done
    for m in none recdrop zoneout; do
      [ -s "$m.csv" ] && awk -F, 'NR == 1 { print "epoch,valid_bpc"; next } { printf "%s,%.4f\n", $1, $4 / log(2) }' "$m.csv" > "${m}_bpc.csv"
    done
    ls ./*_bpc.csv > /dev/null 2>&1 && "$here/../fast_weights/plot.sh" bpc.svg "Zoneout (a): validation bits per character" \
      epoch valid_bpc $(for m in none recdrop zoneout; do [ -s "${m}_bpc.csv" ] && echo "$m=${m}_bpc.csv"; done)
    echo
    echo "(a) character LM, fortunes 50 KB / 50 KB, H=256, $epochs epochs (validation bits per character)"
    printf '%-9s %10s %10s %7s %7s\n' model "best bpc" "last bpc" "wall s" "cpu s"
    printf '%s' "$summary"
    echo "calibration (PyTorch): zoneout 2.878 < none 2.934 - 0.03; zoneout <= recdrop + 0.02"
  fi
done
