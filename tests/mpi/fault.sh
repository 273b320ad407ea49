#!/usr/bin/env bash
# A rank that fails stops every rank within seconds, with its own message:
# never a hang. Usage: fault.sh <test_mpi_fault> <mpirun>
set -uo pipefail
program=$1
mpirun=$2
fail() { echo "FAIL: $*"; exit 1; }

check() {  # mode, expected message
  local start output status elapsed
  start=$(date +%s)
  output=$(timeout 60 "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$program" "$1" 2>&1)
  status=$?
  elapsed=$(($(date +%s) - start))
  echo "$output"
  ((status != 124)) || fail "$1: mpirun still running after 60 s"
  ((status != 0)) || fail "$1: mpirun exited 0"
  ((elapsed <= 30)) || fail "$1: took $elapsed s to stop"
  grep -qF "$2" <<<"$output" || fail "$1: no message '$2'"
  echo "ok: $1 stopped both ranks in $elapsed s (status $status)"
}

check missing-file "rank 1 of 2: load_idx_dataset: cannot open '/data/mnist/train-images-idx3-ubyte.gz' (No such file)"
# The shuffle is seeded, so which rank holds sample 37 is fixed; either way
# the message names the sample by its index in the data set.
check bad-label "of 2: fit: training sample 37 has label 9, out of range for 4 classes, at epoch 1, batch 1 (step 1)"
