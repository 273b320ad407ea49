#!/usr/bin/env bash
# examples/onnx_run on a committed fixture and on bad input:
#   onnx_run.sh ONNX_RUN FIXTURES_DIR WORK_DIR
# The model's output has the expected shape (its .npy is as long as PyTorch's
# expected.npy: same header, same count); every failure exits non-zero with
# one line on stderr and leaves the output file as it was.
set -euo pipefail
run=$1
fixtures=$2
work=$3
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

lenet=$fixtures/lenet5_opset13
"$run" "$lenet/model.onnx" "$lenet/input.npy" "$work/out.npy" --threads 2 || fail "lenet did not run"
[ "$(stat -c %s "$work/out.npy")" = "$(stat -c %s "$lenet/expected.npy")" ] || fail "output size differs"

"$run" --summary "$lenet/model.onnx" > "$work/summary.txt" || fail "--summary failed"
grep -q Conv2d "$work/summary.txt" || fail "summary lists no Conv2d"
"$run" --roundtrip "$lenet/model.onnx" "$work/again.onnx" || fail "--roundtrip failed"
"$run" "$work/again.onnx" "$lenet/input.npy" "$work/again.npy" || fail "the exported model did not run"
cmp -s "$work/out.npy" "$work/again.npy" || fail "the exported model gives other outputs"

# Bad input: each exits non-zero, one line on stderr, the output untouched.
echo keep > "$work/kept.npy"
check_refused() {
  local label=$1
  shift
  if "$run" "$@" 2> "$work/err.txt"; then fail "$label: exited 0"; fi
  [ "$(wc -l < "$work/err.txt")" = 1 ] || fail "$label: stderr is not one line: $(cat "$work/err.txt")"
  [ "$(cat "$work/kept.npy")" = keep ] || fail "$label: the output file was changed"
}
check_refused "a missing model" "$work/none.onnx" "$lenet/input.npy" "$work/kept.npy"
check_refused "an input of another shape" "$lenet/model.onnx" "$fixtures/relu_opset13/input.npy" "$work/kept.npy"
head -c 500 "$lenet/model.onnx" > "$work/truncated.onnx"
check_refused "a truncated model" "$work/truncated.onnx" "$lenet/input.npy" "$work/kept.npy"
check_refused "a model that is not ONNX" "$lenet/input.npy" "$lenet/input.npy" "$work/kept.npy"
check_refused "a bad thread count" "$lenet/model.onnx" "$lenet/input.npy" "$work/kept.npy" --threads x
[ ! -e "$work/fresh.npy" ] || fail "stale fresh.npy"
check_refused "no output on failure" "$lenet/model.onnx" "$fixtures/relu_opset13/input.npy" "$work/fresh.npy"
[ ! -e "$work/fresh.npy" ] || fail "a failed run wrote an output file"
echo "onnx_run: all checks passed"
