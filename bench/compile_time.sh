#!/usr/bin/env bash
# Compile time and the compiler's peak memory of one translation unit that
# includes fovea/fovea.hpp and trains LeNet-5 with SGD (bench/compile/lenet_sgd.cpp),
# at -O3 -march=native, header-only, nothing linked.
#
#   bench/compile_time.sh [compiler] [runs]     # defaults: c++, 3
#
# Prints one line per run (wall seconds, peak resident MiB) and the minimum.
# With FOVEA_TIME_TRACE=1 and clang++, also writes the -ftime-trace JSON to
# lenet_sgd-time-trace.json at the top of the tree (open it in
# chrome://tracing or speedscope). With FOVEA_EXTERN=1 the TU includes
# fovea/extern_templates.hpp first, as a project that compiles the instances
# once would (then it is no longer header-only: the instances must be linked).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cxx=${1:-c++}
runs=${2:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(-std=c++20 -O3 -march=native -DNDEBUG -I"$root/include" -I/usr/include/eigen3 -c)
if [[ "${FOVEA_TIME_TRACE:-0}" == 1 ]]; then
  flags+=(-ftime-trace)
fi
if [[ "${FOVEA_EXTERN:-0}" == 1 ]]; then
  flags+=(-include fovea/extern_templates.hpp)
fi
best=""
for ((i = 1; i <= runs; ++i)); do
  /usr/bin/time -v "$cxx" "${flags[@]}" "$here/compile/lenet_sgd.cpp" -o "$out/lenet_sgd.o" 2>"$out/time.txt"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (k = 1; k <= n; ++k) s = s * 60 + t[k]; print s}' "$out/time.txt")
  user=$(awk -F': ' '/User time/ {print $2}' "$out/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$out/time.txt")
  echo "run $i: wall ${wall} s, user ${user} s, peak ${rss} MiB"
  if [[ -z "$best" ]] || awk -v a="$wall" -v b="$best" 'BEGIN {exit !(a < b)}'; then best=$wall; fi
done
echo "$cxx: best wall ${best} s over $runs run(s)"
if [[ "${FOVEA_TIME_TRACE:-0}" == 1 ]]; then
  cp "$out"/lenet_sgd.json "$root/lenet_sgd-time-trace.json" 2>/dev/null && echo "trace: $root/lenet_sgd-time-trace.json"
fi
