// Every layer other than Conv2d (bench/conv2d.cpp has those), forward and
// backward, at LeNet's shapes (batch 64) and at a VGG-like block's (64
// channels of 56x56, batch 8), through the Layer interface a network calls.
// Linear layers run next to the bare Eigen GEMMs they perform (same shapes,
// same run): the yardstick for what the layer adds. The other layers are
// memory-bound; GB/s counts the tensors each pass reads and writes once.
//
//   bench_layers --benchmark_min_time=0.2
//   bench_layers --benchmark_filter='lenet_fc1'      (Linear 400->120 next to its GEMMs)
//   bench_layers --benchmark_filter='Pool.*threads:1'
//
// Names: <Forward|Infer|Backward|Gemm...>/<case>/threads:<n> (Infer: an
// inference forward).

#include <benchmark/benchmark.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fovea/core/eigen.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/layers/activation.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/global_pool.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/layers/softmax.hpp"

namespace {

using fovea::Index;
using fovea::Layer;
using fovea::PoolKind;
using fovea::Tensor;

struct Case {
  std::string name;
  std::function<std::unique_ptr<Layer<float>>()> make;
  fovea::Shape<4> input;
};

fovea::Pool2dOptions pool(PoolKind kind, Index window = 2, Index stride = 2, Index padding = 0) {
  return {.kind = kind, .window = {window, window}, .stride = {stride, stride}, .padding = {padding, padding}};
}

template <class L, class... Args>
std::function<std::unique_ptr<Layer<float>>()> make(Args... args) {
  return [=] { return std::make_unique<L>(args...); };
}

std::vector<Case> cases() {
  using namespace fovea;
  const Shape<4> vgg{8, 64, 56, 56};
  return {
      {"lenet_pool1", make<Pool2d<float>>(pool(PoolKind::max)), {64, 6, 28, 28}},
      {"lenet_pool2", make<Pool2d<float>>(pool(PoolKind::max)), {64, 16, 10, 10}},
      {"lenet_relu1", make<ReLU<float>>(), {64, 6, 28, 28}},  // alone (in a network conv1 applies it as its epilogue)
      {"lenet_flatten", make<Flatten<float>>(), {64, 16, 5, 5}},
      {"lenet_fc1", make<Linear<float>>(Index{400}, Index{120}, true), {64, 400, 1, 1}},
      {"lenet_fc2", make<Linear<float>>(Index{120}, Index{84}, true), {64, 120, 1, 1}},
      {"lenet_fc3", make<Linear<float>>(Index{84}, Index{10}, true), {64, 84, 1, 1}},
      {"lenet_relu_fc", make<ReLU<float>>(), {64, 120, 1, 1}},
      {"lenet_softmax", make<Softmax<float>>(), {64, 10, 1, 1}},
      {"vgg_maxpool", make<Pool2d<float>>(pool(PoolKind::max)), vgg},
      {"vgg_maxpool_3s2p1", make<Pool2d<float>>(pool(PoolKind::max, 3, 2, 1)), vgg},
      {"vgg_avgpool", make<Pool2d<float>>(pool(PoolKind::average)), vgg},
      {"vgg_minpool", make<Pool2d<float>>(pool(PoolKind::min)), vgg},
      {"vgg_sumpool", make<Pool2d<float>>(pool(PoolKind::sum)), vgg},
      {"vgg_l2pool", make<Pool2d<float>>(pool(PoolKind::l2)), vgg},
      {"resnet18_maxpool_b1", make<Pool2d<float>>(pool(PoolKind::max, 3, 2, 1)), {1, 64, 112, 112}},
      {"vgg_global_avg", make<GlobalPool2d<float>>(PoolKind::average), vgg},
      {"vgg_global_max", make<GlobalPool2d<float>>(PoolKind::max), vgg},
      {"vgg_relu", make<ReLU<float>>(), vgg},
      {"vgg_leaky_relu", make<LeakyReLU<float>>(0.01), vgg},
      {"vgg_sigmoid", make<Sigmoid<float>>(), vgg},
      {"vgg_tanh", make<Tanh<float>>(), vgg},
      {"vgg_elu", make<ELU<float>>(1.0), vgg},
      {"vgg_dropout", make<Dropout<float>>(0.5, std::uint64_t{1}), vgg},
      {"vgg_flatten", make<Flatten<float>>(), {8, 512, 7, 7}},
      {"vgg_fc", make<Linear<float>>(Index{25088}, Index{256}, true), {8, 25088, 1, 1}},
      {"imagenet_softmax", make<Softmax<float>>(), {64, 1000, 1, 1}},
      {"imagenet_log_softmax", make<LogSoftmax<float>>(), {64, 1000, 1, 1}},
  };
}

// A layer with its input, output and gradients, parameters drawn at random.
struct Setup {
  std::unique_ptr<Layer<float>> layer;
  Tensor<float, 4> x, y, dy, dx;

  explicit Setup(const Case& c) : layer(c.make()) {
    fovea::Rng rng(1);
    for (auto& p : layer->params()) {
      for (float& v : p.value) v = static_cast<float>(rng.uniform(-0.1, 0.1));
    }
    x = Tensor<float, 4>::uniform(c.input, rng, -1, 1);
    const auto out = layer->output_shape({c.input[1], c.input[2], c.input[3]});
    y.resize({c.input[0], out[0], out[1], out[2]});
    dy = Tensor<float, 4>::uniform(y.shape(), rng, -1, 1);
    dx.resize(x.shape());
    layer->forward(x, y, true);
  }
  Index batch() const { return x.dim(0); }
};

void use_threads(int threads) {
  fovea::set_threads(threads);
  Eigen::setNbThreads(1);  // fovea splits the work itself; the yardstick GEMMs do the same
}

void report(benchmark::State& state, Index batch, double bytes, double flops) {
  const auto iterations = static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["GB/s"] = benchmark::Counter(bytes * iterations / 1e9, benchmark::Counter::kIsRate);
  if (flops > 0) {
    state.counters["GFLOP/s"] = benchmark::Counter(flops * iterations / 1e9, benchmark::Counter::kIsRate);
  }
}

double bytes_of(const Tensor<float, 4>& t) { return static_cast<double>(t.size() * Index{sizeof(float)}); }

// A Linear layer's output features; 0 for other layers.
Index linear_outputs(const Case& c) {
  const auto layer = c.make();
  if (layer->spec().type != "Linear") return 0;
  return layer->output_shape({c.input[1], c.input[2], c.input[3]})[0];
}

// A Linear layer's multiply-adds per forward pass; 0 for other layers.
double linear_macs(const Case& c) { return static_cast<double>(c.input[0] * c.input[1] * linear_outputs(c)); }

// A training forward (Forward) or an inference one (Infer: no dropout mask,
// no max-pooling winners kept).
void run_forward(benchmark::State& state, const Case& c, int threads, bool training) {
  use_threads(threads);
  Setup s(c);
  for (auto _ : state) {
    s.layer->forward(s.x, s.y, training);
    benchmark::DoNotOptimize(s.y.data());
    benchmark::ClobberMemory();
  }
  report(state, s.batch(), bytes_of(s.x) + bytes_of(s.y), 2 * linear_macs(c));
}
void Forward(benchmark::State& state, const Case& c, int threads) { run_forward(state, c, threads, true); }
void Infer(benchmark::State& state, const Case& c, int threads) { run_forward(state, c, threads, false); }

// Reads x, y and dy, writes dx; a Linear layer also reads W and accumulates dW.
void Backward(benchmark::State& state, const Case& c, int threads) {
  use_threads(threads);
  Setup s(c);
  for (auto _ : state) {
    s.layer->backward(s.x, s.y, s.dy, s.dx);
    benchmark::DoNotOptimize(s.dx.data());
    benchmark::ClobberMemory();
  }
  report(state, s.batch(), bytes_of(s.x) + bytes_of(s.y) + bytes_of(s.dy) + bytes_of(s.dx), 4 * linear_macs(c));
}

// The GEMMs a Linear layer performs, as plain Eigen products on row-major
// maps, split by fovea::parallel_for the way the layer splits them: forward
// Y = X W^T by samples; backward half the threads dX = dY W by samples,
// the other half dW += dY^T X by output features.
struct LinearGemms {
  Tensor<float, 2> x, w, y, dy, dw, dx;
  explicit LinearGemms(const Case& c) {
    fovea::Rng rng(2);
    const Index n = c.input[0], in = c.input[1], out = linear_outputs(c);
    x = Tensor<float, 2>::uniform({n, in}, rng, -1, 1);
    w = Tensor<float, 2>::uniform({out, in}, rng, -0.1, 0.1);
    dy = Tensor<float, 2>::uniform({n, out}, rng, -1, 1);
    y.resize({n, out});
    dw.resize({out, in});
    dx.resize({n, in});
  }
};

void GemmForward(benchmark::State& state, const Case& c, int threads) {
  use_threads(threads);
  LinearGemms g(c);
  const Index n = g.x.dim(0);
  for (auto _ : state) {
    fovea::parallel_for(n, [&](Index begin, Index end, int) {
      g.y.matrix().middleRows(begin, end - begin).noalias() =
          g.x.matrix().middleRows(begin, end - begin) * g.w.matrix().transpose();
    });
    benchmark::DoNotOptimize(g.y.data());
    benchmark::ClobberMemory();
  }
  report(state, n, 0, 2 * linear_macs(c));
}

void GemmBackward(benchmark::State& state, const Case& c, int threads) {
  use_threads(threads);
  LinearGemms g(c);
  const Index n = g.x.dim(0), out = g.w.dim(0);
  const auto weight_grad = [&](fovea::Range f) {
    g.dw.matrix().middleRows(f.begin, f.end - f.begin).noalias() +=
        g.dy.matrix().middleCols(f.begin, f.end - f.begin).transpose() * g.x.matrix();
  };
  const auto input_grad = [&](fovea::Range r) {
    g.dx.matrix().middleRows(r.begin, r.end - r.begin).noalias() =
        g.dy.matrix().middleRows(r.begin, r.end - r.begin) * g.w.matrix();
  };
  for (auto _ : state) {
    const int chunks = fovea::chunk_count(std::max(n, out));
    fovea::parallel_for(chunks, [&](Index chunk, Index, int) {
      const auto c_int = static_cast<int>(chunk);
      if (chunks == 1) {
        weight_grad({0, out});
        input_grad({0, n});
        return;
      }
      const int dx_chunks = chunks / 2;
      if (c_int < dx_chunks) {
        input_grad(fovea::chunk_range(n, dx_chunks, c_int));
      } else {
        weight_grad(fovea::chunk_range(out, chunks - dx_chunks, c_int - dx_chunks));
      }
    });
    benchmark::DoNotOptimize(g.dx.data());
    benchmark::ClobberMemory();
  }
  report(state, n, 0, 4 * linear_macs(c));
}

// Registered at start-up, one benchmark per case, pass and thread count.
[[maybe_unused]] const bool registered = [] {
  static const std::vector<Case> all = cases();
  for (const Case& c : all) {
    const bool linear = linear_macs(c) > 0;
    for (int threads : {1, 2}) {
      const std::string suffix = "/" + c.name + "/threads:" + std::to_string(threads);
      const auto add = [&](const std::string& pass, void (*run)(benchmark::State&, const Case&, int)) {
        benchmark::RegisterBenchmark((pass + suffix).c_str(), run, c, threads)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      };
      add("Forward", Forward);
      add("Infer", Infer);
      if (linear) add("GemmForward", GemmForward);
      add("Backward", Backward);
      if (linear) add("GemmBackward", GemmBackward);
    }
  }
  return true;
}();

}  // namespace
