// LeNet-5 end to end, as the trainer runs it: one training step (batch 64:
// forward, SoftmaxCrossEntropy, backward, SGD momentum step) and inference at
// batch 1 and 256, each at 1 and 2 threads. The peers in bench/peers/ time the
// same network and step, so bench/peers/run.sh can print ratios from one run.
//
//   bench_lenet --benchmark_min_time=0.5
//
// Counters: items_per_second = images/s; allocs/step = heap allocations inside
// the timed loop (0 once the buffers are planned); peak_RSS_MB = the process's
// high-water mark so far; same_bits = 1 when two runs of 5 steps from the same
// seed at this thread count give bit-identical weights.
//
// LenetThreadScaling times the same step at 1 and at 2 threads in turns
// (200 steps each, alternating), so both see the same moment of a shared,
// noisy machine. The two vCPUs of a virtual machine often run 20-35 % apart
// (the host's other tenants load one of them), so a 1-thread figure depends
// on which core the OS picked: the 1-thread turn runs once pinned to each of
// the first two CPUs, and `one` is the mean of the two. speedup_2t = the median
// over the rounds of one / t(2); core_ratio = slower / faster 1-thread turn.
// A fourth turn runs two independent 1-thread trainers at once, one pinned to
// each core: capacity_2t = their combined rate over the 1-thread rate, the
// most any 2-thread step could gain in that minute (under 2 when the host's
// other tenants take part of a core), and of_capacity = speedup_2t / capacity_2t.
// A fifth turn runs the 2-thread step the way it ran before DataParallel's
// lanes, every layer splitting its own work across the threads: by_layers_2t
// is its speedup over the same 1-thread figure.

#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

#include "fovea/core/parallel.hpp"
#include "fovea/nn/lenet.hpp"
#include "fovea/optim/sgd.hpp"
#include "fovea/train/data_parallel.hpp"
#include "fovea/train/loss.hpp"

#include "allocation_count.hpp"

namespace {

using fovea::Index;
using fovea::Tensor;

constexpr Index train_batch = 64;
constexpr Index classes = 10;

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// Fashion-MNIST-shaped inputs: [N, 1, 28, 28] in [0, 1), labels in [0, 10).
struct Batch {
  Tensor<float, 4> x;
  std::vector<std::int32_t> labels;
  explicit Batch(Index n, std::uint64_t seed) {
    fovea::Rng rng(seed);
    x = Tensor<float, 4>::uniform({n, 1, 28, 28}, rng, 0.0F, 1.0F);
    labels.resize(static_cast<std::size_t>(n));
    for (auto& label : labels) label = static_cast<std::int32_t>(rng() % classes);
  }
};

// The network, its loss, its optimizer and the output-gradient buffer.
struct Trainer {
  fovea::Sequential<float> net = fovea::make_lenet5<float>({.seed = 7});
  fovea::SoftmaxCrossEntropy<float> loss;
  fovea::Sgd<float> sgd{net.params(), {.learning_rate = 0.01, .momentum = 0.9}};
  fovea::DataParallel<float> lanes{net};  // as fit() runs a step
  Tensor<float, 2> scores{{train_batch, classes}};

  float step(const Batch& batch) {
    sgd.zero_grad();
    const float value = lanes.forward_backward(batch.x, fovea::Targets<float>(batch.labels), loss, scores);
    sgd.step();
    return value;
  }

  // The same step with every layer splitting its own work across the threads
  // (one forward and one backward of the whole batch): the way before lanes.
  Tensor<float, 2> dscores{{train_batch, classes}};
  float step_by_layers(const Batch& batch) {
    auto output = net.forward(batch.x).reshape(fovea::Shape<2>{train_batch, classes});
    const float value = loss.forward_backward(output, fovea::Targets<float>(batch.labels), dscores);
    sgd.zero_grad();
    net.backward(dscores.reshape(fovea::Shape<4>{train_batch, classes, 1, 1}));
    sgd.step();
    return value;
  }
};

bool same_bits_after_training() {
  const Batch batch(train_batch, 3);
  Trainer a, b;
  for (int i = 0; i < 5; ++i) {
    a.step(batch);
    b.step(batch);
  }
  for (std::size_t p = 0; p < a.net.params().size(); ++p) {
    const auto& u = a.net.params()[p].value;
    const auto& v = b.net.params()[p].value;
    if (!std::equal(u.data(), u.data() + u.size(), v.data())) return false;
  }
  return true;
}

void use_threads(benchmark::State& state, int arg) {
  const int threads = static_cast<int>(state.range(arg));
  fovea::set_threads(threads);
  Eigen::setNbThreads(1);  // fovea threads over samples; Eigen's own threading would fight it
}

void LenetTrainStep(benchmark::State& state) {
  use_threads(state, 0);
  const Batch batch(train_batch, 1);
  Trainer trainer;
  trainer.step(batch);  // plans every buffer
  const std::int64_t allocations_before = allocation_count.load();
  for (auto _ : state) benchmark::DoNotOptimize(trainer.step(batch));
  const auto allocations = static_cast<double>(allocation_count.load() - allocations_before);
  state.SetItemsProcessed(state.iterations() * train_batch);
  state.counters["allocs/step"] = allocations / static_cast<double>(state.iterations());
  state.counters["peak_RSS_MB"] = peak_rss_mb();
  state.counters["same_bits"] = same_bits_after_training() ? 1 : 0;
}

// The calling thread's CPU set, and pinning it to one CPU of that set (or
// back to the whole set). Pinning is best effort: without two CPUs to choose
// from, the 1-thread turns run wherever the OS puts them.
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}
void pin_this_thread(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void LenetThreadScaling(benchmark::State& state) {
  Eigen::setNbThreads(1);
  const Batch batch(train_batch, 1);
  Trainer trainer;
  fovea::set_threads(2);
  trainer.step(batch);  // plans every buffer and starts the pool's worker
  const std::vector<int> cpus = allowed_cpus();
  const bool pinned = cpus.size() >= 2;
  constexpr int steps_per_turn = 200;
  const auto time_turn = [&](int threads, bool by_layers = false) {
    fovea::set_threads(threads);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < steps_per_turn; ++i) {
      benchmark::DoNotOptimize(by_layers ? trainer.step_by_layers(batch) : trainer.step(batch));
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const auto time_one_thread_on = [&](std::size_t core) {
    if (pinned) pin_this_thread({cpus[core]});
    const double seconds = time_turn(1);
    if (pinned) pin_this_thread(cpus);
    return seconds;
  };
  // The machine's own two-core capacity at this moment: two independent
  // one-thread trainers, one per core, each doing a turn's steps. No
  // splitting, no synchronisation: what a 2-thread step could reach at best
  // while the host lets both cores run.
  Trainer second;
  const Batch second_batch(train_batch, 2);
  second.step(second_batch);
  const auto time_two_copies = [&] {
    fovea::set_threads(1);
    const auto start = std::chrono::steady_clock::now();
    std::thread other([&] {
      if (pinned) pin_this_thread({cpus[1]});
      for (int i = 0; i < steps_per_turn; ++i) benchmark::DoNotOptimize(second.step(second_batch));
    });
    if (pinned) pin_this_thread({cpus[0]});
    for (int i = 0; i < steps_per_turn; ++i) benchmark::DoNotOptimize(trainer.step(batch));
    if (pinned) pin_this_thread(cpus);
    other.join();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::vector<double> speedups, by_layers, capacities, shares, core_ratios;
  for (auto _ : state) {
    const double one_a = time_one_thread_on(0);
    const double two = time_turn(2);
    const double one_b = time_one_thread_on(pinned ? 1 : 0);
    const double copies = time_two_copies();
    const double two_by_layers = time_turn(2, true);
    const double one = (one_a + one_b) / 2;
    speedups.push_back(one / two);
    by_layers.push_back(one / two_by_layers);
    capacities.push_back(2 * one / copies);
    shares.push_back((one / two) / (2 * one / copies));
    core_ratios.push_back(std::max(one_a, one_b) / std::min(one_a, one_b));
    state.SetIterationTime(one_a + two + one_b + copies + two_by_layers);
  }
  const auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  state.SetItemsProcessed(state.iterations() * 6 * steps_per_turn * train_batch);
  state.counters["speedup_2t"] = median(speedups);
  state.counters["by_layers_2t"] = median(by_layers);
  state.counters["capacity_2t"] = median(capacities);
  state.counters["of_capacity"] = median(shares);
  state.counters["core_ratio"] = median(core_ratios);
}

void LenetInference(benchmark::State& state) {
  use_threads(state, 1);
  const Index n = state.range(0);
  const Batch batch(n, 2);
  auto net = fovea::make_lenet5<float>({.seed = 7});
  net.set_training(false);
  net.forward(batch.x);
  const std::int64_t allocations_before = allocation_count.load();
  for (auto _ : state) {
    auto scores = net.forward(batch.x);
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  const auto allocations = static_cast<double>(allocation_count.load() - allocations_before);
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["allocs/step"] = allocations / static_cast<double>(state.iterations());
}

}  // namespace

BENCHMARK(LenetTrainStep)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(LenetThreadScaling)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(LenetInference)
    ->ArgNames({"batch", "threads"})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Args({256, 1})
    ->Args({256, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
