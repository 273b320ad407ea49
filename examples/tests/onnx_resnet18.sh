#!/usr/bin/env bash
# The ONNX walkthrough end to end, without Python: the example writes a
# randomly initialised ResNet-18 as ONNX itself (its hidden --export-random),
# then imports it, classifies an image and fine-tunes a new head for a few
# steps. Checks what it prints and that it writes the fine-tuned network.
#   onnx_resnet18.sh ONNX_RESNET18 WORK_DIR [DATA_DIR]
set -euo pipefail
run=$1
work=$2
data=${3:-/usr/share/datasets/fashion-mnist}
fail() { echo "FAIL: $*" >&2; exit 1; }

if [[ ! -f "$data/train-images-idx3-ubyte.gz" && ! -f "$data/train-images-idx3-ubyte" ]]; then
  echo "no Fashion-MNIST in $data (apt-get install dataset-fashion-mnist): skipped"
  exit 0
fi
rm -rf "$work"
mkdir -p "$work"

"$run" --export-random "$work/resnet18.onnx" || fail "--export-random failed"
[[ -s "$work/resnet18.onnx" ]] || fail "--export-random wrote no model"
"$run" "$work/resnet18.onnx" --data "$data" --steps 20 --out "$work/tuned.fovea" > "$work/out.txt" ||
  { cat "$work/out.txt"; fail "the walkthrough failed"; }
cat "$work/out.txt"
grep -q "^Total parameters: 11,689,512 " "$work/out.txt" || fail "no 'Total parameters' line of ResNet-18's size"
grep -Eq "top-5 ImageNet class indices:( [0-9]+ \([0-9.]+\)){5}$" "$work/out.txt" || fail "no top-5 line"
grep -Eq "^validation accuracy before fine-tuning: [0-9.]+%" "$work/out.txt" || fail "no accuracy before"
grep -Eq "^validation accuracy after fine-tuning: [0-9.]+% \(20 steps" "$work/out.txt" || fail "no accuracy after"
[[ -s "$work/tuned.fovea" ]] || fail "--out was not written"

# Bad input: a clear error and a non-zero exit.
if "$run" "$work/none.onnx" --data "$data" 2> "$work/err.txt"; then fail "a missing model: exited 0"; fi
grep -q "none.onnx" "$work/err.txt" || fail "a missing model: the error does not name it"
echo "onnx_resnet18: all checks passed"
