#include "fovea/layers/linear.hpp"

#include <catch2/catch.hpp>
#include <cmath>

#include "fovea/testing/gradcheck.hpp"
#include "support/context_checks.hpp"

using fovea::Index;
using fovea::Linear;
using fovea::SampleShape;
using fovea::Tensor;

TEMPLATE_TEST_CASE("Linear describes itself and flattens its input implicitly", "[linear]", float, double) {
  Linear<TestType> fc(400, 120);
  CHECK(fc.describe() == "Linear(400->120)");
  CHECK(fc.output_shape({16, 5, 5}) == SampleShape{120, 1, 1});
  CHECK(fc.output_shape({400, 1, 1}) == SampleShape{120, 1, 1});
  CHECK(fc.parameter_count() == 400 * 120 + 120);
  CHECK(fc.flops_per_sample({16, 5, 5}) == 2.0 * 400 * 120);
  auto params = fc.params();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[0].shape == std::vector<Index>{120, 400});
  CHECK(params[1].name == "bias");
  CHECK(params[1].shape == std::vector<Index>{120});
  // Not zero: the default start (layers/default_init.hpp), uniform in +-1/sqrt(400).
  for (const auto& p : params) {
    CHECK(p.value.array().abs().maxCoeff() < TestType(0.05));
    CHECK(p.value.array().abs().maxCoeff() > TestType(0.04));
  }

  Linear<TestType> plain(3, 2, false);
  CHECK(plain.describe() == "Linear(3->2, no bias)");
  REQUIRE(plain.params().size() == 1);
  CHECK(plain.parameter_count() == 6);
}

TEMPLATE_TEST_CASE("Linear starts uniform in +-1/sqrt(in), drawn from its seed", "[linear][init]", float, double) {
  using T = TestType;
  Linear<T> fc(100, 30), again(100, 30), other(100, 30, true, 7);
  const T bound = T(0.1);  // 1/sqrt(100)
  const auto weight = fc.weight().flatten();
  CHECK(weight.array().abs().maxCoeff() < bound);
  CHECK(fc.bias().array().abs().maxCoeff() < bound);
  // The spread of uniform(-b, b) is b / sqrt(3); every unit starts different.
  const double mean = weight.array().template cast<double>().mean();
  const double spread = std::sqrt((weight.array().template cast<double>() - mean).square().mean());
  CHECK(spread == Approx(0.1 / std::sqrt(3.0)).epsilon(0.05));
  CHECK(fc.weight()(0, 0) != fc.weight()(1, 0));
  // The weights, then the bias, from Rng(default_init_seed), in memory order.
  fovea::Rng rng(fovea::default_init_seed);
  CHECK(fc.weight()(0, 0) == static_cast<T>(rng.uniform(-0.1, 0.1)));
  for (Index i = 1; i < 100 * 30; ++i) rng.uniform01();
  CHECK(fc.bias()(0) == static_cast<T>(rng.uniform(-0.1, 0.1)));
  // Same construction, same weights; another seed, others.
  CHECK(fc.weight().matrix() == again.weight().matrix());
  CHECK(fc.bias().array().isApprox(again.bias().array(), T(0)));
  CHECK(fc.weight().matrix() != other.weight().matrix());
}

TEMPLATE_TEST_CASE("Linear computes W x + b for every sample", "[linear]", float, double) {
  Linear<TestType> fc(2, 3);
  auto params = fc.params();
  params[0].value.copy_from(Tensor<TestType, 1>({6}, {1, 2, 3, 4, 5, 6}));
  params[1].value.copy_from(Tensor<TestType, 1>({3}, {1, 0, -1}));
  const Tensor<TestType, 4> x({2, 2, 1, 1}, {1, 1, 2, -1});
  const auto y = fovea::forward<TestType>(fc, x);
  REQUIRE(y.shape() == fovea::Shape<4>{2, 3, 1, 1});
  const Tensor<TestType, 4> expected({2, 3, 1, 1}, {4, 7, 10, 1, 2, 3});
  CHECK(y.matrix() == expected.matrix());
}

TEMPLATE_TEST_CASE("Linear reports bad sizes and misuse", "[linear][errors]", float, double) {
  CHECK_THROWS_AS(Linear<TestType>(0, 10), fovea::value_error);
  CHECK_THROWS_WITH(Linear<TestType>(0, 10), "Linear: in_features must be positive, got 0");
  CHECK_THROWS_WITH(Linear<TestType>(10, -2), "Linear: out_features must be positive, got -2");

  Linear<TestType> fc(401, 120);
  CHECK_THROWS_AS(fc.output_shape({16, 5, 5}), fovea::shape_error);
  CHECK_THROWS_WITH(fc.output_shape({16, 5, 5}), "Linear(401->120): input has 400 features");

  Linear<TestType> small(12, 5);
  Tensor<TestType, 4> x({2, 3, 2, 2}), y({2, 5, 1, 1}), dx(x.shape());
  CHECK_THROWS_AS(small.backward(x, y, y, dx), fovea::state_error);
  CHECK_THROWS_WITH(small.backward(x, y, y, dx), "Linear(12->5)::backward: called before forward");
  Tensor<TestType, 4> y_wrong({2, 4, 1, 1});
  CHECK_THROWS_WITH(small.forward(x, y_wrong, true),
                    "Linear(12->5)::forward: output buffer [2, 4, 1, 1], expected [2, 5, 1, 1] for input [2, 3, 2, 2]");
  small.forward(x, y, true);
  CHECK_THROWS_WITH(small.backward(x, y, y_wrong, dx),
                    "Linear(12->5)::backward: gradient [2, 4, 1, 1] does not match the forward output [2, 5, 1, 1]");
}

TEMPLATE_TEST_CASE("Linear rebuilds itself from its spec", "[linear]", float, double) {
  Linear<TestType> fc(84, 10, false);
  const fovea::LayerSpec spec = fc.spec();
  CHECK(spec == fovea::LayerSpec{"Linear", {{"in", 84}, {"out", 10}, {"bias", 0}}});
  const auto rebuilt = Linear<TestType>::from_spec(spec);
  CHECK(rebuilt.describe() == "Linear(84->10, no bias)");
  CHECK(rebuilt.spec() == spec);
  CHECK_THROWS_WITH(Linear<TestType>::from_spec({"Conv2d", {}}), "Linear::from_spec: spec is for a 'Conv2d' layer");
}

TEST_CASE("Linear's gradients pass the numeric check in double", "[linear][gradcheck]") {
  fovea::Rng rng(8);
  for (bool bias : {true, false}) {
    for (Index batch : {1, 3}) {
      INFO("bias " << bias << ", batch " << batch);
      Linear<double> fc(12, 5, bias);
      for (auto& p : fc.params()) {
        for (double& v : p.value) v = rng.uniform(-1, 1);
      }
      const auto x = Tensor<double, 4>::uniform({batch, 3, 2, 2}, rng, -1, 1);
      const auto result = fovea::testing::check_gradients(fc, x);
      INFO(result.worst);
      CHECK(result.ok);
      CHECK(result.max_relative_error < 1e-6);
      CHECK(result.checked == x.size() + fc.parameter_count());
    }
  }
}

TEST_CASE("Linear skips the input gradient when dx is empty", "[linear]") {
  fovea::Rng rng(2);
  Linear<double> fc(4, 2);
  for (auto& p : fc.params()) {
    for (double& v : p.value) v = rng.uniform(-1, 1);
  }
  const auto x = Tensor<double, 4>::uniform({3, 4, 1, 1}, rng, -1, 1);
  auto y = fovea::forward<double>(fc, x);
  fc.backward(x, y, y, Tensor<double, 4>());
  // dW = dy^T x with dy = y.
  const Eigen::MatrixXd expected = y.matrix().transpose() * x.matrix();
  CHECK(fc.weight_grad().matrix().isApprox(expected, 1e-12));
}

TEMPLATE_TEST_CASE("Linear runs in two contexts at once as in one alone", "[linear][context]", float, double) {
  using T = TestType;
  fovea::Rng rng(5);
  const auto xa = Tensor<T, 4>::uniform({3, 4, 2, 2}, rng, -1, 1);
  const auto xb = Tensor<T, 4>::uniform({5, 4, 2, 2}, rng, -1, 1);
  for (bool bias : {true, false}) {
    Linear<T> fc(16, 6, bias);
    fovea::test::check_interleaved_contexts<T>(fc, xa, xb);
    fovea::test::check_interleaved_contexts<T>(fc, xa, xb, {.relu_epilogue = true});
  }
}

TEST_CASE("Linear's ReLU epilogue gives the bits of Linear then ReLU", "[linear][context]") {
  fovea::Rng rng(9);
  Linear<float> fc(12, 7);
  REQUIRE(fc.supports_epilogue(fovea::Clamp::relu()));
  const auto x = Tensor<float, 4>::uniform({4, 3, 2, 2}, rng, -1, 1);
  const auto dy = Tensor<float, 4>::uniform({4, 7, 1, 1}, rng, -1, 1);

  // Apart: y = Linear(x), then r = max(y, 0), and the ReLU's backward passes dy where y > 0.
  auto apart = fc.make_context();
  fovea::Tensor<float, 1> dw_apart({12 * 7}), db_apart({7});
  apart->gradients = {dw_apart.view(), db_apart.view()};
  Tensor<float, 4> y(dy.shape()), dx_apart(x.shape());
  fc.forward(x, y, *apart);
  Tensor<float, 4> relu_y(y.shape()), relu_dy(y.shape());
  for (Index i = 0; i < y.size(); ++i) {
    relu_y.data()[i] = std::max(y.data()[i], 0.0F);
    relu_dy.data()[i] = y.data()[i] > 0 ? dy.data()[i] : 0.0F;
  }
  fc.backward(x, y, relu_dy, dx_apart, *apart);

  // Fused: the layer applies the ReLU and takes y and dy after it.
  auto fused = fc.make_context();
  fused->epilogue = fovea::Clamp::relu();
  fovea::Tensor<float, 1> dw_fused({12 * 7}), db_fused({7});
  fused->gradients = {dw_fused.view(), db_fused.view()};
  Tensor<float, 4> y_fused(dy.shape()), dx_fused(x.shape());
  fc.forward(x, y_fused, *fused);
  fc.backward(x, y_fused, dy, dx_fused, *fused);

  CHECK((y_fused.array() == relu_y.array()).all());
  CHECK((dx_fused.array() == dx_apart.array()).all());
  CHECK((dw_fused.array() == dw_apart.array()).all());
  CHECK((db_fused.array() == db_apart.array()).all());
}

TEST_CASE("Linear writes its gradients where the context points, or nowhere", "[linear][context]") {
  fovea::Rng rng(3);
  Linear<double> fc(4, 2);
  const auto x = Tensor<double, 4>::uniform({3, 4, 1, 1}, rng, -1, 1);
  Tensor<double, 4> y({3, 2, 1, 1}), dx(x.shape()), dx_alone(x.shape());
  const auto dy = Tensor<double, 4>::uniform(y.shape(), rng, -1, 1);

  auto context = fc.make_context();
  fovea::Tensor<double, 1> dw({8}), db({2});
  context->gradients = {dw.view(), db.view()};
  fc.forward(x, y, *context);
  fc.backward(x, y, dy, dx, *context);
  const Eigen::MatrixXd expected = dy.matrix().transpose() * x.matrix();  // dW = dy^T x
  CHECK(dw.view().reshape(fovea::Shape<2>{2, 4}).matrix().isApprox(expected, 1e-12));
  CHECK((fc.weight_grad().matrix().array() == 0).all());  // the layer's own gradients are left alone
  CHECK((fc.bias_grad().array() == 0).all());

  // No gradient views: dx only, the same dx.
  auto no_gradients = fc.make_context();
  fc.forward(x, y, *no_gradients);
  fc.backward(x, y, dy, dx_alone, *no_gradients);
  CHECK((dx_alone.array() == dx.array()).all());

  // A view per parameter or none.
  context->gradients = {dw.view()};
  CHECK_THROWS_AS(fc.backward(x, y, dy, dx, *context), fovea::state_error);
  CHECK_THROWS_WITH(fc.backward(x, y, dy, dx, *context),
                    "Linear(4->2)::backward: given 1 gradient views, expected 2 (one per parameter)");
}
