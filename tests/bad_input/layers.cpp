// The bad-input catalogue, shapes and hyperparameters: every way a user can
// hand a layer or a network something it cannot take, with the exception type
// and the exact message. Further cases live beside their unit (named below).

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/nn/sequential.hpp"
#include "support/layer_checks.hpp"
#include "support/small_cnn.hpp"

using namespace fovea;
using Catch::Matchers::Contains;

// Also in tests/layers/conv2d.cpp: every option, strict tiling, dx buffers.
TEST_CASE("bad input: wrong number of input channels", "[bad_input][shape]") {
  Conv2d<float> conv({.in_channels = 1, .out_channels = 6, .kernel = 5, .padding = 2});
  CHECK_THROWS_AS(conv.output_shape({3, 28, 28}), shape_error);
  CHECK_THROWS_WITH(conv.output_shape({3, 28, 28}),
                    "Conv2d(1->6, k5x5, s1, p2): input [3, 28, 28], expected 1 channel(s)");
  Tensor<float, 4> rgb({2, 3, 28, 28}), y({2, 6, 28, 28});
  CHECK_THROWS_WITH(conv.forward(rgb, y, true), "Conv2d(1->6, k5x5, s1, p2): input [3, 28, 28], expected 1 channel(s)");

  // A network reports the layer's index as well, the moment the layer is added.
  Sequential<float> net({3, 8, 8});
  CHECK_THROWS_AS(net.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 1, .out_channels = 2, .kernel = 3}),
                  shape_error);
  CHECK_THROWS_WITH(net.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 1, .out_channels = 2, .kernel = 3}),
                    "layer 0 Conv2d(1->2, k3x3, s1, p0): input [3, 8, 8], expected 1 channel(s)");
  CHECK(net.size() == 0);
  // And a batch of the wrong sample shape fails before any layer runs.
  Sequential<float> gray = test::small_cnn<float>(1, 8);
  Tensor<float, 4> wrong({2, 3, 8, 8});
  CHECK_THROWS_WITH(gray.forward(wrong), "Sequential::forward: input [2, 3, 8, 8], expected [N, 1, 8, 8] with N > 0");
}

TEST_CASE("bad input: kernel larger than the padded input", "[bad_input][shape]") {
  Conv2d<float> conv({.in_channels = 1, .out_channels = 1, .kernel = 7, .padding = 1});
  CHECK_THROWS_AS(conv.output_shape({1, 4, 9}), shape_error);
  CHECK_THROWS_WITH(conv.output_shape({1, 4, 9}),
                    "Conv2d(1->1, k7x7, s1, p1): input [1, 4, 9], height: kernel "
                    "extent 7 is larger than the padded input 4 + 2*1 = 6");
  // Dilation widens the window: 3 taps 3 apart span 7.
  Conv2d<float> dilated({.in_channels = 1, .out_channels = 1, .kernel = 3, .dilation = 3});
  CHECK_THROWS_WITH(dilated.output_shape({1, 9, 6}),
                    "Conv2d(1->1, k3x3, s1, p0, d3): input [1, 9, 6], width: kernel "
                    "extent 7 (3 dilated by 3) is larger than the padded input 6 + "
                    "2*0 = 6");
  Pool2d<float> pool(Pool2dOptions{.window = {4, 4}, .stride = {4, 4}});
  CHECK_THROWS_AS(pool.output_shape({2, 3, 8}), shape_error);
  CHECK_THROWS_WITH(pool.output_shape({2, 3, 8}), Contains("MaxPool2d(4x4, s4)"));
}

TEST_CASE("bad input: zero or negative stride", "[bad_input][value]") {
  using C = Conv2d<float>;
  CHECK_THROWS_AS(C({.in_channels = 1, .out_channels = 1, .kernel = 3, .stride = 0}), value_error);
  CHECK_THROWS_WITH(C({.in_channels = 1, .out_channels = 1, .kernel = 3, .stride = 0}),
                    "Conv2d: stride must be positive, got 0x0");
  CHECK_THROWS_WITH(C({.in_channels = 1, .out_channels = 1, .kernel = 3, .stride = {2, -1}}),
                    "Conv2d: stride must be positive, got 2x-1");
  CHECK_THROWS_AS(Pool2d<float>(Pool2dOptions{.stride = {0, 2}}), value_error);
  CHECK_THROWS_WITH(Pool2d<float>(Pool2dOptions{.stride = {0, 2}}), "MaxPool2d: stride must be positive, got 0x2");
  CHECK_THROWS_WITH(Pool2d<float>(Pool2dOptions{.kind = PoolKind::average, .stride = {-2, -2}}),
                    "AvgPool2d: stride must be positive, got -2x-2");
}

TEST_CASE("bad input: negative padding", "[bad_input][value]") {
  CHECK_THROWS_AS(Conv2d<float>({.in_channels = 1, .out_channels = 1, .kernel = 3, .padding = {0, -2}}), value_error);
  CHECK_THROWS_WITH(Conv2d<float>({.in_channels = 1, .out_channels = 1, .kernel = 3, .padding = {0, -2}}),
                    "Conv2d: padding must be non-negative, got 0x-2");
  CHECK_THROWS_WITH(Pool2d<float>(Pool2dOptions{.window = {3, 3}, .stride = {1, 1}, .padding = {-1, 0}}),
                    "MaxPool2d: padding must not be negative, got -1x0");
}

TEST_CASE("bad input: dilation 0", "[bad_input][value]") {
  CHECK_THROWS_AS(Conv2d<float>({.in_channels = 1, .out_channels = 1, .kernel = 3, .dilation = {1, 0}}), value_error);
  CHECK_THROWS_WITH(Conv2d<float>({.in_channels = 1, .out_channels = 1, .kernel = 3, .dilation = {1, 0}}),
                    "Conv2d: dilation must be positive, got 1x0");
}

// Also in tests/layers/dropout.cpp.
TEST_CASE("bad input: dropout probability outside [0, 1)", "[bad_input][value]") {
  for (const double p : {-0.5, 1.0, 2.0}) {
    INFO("p = " << p);
    CHECK_THROWS_AS(Dropout<float>(p, 1), value_error);
  }
  CHECK_THROWS_WITH(Dropout<float>(1.0, 1), "Dropout: p must be in [0, 1), got 1");
  CHECK_THROWS_WITH(Dropout<float>(-0.5, 1), "Dropout: p must be in [0, 1), got -0.5");
  CHECK_THROWS_AS(Dropout<float>(std::numeric_limits<double>::quiet_NaN(), 1), value_error);
  CHECK_THROWS_WITH(Dropout<float>(std::numeric_limits<double>::quiet_NaN(), 1),
                    "Dropout: p must be in [0, 1), got nan");
}

TEST_CASE("bad input: backward before forward", "[bad_input][state]") {
  Linear<float> linear(4, 2);
  Tensor<float, 4> x({3, 4, 1, 1}), y({3, 2, 1, 1}), dx({3, 4, 1, 1});
  CHECK_THROWS_AS(linear.backward(x, y, y, dx), state_error);
  CHECK_THROWS_WITH(linear.backward(x, y, y, dx), "Linear(4->2)::backward: called before forward");

  Sequential<float> net = test::small_cnn<float>(1, 8);
  Tensor<float, 4> dout({3, 4, 1, 1});
  CHECK_THROWS_AS(net.backward(dout), state_error);
  CHECK_THROWS_WITH(net.backward(dout), "Sequential::backward: called before forward");
}

TEST_CASE("bad input: gradient of the wrong shape", "[bad_input][shape]") {
  // Every layer's wrong dy, wrong y buffer and empty dx: support/layer_checks.hpp.
  Linear<float> linear(4, 2);
  test::check_forward_record(linear, Tensor<float, 4>({3, 4, 1, 1}));
  Pool2d<float> pool(Pool2dOptions{});
  test::check_forward_record(pool, Tensor<float, 4>({2, 1, 4, 4}));

  Sequential<float> net = test::small_cnn<float>(1, 8);
  Tensor<float, 4> x({3, 1, 8, 8});
  net.forward(x);
  Tensor<float, 4> wrong({3, 5, 1, 1});
  CHECK_THROWS_AS(net.backward(wrong), shape_error);
  CHECK_THROWS_WITH(net.backward(wrong), Contains("Sequential::backward: gradient [3, 5, 1, 1]"));
}

TEST_CASE("bad input: an empty batch (N = 0)", "[bad_input][shape]") {
  Sequential<float> net = test::small_cnn<float>(1, 8);
  Tensor<float, 4> empty({0, 1, 8, 8});
  CHECK_THROWS_AS(net.forward(empty), shape_error);
  CHECK_THROWS_WITH(net.forward(empty), "Sequential::forward: input [0, 1, 8, 8], expected [N, 1, 8, 8] with N > 0");
}

TEMPLATE_TEST_CASE("edge case: a batch of one sample computes what a batch of two does per sample",
                   "[bad_input][batch]", float, double) {
  using T = TestType;
  Sequential<T> two = test::small_cnn<T>(3, 8);
  Sequential<T> one = test::small_cnn<T>(3, 8);
  Rng rng(11);
  const auto x2 = Tensor<T, 4>::uniform({2, 1, 8, 8}, rng, -1, 1);
  const auto dout2 = Tensor<T, 4>::uniform({2, 4, 1, 1}, rng, -1, 1);

  const Tensor<T, 4> y2(two.forward(x2));
  two.backward(dout2);
  std::vector<Tensor<T, 1>> grad2;
  for (const auto& p : two.params()) grad2.emplace_back(Tensor<T, 1>(p.grad));

  // Sample by sample with N = 1: the same outputs, and gradients that sum to the pair's.
  std::vector<Tensor<T, 1>> grad1;
  for (const auto& p : one.params()) grad1.emplace_back(p.grad.shape());
  const T tolerance = std::is_same_v<T, float> ? T(1e-5) : T(1e-12);
  for (Index n = 0; n < 2; ++n) {
    const Tensor<T, 4> xn(x2.slice(n, n + 1));
    const Tensor<T, 4> yn(one.forward(xn));
    REQUIRE(yn.shape() == Shape<4>{1, 4, 1, 1});
    for (Index k = 0; k < 4; ++k) CHECK(std::abs(yn(0, k, 0, 0) - y2(n, k, 0, 0)) <= tolerance);
    for (auto& p : one.params()) p.grad.fill(T(0));
    one.backward(Tensor<T, 4>(dout2.slice(n, n + 1)));
    auto params = one.params();
    for (std::size_t i = 0; i < params.size(); ++i) {
      for (Index k = 0; k < params[i].grad.size(); ++k) grad1[i](k) += params[i].grad(k);
    }
  }
  for (std::size_t i = 0; i < grad1.size(); ++i) {
    for (Index k = 0; k < grad1[i].size(); ++k) {
      CHECK(std::abs(grad1[i](k) - grad2[i](k)) <= tolerance * (1 + std::abs(grad2[i](k))));
    }
  }
}
