#!/usr/bin/env bash
# Runs the LeNet trainer under `mpirun -np 2` with the arguments it takes
# alone: it must print its progress and its test accuracy once, write its
# files once, and stop both ranks with a clear message on bad input.
# Usage: lenet_mpi.sh MPIRUN LENET_MNIST DATA_DIR WORK_DIR
set -euo pipefail
mpirun=$1 lenet=$2 data=$3 work=$4
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAILED: $*" >&2; exit 1; }
run2() { timeout 120 "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$@"; }

if [[ ! -f "$data/t10k-images-idx3-ubyte.gz" ]]; then
  echo "no MNIST files in $data: skipped"
  exit 0
fi
run2 "$lenet" --data "$data" --split 1500 --test-limit 500 --epochs 1 --progress lines --out "$work/run" \
  >"$work/train.txt"
cat "$work/train.txt"
[[ $(grep -c "test accuracy" "$work/train.txt") -eq 1 ]] || fail "'test accuracy' not printed exactly once"
[[ $(grep -c "^epoch 1/1" "$work/train.txt") -eq 1 ]] || fail "the epoch line not printed exactly once"
grep -q "in each of 2 ranks" "$work/train.txt" || fail "the trainer did not say it runs in 2 ranks"
for f in lenet.fovea conv1_filters.png loss.svg history.csv; do
  [[ -s "$work/run/$f" ]] || fail "the trainer did not write $f"
done
echo "ok: trained in 2 ranks, printed and wrote once"

status=0
run2 "$lenet" --data "$work/no-such-folder" --epochs 1 >"$work/out.txt" 2>"$work/err.txt" || status=$?
[[ $status -ne 0 && $status -ne 124 ]] || fail "a missing data folder: status $status"
grep -q "no MNIST-format data found" "$work/err.txt" || { cat "$work/err.txt"; fail "no message for missing data"; }
echo "ok: missing data stops both ranks"
