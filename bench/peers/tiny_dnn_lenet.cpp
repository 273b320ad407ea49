// tiny-dnn's LeNet-5, the same network, step and inputs as bench/lenet.cpp:
// conv 6@5x5 pad 2 + ReLU -> max-pool 2 -> conv 16@5x5 + ReLU -> max-pool 2
// -> FC 120 + ReLU -> FC 84 + ReLU -> FC 10. tiny-dnn fuses the activation
// into each layer and has no fused softmax cross-entropy, so the last layer is
// a softmax trained with cross_entropy_multiclass: the same mathematics.
// One training step = train() over exactly one minibatch of 64 images with
// momentum SGD (lr 0.01, mu 0.9). Threads: tiny-dnn's own task count.

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "tiny_dnn/tiny_dnn.h"

namespace {

using namespace tiny_dnn;

network<sequential> make_lenet() {
  using conv = convolutional_layer<activation::relu>;
  using pool = max_pooling_layer<activation::identity>;
  network<sequential> net;
  net << conv(28, 28, 5, 1, 6, padding::same) << pool(28, 28, 6, 2) << conv(14, 14, 5, 6, 16, padding::valid)
      << pool(10, 10, 16, 2) << fully_connected_layer<activation::relu>(400, 120)
      << fully_connected_layer<activation::relu>(120, 84) << fully_connected_layer<activation::softmax>(84, 10);
  return net;
}

struct Data {
  std::vector<vec_t> images;
  std::vector<label_t> labels;
  explicit Data(std::size_t n) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> pixel(0, 1);
    images.assign(n, vec_t(28 * 28));
    for (auto& image : images) {
      for (auto& v : image) v = pixel(rng);
    }
    for (std::size_t i = 0; i < n; ++i) labels.push_back(static_cast<label_t>(rng() % 10));
  }
};

void LenetTrainStep(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const Data data(64);
  auto net = make_lenet();
  momentum optimizer;  // alpha 0.01, mu 0.9
  auto step = [&] {
    net.train<cross_entropy_multiclass>(optimizer, data.images, data.labels, 64, 1, nop, nop, false, threads);
  };
  step();
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations() * 64);
}

void LenetInference(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const Data data(n);
  auto net = make_lenet();
  net.predict(data.images[0]);
  // One image at a time: tiny-dnn's predict(std::vector<vec_t>) is ONE sample
  // with several input channels, not a batch, and it has no batched inference.
  for (auto _ : state) {
    for (const auto& image : data.images) benchmark::DoNotOptimize(net.predict(image));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

}  // namespace

BENCHMARK(LenetTrainStep)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(LenetInference)->ArgName("batch")->Arg(1)->Arg(256)->UseRealTime()->Unit(benchmark::kMicrosecond);
