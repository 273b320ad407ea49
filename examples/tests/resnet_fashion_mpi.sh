#!/usr/bin/env bash
# Runs the ResNet-8 trainer under `mpirun -np 2` with the arguments it takes
# alone, on a slice of Fashion-MNIST: it must print its progress and its last
# line once, write its files once, and stop both ranks with a clear message
# on bad input. Usage: resnet_fashion_mpi.sh MPIRUN RESNET_FASHION WORK_DIR
set -euo pipefail
mpirun=$1 resnet=$2 work=$3
data=/usr/share/datasets/fashion-mnist
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAILED: $*" >&2; exit 1; }
run2() { timeout 240 "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$@"; }

if [[ ! -f "$data/train-images-idx3-ubyte.gz" && ! -f "$data/train-images-idx3-ubyte" ]]; then
  echo "no Fashion-MNIST in $data (apt-get install dataset-fashion-mnist): skipped"
  exit 0
fi
run2 "$resnet" --data "$data" --train-limit 1024 --val 2000 --epochs 1 --batch-size 64 --progress lines \
  --out "$work/run" >"$work/train.txt"
cat "$work/train.txt"
[[ $(grep -c "^test accuracy [0-9.]*% ([0-9,]*/10,000)$" "$work/train.txt") -eq 1 ]] ||
  fail "the 'test accuracy' line not printed exactly once"
[[ $(tail -n 1 "$work/train.txt") == "test accuracy "* ]] || fail "'test accuracy' is not the last line"
[[ $(grep -c "^epoch 1/1" "$work/train.txt") -eq 1 ]] || fail "the epoch line not printed exactly once"
grep -q ", 2 ranks" "$work/train.txt" || fail "the trainer did not say it runs in 2 ranks"
for f in resnet8.fovea relu_maps.png loss.svg accuracy.svg history.csv; do
  [[ -s "$work/run/$f" ]] || fail "the trainer did not write $f"
done
echo "ok: trained in 2 ranks, printed and wrote once"

status=0
run2 "$resnet" --data "$work/no-such-folder" --epochs 1 >"$work/out.txt" 2>"$work/err.txt" || status=$?
[[ $status -ne 0 && $status -ne 124 ]] || fail "a missing data folder: status $status"
grep -q "no folder with the four Fashion-MNIST idx files" "$work/err.txt" ||
  { cat "$work/err.txt"; fail "no message for missing data"; }
echo "ok: missing data stops both ranks"
