#!/usr/bin/env python3
"""Projects data-parallel step times from a measured compute rate and the
ring-allreduce cost model (docs/benchmarks.md, "Across machines, on paper").

  bench/mpi/project.py LENET_MS_PER_STEP [BATCH]

LENET_MS_PER_STEP: one rank's LeNet-5 training step (bench_mpi_step alone),
which gives this machine's training rate in GFLOP/s; the ResNets are assumed
to train at that rate (their convolutions are larger, so that is cautious).
"""
import sys

lenet_ms = float(sys.argv[1])
lenet_batch = int(sys.argv[2]) if len(sys.argv) > 2 else 64
# LeNet-5 forward: 845,852 FLOP per image (its summary()); a training
# step is ~3x the forward (forward, input gradients, weight gradients).
rate = 3 * 0.845852e6 * lenet_batch / (lenet_ms * 1e-3)  # FLOP/s
print(f"measured training rate: {rate / 1e9:.1f} GFLOP/s per machine")

networks = [  # name, parameters, forward FLOP per image, images per machine per step
    ("ResNet-8 (32x32)", 77_754, 18.7e6, 64),
    ("ResNet-50 (224x224)", 25.6e6, 8.2e9, 32),
]
links = [("10 Gbit/s", 10e9, 25e-6), ("100 Gbit/s", 100e9, 5e-6)]  # bandwidth, latency per message
for (name, params, flops, batch), fixed in [(n, f) for n in networks for f in ("machine", "global")]:
    size = 4 * params  # float gradients, bytes
    what = f"{batch} images per machine" if fixed == "machine" else f"a global batch of {batch * 8} images"
    print(f"\n{name}: {params:,.0f} parameters ({size / 1e6:.2f} MB), {what}\n")
    print("| machines | compute | " + " | ".join(f"allreduce {l[0]} | step | efficiency" for l in links) + " |")
    print("|---:|---:|" + "---:|---:|---:|" * len(links))
    for p in (2, 4, 8, 16, 32, 64):
        images = batch if fixed == "machine" else batch * 8 / p
        compute = 3 * flops * images / rate
        cells = [f"{compute * 1e3:.1f} ms"]
        for _, bandwidth, latency in links:
            comm = 2 * (p - 1) / p * size * 8 / bandwidth + 2 * (p - 1) * latency
            step = compute + comm  # no overlap: the upper bound
            cells += [f"{comm * 1e3:.2f} ms", f"{step * 1e3:.1f} ms", f"{compute / step:.0%}"]
        print(f"| {p} | " + " | ".join(cells) + " |")
