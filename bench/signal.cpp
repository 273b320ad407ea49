// Direct O(n k) summation against the O(N log N) FFT path of
// fovea::signal::correlate, over signal and kernel sizes, in 1D and 2D, to
// find where they cross. The counters give the two unit costs the automatic
// choice needs (see fft_break_even_* in include/fovea/signal/convolve.hpp):
//   time_per_mac       time per direct multiply-add   (read it on method:0, direct)
//   time_per_fft_unit  time per N log2 N of FFT work  (read it on method:1, fft)
// and automatic_is_fft says what Method::automatic picks for that case.
//
//   build/bench/bench_signal --benchmark_filter=crossover
//   build/bench/bench_signal --benchmark_filter='crossover_1d<float>'
#include <benchmark/benchmark.h>

#include <cmath>
#include <fovea/core/eigen.hpp>
#include <fovea/core/tensor.hpp>
#include <fovea/signal/convolve.hpp>

namespace {

using fovea::Index;
using fovea::Tensor;
using fovea::signal::Method;
using fovea::signal::Mode;

constexpr Index method_direct = 0;
constexpr Index method_fft = 1;
constexpr Index method_automatic = 2;

Method method_of(Index code) {
  if (code == method_direct) return Method::direct;
  if (code == method_fft) return Method::fft;
  return Method::automatic;
}

// Work counts for one call: direct multiply-adds and FFT units (N log2 N).
struct Work {
  double multiply_adds;
  double fft_units;
};

Work work_of(Index f_rows, Index f_cols, Index g_rows, Index g_cols, Mode mode) {
  using namespace fovea::signal::detail;
  const Window rows = output_window(f_rows, g_rows, mode);
  const Window cols = output_window(f_cols, g_cols, mode);
  const FftGrid grid = fft_grid(f_rows, f_cols, g_rows, g_cols, rows, cols);
  const double points = static_cast<double>(grid.rows * grid.cols);
  return {direct_taps(f_rows, g_rows, rows) * direct_taps(f_cols, g_cols, cols), points * std::log2(points)};
}

template <class T, std::size_t Rank>
void run(benchmark::State& state, const Tensor<T, Rank>& f, const Tensor<T, Rank>& g, Work work) {
  const Method method = method_of(state.range(2));
  for (auto _ : state) {
    auto out = fovea::signal::correlate(f, g, Mode::same, method);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  const auto inverse_rate = benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert;
  state.counters["time_per_mac"] = benchmark::Counter(work.multiply_adds, inverse_rate);
  state.counters["time_per_fft_unit"] = benchmark::Counter(work.fft_units, inverse_rate);
  state.counters["FLOPS"] = benchmark::Counter(2 * work.multiply_adds, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["automatic_is_fft"] = fovea::signal::automatic_method(f, g, Mode::same) == Method::fft ? 1 : 0;
  state.SetItemsProcessed(state.iterations() * f.size());
  state.SetLabel(fovea::signal::to_string(method));
}

// 1D: a signal of n samples, a kernel of k taps, same mode.
template <class T>
void crossover_1d(benchmark::State& state) {
  const Index n = state.range(0);
  const Index k = state.range(1);
  fovea::Rng rng(1);
  const auto f = Tensor<T, 1>::uniform({n}, rng, -1, 1);
  const auto g = Tensor<T, 1>::uniform({k}, rng, -1, 1);
  run(state, f, g, work_of(1, n, 1, k, Mode::same));
}

// 2D: an n x n image, a k x k kernel, same mode.
template <class T>
void crossover_2d(benchmark::State& state) {
  const Index n = state.range(0);
  const Index k = state.range(1);
  fovea::Rng rng(2);
  const auto f = Tensor<T, 2>::uniform({n, n}, rng, -1, 1);
  const auto g = Tensor<T, 2>::uniform({k, k}, rng, -1, 1);
  run(state, f, g, work_of(n, n, k, k, Mode::same));
}

void args_1d(benchmark::internal::Benchmark* b) {
  for (Index n : {4096, 16384}) {
    for (Index k : {8, 32, 128, 256, 512, 1024, 2048, 4096}) {
      if (k > n) continue;
      for (Index method : {method_direct, method_fft}) b->Args({n, k, method});
    }
  }
  b->ArgNames({"n", "k", "method"});
}

void args_2d(benchmark::internal::Benchmark* b) {
  for (Index n : {64, 256, 512}) {
    for (Index k : {3, 5, 7, 9, 11, 13, 15, 17, 21, 25, 31}) {
      if (k > n) continue;
      for (Index method : {method_direct, method_fft}) b->Args({n, k, method});
    }
  }
  b->ArgNames({"n", "k", "method"});
}

BENCHMARK_TEMPLATE(crossover_1d, float)->Apply(args_1d)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(crossover_1d, double)->Apply(args_1d)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(crossover_2d, float)->Apply(args_2d)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(crossover_2d, double)->Apply(args_2d)->Unit(benchmark::kMicrosecond);

// Method::automatic on cases either side of the crossover: it should track
// the faster of the two rows above.
void automatic_args(benchmark::internal::Benchmark* b) {
  b->Args({16384, 128, method_automatic})->Args({16384, 4096, method_automatic});
  b->ArgNames({"n", "k", "method"});
}
void automatic_args_2d(benchmark::internal::Benchmark* b) {
  b->Args({256, 5, method_automatic})->Args({256, 31, method_automatic});
  b->ArgNames({"n", "k", "method"});
}
BENCHMARK_TEMPLATE(crossover_1d, float)->Apply(automatic_args)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(crossover_2d, float)->Apply(automatic_args_2d)->Unit(benchmark::kMicrosecond);

// Yardstick: a plain Eigen SGEMM of about the multiply-adds of a 256 x 256
// image with a 9 x 9 kernel (5.3 M), in the same run.
void gemm_yardstick(benchmark::State& state) {
  const Index n = state.range(0);
  fovea::Rng rng(3);
  const auto a = Tensor<float, 2>::uniform({n, n}, rng, -1, 1);
  const auto b = Tensor<float, 2>::uniform({n, n}, rng, -1, 1);
  Tensor<float, 2> c({n, n});
  for (auto _ : state) {
    c.matrix().noalias() = a.matrix() * b.matrix();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double multiply_adds = static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  state.counters["FLOPS"] = benchmark::Counter(2 * multiply_adds, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["time_per_mac"] =
      benchmark::Counter(multiply_adds, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(gemm_yardstick)->Arg(175)->Unit(benchmark::kMicrosecond);

}  // namespace
