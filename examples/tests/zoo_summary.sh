#!/usr/bin/env bash
# Runs zoo_summary: the last line is the parameter count with thousands
# separators, options change the classes and the input, and an unknown name
# lists the known models on stderr with a non-zero exit.
# Usage: zoo_summary.sh ZOO_SUMMARY WORK_DIR
set -euo pipefail
zoo=$1 work=$2
rm -rf "$work"
mkdir -p "$work"

fail() { echo "FAILED: $*" >&2; exit 1; }

expect_last_line() {
  local want=$1
  shift
  "$zoo" "$@" >"$work/out.txt"
  local last
  last=$(tail -n 1 "$work/out.txt")
  [[ "$last" == "$want" ]] || { cat "$work/out.txt" >&2; fail "zoo_summary $*: last line '$last', expected '$want'"; }
  echo "ok: zoo_summary $* -> $want"
}

expect_last_line "parameters: 25,557,032" resnet50
grep -q "^layer4.2.conv3 Conv2d(512->2048, k1x1, s1, p0, no bias)" "$work/out.txt" || fail "no layer4.2.conv3 row"
grep -q "Forward FLOPs per image: " "$work/out.txt" || fail "no FLOPs total"
expect_last_line "parameters: 61,100,840" alexnet
expect_last_line "parameters: 61,706" lenet5
# resnet8 for 3 channels: 2 * 16 * 9 more weights in the stem than for one.
expect_last_line "parameters: 78,042" resnet8 --input 3,32,32
# resnet18 for 10 classes: 990 fewer rows of 512 weights + 1 bias.
expect_last_line "parameters: 11,181,642" resnet18 --classes 10 --input 3,64,64

status=0
"$zoo" resnet1000 >"$work/out.txt" 2>"$work/err.txt" || status=$?
[[ $status -ne 0 ]] || fail "an unknown model must fail"
grep -q "unknown model 'resnet1000'" "$work/err.txt" || fail "no error for the unknown model"
grep -q "^  resnet50$" "$work/err.txt" || fail "the known models are not listed"
[[ ! -s "$work/out.txt" ]] || fail "an unknown model printed to stdout"
echo "ok: unknown model"

status=0
"$zoo" resnet18 --input 3,224 >"$work/out.txt" 2>"$work/err.txt" || status=$?
[[ $status -ne 0 ]] || fail "a malformed --input must fail"
grep -q "expected C,H,W" "$work/err.txt" || { cat "$work/err.txt" >&2; fail "no message for a malformed --input"; }
echo "ok: malformed --input"

status=0
"$zoo" vgg16 --input 3,64,64 >"$work/out.txt" 2>"$work/err.txt" || status=$?
[[ $status -ne 0 ]] || fail "vgg16 at 64x64 must be refused"
grep -q "adaptive pooling to 7x7 is supported only where it is exact" "$work/err.txt" || fail "no reason for the refusal"
echo "ok: refused size"
