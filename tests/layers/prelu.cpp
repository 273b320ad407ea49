#include "fovea/layers/prelu.hpp"

#include <unistd.h>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "fovea/io/model_file.hpp"
#include "support/context_checks.hpp"
#include "support/layer_checks.hpp"

using namespace fovea;

TEMPLATE_TEST_CASE("PReLU agrees with a naive reference, shared and per channel", "[layers][prelu]", float, double) {
  using T = TestType;
  Rng rng(14);
  const auto x = Tensor<T, 4>::uniform({3, 4, 5, 6}, rng, T{-2}, T{2});
  const auto dy = Tensor<T, 4>::uniform(x.shape(), rng, T{-1}, T{1});
  for (const Index slopes : {Index{1}, Index{4}}) {
    PReLU<T> prelu(slopes);
    const auto params = prelu.params();
    for (Index s = 0; s < slopes; ++s) params[0].value(s) = static_cast<T>(0.1 * static_cast<double>(s + 1));
    params[0].grad.fill(T{0});
    const auto y = fovea::forward<T>(prelu, x);
    const auto dx = fovea::backward<T>(prelu, x, y, dy);
    std::vector<double> dslope(static_cast<std::size_t>(slopes), 0.0);
    for (Index n = 0; n < 3; ++n)
      for (Index c = 0; c < 4; ++c)
        for (Index h = 0; h < 5; ++h)
          for (Index w = 0; w < 6; ++w) {
            const Index s = slopes == 1 ? 0 : c;
            const double a = 0.1 * static_cast<double>(s + 1);
            const double v = x(n, c, h, w), g = dy(n, c, h, w);
            CHECK(y(n, c, h, w) == Approx(v > 0 ? v : a * v));
            CHECK(dx(n, c, h, w) == Approx(v > 0 ? g : a * g));
            if (v <= 0) dslope[static_cast<std::size_t>(s)] += g * v;
          }
    for (Index s = 0; s < slopes; ++s) {
      CHECK(params[0].grad(s) == Approx(dslope[static_cast<std::size_t>(s)]).epsilon(1e-5));
    }
  }
}

TEST_CASE("PReLU gradients agree with finite differences", "[layers][prelu][gradcheck]") {
  Rng rng(15);
  for (const Index slopes : {Index{1}, Index{3}}) {
    PReLU<double> prelu(slopes, 0.2);
    const auto x = fovea::test::away_from_zero({2, 3, 4, 2}, rng);
    const auto result = testing::check_gradients(prelu, x);
    INFO(prelu.describe() << ", worst " << result.worst);
    CHECK(result.checked == x.size() + slopes);
    CHECK(result.ok);
  }
}

TEST_CASE("PReLU describes itself, rejects bad input and survives a save and load", "[layers][prelu]") {
  PReLU<float> shared;
  CHECK(shared.describe() == "PReLU(1)");
  CHECK(shared.params()[0].name == "weight");
  CHECK(shared.params()[0].value(0) == 0.25F);
  CHECK(shared.output_shape({7, 2, 2}) == SampleShape{7, 2, 2});
  CHECK(shared.flops_per_sample({7, 2, 2}) == 56);
  PReLU<float> per_channel(3, 0.1);
  CHECK(per_channel.spec() == LayerSpec{"PReLU", {{"slopes", 3}, {"init", 0.1}}});
  CHECK(PReLU<float>::from_spec(per_channel.spec()).describe() == "PReLU(3)");
  fovea::test::check_forward_record(per_channel, Tensor<float, 4>({2, 3, 2, 2}));

  CHECK_THROWS_AS(PReLU<float>(0), value_error);
  CHECK_THROWS_WITH(PReLU<float>(0), "PReLU: slopes must be positive, got 0");
  CHECK_THROWS_WITH(PReLU<float>(2, INFINITY), "PReLU: initial slope must be finite, got inf");
  CHECK_THROWS_AS(per_channel.output_shape({4, 2, 2}), shape_error);
  CHECK_THROWS_WITH(per_channel.output_shape({4, 2, 2}),
                    "PReLU(3)::output_shape: input [4, 2, 2], expected 3 channel(s), one per slope");
  CHECK_THROWS_WITH(PReLU<float>::from_spec({"PReLU", {{"slopes", 2}}}), "PReLU: missing setting 'init'");
  Tensor<float, 4> x({1, 4, 1, 1}), y({1, 4, 1, 1});
  CHECK_THROWS_WITH(prelu_forward<float>(x, Tensor<float, 1>({3}), y),
                    "prelu_forward: 3 slopes for input [1, 4, 1, 1], expected 1 or 4");

  Sequential<float> net({3, 2, 2});
  net.emplace<PReLU<float>>(3);
  for (Index s = 0; s < 3; ++s) net.params()[0].value(s) = static_cast<float>(s) - 0.5F;
  const auto path = std::filesystem::temp_directory_path() / ("fovea_prelu_" + std::to_string(::getpid()) + ".fovea");
  save(net, path);
  Sequential<float> loaded = load<float>(path);
  CHECK(loaded.layer(0).describe() == "PReLU(3)");
  for (Index s = 0; s < 3; ++s) CHECK(loaded.params()[0].value(s) == static_cast<float>(s) - 0.5F);
  std::filesystem::remove(path);
}

TEST_CASE("PReLU gives the same bits on one thread and on several", "[layers][prelu][threads]") {
  const int saved = max_threads();
  Rng rng(40);
  const auto x = Tensor<float, 4>::normal({8, 16, 16, 16}, rng, 1.0F, 2.0F);  // above the parallel threshold
  const auto dy = Tensor<float, 4>::normal(x.shape(), rng, 0.0F, 1.0F);
  std::vector<float> first;
  for (const int threads : {1, 2, 3}) {
    set_threads(threads);
    PReLU<float> layer(16, 0.1);
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

TEST_CASE("PReLU keeps each execution, and its slope gradients, in its own context", "[layers][prelu][context]") {
  Rng rng(41);
  PReLU<float> prelu(3);
  const auto params = prelu.params();
  for (Index s = 0; s < 3; ++s) params[0].value(s) = 0.1F * static_cast<float>(s + 1);
  test::check_interleaved_contexts<float>(prelu, Tensor<float, 4>::uniform({2, 3, 4, 4}, rng, -1, 1),
                                          Tensor<float, 4>::uniform({3, 3, 4, 4}, rng, -1, 1), rng);
}

TEST_CASE("PReLU without gradients in its context computes dx alone", "[layers][prelu][context]") {
  Rng rng(42);
  PReLU<float> prelu(2, 0.3);
  const auto x = Tensor<float, 4>::uniform({2, 2, 3, 3}, rng, -1, 1);
  const auto dy = Tensor<float, 4>::uniform(x.shape(), rng, -1, 1);
  const auto y = fovea::forward<float>(prelu, x);
  prelu.params()[0].grad.fill(0);
  const auto want = fovea::backward<float>(prelu, x, y, dy);  // also accumulates into the layer's own gradients

  const auto context = prelu.make_context();  // no gradients pointed at: dx only
  Tensor<float, 4> y2(x.shape()), dx(x.shape());
  prelu.forward(x, y2, *context);
  const Tensor<float, 1> slope_grad(prelu.params()[0].grad);
  prelu.backward(x, y2, dy, dx, *context);
  CHECK(std::equal(dx.begin(), dx.end(), want.begin()));
  CHECK(std::equal(slope_grad.begin(), slope_grad.end(), prelu.params()[0].grad.begin()));  // untouched
}
