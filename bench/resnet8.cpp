// ResNet-8 (models::resnet8) as examples/resnet_fashion trains it: one
// training step (batch 128: forward, SoftmaxCrossEntropy, backward, SGD with
// Nesterov momentum 0.9 and weight decay 5e-4) at 1 and 2 threads, and
// inference at batch 1 and 256. bench/peers/torch_resnet8.cpp times the same
// network and step in libtorch.
//
//   bench_resnet8 --benchmark_min_time=1
//
// Counters: items_per_second = images/s; GFLOP/s = the forward's
// multiply-adds x 2 per image (x 3 for a training step: forward, and backward
// to the inputs and to the weights) per second; allocs/step = heap
// allocations inside the timed loop (0 once the buffers are planned).

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "fovea/core/parallel.hpp"
#include "fovea/models/resnet.hpp"
#include "fovea/nn/fold_batch_norm.hpp"
#include "fovea/optim/sgd.hpp"
#include "fovea/train/data_parallel.hpp"
#include "fovea/train/loss.hpp"

#include "allocation_count.hpp"

namespace {

using fovea::Index;
using fovea::Tensor;

constexpr Index train_batch = 128;
constexpr Index classes = 10;
constexpr double forward_flops_per_image = 2 * 9'345'920.0;  // the convolutions' and fc's multiply-adds x 2

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

struct Trainer {
  fovea::Graph<float> net = fovea::models::resnet8<float>({.seed = 7});
  fovea::SoftmaxCrossEntropy<float> loss;
  fovea::Sgd<float> sgd{net.params(), {.learning_rate = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 5e-4}};
  fovea::DataParallel<float> lanes;  // as fit() runs a step
  Tensor<float, 2> scores{{train_batch, classes}};

  explicit Trainer(fovea::LaneStatistics statistics) : lanes(net, statistics) {}

  float step(const Batch& batch) {
    sgd.zero_grad();
    const float value = lanes.forward_backward(batch.x, fovea::Targets<float>(batch.labels), loss, scores);
    sgd.step();
    return value;
  }
};

void use_threads(benchmark::State& state, int arg) {
  fovea::set_threads(static_cast<int>(state.range(arg)));
  Eigen::setNbThreads(1);
}

// `lanes` 0: BatchNorm with the whole batch's statistics (one lane, every
// layer split across the threads, fit's default); 1: each thread's lane with
// its own samples' statistics (LaneStatistics::per_lane).
void Resnet8TrainStep(benchmark::State& state) {
  use_threads(state, 0);
  const Batch batch(train_batch, 1);
  Trainer trainer(state.range(1) != 0 ? fovea::LaneStatistics::per_lane : fovea::LaneStatistics::whole_batch);
  trainer.step(batch);  // plans every buffer
  const std::int64_t allocations_before = allocation_count.load();
  for (auto _ : state) benchmark::DoNotOptimize(trainer.step(batch));
  const auto allocations = static_cast<double>(allocation_count.load() - allocations_before);
  state.SetItemsProcessed(state.iterations() * train_batch);
  state.counters["allocs/step"] = allocations / static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(
      3 * forward_flops_per_image * static_cast<double>(train_batch) * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
}

// Inference of the network as trained (`fold` 0) or with its batch norms
// folded into the convolutions (`fold` 1, fold_batch_norm: what a deployment
// runs; each ReLU then becomes its convolution's epilogue).
void Resnet8Inference(benchmark::State& state) {
  use_threads(state, 1);
  const Index batch_size = state.range(0);
  const Batch batch(batch_size, 2);
  auto trained = fovea::models::resnet8<float>({.seed = 7});
  auto net = state.range(2) != 0 ? fovea::fold_batch_norm(trained) : std::move(trained);
  net.infer(batch.x);
  for (auto _ : state) benchmark::DoNotOptimize(net.infer(batch.x).data());
  state.SetItemsProcessed(state.iterations() * batch_size);
  state.counters["GFLOP/s"] = benchmark::Counter(
      forward_flops_per_image * static_cast<double>(batch_size) * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
  state.counters["activation_KB"] = static_cast<double>(net.inference_bytes()) / 1024.0;
}

}  // namespace

BENCHMARK(Resnet8TrainStep)
    ->ArgNames({"threads", "lanes"})
    ->Args({1, 0})
    ->Args({2, 0})
    ->Args({2, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(Resnet8Inference)
    ->ArgNames({"batch", "threads", "fold"})
    ->Args({1, 1, 0})
    ->Args({1, 2, 0})
    ->Args({256, 1, 0})
    ->Args({256, 2, 0})
    ->Args({1, 1, 1})
    ->Args({1, 2, 1})
    ->Args({256, 1, 1})
    ->Args({256, 2, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
