// Conv2d forward and backward at LeNet's and a VGG-like layer's shapes, each
// next to plain Eigen row-major GEMMs of the same M (Cout), N (positions) and
// K (Cin*KH*KW) in the same run: the yardstick for how much of the GEMM rate
// the convolution keeps after im2col, bias and col2im.
//
//   bench_conv2d --benchmark_min_time=0.2
//   bench_conv2d --benchmark_filter='ForwardBackward'   (layer vs. its bare GEMMs)
//   bench_conv2d --benchmark_filter='FirstLayer'        (no dx: conv1's direct path)
//   bench_conv2d --benchmark_filter='FmaPeak|Conv2dForward/layer:2/threads:1'  (VGG-like vs. peak)
//
// Arguments: /<layer>/<threads>. Layers: 0 = LeNet conv1 (1->6, 5x5, pad 2,
// 28x28, batch 64), 1 = LeNet conv2 (6->16, 5x5, 14x14, batch 64),
// 2 = VGG-like (64->64, 3x3, pad 1, 56x56, batch 8); 3-7 = ResNet-8's 3x3
// layers (pad 1) at batch 64, one training lane's share of a batch of 128:
// 16->16 at 28x28, 16->32 stride 2 at 28x28, 32->32 at 14x14, 32->64 stride 2
// at 14x14, 64->64 at 7x7; 8-15 = ResNet-18's stride-1 3x3 layers (64 to
// 512 channels at 56x56 to 7x7) at batch 1, then at batch 32; 16 = ResNet-18's
// stem (3->64, 7x7 stride 2 on 224x224) at batch 1; 17-21 = MobileNetV2's
// depthwise 3x3 layers (groups = channels, pad 1) at batch 1: 32 at 112x112,
// 96 at 112x112 stride 2, 144 at 56x56, 384 at 14x14, 960 at 7x7; 22-26 =
// ResNet-8's 3x3 layers (as 3-7) at batch 1.
//
//   bench_conv2d --benchmark_filter='FmaPeak|Conv2d(Forward|Backward)/layer:[3-7]/threads:1'
//       (ResNet-8's 3x3 convolutions, forward and backward, against one core's peak)

#include <benchmark/benchmark.h>

#include <iterator>

#include "fovea/core/parallel.hpp"
#include "fovea/layers/conv2d.hpp"

namespace {

using fovea::Index;
using fovea::Tensor;

struct Shape {
  const char* name;
  Index batch, in, out, size, kernel, pad, stride = 1, groups = 1;
};
constexpr Shape shapes[] = {
    {"lenet_conv1", 64, 1, 6, 28, 5, 2},
    {"lenet_conv2", 64, 6, 16, 14, 5, 0},
    {"vgg_3x3", 8, 64, 64, 56, 3, 1},
    {"resnet8_16_28", 64, 16, 16, 28, 3, 1},
    {"resnet8_16_32_s2", 64, 16, 32, 28, 3, 1, 2},
    {"resnet8_32_14", 64, 32, 32, 14, 3, 1},
    {"resnet8_32_64_s2", 64, 32, 64, 14, 3, 1, 2},
    {"resnet8_64_7", 64, 64, 64, 7, 3, 1},
    {"resnet18_64_56_b1", 1, 64, 64, 56, 3, 1},
    {"resnet18_128_28_b1", 1, 128, 128, 28, 3, 1},
    {"resnet18_256_14_b1", 1, 256, 256, 14, 3, 1},
    {"resnet18_512_7_b1", 1, 512, 512, 7, 3, 1},
    {"resnet18_64_56_b32", 32, 64, 64, 56, 3, 1},
    {"resnet18_128_28_b32", 32, 128, 128, 28, 3, 1},
    {"resnet18_256_14_b32", 32, 256, 256, 14, 3, 1},
    {"resnet18_512_7_b32", 32, 512, 512, 7, 3, 1},
    {"resnet18_stem_b1", 1, 3, 64, 224, 7, 3, 2},
    {"mobilenet_v2_dw_32_112_b1", 1, 32, 32, 112, 3, 1, 1, 32},
    {"mobilenet_v2_dw_96_112_s2_b1", 1, 96, 96, 112, 3, 1, 2, 96},
    {"mobilenet_v2_dw_144_56_b1", 1, 144, 144, 56, 3, 1, 1, 144},
    {"mobilenet_v2_dw_384_14_b1", 1, 384, 384, 14, 3, 1, 1, 384},
    {"mobilenet_v2_dw_960_7_b1", 1, 960, 960, 7, 3, 1, 1, 960},
    {"resnet8_16_28_b1", 1, 16, 16, 28, 3, 1},
    {"resnet8_16_32_s2_b1", 1, 16, 32, 28, 3, 1, 2},
    {"resnet8_32_14_b1", 1, 32, 32, 14, 3, 1},
    {"resnet8_32_64_s2_b1", 1, 32, 64, 14, 3, 1, 2},
    {"resnet8_64_7_b1", 1, 64, 64, 7, 3, 1},
};

struct Setup {
  Shape shape;
  fovea::Conv2d<float> conv;
  Tensor<float, 4> x, y, dy, dx;
  Index M, N, K;  // GEMM view: y[M, N] = W[M, K] * cols[K, N], N per sample

  explicit Setup(const Shape& s)
      : shape(s),
        conv({.in_channels = s.in,
              .out_channels = s.out,
              .kernel = s.kernel,
              .stride = s.stride,
              .padding = s.pad,
              .groups = s.groups}) {
    fovea::Rng rng(1);
    for (auto& p : conv.params()) {
      for (float& v : p.value) v = static_cast<float>(rng.uniform(-0.1, 0.1));
    }
    x = Tensor<float, 4>::uniform({s.batch, s.in, s.size, s.size}, rng, -1, 1);
    const auto out = conv.output_shape({s.in, s.size, s.size});
    y.resize({s.batch, out[0], out[1], out[2]});
    dy = Tensor<float, 4>::uniform(y.shape(), rng, -1, 1);
    dx.resize(x.shape());
    M = s.out;
    N = out[1] * out[2];
    K = s.in / s.groups * s.kernel * s.kernel;
  }
  // One GEMM of the forward pass per sample, multiply-adds as 2 FLOPs.
  double forward_flops() const { return 2.0 * static_cast<double>(shape.batch * M * N * K); }
};

void use_threads(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(1));
  fovea::set_threads(threads);
  Eigen::setNbThreads(threads);  // the yardstick GEMMs (and a batch of 1) may thread inside Eigen
}

void report(benchmark::State& state, const Setup& s, double flops_per_iteration) {
  state.SetLabel(s.shape.name);
  state.SetItemsProcessed(state.iterations() * s.shape.batch);
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration * static_cast<double>(state.iterations()) / 1e9,
                                                 benchmark::Counter::kIsRate);
}

void Conv2dForward(benchmark::State& state) {
  use_threads(state);
  Setup s(shapes[state.range(0)]);
  for (auto _ : state) {
    s.conv.forward(s.x, s.y, true);
    benchmark::DoNotOptimize(s.y.data());
    benchmark::ClobberMemory();
  }
  report(state, s, s.forward_flops());
}

// dW, db and dx: two GEMMs per sample (dW += dy cols^T, dcols = W^T dy).
void Conv2dBackward(benchmark::State& state) {
  use_threads(state);
  Setup s(shapes[state.range(0)]);
  s.conv.forward(s.x, s.y, true);
  for (auto _ : state) {
    s.conv.backward(s.x, s.y, s.dy, s.dx);
    benchmark::DoNotOptimize(s.dx.data());
    benchmark::ClobberMemory();
  }
  report(state, s, 2 * s.forward_flops());
}

// Yardstick 1: the same GEMM shapes the convolution runs, one per sample
// ([M, K] x [K, N] into the sample's output), with no im2col around them.
void GemmPerSample(benchmark::State& state) {
  use_threads(state);
  Setup s(shapes[state.range(0)]);
  fovea::Rng rng(2);
  const auto a = Tensor<float, 2>::uniform({s.M, s.K}, rng, -1, 1);
  const auto b = Tensor<float, 3>::uniform({s.shape.batch, s.K, s.N}, rng, -1, 1);
  Tensor<float, 3> c({s.shape.batch, s.M, s.N});
  for (auto _ : state) {
    fovea::parallel_for(s.shape.batch, [&](Index begin, Index end, int) {
      for (Index n = begin; n < end; ++n) c.item(n).matrix(1).noalias() = a.matrix() * b.item(n).matrix(1);
    });
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  report(state, s, s.forward_flops());
}

// Yardstick 2: one batched GEMM [M, K] x [K, batch*N], threaded by Eigen itself.
void GemmBatched(benchmark::State& state) {
  use_threads(state);
  Setup s(shapes[state.range(0)]);
  fovea::Rng rng(2);
  const auto a = Tensor<float, 2>::uniform({s.M, s.K}, rng, -1, 1);
  const auto b = Tensor<float, 2>::uniform({s.K, s.shape.batch * s.N}, rng, -1, 1);
  Tensor<float, 2> c({s.M, s.shape.batch * s.N});
  for (auto _ : state) {
    c.matrix().noalias() = a.matrix() * b.matrix();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  report(state, s, s.forward_flops());
}

// Forward and backward together: what one training step spends on the layer.
void Conv2dForwardBackward(benchmark::State& state) {
  use_threads(state);
  Setup s(shapes[state.range(0)]);
  for (auto _ : state) {
    s.conv.forward(s.x, s.y, true);
    s.conv.backward(s.x, s.y, s.dy, s.dx);
    benchmark::DoNotOptimize(s.dx.data());
    benchmark::ClobberMemory();
  }
  report(state, s, 3 * s.forward_flops());
}

// The same as the first layer of a network: no input gradient (dx empty),
// which lets a 1-input-channel layer take the direct path for dW as well.
void Conv2dFirstLayerForwardBackward(benchmark::State& state) {
  use_threads(state);
  Setup s(shapes[state.range(0)]);
  for (auto _ : state) {
    s.conv.forward(s.x, s.y, true);
    s.conv.backward(s.x, s.y, s.dy, {});
    benchmark::DoNotOptimize(s.y.data());
    benchmark::ClobberMemory();
  }
  report(state, s, 2 * s.forward_flops());
}

// Yardstick for Conv2dForwardBackward: the three GEMMs a training step runs
// per sample (y = W cols, dW += dy cols^T, dcols = W^T dy) on ready-made
// operands, samples split across threads as the convolution does, and the
// per-chunk dW partials summed as it does. The target: the layer within 1.25x.
void GemmForwardBackward(benchmark::State& state) {
  use_threads(state);
  Setup s(shapes[state.range(0)]);
  fovea::Rng rng(2);
  const auto w = Tensor<float, 2>::uniform({s.M, s.K}, rng, -1, 1);
  const auto cols = Tensor<float, 3>::uniform({s.shape.batch, s.K, s.N}, rng, -1, 1);
  const auto dy = Tensor<float, 3>::uniform({s.shape.batch, s.M, s.N}, rng, -1, 1);
  Tensor<float, 3> y({s.shape.batch, s.M, s.N});
  Tensor<float, 3> dcols({s.shape.batch, s.K, s.N});
  Tensor<float, 3> dw({2, s.M, s.K});
  for (auto _ : state) {
    fovea::parallel_for(s.shape.batch, [&](Index begin, Index end, int chunk) {
      auto dW = dw.item(chunk).matrix(1);
      dW.setZero();
      for (Index n = begin; n < end; ++n) {
        y.item(n).matrix(1).noalias() = w.matrix() * cols.item(n).matrix(1);
        dW.noalias() += dy.item(n).matrix(1) * cols.item(n).matrix(1).transpose();
        dcols.item(n).matrix(1).noalias() = w.matrix().transpose() * dy.item(n).matrix(1);
      }
    });
    benchmark::DoNotOptimize(dcols.data());
    benchmark::ClobberMemory();
  }
  report(state, s, 3 * s.forward_flops());
}

void shapes_and_threads(benchmark::internal::Benchmark* b) {
  for (int shape = 0; shape < static_cast<int>(std::size(shapes)); ++shape) {
    for (int threads : {1, 2}) b->Args({shape, threads});
  }
  b->ArgNames({"layer", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

// One core's multiply-add peak, the yardstick for "percent of peak": 12
// independent chains of acc = acc * m + c on 64-byte vectors (one AVX-512
// register, two AVX2 ones), enough chains to cover the FMA latency on every
// current x86 core. GFLOP/s counts each multiply-add as 2 FLOPs.
void FmaPeak(benchmark::State& state) {
  using Vector = float __attribute__((vector_size(64)));
  constexpr int chains = 12;
  constexpr int steps = 4096;
  Vector acc[chains];
  Vector m, c;
  for (int i = 0; i < 16; ++i) {
    m[i] = 0.9999f;
    c[i] = 1e-4f;
    for (int k = 0; k < chains; ++k) acc[k][i] = 0.01f * static_cast<float>(k + i);
  }
  for (auto _ : state) {
    for (int step = 0; step < steps; ++step) {
#pragma GCC unroll 12
      for (int k = 0; k < chains; ++k) acc[k] = acc[k] * m + c;
    }
    benchmark::DoNotOptimize(acc);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * 16 * chains * steps * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(FmaPeak);

BENCHMARK(Conv2dForward)->Apply(shapes_and_threads);
BENCHMARK(GemmPerSample)->Apply(shapes_and_threads);
BENCHMARK(GemmBatched)->Apply(shapes_and_threads);
BENCHMARK(Conv2dBackward)->Apply(shapes_and_threads);
BENCHMARK(Conv2dForwardBackward)->Apply(shapes_and_threads);
BENCHMARK(Conv2dFirstLayerForwardBackward)->Apply(shapes_and_threads);
BENCHMARK(GemmForwardBackward)->Apply(shapes_and_threads);
