#!/usr/bin/env bash
# LeNet-5 and ResNet-8 training throughput across ranks and threads, in one
# run so the machine's load is alike for each (docs/benchmarks.md, "Training
# across processes"). Usage: bench/mpi/run.sh BUILD_DIR [steps] [resnet8 steps]
set -euo pipefail
build=$1 steps=${2:-100} resnet_steps=${3:-20}
program=$build/bench/bench_mpi_step
mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# A rank waiting for the other gives its core up instead of spinning: with more
# ranks and threads than free cores, spinning made a step 3-4x slower.
export OMPI_MCA_mpi_yield_when_idle=1
lscpu | grep -E "Model name|^CPU\(s\)"
"$program" "$steps" 64 2                    # 1 rank x 2 threads
"${mpirun[@]}" -np 2 "$program" "$steps" 64 1  # 2 ranks x 1 thread
"$program" "$steps" 64 1                    # 1 rank x 1 thread
# ResNet-8, batch 128 (examples/resnet_fashion's), the same three ways.
"$program" "$resnet_steps" 128 2 resnet8
"${mpirun[@]}" -np 2 "$program" "$resnet_steps" 128 1 resnet8
"$program" "$resnet_steps" 128 1 resnet8
