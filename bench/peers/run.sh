#!/usr/bin/env bash
# Runs fovea's LeNet benchmark and every peer that was built, in one go, and
# prints images/s side by side with fovea's ratio to each peer. The machine is
# shared and noisy: compare the ratios of one run, not absolute figures
# across runs.
#
#   bench/peers/run.sh [build-dir] [extra Google Benchmark flags...]
#   e.g. bench/peers/run.sh build-speed --benchmark_min_time=1
set -euo pipefail
build=${1:-build}
shift || true
bench=$build/bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# libtorch's OpenMP threads spin while they wait and steal the core the other
# thread needs whenever anything else runs on this 2-core machine
# (docs/benchmarks.md). fovea has its own pool and ignores this setting.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

run() {
  local name=$1 exe=$2
  shift 2
  if [[ -x $exe ]]; then
    echo "running $name ..." >&2
    "$exe" --benchmark_format=json --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
      --benchmark_min_time=0.5 "$@" >"$out/$name.json"
  else
    echo "skipping $name: $exe was not built" >&2
  fi
}
echo "$(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
run fovea "$bench/bench_lenet" "$@"
run libtorch "$bench/bench_peer_torch" "$@"
run dlib "$bench/bench_peer_dlib" "$@"
run tiny-dnn "$bench/bench_peer_tiny_dnn" "$@"

python3 - "$out" <<'PY'
import json, pathlib, re, sys
out = pathlib.Path(sys.argv[1])
libs = [l for l in ("fovea", "libtorch", "dlib", "tiny-dnn") if (out / f"{l}.json").exists()]
rows = {}  # (row name, threads) -> lib -> images/s (median)
for lib in libs:
    for b in json.loads((out / f"{lib}.json").read_text())["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        name = b["run_name"]
        threads = re.search(r"threads:(\d+)", name)
        threads = threads.group(1) + "t" if threads else "own"
        if name.startswith("LenetTrainStep"):
            row = "train step, batch 64"
        else:
            row = "inference, batch " + re.search(r"batch:(\d+)", name).group(1)
        rows.setdefault(row, {}).setdefault(lib, {})[threads] = b["items_per_second"]

def best(per_threads):
    threads, rate = max(per_threads.items(), key=lambda kv: kv[1])
    return rate, threads

print(f"{'images/s (median of 3)':28}" + "".join(f"{l:>22}" for l in libs) + "   fovea / best peer")
for row, per_lib in rows.items():
    cells, peer_best = [], 0.0
    for lib in libs:
        if lib not in per_lib:
            cells.append(f"{'-':>22}")
            continue
        rate, threads = best(per_lib[lib])
        detail = " ".join(f"{t}:{r:,.0f}" for t, r in sorted(per_lib[lib].items()))
        cells.append(f"{detail:>22}")
        if lib != "fovea":
            peer_best = max(peer_best, rate)
    ratio = best(per_lib["fovea"])[0] / peer_best if "fovea" in per_lib and peer_best else float("nan")
    print(f"{row:28}" + "".join(cells) + f"   {ratio:6.2f}x")
print("(Nt: N threads; own: the library's own threading; batch-1 latency = 1e6 / images/s microseconds)")
PY
