#!/usr/bin/env bash
# Runs the LeNet trainer and classify end to end on the shared MNIST files, then
# feeds them bad input: each failure must be one clear line and a non-zero exit.
# Usage: lenet_cli.sh LENET_MNIST CLASSIFY DATA_DIR WORK_DIR
set -euo pipefail
lenet=$1 classify=$2 data=$3 work=$4
rm -rf "$work"
mkdir -p "$work"

fail() { echo "FAILED: $*" >&2; exit 1; }

# Exit status must be non-zero and stderr must contain the text.
expect_error() {
  local text=$1
  shift
  local status=0
  "$@" >"$work/out.txt" 2>"$work/err.txt" || status=$?
  [[ $status -ne 0 ]] || fail "expected failure: $*"
  grep -q -- "$text" "$work/err.txt" || { cat "$work/err.txt" >&2; fail "expected '$text' from: $*"; }
  echo "ok: $text"
}

if [[ ! -f "$data/t10k-images-idx3-ubyte.gz" ]]; then
  echo "no MNIST files in $data: the end-to-end run is skipped"
else
  "$lenet" --data "$data" --split 1500 --test-limit 500 --epochs 1 --progress lines --out "$work/run" >"$work/train.txt"
  grep -q "test accuracy" "$work/train.txt" || fail "the trainer printed no accuracy"
  grep -q "true\\\\pred" "$work/train.txt" || fail "the trainer printed no confusion matrix"
  for f in lenet.fovea conv1_filters.png conv1_maps.png conv2_maps.png loss.svg accuracy.svg history.csv; do
    [[ -s "$work/run/$f" ]] || fail "the trainer did not write $f"
  done
  "$classify" --model "$work/run/lenet.fovea" "$work/run/input.png" >"$work/classify.txt"
  grep -q "sum of probabilities: 1.00000" "$work/classify.txt" || { cat "$work/classify.txt"; fail "probabilities do not sum to 1"; }
  grep -q "predicted:" "$work/classify.txt" || fail "classify predicted nothing"
  echo "ok: train, save, classify"

  # A corrupt idx file and a truncated one.
  mkdir -p "$work/bad"
  cp "$data/t10k-labels-idx1-ubyte.gz" "$work/bad/"
  head -c 5000 "$data/t10k-images-idx3-ubyte.gz" >"$work/bad/t10k-images-idx3-ubyte.gz"
  expect_error "error:" "$lenet" --data "$work/bad" --epochs 1 --progress none --out "$work/bad-out"
  # A model for another network.
  "$lenet" --data "$data" --split 200 --test-limit 100 --epochs 1 --fc 50 --progress none --out "$work/other" >/dev/null
  "$classify" --model "$work/other/lenet.fovea" "$work/run/input.png" >/dev/null || fail "classify failed on a valid smaller model"
  # A hidden layer of no units.
  expect_error "models::lenet5: hidden widths" "$lenet" --data "$data" --split 200 --test-limit 100 \
    --epochs 1 --fc 120 0 --progress none --out "$work/zero-fc"
fi

expect_error "no MNIST-format data found" "$lenet" --data "$work/nowhere" --epochs 1
expect_error "cannot open model file" "$classify" --model "$work/missing.fovea" "$work/missing.png"
printf 'not an image' >"$work/junk.png"
if [[ -f "$work/run/lenet.fovea" ]]; then
  expect_error "error:" "$classify" --model "$work/run/lenet.fovea" "$work/junk.png"
fi
printf 'FOVEAMDL garbage' >"$work/junk.fovea"
expect_error "error:" "$classify" --model "$work/junk.fovea" "$work/junk.png"
echo "all lenet CLI checks passed"
