#include "fovea/ops/activation.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "fovea/core/tensor.hpp"

using fovea::Index;
using fovea::Tensor;
using fovea::TensorView;

namespace {

template <class T>
Tensor<T, 1> values(std::initializer_list<T> list) {
  return Tensor<T, 1>({static_cast<Index>(list.size())}, list);
}

// d/dx of sum(f(x) * r) by central differences, for the backward checks.
template <class Forward>
Tensor<double, 1> numeric_gradient(Forward forward, const Tensor<double, 1>& x, const Tensor<double, 1>& r) {
  Tensor<double, 1> probe(x), y(x.shape()), grad(x.shape());
  const double h = 1e-6;
  for (Index i = 0; i < x.size(); ++i) {
    probe(i) = x(i) + h;
    forward(probe.view(), y.view());
    const double plus = (y.array() * r.array()).sum();
    probe(i) = x(i) - h;
    forward(probe.view(), y.view());
    const double minus = (y.array() * r.array()).sum();
    probe(i) = x(i);
    grad(i) = (plus - minus) / (2 * h);
  }
  return grad;
}

}  // namespace

TEMPLATE_TEST_CASE("activation forwards match their formulas", "[ops][activation]", float, double) {
  using T = TestType;
  const auto x = values<T>({-2, -0.5, 0.25, 3});
  Tensor<T, 1> y({4});
  const std::vector<double> xs = {-2, -0.5, 0.25, 3};

  fovea::relu_forward<T>(x, y);
  CHECK(std::vector<T>(y.begin(), y.end()) == std::vector<T>{0, 0, 0.25, 3});

  fovea::leaky_relu_forward<T>(x, y, 0.1);
  for (Index i = 0; i < 4; ++i) CHECK(y(i) == Approx(xs[i] > 0 ? xs[i] : 0.1 * xs[i]));

  fovea::sigmoid_forward<T>(x, y);
  for (Index i = 0; i < 4; ++i) CHECK(y(i) == Approx(1 / (1 + std::exp(-xs[i]))));

  fovea::tanh_forward<T>(x, y);
  for (Index i = 0; i < 4; ++i) CHECK(y(i) == Approx(std::tanh(xs[i])));

  fovea::elu_forward<T>(x, y, 1.5);
  for (Index i = 0; i < 4; ++i) CHECK(y(i) == Approx(xs[i] > 0 ? xs[i] : 1.5 * (std::exp(xs[i]) - 1)));
}

TEMPLATE_TEST_CASE("activation backwards give dy times the derivative", "[ops][activation]", float, double) {
  using T = TestType;
  const auto x = values<T>({-2, -0.5, 0.25, 3});
  const auto dy = values<T>({1, -2, 3, 0.5});
  Tensor<T, 1> y({4}), dx({4});
  const std::vector<double> xs = {-2, -0.5, 0.25, 3};
  const std::vector<double> dys = {1, -2, 3, 0.5};

  fovea::relu_backward<T>(x, dy, dx);
  CHECK(std::vector<T>(dx.begin(), dx.end()) == std::vector<T>{0, 0, 3, 0.5});

  fovea::leaky_relu_backward<T>(x, dy, dx, 0.1);
  for (Index i = 0; i < 4; ++i) CHECK(dx(i) == Approx(dys[i] * (xs[i] > 0 ? 1 : 0.1)));

  fovea::sigmoid_forward<T>(x, y);
  fovea::sigmoid_backward<T>(y, dy, dx);
  for (Index i = 0; i < 4; ++i) {
    const double s = 1 / (1 + std::exp(-xs[i]));
    CHECK(dx(i) == Approx(dys[i] * s * (1 - s)));
  }

  fovea::tanh_forward<T>(x, y);
  fovea::tanh_backward<T>(y, dy, dx);
  for (Index i = 0; i < 4; ++i) CHECK(dx(i) == Approx(dys[i] * (1 - std::tanh(xs[i]) * std::tanh(xs[i]))));

  fovea::elu_forward<T>(x, y, 1.5);
  fovea::elu_backward<T>(x, y, dy, dx, 1.5);
  for (Index i = 0; i < 4; ++i) CHECK(dx(i) == Approx(dys[i] * (xs[i] > 0 ? 1 : 1.5 * std::exp(xs[i]))));
}

TEST_CASE("activation backwards agree with finite differences", "[ops][activation]") {
  fovea::Rng rng(3);
  // Away from 0, where ReLU, LeakyReLU and ELU bend.
  auto x = Tensor<double, 1>::uniform({50}, rng, 0.1, 2.0);
  for (double& v : x) v = rng.uniform01() < 0.5 ? -v : v;
  const auto r = Tensor<double, 1>::uniform({50}, rng, -1.0, 1.0);
  Tensor<double, 1> y({50}), dx({50});
  using In = TensorView<const double, 1>;
  using Out = TensorView<double, 1>;

  const auto check = [&](const Tensor<double, 1>& numeric) {
    for (Index i = 0; i < x.size(); ++i) CHECK(dx(i) == Approx(numeric(i)).epsilon(1e-7).margin(1e-9));
  };
  fovea::relu_backward<double>(x, r, dx);
  check(numeric_gradient([](In a, Out b) { fovea::relu_forward(a, b); }, x, r));
  fovea::leaky_relu_backward<double>(x, r, dx, 0.2);
  check(numeric_gradient([](In a, Out b) { fovea::leaky_relu_forward(a, b, 0.2); }, x, r));
  fovea::sigmoid_forward<double>(x, y);
  fovea::sigmoid_backward<double>(y, r, dx);
  check(numeric_gradient([](In a, Out b) { fovea::sigmoid_forward(a, b); }, x, r));
  fovea::tanh_forward<double>(x, y);
  fovea::tanh_backward<double>(y, r, dx);
  check(numeric_gradient([](In a, Out b) { fovea::tanh_forward(a, b); }, x, r));
  fovea::elu_forward<double>(x, y, 0.7);
  fovea::elu_backward<double>(x, y, r, dx, 0.7);
  check(numeric_gradient([](In a, Out b) { fovea::elu_forward(a, b, 0.7); }, x, r));
}

TEMPLATE_TEST_CASE("saturating activations stay finite for huge inputs", "[ops][activation]", float, double) {
  using T = TestType;
  const auto x = values<T>({-1000, -100, 100, 1000});
  Tensor<T, 1> y({4}), dx({4});
  const auto ones = values<T>({1, 1, 1, 1});

  fovea::sigmoid_forward<T>(x, y);
  CHECK(y(0) == 0);
  CHECK(y(3) == 1);
  fovea::sigmoid_backward<T>(y, ones, dx);
  for (T v : dx) CHECK(std::isfinite(v));

  fovea::tanh_forward<T>(x, y);
  CHECK(y(0) == -1);
  CHECK(y(3) == 1);

  fovea::elu_forward<T>(x, y, 1);
  CHECK(y(0) == Approx(-1));
  CHECK(y(3) == 1000);
  fovea::elu_backward<T>(x, y, ones, dx, 1);
  for (T v : dx) CHECK(std::isfinite(v));
}

TEMPLATE_TEST_CASE("ELU keeps NaN, infinities and precision near 0, on SIMD packets and scalar ends",
                   "[ops][activation]", float, double) {
  using T = TestType;
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  // 37 values: two whole packets and a scalar tail, specials in both.
  std::vector<T> xs = {nan, inf, -inf, 0, T(-1e-10), T(1e-10), T(-3), T(2.5), T(-0.5), nan};
  for (int i = 0; xs.size() < 37; ++i) xs.push_back(static_cast<T>(-4 + 0.3 * i));
  xs.back() = nan;
  Tensor<T, 1> x({static_cast<Index>(xs.size())}), y(x.shape());
  std::copy(xs.begin(), xs.end(), x.begin());
  fovea::elu_forward<T>(x, y, 1.5);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    INFO("x = " << xs[i]);
    const T got = y(static_cast<Index>(i));
    if (std::isnan(xs[i])) {
      CHECK(std::isnan(got));
    } else if (xs[i] > 0) {
      CHECK(got == xs[i]);
    } else {
      CHECK(got == Approx(T(1.5) * std::expm1(xs[i])).epsilon(std::numeric_limits<T>::epsilon() * 8));
    }
  }
  CHECK(y(2) == T(-1.5));
  CHECK(y(4) == Approx(-1.5e-10).epsilon(1e-6));  // exp(x) - 1 would lose every digit here
}

TEMPLATE_TEST_CASE("activations may work in place", "[ops][activation]", float, double) {
  using T = TestType;
  auto data = values<T>({-1, 2, -3, 4});
  fovea::relu_forward<T>(std::as_const(data).view(), data.view());
  CHECK(std::vector<T>(data.begin(), data.end()) == std::vector<T>{0, 2, 0, 4});
}

TEMPLATE_TEST_CASE("activation ops reject mismatched sizes", "[ops][activation]", float, double) {
  using T = TestType;
  Tensor<T, 1> x({4}), y({3}), dy({4}), dx({5});
  CHECK_THROWS_AS(fovea::relu_forward<T>(x, y), fovea::shape_error);
  CHECK_THROWS_WITH(fovea::relu_forward<T>(x, y), "relu_forward: y [3] does not match x [4]");
  CHECK_THROWS_WITH(fovea::relu_backward<T>(x, dy, dx), "relu_backward: dx [5] does not match x [4]");
  CHECK_THROWS_WITH(fovea::leaky_relu_forward<T>(x, y, 0.1), "leaky_relu_forward: y [3] does not match x [4]");
  CHECK_THROWS_WITH(fovea::leaky_relu_backward<T>(x, y, dx, 0.1), "leaky_relu_backward: dy [3] does not match x [4]");
  CHECK_THROWS_WITH(fovea::sigmoid_forward<T>(x, y), "sigmoid_forward: y [3] does not match x [4]");
  CHECK_THROWS_WITH(fovea::sigmoid_backward<T>(x, dy, dx), "sigmoid_backward: dx [5] does not match y [4]");
  CHECK_THROWS_WITH(fovea::tanh_forward<T>(x, y), "tanh_forward: y [3] does not match x [4]");
  CHECK_THROWS_WITH(fovea::tanh_backward<T>(x, y, dx), "tanh_backward: dy [3] does not match y [4]");
  CHECK_THROWS_WITH(fovea::elu_forward<T>(x, y, 1), "elu_forward: y [3] does not match x [4]");
  CHECK_THROWS_WITH(fovea::elu_backward<T>(x, y, dy, dx, 1), "elu_backward: y [3] does not match x [4]");
  CHECK_THROWS_WITH(fovea::elu_backward<T>(x, x, dy, dx, 1), "elu_backward: dx [5] does not match x [4]");
}

// Large enough to be split across threads, and an odd size: every thread
// count must give the bits of one thread (Eigen's vectorised tanh and
// sigmoid round differently from its scalar ends, so the cuts must not fall
// mid-vector).
TEMPLATE_TEST_CASE("activations split across threads give the bits of one thread", "[activation][threads]", float,
                   double) {
  const int saved = fovea::max_threads();
  const Index n = (Index{1} << 16) + 37;
  fovea::Rng rng(5);
  const auto x = Tensor<TestType, 1>::uniform({n}, rng, -3, 3);
  const auto dy = Tensor<TestType, 1>::uniform({n}, rng, -1, 1);
  const auto run = [&](int threads) {
    fovea::set_threads(threads);
    std::vector<Tensor<TestType, 1>> out;
    Tensor<TestType, 1> y({n}), dx({n});
    fovea::sigmoid_forward<TestType>(x, y);
    fovea::sigmoid_backward<TestType>(y, dy, dx);
    out.push_back(y);
    out.push_back(dx);
    fovea::tanh_forward<TestType>(x, y);
    fovea::tanh_backward<TestType>(y, dy, dx);
    out.push_back(y);
    out.push_back(dx);
    fovea::elu_forward<TestType>(x, y, 0.5);
    fovea::elu_backward<TestType>(x, y, dy, dx, 0.5);
    out.push_back(y);
    out.push_back(dx);
    fovea::leaky_relu_forward<TestType>(x, y, 0.1);
    fovea::leaky_relu_backward<TestType>(x, dy, dx, 0.1);
    out.push_back(y);
    out.push_back(dx);
    return out;
  };
  const auto one = run(1);
  for (int threads : {2, 3}) {
    const auto many = run(threads);
    for (std::size_t i = 0; i < one.size(); ++i) {
      INFO(threads << " threads, output " << i);
      CHECK(many[i].vector() == one[i].vector());
    }
  }
  fovea::set_threads(saved);
}
