#!/usr/bin/env python3
"""A/B two (or more) builds of a benchmark in the same minutes.

Runs each build's bench binary in turn, `rounds` times, each run with
--benchmark_repetitions=3, and prints per benchmark the median of every round,
the median and minimum over rounds, and each build's ratio to the first. On a
shared, noisy machine only builds measured alternately like this can be
compared; absolute figures move by 2x from one minute to the next.

  bench/ab.py <bench> <filter> <rounds> <build dir>...
  e.g. bench/ab.py bench_lenet 'LenetTrainStep' 6 /tmp/old/build build-speed

Set FOVEA_AB_PREFIX to a wrapper that raises the run's priority, e.g. the
`prio` script of docs/benchmarks.md.
"""
import json
import os
import shlex
import statistics
import subprocess
import sys


def main() -> None:
    bench, pattern, rounds, dirs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    prefix = shlex.split(os.environ.get("FOVEA_AB_PREFIX", ""))
    times: dict[str, dict[str, list[float]]] = {}
    for _ in range(rounds):
        for build in dirs:
            command = prefix + [f"{build}/bench/{bench}", f"--benchmark_filter={pattern}",
                                "--benchmark_min_time=0.3", "--benchmark_repetitions=3",
                                "--benchmark_report_aggregates_only=true", "--benchmark_format=json"]
            report = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            for b in report["benchmarks"]:
                if b.get("aggregate_name") == "median":
                    times.setdefault(b["run_name"], {}).setdefault(build, []).append(b["real_time"])
    for name, per_build in times.items():
        base = statistics.median(per_build[dirs[0]])
        print(name)
        for build in dirs:
            values = per_build[build]
            median = statistics.median(values)
            rounds_text = " ".join(f"{v:.3f}" for v in values)
            print(f"   {build:32} median {median:9.3f} min {min(values):9.3f}"
                  f"  ratio {median / base:5.2f}  rounds {rounds_text}")


if __name__ == "__main__":
    main()
