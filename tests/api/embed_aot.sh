#!/bin/sh
# embed_aot.sh NNC EMBED_AOT MODEL.nn WORKDIR — trains the MLP briefly with nnc, classifies
# test images with the AOT binary (accuracy must beat chance by far), and checks from the
# dynamic section that the binary does not link LLVM.
set -e
nnc=$1 bin=$2 model=$3 dir=$4
data=/usr/share/datasets/fashion-mnist
cd "$dir"
"$nnc" "$model" --steps=30 --save=aot_mlp.safetensors --metrics=/dev/null > aot_train.log
out=$(OMP_NUM_THREADS=1 "$bin" aot_mlp.safetensors "$data" 300)
echo "$out"
acc=$(echo "$out" | sed -n 's/^accuracy \([0-9.]*\) .*/\1/p')
awk -v a="$acc" 'BEGIN { exit !(a > 0.5) }' || { echo "accuracy $acc is too low"; exit 1; }
if readelf -d "$bin" | grep -i 'NEEDED.*llvm'; then echo "the AOT binary links LLVM"; exit 1; fi
readelf -d "$bin" | grep -q NEEDED || { echo "readelf shows no dynamic section"; exit 1; }
echo "ok: no LLVM in $(readelf -d "$bin" | grep -c NEEDED) NEEDED entries"
