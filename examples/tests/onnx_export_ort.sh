#!/usr/bin/env bash
# fovea's ONNX export against ONNX Runtime: every committed fixture is imported
# and exported again by onnx_run --roundtrip, fovea runs the exported model,
# and ONNX Runtime (bench/peers/onnxruntime/run.mjs --check) must give
# fovea's outputs to 1e-4 of their largest magnitude.
#   onnx_export_ort.sh ONNX_RUN NODE RUN_MJS FIXTURES_DIR WORK_DIR
set -euo pipefail
run=$1
node=$2
runner=$3
fixtures=$4
work=$5
rm -rf "$work"
mkdir -p "$work"
for folder in "$fixtures"/*/; do
  name=$(basename "$folder")
  mkdir -p "$work/$name"
  "$run" --roundtrip "$folder/model.onnx" "$work/$name/model.onnx"
  cp "$folder/input.npy" "$work/$name/input.npy"
  "$run" "$work/$name/model.onnx" "$folder/input.npy" "$work/$name/expected.npy"
done
"$node" "$runner" --check "$work"
