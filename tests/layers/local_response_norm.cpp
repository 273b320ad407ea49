#include "fovea/layers/local_response_norm.hpp"

#include <unistd.h>
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "fovea/io/model_file.hpp"
#include "fovea/layers/activation.hpp"
#include "support/context_checks.hpp"
#include "support/layer_checks.hpp"

using namespace fovea;

namespace {
// PyTorch's definition, one output at a time in double: the squares padded
// with size/2 zero channels before and (size-1)/2 after, averaged over size
// channels, times alpha, plus k, to the power beta.
double naive_lrn(const LocalResponseNormOptions& o, const Tensor<double, 4>& x, Index n, Index c, Index h, Index w) {
  double sum = 0;
  for (Index j = c - o.size / 2; j <= c + (o.size - 1) / 2; ++j) {
    if (j >= 0 && j < x.dim(1)) sum += x(n, j, h, w) * x(n, j, h, w);
  }
  return x(n, c, h, w) / std::pow(o.k + o.alpha * sum / static_cast<double>(o.size), o.beta);
}
}  // namespace

TEMPLATE_TEST_CASE("LocalResponseNorm agrees with a naive reference", "[layers][local_response_norm]", float, double) {
  using T = TestType;
  Rng rng(16);
  const double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  for (const LocalResponseNormOptions o : {LocalResponseNormOptions{.size = 5, .alpha = 1e-2, .beta = 0.75, .k = 2},
                                           LocalResponseNormOptions{.size = 2, .alpha = 0.5, .beta = 0.5, .k = 1},
                                           LocalResponseNormOptions{.size = 9, .alpha = 1, .beta = 1.5, .k = 0.5}}) {
    const auto xd = Tensor<double, 4>::uniform({2, 6, 3, 4}, rng, -2.0, 2.0);
    Tensor<T, 4> x(xd.shape());
    for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(xd.data()[i]);
    Tensor<double, 4> rounded(x.shape());
    for (Index i = 0; i < x.size(); ++i) rounded.data()[i] = x.data()[i];
    LocalResponseNorm<T> lrn(o);
    const auto y = fovea::forward<T>(lrn, x);
    for (Index n = 0; n < 2; ++n)
      for (Index c = 0; c < 6; ++c)
        for (Index h = 0; h < 3; ++h)
          for (Index w = 0; w < 4; ++w) {
            CHECK(y(n, c, h, w) == Approx(naive_lrn(o, rounded, n, c, h, w)).epsilon(tolerance).margin(tolerance));
          }
    // Backward against central differences of the naive definition: dx_j = sum_c dy_c dy_c/dx_j.
    const auto dy = Tensor<T, 4>::uniform(x.shape(), rng, T{-1}, T{1});
    const auto dx = fovea::backward<T>(lrn, x, y, dy);
    for (Index n = 0; n < 2; ++n)
      for (Index j = 0; j < 6; ++j) {
        const Index h = (n + j) % 3, w = j % 4;
        const double step = 1e-6;
        auto moved = rounded;
        double numeric = 0;
        for (Index c = 0; c < 6; ++c) {
          moved(n, j, h, w) = rounded(n, j, h, w) + step;
          const double plus = naive_lrn(o, moved, n, c, h, w);
          moved(n, j, h, w) = rounded(n, j, h, w) - step;
          const double minus = naive_lrn(o, moved, n, c, h, w);
          numeric += dy(n, c, h, w) * (plus - minus) / (2 * step);
        }
        CHECK(dx(n, j, h, w) == Approx(numeric).epsilon(std::max(tolerance, 1e-7) * 10).margin(1e-6));
      }
  }
}

TEST_CASE("LocalResponseNorm gradients agree with finite differences", "[layers][local_response_norm][gradcheck]") {
  Rng rng(17);
  for (const Index size : {Index{1}, Index{2}, Index{3}, Index{5}, Index{8}}) {
    LocalResponseNorm<double> lrn({.size = size, .alpha = 0.3, .beta = 0.75, .k = 1.5});
    const auto x = Tensor<double, 4>::uniform({2, 5, 3, 2}, rng, -1.5, 1.5);
    fovea::test::check_layer_gradients(lrn, x);
  }
}

TEST_CASE("LocalResponseNorm describes itself, rejects bad settings and survives a save and load",
          "[layers][local_response_norm]") {
  LocalResponseNorm<float> lrn({.size = 5, .alpha = 1e-4, .beta = 0.75, .k = 2});
  CHECK(lrn.describe() == "LocalResponseNorm(5, alpha=1e-04, beta=0.75, k=2)");
  CHECK(lrn.spec() == LayerSpec{"LocalResponseNorm", {{"size", 5}, {"alpha", 1e-4}, {"beta", 0.75}, {"k", 2}}});
  CHECK(lrn.output_shape({96, 55, 55}) == SampleShape{96, 55, 55});
  CHECK(lrn.flops_per_sample({2, 3, 4}) == 15.0 * 24);
  fovea::test::check_spec_round_trip(lrn);
  fovea::test::check_forward_record(lrn, Tensor<float, 4>::full({2, 3, 2, 2}, 1.0F));

  CHECK_THROWS_AS(LocalResponseNorm<float>({.size = 0}), value_error);
  CHECK_THROWS_WITH(LocalResponseNorm<float>({.size = 0}), "LocalResponseNorm: size must be positive, got 0");
  CHECK_THROWS_WITH(LocalResponseNorm<float>({.alpha = -1}),
                    "LocalResponseNorm: alpha must be finite and not negative, got -1");
  CHECK_THROWS_WITH(LocalResponseNorm<float>({.beta = NAN}), "LocalResponseNorm: beta must be finite, got nan");
  CHECK_THROWS_WITH(LocalResponseNorm<float>({.k = 0}), "LocalResponseNorm: k must be positive and finite, got 0");
  CHECK_THROWS_WITH(LocalResponseNorm<float>::from_spec({"LocalResponseNorm", {{"size", 5}}}),
                    "LocalResponseNorm: missing setting 'alpha'");
  Tensor<float, 4> x({1, 3, 2, 2}), y({1, 3, 2, 2}), wrong({1, 3, 2, 1});
  CHECK_THROWS_WITH(local_response_norm_forward<float>({}, x, y, wrong),
                    "local_response_norm_forward: scale [1, 3, 2, 1] does not match the input [1, 3, 2, 2]");

  Sequential<float> net({4, 3, 3});
  net.emplace<LocalResponseNorm<float>>(LocalResponseNormOptions{.size = 3, .alpha = 0.1, .beta = 0.5, .k = 2});
  const auto path = std::filesystem::temp_directory_path() / ("fovea_lrn_" + std::to_string(::getpid()) + ".fovea");
  save(net, path);
  Sequential<float> loaded = load<float>(path);
  CHECK(loaded.layer(0).spec() == net.layer(0).spec());
  Rng rng(18);
  const auto batch = Tensor<float, 4>::normal({2, 4, 3, 3}, rng, 0.0F, 1.0F);
  const auto a = net.predict(batch);
  const auto b = loaded.predict(batch);
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
  std::filesystem::remove(path);
}

TEST_CASE("LocalResponseNorm gives the same bits on one thread and on several",
          "[layers][local_response_norm][threads]") {
  const int saved = max_threads();
  Rng rng(40);
  const auto x = Tensor<float, 4>::normal({8, 16, 16, 16}, rng, 1.0F, 2.0F);  // above the parallel threshold
  const auto dy = Tensor<float, 4>::normal(x.shape(), rng, 0.0F, 1.0F);
  std::vector<float> first;
  for (const int threads : {1, 2, 3}) {
    set_threads(threads);
    LocalResponseNorm<float> layer({.size = 5, .alpha = 0.1, .beta = 0.75, .k = 2});
    const auto y = fovea::forward<float>(layer, x);
    const auto dx = fovea::backward<float>(layer, x, y, dy);
    std::vector<float> bits(y.begin(), y.end());
    bits.insert(bits.end(), dx.begin(), dx.end());
    for (const auto& p : layer.params()) bits.insert(bits.end(), p.grad.begin(), p.grad.end());
    if (first.empty()) first = bits;
    CHECK(std::memcmp(bits.data(), first.data(), first.size() * sizeof(float)) == 0);
  }
  set_threads(saved);
}

TEST_CASE("LocalResponseNorm keeps each execution, and its scale, in its own context",
          "[layers][local_response_norm][context]") {
  Rng rng(43);
  LocalResponseNorm<float> lrn({.size = 3, .alpha = 0.5, .beta = 0.75, .k = 1});
  test::check_interleaved_contexts<float>(lrn, Tensor<float, 4>::normal({2, 5, 3, 3}, rng, 0.0F, 2.0F),
                                          Tensor<float, 4>::normal({3, 5, 3, 3}, rng, 0.0F, 2.0F), rng);
  Tensor<float, 4> x({2, 5, 3, 3}), y({2, 5, 3, 3});
  const auto relu_context = ReLU<float>().make_context();
  CHECK_THROWS_WITH(lrn.forward(x, y, *relu_context),
                    "LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1): given an execution context another layer made");
}
