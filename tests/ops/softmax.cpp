#include "fovea/ops/softmax.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <type_traits>

#include "fovea/core/random.hpp"
#include "fovea/core/tensor.hpp"

using fovea::Index;
using fovea::Tensor;
using fovea::TensorView;

TEMPLATE_TEST_CASE("softmax of a hand-worked row", "[ops][softmax]", float, double) {
  using T = TestType;
  const Tensor<T, 2> x({2, 3}, {1, 2, 3, 0, 0, 0});
  Tensor<T, 2> y({2, 3});
  fovea::softmax_forward<T>(x, y);
  const double total = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK(y(0, 0) == Approx(std::exp(1.0) / total));
  CHECK(y(0, 2) == Approx(std::exp(3.0) / total));
  CHECK(y(1, 1) == Approx(1.0 / 3));

  fovea::log_softmax_forward<T>(x, y);
  CHECK(y(0, 0) == Approx(1 - std::log(total)));
  CHECK(y(1, 2) == Approx(-std::log(3.0)));
}

TEMPLATE_TEST_CASE("softmax rows sum to 1, ignore shifts and survive huge logits", "[ops][softmax]", float, double) {
  using T = TestType;
  fovea::Rng rng(6);
  auto x = Tensor<T, 2>::uniform({5, 7}, rng, -3, 3);
  Tensor<T, 2> y({5, 7}), shifted_y({5, 7}), log_y({5, 7});
  fovea::softmax_forward<T>(x, y);
  for (Index n = 0; n < 5; ++n) CHECK(y.matrix().row(n).sum() == Approx(1));
  CHECK((y.array() > 0).all());

  auto shifted = x;
  shifted.array() += T(1000);
  fovea::softmax_forward<T>(shifted, shifted_y);
  CHECK(shifted_y.array().isApprox(y.array(), T(1e-3)));

  fovea::log_softmax_forward<T>(x, log_y);
  CHECK(log_y.array().exp().isApprox(y.array(), T(1e-5)));

  const Tensor<T, 2> huge({2, 3}, {1e4, -1e4, 0, -1e4, -1e4, -1e4});
  Tensor<T, 2> huge_y({2, 3});
  fovea::softmax_forward<T>(huge, huge_y);
  CHECK(huge_y(0, 0) == 1);
  CHECK(huge_y(0, 1) == 0);
  CHECK(huge_y(1, 0) == Approx(1.0 / 3));
  fovea::log_softmax_forward<T>(huge, huge_y);
  CHECK(huge_y(0, 0) == 0);
  CHECK(huge_y(0, 1) == Approx(-2e4));
  CHECK(std::isfinite(huge_y(0, 1)));
}

TEMPLATE_TEST_CASE("log-softmax keeps its precision at logits where max + ln 2 rounds to max", "[ops][softmax]", float,
                   double) {
  using T = TestType;
  // 1e7 in float and 1e16 in double: max + ln 2 rounds to max in that type.
  const T big = std::is_same_v<T, float> ? T(1e7) : T(1e16);
  const Tensor<T, 2> x({1, 2}, {big, big});
  Tensor<T, 2> y({1, 2}), dx({1, 2});
  fovea::log_softmax_forward<T>(x, y);
  CHECK(y(0, 0) == Approx(-std::log(2.0)));
  CHECK(y(0, 1) == Approx(-std::log(2.0)));
  // dx = dy - softmax * sum(dy), softmax = [0.5, 0.5] read back as exp(y).
  const Tensor<T, 2> dy({1, 2}, {1, 0});
  fovea::log_softmax_backward<T>(y, dy, dx);
  CHECK(dx(0, 0) == Approx(0.5));
  CHECK(dx(0, 1) == Approx(-0.5));
}

TEST_CASE("softmax and log-softmax backwards agree with finite differences", "[ops][softmax]") {
  fovea::Rng rng(10);
  const auto x = Tensor<double, 2>::uniform({3, 6}, rng, -2, 2);
  const auto r = Tensor<double, 2>::uniform({3, 6}, rng, -1, 1);
  using Forward = void (*)(TensorView<const double, 2>, TensorView<double, 2>);
  using Backward = void (*)(TensorView<const double, 2>, TensorView<const double, 2>, TensorView<double, 2>);
  const auto check = [&](Forward forward, Backward backward) {
    Tensor<double, 2> y(x.shape()), dx(x.shape()), probe(x);
    forward(x, y);
    backward(y, r, dx);
    const double h = 1e-6;
    for (Index i = 0; i < x.size(); ++i) {
      probe.data()[i] = x.data()[i] + h;
      forward(probe, y);
      const double plus = (y.array() * r.array()).sum();
      probe.data()[i] = x.data()[i] - h;
      forward(probe, y);
      const double minus = (y.array() * r.array()).sum();
      probe.data()[i] = x.data()[i];
      CHECK(dx.data()[i] == Approx((plus - minus) / (2 * h)).epsilon(1e-7).margin(1e-9));
    }
  };
  check(fovea::softmax_forward<double>, fovea::softmax_backward<double>);
  check(fovea::log_softmax_forward<double>, fovea::log_softmax_backward<double>);
}

TEST_CASE("softmax ops reject mismatched shapes and rows without classes", "[ops][softmax]") {
  Tensor<float, 2> x({2, 3}), y({3, 2}), none({2, 0});
  CHECK_THROWS_AS(fovea::softmax_forward<float>(x, y), fovea::shape_error);
  CHECK_THROWS_WITH(fovea::softmax_forward<float>(x, y), "softmax_forward: y [3, 2] does not match x [2, 3]");
  CHECK_THROWS_WITH(fovea::softmax_forward<float>(none, none), "softmax_forward: x [2, 0] has no classes");
  CHECK_THROWS_WITH(fovea::softmax_backward<float>(x, y, x), "softmax_backward: dy [3, 2] does not match y [2, 3]");
  CHECK_THROWS_WITH(fovea::softmax_backward<float>(x, x, y), "softmax_backward: dx [3, 2] does not match y [2, 3]");
  CHECK_THROWS_WITH(fovea::log_softmax_forward<float>(x, y), "log_softmax_forward: y [3, 2] does not match x [2, 3]");
  CHECK_THROWS_WITH(fovea::log_softmax_backward<float>(x, y, x),
                    "log_softmax_backward: dy [3, 2] does not match y [2, 3]");
  // An empty batch is fine: nothing to do.
  Tensor<float, 2> empty({0, 3});
  CHECK_NOTHROW(fovea::softmax_forward<float>(empty, empty));
}
