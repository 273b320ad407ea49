#!/usr/bin/env bash
# Builds fovea's libFuzzer targets with clang (ASan + UBSan + libFuzzer) and
# runs each for a bounded time; fails on any finding. A crashing input is
# copied to tests/fuzz/regressions/<target>/ (replayed by the normal ctest run
# as fuzz/replay) so it stays fixed once fixed.
#
#   tests/fuzz/run.sh [seconds per target, default 20] [targets...]
#
# Environment: FOVEA_FUZZ_BUILD (default build-fuzz), FOVEA_FUZZ_CXX
# (default clang++-14). The corpora grow in $FOVEA_FUZZ_BUILD/corpus between
# runs; they start from seeds that make_seeds generates.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${1:-20}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(idx model image npy)
  # The ONNX importer, where ONNX's library is installed (libonnx-dev).
  [[ -e /usr/include/onnx/onnx_pb.h ]] && targets+=(onnx)
fi
build="${FOVEA_FUZZ_BUILD:-$root/build-fuzz}"
cxx="${FOVEA_FUZZ_CXX:-clang++-14}"
mkdir -p "$build"

compile=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
  -fno-sanitize-recover=all -Wall -Wextra -Wpedantic -Werror
  -I"$root/include" -I"$root/tests" -isystem /usr/include/eigen3 -isystem /usr/include/stb)

# Rebuilds an output when any fovea header or fuzz/support source is newer.
stale() {
  [[ ! -e "$1" ]] || [[ -n "$(find "$root/include" "$root/tests/fuzz" "$root/tests/support" -newer "$1" -print -quit)" ]]
}

started=$(date +%s)
if stale "$build/stb_impl.o"; then
  # stb_image v2.27 indexes one past a 257-entry table inside its JPEG Huffman
  # struct (found here, stb_image.h:1990; no memory outside the struct is
  # touched, so ASan stays on), and it passes a null pointer with length 0 to
  # memcpy for an empty IDAT chunk. Neither is ours to fix, so UBSan is off for
  # stb's own code only; AddressSanitizer still checks it. docs/reliability.md lists both.
  "$cxx" "${compile[@]}" -fno-sanitize=undefined -w -c "$root/tests/fuzz/stb_impl.cpp" -o "$build/stb_impl.o"
fi
pids=()
# make_seeds first: it builds networks of every layer type and is the longest
# compile (about 75 s), so the fuzz targets compile beside it.
for target in make_seeds "${targets[@]}"; do
  source="$root/tests/fuzz/fuzz_$target.cpp"
  link=(-fsanitize=fuzzer,address,undefined)
  if [[ "$target" == make_seeds ]]; then
    source="$root/tests/fuzz/make_seeds.cpp"
    link=(-fsanitize=address,undefined)
  fi
  output="$build/${target#fuzz_}"
  [[ "$target" == make_seeds ]] || output="$build/fuzz_$target"
  if stale "$output"; then
    extra=()
    # ONNX's headers need its namespace macros; protobuf and libonnx are not instrumented.
    [[ "$target" == onnx ]] && extra=(-DONNX_NAMESPACE=onnx -DONNX_ML=1 -lonnx -lonnx_proto -lprotobuf)
    "$cxx" "${compile[@]}" "${link[@]}" "$source" "$build/stb_impl.o" -lz "${extra[@]}" -o "$output" &
    pids+=($!)
    # Two compilers at a time (CI has two cores): the next starts when either ends.
    if ((${#pids[@]} >= 2)); then
      wait -n "${pids[@]}"
      running=()
      for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then running+=("$pid"); else wait "$pid"; fi
      done
      pids=("${running[@]}")
    fi
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
echo "fuzz: built in $(($(date +%s) - started)) s"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
"$build/make_seeds" "$build/seeds"

# One target for $seconds; prints its summary, returns 1 on a finding.
fuzz_one() {
  local target=$1
  local corpus="$build/corpus/$target"
  local regressions="$root/tests/fuzz/regressions/$target"
  local artifacts="$build/artifacts/$target/"
  rm -rf "$artifacts"
  mkdir -p "$corpus" "$artifacts" "$regressions"
  if [[ "$target" != onnx ]]; then
    cp -n "$build/seeds/$target"/* "$corpus/" || true  # keep grown files; coreutils >= 9.2 returns 1 on skips
  else
    # Seeds: the committed fixtures below -max_len (every one but LeNet and ResNet-8).
    for model in "$root"/tests/onnx/fixtures/*/model.onnx; do
      (($(stat -c %s "$model") <= 65536)) && cp -n "$model" "$corpus/$(basename "$(dirname "$model")").onnx"
    done
  fi
  local log="$build/fuzz_$target.log"
  # A fixed seed: the same run explores the same inputs (set FOVEA_FUZZ_SEED to vary).
  if "$build/fuzz_$target" -seed="${FOVEA_FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "$regressions" >"$log" 2>&1; then
    local runs
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $target clean: $runs executions, corpus $(find "$corpus" -type f | wc -l) files"
    return 0
  fi
  tail -n 60 "$log"
  for crash in "$artifacts"*; do
    [[ -f "$crash" ]] || continue
    cp "$crash" "$regressions/"
    echo "fuzz: $target FOUND $(basename "$crash"): copied to tests/fuzz/regressions/$target/"
  done
  return 1
}

# Two targets at a time (CI has two cores), each for the full $seconds; each
# prints its summary when it ends.
failed=()
running=()
names=()
finish_one() {  # waits for the oldest running target
  if ! wait "${running[0]}"; then failed+=("${names[0]}"); fi
  running=("${running[@]:1}")
  names=("${names[@]:1}")
}
for target in "${targets[@]}"; do
  echo "fuzz: $target for ${seconds}s"
  fuzz_one "$target" &
  running+=($!)
  names+=("$target")
  if ((${#running[@]} >= 2)); then finish_one; fi
done
while ((${#running[@]} > 0)); do finish_one; done
if ((${#failed[@]} > 0)); then
  echo "fuzz: findings in: ${failed[*]} (logs in $build/fuzz_<target>.log)"
  exit 1
fi
