#!/usr/bin/env bash
# fovea beside ONNX Runtime on the same .onnx files: LeNet-5 and ResNet-8
# (tests/onnx/fixtures, 1x28x28) and torchvision's MobileNetV2 and ResNet-18
# (3x224x224, exported by bench/peers/onnxruntime/export-zoo.py into
# out-dir/models unless already there). Batch-1 latency and batch-256
# throughput on 1 and 2 threads: fovea's bench_onnx_models and ONNX Runtime's
# run.mjs --bench, one after the other for each model, `runs` rounds (the
# order of the two swapped every other round), then a table of medians.
#
#   bench/peers/onnx_vs_ort.sh [build-dir] [out-dir] [runs]
#
# Needs bench_onnx_models in build-dir (a build with fovea::onnx and Google
# Benchmark), bench/peers/onnxruntime/setup.sh run once, and Debian's
# python3-torch, python3-torchvision and python3-onnx for the export. Keeps
# each program's output in out-dir/run<i>/. ONNX Runtime's figures include
# what a call through Node costs; run.mjs measures that on a Relu of 48
# values, and the table shows it and the ratio with it taken off. Beside the
# wall time, each side's process CPU time per call (every thread's): on one
# thread, the work a call costs whatever else runs on the machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build=${1:-build}
out=${2:-$(mktemp -d)}
runs=${3:-3}
mkdir -p "$out"
bench="$build/bench/bench_onnx_models"
[[ -x $bench ]] || {
  echo "onnx_vs_ort.sh: no $bench (cmake --build $build --target bench_onnx_models)" >&2
  exit 1
}

models=$out/models
if [[ ! -f $models/resnet18.onnx || ! -f $models/mobilenet_v2.onnx || ! -f $models/imagenet_input.npy ]]; then
  /usr/bin/python3 "$here/onnxruntime/export-zoo.py" "$models"
fi
fixtures=$root/tests/onnx/fixtures
# name, model, input, ONNX Runtime's batch-1 and batch-256 call counts
# (about as long as fovea's 1 s and 3 s per case).
cases=(
  "lenet5 $fixtures/lenet5_opset13/model.onnx $fixtures/lenet5_opset13/input.npy 2000 100"
  "resnet8 $fixtures/resnet8_opset13/model.onnx $fixtures/resnet8_opset13/input.npy 1000 20"
  "mobilenet_v2 $models/mobilenet_v2.onnx $models/imagenet_input.npy 100 3"
  "resnet18 $models/resnet18.onnx $models/imagenet_input.npy 40 3"
)

run_fovea() { # name model input dir
  "$bench" "$2" "$3" --benchmark_out="$4/fovea_$1.json" --benchmark_out_format=json >"$4/fovea_$1.txt" 2>&1
}
run_ort() { # name model input dir runs batch-runs
  for threads in 1 2; do
    node "$here/onnxruntime/run.mjs" --bench "$2" "$3" --threads $threads --runs "$5" --batch-runs "$6" \
      >"$4/ort_$1_t$threads.txt"
  done
}

for ((i = 1; i <= runs; i++)); do
  dir=$out/run$i
  mkdir -p "$dir"
  echo "run $i: $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$dir/load.txt" >&2
  for c in "${cases[@]}"; do
    read -r name model input ort_runs ort_batch_runs <<<"$c"
    if ((i % 2)); then
      run_fovea "$name" "$model" "$input" "$dir"
      run_ort "$name" "$model" "$input" "$dir" "$ort_runs" "$ort_batch_runs"
    else
      run_ort "$name" "$model" "$input" "$dir" "$ort_runs" "$ort_batch_runs"
      run_fovea "$name" "$model" "$input" "$dir"
    fi
    echo "  $name done, load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$dir/load.txt" >&2
  done
done

python3 - "$out" "$runs" <<'PY'
import json, pathlib, re, statistics, sys
out, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
names = ["lenet5", "resnet8", "mobilenet_v2", "resnet18"]
median = statistics.median
rows = {}  # (name, threads, batch) -> lists over runs of fovea ms, ORT ms, Node overhead ms, fovea CPU ms, ORT CPU ms
version = "?"
for i in range(1, runs + 1):
    folder = out / f"run{i}"
    for name in names:
        for b in json.loads((folder / f"fovea_{name}.json").read_text())["benchmarks"]:
            m = re.search(r"batch:(\d+)/threads:(\d+)", b["name"])
            if b.get("error_occurred") or b.get("allocs/call", 0) != 0:
                sys.exit(f"{folder}/fovea_{name}.json: {b['name']}: {b.get('error_message', 'allocates')}")
            key = (name, int(m.group(2)), int(m.group(1)))
            entry = rows.setdefault(key, ([], [], [], [], []))
            entry[0].append(b["real_time"])  # ms (Unit: kMillisecond)
            entry[3].append(b["cpu_time"])
        for threads in (1, 2):
            text = (folder / f"ort_{name}_t{threads}.txt").read_text().splitlines()
            r = json.loads(text[-1])
            version = r["version"]
            for batch, ms, cpu in ((1, r["batch1_latency_ms"], r["batch1_cpu_ms"]),
                                   (256, r["batch256_ms"], r["batch256_cpu_ms"])):
                entry = rows.setdefault((name, threads, batch), ([], [], [], [], []))
                entry[1].append(ms)
                entry[2].append(r["node_call_overhead_ms"])
                entry[4].append(cpu)
print(f"fovea beside onnxruntime-node {version}: ms per call (one batch), medians of {runs} runs")
print(f"{'model':14}{'thr':>4}{'batch':>6}{'fovea ms':>10}{'ORT ms':>10}{'fovea/ORT':>10}{'ORT-Node':>10}"
      f"{'f/(ORT-N)':>10}{'fovea CPU':>10}{'ORT CPU':>10}{'CPU f/ORT':>10}   (each run's fovea/ORT)")
for (name, threads, batch), (f, o, node, fc, oc) in sorted(
        rows.items(), key=lambda kv: (names.index(kv[0][0]), kv[0][2], kv[0][1])):
    ratios = [a / b for a, b in zip(f, o)]
    bare = [b - n for b, n in zip(o, node)]
    bare_ratios = [a / b for a, b in zip(f, bare)]
    cpu_ratios = [a / b for a, b in zip(fc, oc)]
    print(f"{name:14}{threads:>4}{batch:>6}{median(f):>10.4g}{median(o):>10.4g}{median(ratios):>10.2f}"
          f"{median(bare):>10.4g}{median(bare_ratios):>10.2f}{median(fc):>10.4g}{median(oc):>10.4g}"
          f"{median(cpu_ratios):>10.2f}   " + " ".join(f"{x:.2f}" for x in ratios))
overheads = [n for v in rows.values() for n in v[2]]
print(f"Node's per-call overhead (a Relu on [1, 3, 4, 4] through run.mjs): median {median(overheads) * 1000:.1f} us, "
      f"{min(overheads) * 1000:.1f}-{max(overheads) * 1000:.1f} us over the runs")
print("(ms per call; ORT-Node: ORT's time less Node's per-call overhead of that run; CPU: the process's CPU ms per\n"
      " call, every thread's; a ratio below 1: fovea is faster)")
PY
