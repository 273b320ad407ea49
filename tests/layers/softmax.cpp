#include "fovea/layers/softmax.hpp"

#include <catch2/catch.hpp>
#include <cmath>

#include "support/context_checks.hpp"
#include "support/layer_checks.hpp"

using fovea::Index;
using fovea::LayerSpec;
using fovea::LogSoftmax;
using fovea::Shape;
using fovea::Softmax;
using fovea::Tensor;

TEMPLATE_TEST_CASE("Softmax and LogSoftmax work over the channels of [N, C, 1, 1]", "[layers][softmax]", float,
                   double) {
  using T = TestType;
  const Tensor<T, 4> x({2, 4, 1, 1}, {0, 0, 0, 0, 1, 2, 3, 4});
  Softmax<T> softmax;
  const auto y = fovea::forward<T>(softmax, x);
  REQUIRE(y.shape() == x.shape());
  CHECK(y(0, 2, 0, 0) == Approx(0.25));
  CHECK(y.matrix().row(1).sum() == Approx(1));
  CHECK(y(1, 3, 0, 0) > y(1, 2, 0, 0));

  LogSoftmax<T> log_softmax;
  const auto log_y = fovea::forward<T>(log_softmax, x);
  CHECK(log_y(0, 1, 0, 0) == Approx(-std::log(4.0)));
  CHECK(log_y.array().exp().isApprox(y.array(), T(1e-5)));
}

TEST_CASE("Softmax layers describe themselves and need flat features", "[layers][softmax]") {
  Softmax<float> softmax;
  LogSoftmax<float> log_softmax;
  CHECK(softmax.describe() == "Softmax");
  CHECK(log_softmax.describe() == "LogSoftmax");
  CHECK(softmax.spec() == LayerSpec{"Softmax", {}});
  CHECK(log_softmax.spec() == LayerSpec{"LogSoftmax", {}});
  fovea::test::check_spec_round_trip(softmax);
  fovea::test::check_spec_round_trip(log_softmax);
  CHECK_THROWS_WITH(Softmax<float>::from_spec({"LogSoftmax", {}}),
                    "Softmax::from_spec: spec is for a 'LogSoftmax' layer");
  CHECK_THROWS_WITH(LogSoftmax<float>::from_spec({"Softmax", {}}),
                    "LogSoftmax::from_spec: spec is for a 'Softmax' layer");
  CHECK(softmax.output_shape({10, 1, 1}) == fovea::SampleShape{10, 1, 1});
  CHECK(softmax.flops_per_sample({10, 1, 1}) == 40);
  CHECK_THROWS_AS(softmax.output_shape({10, 2, 1}), fovea::shape_error);
  CHECK_THROWS_WITH(softmax.output_shape({10, 2, 1}),
                    "Softmax::output_shape: input [10, 2, 1], expected [C, 1, 1] (flatten the features first)");
  CHECK_THROWS_WITH(log_softmax.output_shape({3, 1, 4}),
                    "LogSoftmax::output_shape: input [3, 1, 4], expected [C, 1, 1] (flatten the features first)");
}

TEST_CASE("Softmax layers keep the forward record contract", "[layers][softmax]") {
  const Tensor<float, 4> x({3, 5, 1, 1});
  Softmax<float> softmax;
  fovea::test::check_forward_record(softmax, x);
  LogSoftmax<float> log_softmax;
  fovea::test::check_forward_record(log_softmax, x);
}

TEST_CASE("Softmax layer gradients agree with finite differences", "[layers][softmax][gradcheck]") {
  fovea::Rng rng(13);
  for (int trial = 0; trial < 4; ++trial) {
    const Shape<4> shape = {1 + rng.uniform_index(4), 1 + rng.uniform_index(9), 1, 1};
    const auto x = Tensor<double, 4>::uniform(shape, rng, -3, 3);
    Softmax<double> softmax;
    fovea::test::check_layer_gradients(softmax, x);
    LogSoftmax<double> log_softmax;
    fovea::test::check_layer_gradients(log_softmax, x);
  }
}

TEST_CASE("Softmax layers keep each execution in its own context", "[layers][softmax][context]") {
  fovea::Rng rng(14);
  const auto a = Tensor<float, 4>::uniform({2, 7, 1, 1}, rng, -3, 3);
  const auto b = Tensor<float, 4>::uniform({5, 7, 1, 1}, rng, -3, 3);
  Softmax<float> softmax;
  fovea::test::check_interleaved_contexts<float>(softmax, a, b, rng);
  LogSoftmax<float> log_softmax;
  fovea::test::check_interleaved_contexts<float>(log_softmax, a, b, rng);
}
