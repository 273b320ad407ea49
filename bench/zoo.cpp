// Inference of four zoo models at 3x224x224 (ResNet-18, ResNet-50,
// MobileNetV2, GoogLeNet, as torchvision builds them, 1,000 classes) through
// Graph::infer, the pooled inference path: batch 1 and 32 on 1 and 2
// threads, and again with BatchNorm folded (model:resnet18_folded ...).
// bench/peers/torch_zoo.cpp times the same networks in libtorch under the
// same names with a Torch prefix (BatchNorm as its own op, as libtorch runs it).
//
//   bench_zoo                       # every case sets its own minimum time
//   bench_zoo --benchmark_filter='model:resnet50/batch:1/'
//   bench/peers/zoo.sh build          # beside libtorch: ms per batch, fovea / libtorch
//
// Counters: items_per_second = images/s; GFLOP/s = the forward FLOPs of
// summary() (a multiply-add counts 2) per second; activation_MB = what infer
// holds for activations at that batch (inference_bytes()). The ResNet-50
// batch-1 cases add largest_pair_MB, the largest pair of consecutive nodes'
// outputs (what any plan that runs node by node must hold at once), and
// activation_ratio = activation_MB / largest_pair_MB.
//
// The weights are random (the zoo's torchvision-like initialisation): the
// time of a forward does not depend on their values.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>

#include "fovea/core/parallel.hpp"
#include "fovea/models/googlenet.hpp"
#include "fovea/models/mobilenet.hpp"
#include "fovea/models/resnet.hpp"
#include "fovea/nn/fold_batch_norm.hpp"

namespace {

using fovea::Index;
using fovea::Tensor;

constexpr double mebibyte = 1024.0 * 1024.0;

// "resnet18", ..., or "resnet18_folded", ...: the same network with each
// BatchNorm folded into the convolution before it (fold_batch_norm), as a
// program deploying it would run it; "resnet18_constant", ...: the network
// as built, its weights promised constant (set_constant_weights).
fovea::Graph<float> build(const std::string& model) {
  const fovea::models::ModelOptions options{.classes = 1000, .in_channels = 3, .seed = 7};
  const std::string suffix = "_folded", constant = "_constant";
  if (model.ends_with(suffix)) {
    auto net = build(model.substr(0, model.size() - suffix.size()));
    return fovea::fold_batch_norm(net);
  }
  if (model.ends_with(constant)) {  // the weights promised constant: kept packed, checked once
    auto net = build(model.substr(0, model.size() - constant.size()));
    net.set_constant_weights(true);
    return net;
  }
  if (model == "resnet18") return fovea::models::resnet18<float>(options);
  if (model == "resnet50") return fovea::models::resnet50<float>(options);
  if (model == "mobilenet_v2") return fovea::models::mobilenet_v2<float>(options);
  return fovea::models::googlenet<float>(options);
}

// The forward FLOPs per image, as summary() totals them over the nodes.
double forward_flops_per_image(const fovea::Graph<float>& net) {
  std::istringstream text(net.summary());
  const std::string key = "Forward FLOPs per image: ";
  for (std::string line; std::getline(text, line);) {
    if (line.rfind(key, 0) != 0) continue;
    std::string digits;
    for (char c : line.substr(key.size())) {
      if (c >= '0' && c <= '9') digits += c;
    }
    return std::stod(digits);
  }
  return 0;
}

// The largest sum of two consecutive nodes' outputs (the input counts as the
// node before the first), in floats per image.
Index largest_adjacent_pair(const fovea::Graph<float>& net) {
  Index previous = fovea::shape_size(net.input_shape()), largest = 0;
  for (std::size_t i = 0; i < net.size(); ++i) {
    const Index current = fovea::shape_size(net.shape_after(i));
    largest = std::max(largest, previous + current);
    previous = current;
  }
  return largest;
}

// A network and its input per (model, batch, threads): google benchmark calls
// a case's function several times while it sizes the iteration count, and a
// ResNet-50 takes a while to draw. Only the current case is kept.
struct Case {
  fovea::Graph<float> net;
  Tensor<float, 4> x;
  double flops_per_image;
};

Case& case_for(const std::string& model, Index batch, int threads) {
  static std::tuple<std::string, Index, int> key;
  static std::unique_ptr<Case> cached;
  if (!cached || key != std::tuple(model, batch, threads)) {
    cached.reset();
    auto net = build(model);
    fovea::Rng rng(2);
    auto x = Tensor<float, 4>::uniform({batch, 3, 224, 224}, rng, 0.0F, 1.0F);
    const double flops = forward_flops_per_image(net);
    cached = std::make_unique<Case>(Case{std::move(net), std::move(x), flops});
    key = {model, batch, threads};
  }
  return *cached;
}

void ZooInference(benchmark::State& state, const std::string& model, Index batch, int threads) {
  fovea::set_threads(threads);
  Eigen::setNbThreads(1);
  Case& c = case_for(model, batch, threads);
  c.net.infer(c.x);  // plans and sizes every buffer
  for (auto _ : state) benchmark::DoNotOptimize(c.net.infer(c.x).data());
  const auto images = static_cast<double>(state.iterations() * batch);
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["GFLOP/s"] = benchmark::Counter(c.flops_per_image * images * 1e-9, benchmark::Counter::kIsRate);
  const double activation_mb = static_cast<double>(c.net.inference_bytes()) / mebibyte;
  state.counters["activation_MB"] = activation_mb;
  if (model == "resnet50" && batch == 1) {
    const double pair_mb = static_cast<double>(largest_adjacent_pair(c.net)) * sizeof(float) / mebibyte;
    state.counters["largest_pair_MB"] = pair_mb;
    state.counters["activation_ratio"] = activation_mb / pair_mb;
  }
}

// Batch 1 runs for a second per case; batch 32 for a fixed 3 calls (a
// ResNet-50 call is ~260 GFLOP, seconds on one core), so the whole program
// takes a few minutes on two cores.
[[maybe_unused]] const bool registered = [] {
  for (const char* model : {"resnet18", "resnet50", "mobilenet_v2", "googlenet", "resnet18_folded", "resnet50_folded",
                            "mobilenet_v2_folded", "googlenet_folded", "resnet18_constant", "resnet50_constant",
                            "mobilenet_v2_constant", "googlenet_constant"}) {
    for (Index batch : {Index{1}, Index{32}}) {
      for (int threads : {1, 2}) {
        const std::string name = std::string("ZooInference/model:") + model + "/batch:" + std::to_string(batch) +
                                 "/threads:" + std::to_string(threads);
        auto* bench = benchmark::RegisterBenchmark(name.c_str(), ZooInference, std::string(model), batch, threads);
        bench->UseRealTime()->Unit(benchmark::kMillisecond);
        if (batch == 1) {
          bench->MinTime(1.0);
        } else {
          bench->Iterations(3);
        }
      }
    }
  }
  return true;
}();

}  // namespace
