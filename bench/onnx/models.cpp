// fovea on an .onnx file: the model imported with fovea::onnx::load, then
// batch-1 latency and batch-256 throughput through Graph::infer on 1 and 2
// threads. bench/peers/onnxruntime/run.mjs --bench times ONNX Runtime on the
// same file and input; bench/peers/onnx_vs_ort.sh runs both, alternating.
//
//   bench_onnx_models MODEL.onnx INPUT.npy [benchmark flags]
//   bench_onnx_models resnet18.onnx imagenet_input.npy --benchmark_filter='batch:1/'
//
// INPUT.npy is a float32 [N, C, H, W] batch; its first sample, repeated,
// makes each case's batch (as run.mjs makes it). Every BatchNormalization the
// importer keeps is folded into the convolution before it (fold_batch_norm),
// as ONNX Runtime's graph optimizer folds it: setup checks that the folded
// network gives the imported one's outputs (within 1e-5 of their largest
// magnitude) and fails the case otherwise. The weights are then promised
// constant (set_constant_weights), as ONNX Runtime takes an initializer to be
// and packs it once for its kernels; FOVEA_CHECKED_WEIGHTS=1 leaves them
// checked on every call instead.
//
// CPU is the process's CPU time (every thread's), as run.mjs reports ONNX
// Runtime's: on a busy machine it grows less than the wall time. Counters:
// items_per_second = images/s; allocs/call = heap allocations per timed call
// (0: the context's buffers are sized by the untimed first call).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "fovea/core/parallel.hpp"
#include "fovea/io/data/npy.hpp"
#include "fovea/layers/batch_norm.hpp"
#include "fovea/nn/fold_batch_norm.hpp"
#include "fovea/onnx.hpp"

#include "../allocation_count.hpp"

namespace {

using fovea::Index;
using fovea::Tensor;

// The first sample of `input` ([N, ...sample]) repeated `batch` times, as
// [batch, ...sample] with the model's sample shape.
Tensor<float, 4> batch_of(const fovea::NpyArray<float>& input, const fovea::SampleShape& sample, Index batch) {
  const Index size = fovea::shape_size(sample);
  if (input.rank() < 2 || input.shape[0] < 1 || static_cast<Index>(input.values.size()) / input.shape[0] != size) {
    throw fovea::shape_error("input " + fovea::to_string(input.shape) + " does not hold samples of the model's input " +
                             fovea::to_string(sample));
  }
  Tensor<float, 4> x({batch, sample[0], sample[1], sample[2]});
  for (Index n = 0; n < batch; ++n) std::copy_n(input.values.begin(), size, x.begin() + n * size);
  return x;
}

// The largest |a - b| over the largest |a|.
double relative_difference(fovea::TensorView<const float, 4> a, fovea::TensorView<const float, 4> b) {
  double difference = 0, scale = 0;
  for (Index i = 0; i < a.size(); ++i) {
    difference = std::max(difference, std::abs(static_cast<double>(a.data()[i]) - b.data()[i]));
    scale = std::max(scale, std::abs(static_cast<double>(a.data()[i])));
  }
  return difference / std::max(scale, 1e-30);
}

struct Model {
  fovea::Graph<float> net;  // as imported, with its batch norms folded
  fovea::NpyArray<float> input;
  Index batch_norms_folded = 0;
};

Model load(const std::filesystem::path& model, const std::filesystem::path& input) {
  auto imported = fovea::onnx::load<float>(model);
  const auto count_batch_norms = [](const fovea::Graph<float>& net) {
    Index count = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
      count += dynamic_cast<const fovea::BatchNorm<float>*>(&net.layer(i)) != nullptr;
    }
    return count;
  };
  fovea::Graph<float> folded = fovea::fold_batch_norm(imported);
  Model result{std::move(folded), fovea::read_npy<float>(input), 0};
  result.batch_norms_folded = count_batch_norms(imported) - count_batch_norms(result.net);
  const auto x = batch_of(result.input, imported.input_shape(), 1);
  const double difference = relative_difference(imported.infer(x), result.net.infer(x));
  if (!(difference <= 1e-5)) {
    throw fovea::value_error(model.string() + " with its batch norms folded differs from the import by " +
                             std::to_string(difference) + " of its largest output");
  }
  const char* checked = std::getenv("FOVEA_CHECKED_WEIGHTS");
  if (checked == nullptr || std::string(checked) != "1") result.net.set_constant_weights(true);
  return result;
}

void OnnxInference(benchmark::State& state, Model& model, Index batch, int threads) {
  fovea::set_threads(threads);
  Eigen::setNbThreads(1);
  const auto x = batch_of(model.input, model.net.input_shape(), batch);
  fovea::ExecutionContext<float> context;
  model.net.infer(x, context);  // plans and sizes every buffer
  const std::int64_t allocations_before = allocation_count.load();
  for (auto _ : state) benchmark::DoNotOptimize(model.net.infer(x, context).data());
  const auto allocations = static_cast<double>(allocation_count.load() - allocations_before);
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["allocs/call"] = allocations / static_cast<double>(state.iterations());
  state.counters["batch_norms_folded"] = static_cast<double>(model.batch_norms_folded);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (argc != 3) {
    std::cerr << "usage: bench_onnx_models MODEL.onnx INPUT.npy [benchmark flags]\n";
    return 2;
  }
  std::optional<Model> model;
  try {
    model.emplace(load(argv[1], argv[2]));
  } catch (const std::exception& e) {
    std::cerr << "bench_onnx_models: " << e.what() << "\n";
    return 1;
  }
  benchmark::AddCustomContext("model", argv[1]);
  // Batch 1 for a second per case; batch 256 for three (one call of
  // ResNet-18 takes seconds on one core: then a single timed call).
  for (Index batch : {Index{1}, Index{256}}) {
    for (int threads : {1, 2}) {
      const std::string name = "OnnxInference/batch:" + std::to_string(batch) + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(
          name.c_str(),
          [&model, batch, threads](benchmark::State& state) { OnnxInference(state, *model, batch, threads); })
          ->UseRealTime()
          ->MeasureProcessCPUTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(batch == 1 ? 1.0 : 3.0);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
