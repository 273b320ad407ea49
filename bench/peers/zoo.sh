#!/usr/bin/env bash
# Runs the zoo inference benchmark of fovea (bench_zoo) and of libtorch
# (bench_peer_torch_zoo) one after the other, `runs` times, and prints the
# median time per batch of each and the median of fovea's time over
# libtorch's, per model, batch and thread count. Keeps each program's console
# output and JSON in out-dir/run<i>/.
#
#   bench/peers/zoo.sh [build-dir] [out-dir] [runs]
#
# libtorch from Debian calls whatever libblas.so.3 the system's alternatives
# pick (netlib's reference BLAS unless an optimised one is installed) for its
# 1x1 convolutions at batch 1 and its fully connected layers: point
# LD_LIBRARY_PATH at OpenBLAS, or install libopenblas-dev (its alternative then
# takes libblas.so.3), for a fair peer (docs/benchmarks.md).
set -euo pipefail
build=${1:-build}
out=${2:-$(mktemp -d)}
runs=${3:-1}
mkdir -p "$out"

# OpenBLAS inside a libtorch thread runs on that thread.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
# glibc hands every block over 32 MB (most of libtorch's activations at
# batch 32) back to the kernel when it is freed, and the next forward faults
# its pages in again: 2-8x libtorch's time at batch 32 on this machine. Keep
# freed memory in the heap instead, as jemalloc or tcmalloc would (fovea
# plans its buffers once and does not care).
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=100000000000}

for ((i = 1; i <= runs; i++)); do
  dir=$out/run$i
  mkdir -p "$dir"
  echo "run $i: $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$dir/load.txt" >&2
  "$build/bench/bench_zoo" --benchmark_out="$dir/fovea.json" --benchmark_out_format=json | tee "$dir/fovea.txt"
  # libtorch's OpenMP threads either spin while they wait (active: fast when
  # the cores are free) or sleep (passive: fast when anything else runs, as
  # bench/peers/run.sh sets it): each case keeps the better of the two.
  for policy in passive active; do
    OMP_WAIT_POLICY=$policy "$build/bench/bench_peer_torch_zoo" --benchmark_out="$dir/torch_$policy.json" \
      --benchmark_out_format=json | tee "$dir/torch_$policy.txt"
  done
  echo "run $i done, load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$dir/load.txt" >&2
done

python3 - "$out" "$runs" <<'PY'
import json, pathlib, re, statistics, sys
out, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def times(folder, *files):  # (model, batch, threads) -> ms per call (one batch), the best of the files
    result = {}
    for name in files:
        for b in json.loads((folder / name).read_text())["benchmarks"]:
            if b.get("error_occurred"):
                continue
            m = re.search(r"model:(\w+)/batch:(\d+)/threads:(\d+)", b["name"])
            key = (m.group(1), int(m.group(2)), int(m.group(3)))
            result[key] = min(result.get(key, float("inf")), b["real_time"])
    return result
folders = [out / f"run{i}" for i in range(1, runs + 1)]
fovea = [times(f, "fovea.json") for f in folders]
torch = [times(f, "torch_passive.json", "torch_active.json") for f in folders]
def row(label, f, t):  # f, t: one figure per run
    ratios = [a / b for a, b in zip(f, t)]
    print(f"{label:30}{statistics.median(f):>11.2f}{statistics.median(t):>13.2f}{statistics.median(ratios):>16.2f}   "
          + " ".join(f"{r:.2f}" for r in ratios))
print(f"{'model/batch/threads':30}{'fovea ms':>11}{'libtorch ms':>13}{'fovea/libtorch':>16}   (each run's ratio)")
# fovea's "<model>_folded" (BatchNorm folded into the convolutions) and
# "<model>_constant" (weights promised constant) beside libtorch's <model>.
def peer(key):
    return (key[0].removesuffix("_folded").removesuffix("_constant"),) + key[1:]
for key in fovea[0]:
    if all(peer(key) in t for t in torch):
        row(f"{key[0]}/{key[1]}/{key[2]}", [f[key] for f in fovea], [t[peer(key)] for t in torch])
print("the best thread count of each, in each run:")
for model, batch in dict.fromkeys(k[:2] for k in fovea[0]):
    best = lambda d, m: min(v for k, v in d.items() if k[:2] == (m, batch))
    if all(any(k[:2] == peer((model, batch)) for k in t) for t in torch):
        row(f"{model}/{batch}/best", [best(f, model) for f in fovea], [best(t, peer((model, batch))[0]) for t in torch])
print("(medians over", runs, "runs; a ratio below 1: fovea is faster)")
PY
