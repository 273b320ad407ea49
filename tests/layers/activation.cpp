#include "fovea/layers/activation.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "support/context_checks.hpp"
#include "support/layer_checks.hpp"

using fovea::Index;
using fovea::LayerSpec;
using fovea::Shape;
using fovea::Tensor;

TEMPLATE_TEST_CASE("activation layers apply their function elementwise and keep the shape", "[layers][activation]",
                   float, double) {
  using T = TestType;
  Tensor<T, 4> x({2, 1, 1, 3}, {-2, 0.5, 1, -1, 3, -0.25});
  fovea::ReLU<T> relu;
  CHECK(relu.output_shape({3, 5, 7}) == fovea::SampleShape{3, 5, 7});
  auto y = fovea::forward<T>(relu, x);
  CHECK(y.shape() == x.shape());
  CHECK(y(0, 0, 0, 0) == 0);
  CHECK(y(0, 0, 0, 1) == T(0.5));
  CHECK(y(1, 0, 0, 1) == 3);
  CHECK(y(1, 0, 0, 2) == 0);

  fovea::LeakyReLU<T> leaky(0.1);
  y = fovea::forward<T>(leaky, x);
  CHECK(y(0, 0, 0, 0) == Approx(-0.2));
  CHECK(y(1, 0, 0, 1) == 3);

  fovea::Sigmoid<T> sigmoid;
  y = fovea::forward<T>(sigmoid, x);
  CHECK(y(0, 0, 0, 2) == Approx(1 / (1 + std::exp(-1.0))));

  fovea::Tanh<T> tanh_layer;
  y = fovea::forward<T>(tanh_layer, x);
  CHECK(y(1, 0, 0, 0) == Approx(std::tanh(-1.0)));

  fovea::ELU<T> elu(2);
  y = fovea::forward<T>(elu, x);
  CHECK(y(0, 0, 0, 0) == Approx(2 * (std::exp(-2.0) - 1)));
  CHECK(y(0, 0, 0, 2) == 1);

  // Backward: dx = dy * f'(x).
  Tensor<T, 4> dy({2, 1, 1, 3}, {1, 1, 1, 1, 1, 1});
  y = fovea::forward<T>(relu, x);
  auto dx = fovea::backward<T>(relu, x, y, dy);
  CHECK(dx(0, 0, 0, 0) == 0);
  CHECK(dx(0, 0, 0, 1) == 1);
}

TEST_CASE("activation layers describe themselves and rebuild from their spec", "[layers][activation]") {
  fovea::ReLU<float> relu;
  fovea::LeakyReLU<float> leaky(0.01);
  fovea::Sigmoid<float> sigmoid;
  fovea::Tanh<float> tanh_layer;
  fovea::ELU<float> elu(0.5);
  CHECK(relu.describe() == "ReLU");
  CHECK(leaky.describe() == "LeakyReLU(0.01)");
  CHECK(sigmoid.describe() == "Sigmoid");
  CHECK(tanh_layer.describe() == "Tanh");
  CHECK(elu.describe() == "ELU(0.5)");
  CHECK(fovea::ELU<float>().describe() == "ELU(1)");
  CHECK(fovea::LeakyReLU<float>().slope() == 0.01);

  CHECK(relu.spec() == LayerSpec{"ReLU", {}});
  CHECK(leaky.spec() == LayerSpec{"LeakyReLU", {{"slope", 0.01}}});
  CHECK(sigmoid.spec() == LayerSpec{"Sigmoid", {}});
  CHECK(tanh_layer.spec() == LayerSpec{"Tanh", {}});
  CHECK(elu.spec() == LayerSpec{"ELU", {{"alpha", 0.5}}});

  fovea::test::check_spec_round_trip(relu);
  fovea::test::check_spec_round_trip(leaky);
  fovea::test::check_spec_round_trip(sigmoid);
  fovea::test::check_spec_round_trip(tanh_layer);
  fovea::test::check_spec_round_trip(elu);

  // One FLOP per comparison, arithmetic operation or exp, per element.
  const fovea::SampleShape input{2, 3, 4};
  CHECK(relu.flops_per_sample(input) == 24);
  CHECK(leaky.flops_per_sample(input) == 48);
  CHECK(sigmoid.flops_per_sample(input) == 96);
  CHECK(tanh_layer.flops_per_sample(input) == 96);
  CHECK(elu.flops_per_sample(input) == 72);
}

TEST_CASE("activation layers reject bad settings and foreign specs", "[layers][activation]") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(fovea::LeakyReLU<float>(inf), fovea::value_error);
  CHECK_THROWS_WITH(fovea::LeakyReLU<float>(inf), "LeakyReLU: slope must be finite, got inf");
  CHECK_THROWS_WITH(fovea::ELU<double>(std::nan("")), "ELU: alpha must be finite, got nan");
  CHECK_THROWS_AS(fovea::ReLU<float>::from_spec({"Tanh", {}}), fovea::format_error);
  CHECK_THROWS_WITH(fovea::ReLU<float>::from_spec({"Tanh", {}}), "ReLU::from_spec: spec is for a 'Tanh' layer");
  CHECK_THROWS_WITH(fovea::LeakyReLU<float>::from_spec({"ReLU", {}}),
                    "LeakyReLU::from_spec: spec is for a 'ReLU' layer");
  CHECK_THROWS_WITH(fovea::LeakyReLU<float>::from_spec({"LeakyReLU", {}}), "LeakyReLU: missing setting 'slope'");
  CHECK_THROWS_WITH(fovea::Sigmoid<float>::from_spec({"ReLU", {}}), "Sigmoid::from_spec: spec is for a 'ReLU' layer");
  CHECK_THROWS_WITH(fovea::Tanh<float>::from_spec({"ReLU", {}}), "Tanh::from_spec: spec is for a 'ReLU' layer");
  CHECK_THROWS_WITH(fovea::ELU<float>::from_spec({"ELU", {}}), "ELU: missing setting 'alpha'");
}

TEST_CASE("activation layers keep the forward record contract", "[layers][activation]") {
  Tensor<float, 4> x({2, 3, 2, 2});
  fovea::ReLU<float> relu;
  fovea::test::check_forward_record(relu, x);
  fovea::LeakyReLU<float> leaky(0.2);
  fovea::test::check_forward_record(leaky, x);
  fovea::Sigmoid<float> sigmoid;
  fovea::test::check_forward_record(sigmoid, x);
  fovea::Tanh<float> tanh_layer;
  fovea::test::check_forward_record(tanh_layer, x);
  fovea::ELU<float> elu;
  fovea::test::check_forward_record(elu, x);
}

TEST_CASE("activation layer gradients agree with finite differences", "[layers][activation][gradcheck]") {
  fovea::Rng rng(11);
  for (int trial = 0; trial < 4; ++trial) {
    const Shape<4> shape = {1 + rng.uniform_index(3), 1 + rng.uniform_index(3), 1 + rng.uniform_index(5),
                            1 + rng.uniform_index(5)};
    const auto x = fovea::test::away_from_zero(shape, rng);
    fovea::ReLU<double> relu;
    fovea::test::check_layer_gradients(relu, x);
    fovea::LeakyReLU<double> leaky(0.05);
    fovea::test::check_layer_gradients(leaky, x);
    fovea::Sigmoid<double> sigmoid;
    fovea::test::check_layer_gradients(sigmoid, x);
    fovea::Tanh<double> tanh_layer;
    fovea::test::check_layer_gradients(tanh_layer, x);
    fovea::ELU<double> elu(1.3);
    fovea::test::check_layer_gradients(elu, x);
  }
}

TEMPLATE_TEST_CASE("ReLU6 and Clip clip into their range, pass NaN and agree with a naive reference",
                   "[layers][activation][clip]", float, double) {
  using T = TestType;
  fovea::Rng rng(12);
  const auto x = Tensor<T, 4>::uniform({3, 2, 5, 7}, rng, T{-9}, T{9});
  const auto dy = Tensor<T, 4>::uniform(x.shape(), rng, T{-1}, T{1});
  fovea::ReLU6<T> relu6;
  fovea::Clip<T> clip(-1.5, 2);
  for (auto [layer, lo, hi] : {std::tuple<fovea::Layer<T>*, T, T>{&relu6, T{0}, T{6}},
                               std::tuple<fovea::Layer<T>*, T, T>{&clip, T(-1.5), T{2}}}) {
    const auto y = fovea::forward<T>(*layer, x);
    const auto dx = fovea::backward<T>(*layer, x, y, dy);
    for (Index i = 0; i < x.size(); ++i) {
      const T v = x.data()[i];
      CHECK(y.data()[i] == (v < lo ? lo : v > hi ? hi : v));
      CHECK(dx.data()[i] == (v > lo && v < hi ? dy.data()[i] : T{0}));
    }
  }
  // At the bounds the gradient is 0; a NaN stays NaN and gets no gradient.
  const Tensor<T, 4> edges({1, 1, 1, 4}, {0, 6, std::numeric_limits<T>::quiet_NaN(), 3});
  const auto y = fovea::forward<T>(relu6, edges);
  CHECK(y(0, 0, 0, 0) == 0);
  CHECK(y(0, 0, 0, 1) == 6);
  CHECK(std::isnan(y(0, 0, 0, 2)));
  const auto dx = fovea::backward<T>(relu6, edges, y, Tensor<T, 4>::full(edges.shape(), T{1}));
  CHECK(std::vector<T>(dx.begin(), dx.end()) == std::vector<T>{0, 0, 0, 1});
}

TEST_CASE("ReLU6 and Clip describe themselves, check their settings and pass a gradient check",
          "[layers][activation][clip]") {
  fovea::ReLU6<float> relu6;
  fovea::Clip<float> clip(-1, 1);
  CHECK(relu6.describe() == "ReLU6");
  CHECK(clip.describe() == "Clip(-1, 1)");
  CHECK(clip.spec() == LayerSpec{"Clip", {{"min", -1}, {"max", 1}}});
  CHECK(relu6.spec() == LayerSpec{"ReLU6", {}});
  CHECK(relu6.flops_per_sample({2, 3, 4}) == 48);
  fovea::test::check_spec_round_trip(relu6);
  fovea::test::check_spec_round_trip(clip);
  fovea::test::check_forward_record(relu6, Tensor<float, 4>({2, 3, 2, 2}));
  CHECK_THROWS_AS(fovea::Clip<float>(1, 1), fovea::value_error);
  CHECK_THROWS_WITH(fovea::Clip<float>(2, 1), "Clip: min must be below max, got min 2, max 1");
  CHECK_THROWS_WITH(fovea::Clip<float>(std::nan(""), 1), "Clip: min must be finite, got nan");
  CHECK_THROWS_WITH(fovea::Clip<float>::from_spec({"Clip", {{"min", 0}}}), "Clip: missing setting 'max'");
  CHECK_THROWS_WITH(fovea::ReLU6<float>::from_spec({"ReLU", {}}), "ReLU6::from_spec: spec is for a 'ReLU' layer");

  fovea::Rng rng(13);
  // Values 0.1 or more away from 0, 6, -0.5 and 0.5: no finite difference crosses a bound.
  auto x = fovea::test::away_from_zero({2, 3, 3, 4}, rng);
  for (double& v : x) v *= 8;
  for (double& v : x) {
    if (std::abs(std::abs(v) - 6) < 0.1 || std::abs(std::abs(v) - 0.5) < 0.1) v += 0.3;
  }
  fovea::ReLU6<double> relu6_double;
  fovea::test::check_layer_gradients(relu6_double, x);
  fovea::Clip<double> clip_double(-0.5, 0.5);
  fovea::test::check_layer_gradients(clip_double, x);
}

TEST_CASE("activation layers keep each execution in its own context", "[layers][activation][context]") {
  fovea::Rng rng(21);
  fovea::ReLU<float> relu;
  const auto a = Tensor<float, 4>::uniform({2, 3, 4, 4}, rng, -1, 1);
  const auto b = Tensor<float, 4>::uniform({3, 3, 4, 4}, rng, -1, 1);
  fovea::test::check_interleaved_contexts<float>(relu, a, b, rng);
  fovea::ELU<double> elu(0.5);
  fovea::test::check_interleaved_contexts<double>(elu, fovea::test::away_from_zero({2, 3, 2, 2}, rng),
                                                  fovea::test::away_from_zero({1, 3, 2, 2}, rng), rng);
}
