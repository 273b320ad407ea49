#include "fovea/layers/flatten.hpp"

#include <catch2/catch.hpp>

#include "fovea/testing/gradcheck.hpp"
#include "support/context_checks.hpp"

using fovea::Flatten;
using fovea::SampleShape;
using fovea::Tensor;

TEMPLATE_TEST_CASE("Flatten turns [C, H, W] into [C*H*W, 1, 1] in row-major order", "[flatten]", float, double) {
  Flatten<TestType> flat;
  CHECK(flat.describe() == "Flatten");
  CHECK(flat.spec() == fovea::LayerSpec{"Flatten", {}});
  CHECK(flat.output_shape({16, 5, 5}) == SampleShape{400, 1, 1});
  CHECK(flat.params().empty());
  CHECK(flat.flops_per_sample({16, 5, 5}) == 0);

  const Tensor<TestType, 4> x({2, 2, 1, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  const auto y = fovea::forward<TestType>(flat, x);
  REQUIRE(y.shape() == fovea::Shape<4>{2, 6, 1, 1});
  for (fovea::Index i = 0; i < 12; ++i) CHECK(y.data()[i] == x.data()[i]);
  CHECK(y(1, 0, 0, 0) == 7);

  // Backward copies the gradient back into the input's shape.
  const auto dx = fovea::backward<TestType>(flat, x, y, y);
  CHECK(dx.shape() == x.shape());
  CHECK(dx.matrix() == x.matrix());
  flat.backward(x, y, y, Tensor<TestType, 4>());  // no input gradient wanted

  const auto rebuilt = Flatten<TestType>::from_spec(flat.spec());
  CHECK(rebuilt.describe() == "Flatten");
  CHECK_THROWS_WITH(Flatten<TestType>::from_spec({"Linear", {}}), "Flatten::from_spec: spec is for a 'Linear' layer");
}

TEMPLATE_TEST_CASE("Flatten reports misuse", "[flatten][errors]", float, double) {
  Flatten<TestType> flat;
  Tensor<TestType, 4> x({2, 3, 2, 2}), y({2, 12, 1, 1}), dx(x.shape());
  CHECK_THROWS_AS(flat.backward(x, y, y, dx), fovea::state_error);
  CHECK_THROWS_WITH(flat.backward(x, y, y, dx), "Flatten::backward: called before forward");
  Tensor<TestType, 4> y_wrong({2, 12, 2, 1});
  CHECK_THROWS_WITH(flat.forward(x, y_wrong, true),
                    "Flatten::forward: output buffer [2, 12, 2, 1], expected [2, 12, 1, 1] for input [2, 3, 2, 2]");
  flat.forward(x, y, true);
  Tensor<TestType, 4> dx_wrong({2, 12, 1, 1});
  CHECK_THROWS_WITH(flat.backward(x, y, y, dx_wrong),
                    "Flatten::backward: input gradient buffer [2, 12, 1, 1], expected [2, 3, 2, 2]");
}

TEST_CASE("Flatten's gradient passes the numeric check", "[flatten][gradcheck]") {
  fovea::Rng rng(1);
  Flatten<double> flat;
  const auto x = Tensor<double, 4>::uniform({3, 2, 3, 2}, rng, -1, 1);
  const auto result = fovea::testing::check_gradients(flat, x);
  INFO(result.worst);
  CHECK(result.ok);
  CHECK(result.checked == x.size());
}

TEST_CASE("Flatten keeps each execution in its own context", "[flatten][context]") {
  fovea::Rng rng(2);
  Flatten<float> flat;
  fovea::test::check_interleaved_contexts<float>(flat, Tensor<float, 4>::uniform({2, 3, 2, 2}, rng, -1, 1),
                                                 Tensor<float, 4>::uniform({3, 3, 2, 2}, rng, -1, 1), rng);
}
