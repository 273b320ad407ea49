#include "fovea/ops/loss.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <type_traits>
#include <vector>

#include "fovea/core/random.hpp"
#include "fovea/core/tensor.hpp"

using fovea::Index;
using fovea::Tensor;
using fovea::TensorView;
using Labels = std::vector<std::int32_t>;

namespace {

// d(loss)/d(output) by central differences.
Tensor<double, 2> numeric_gradient(const std::function<double(TensorView<const double, 2>)>& loss,
                                   const Tensor<double, 2>& output) {
  Tensor<double, 2> probe(output), grad(output.shape());
  const double h = 1e-6;
  for (Index i = 0; i < output.size(); ++i) {
    probe.data()[i] = output.data()[i] + h;
    const double plus = loss(probe);
    probe.data()[i] = output.data()[i] - h;
    const double minus = loss(probe);
    probe.data()[i] = output.data()[i];
    grad.data()[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

void check_close(const Tensor<double, 2>& analytic, const Tensor<double, 2>& numeric) {
  for (Index i = 0; i < analytic.size(); ++i) {
    INFO("element " << i);
    CHECK(analytic.data()[i] == Approx(numeric.data()[i]).epsilon(1e-6).margin(1e-8));
  }
}

Tensor<double, 2> one_hot(const Labels& labels, Index classes) {
  Tensor<double, 2> t({static_cast<Index>(labels.size()), classes});
  for (std::size_t n = 0; n < labels.size(); ++n) t(static_cast<Index>(n), labels[n]) = 1;
  return t;
}

}  // namespace

TEMPLATE_TEST_CASE("softmax cross-entropy of uniform logits is log K", "[ops][loss]", float, double) {
  using T = TestType;
  const Tensor<T, 2> logits = Tensor<T, 2>::full({4, 10}, 3);
  const Labels labels = {0, 3, 9, 5};
  Tensor<T, 2> grad({4, 10});
  const T loss = fovea::softmax_cross_entropy<T>(logits, labels, grad);
  CHECK(loss == Approx(std::log(10.0)));
  // (softmax - onehot) / N
  CHECK(grad(0, 0) == Approx((0.1 - 1) / 4));
  CHECK(grad(0, 1) == Approx(0.1 / 4));
  CHECK(grad.matrix().row(2).sum() == Approx(0).margin(1e-6));
  // The value alone: an empty gradient.
  CHECK(fovea::softmax_cross_entropy<T>(logits, labels, {}) == loss);
}

TEMPLATE_TEST_CASE("softmax cross-entropy is finite and right for logits of +-1e4", "[ops][loss]", float, double) {
  using T = TestType;
  const Tensor<T, 2> logits({2, 3}, {1e4, -1e4, 0, -1e4, 1e4, 1e4});
  const Labels labels = {1, 2};
  Tensor<T, 2> grad({2, 3});
  const T loss = fovea::softmax_cross_entropy<T>(logits, labels, grad);
  REQUIRE(std::isfinite(loss));
  // Sample 0: logsumexp = 1e4, minus x[1] = -1e4 -> 2e4; sample 1: log 2.
  CHECK(loss == Approx((2e4 + std::log(2.0)) / 2));
  for (T g : grad) CHECK(std::isfinite(g));
  CHECK(grad(0, 0) == Approx(0.5));
  CHECK(grad(0, 1) == Approx(-0.5));
  CHECK(grad(1, 1) == Approx(0.25));
  CHECK(grad(1, 2) == Approx(-0.25));

  // The same against one-hot targets.
  const Tensor<T, 2> target({2, 3}, {0, 1, 0, 0, 0, 1});
  Tensor<T, 2> grad_from_target({2, 3});
  CHECK(fovea::softmax_cross_entropy<T>(logits, target, grad_from_target) == Approx(loss));
  CHECK(grad_from_target.array().isApprox(grad.array()));
}

// Logits so large that max + ln 2 rounds to max: 1e7 in float (a unit in the
// last place is 1), 1e16 in double (2).
template <class T>
constexpr T huge_logit() {
  return std::is_same_v<T, float> ? T(1e7) : T(1e16);
}

TEMPLATE_TEST_CASE("softmax cross-entropy keeps its precision at logits where max + ln 2 rounds to max", "[ops][loss]",
                   float, double) {
  using T = TestType;
  const T big = huge_logit<T>();
  // Row 0: two equal logits, ln 2 for either label. Row 1: x and x - 2 (exact
  // in both types), log(1 + e^-2) for label 0 and 2 + log(1 + e^-2) for label 1.
  const Tensor<T, 2> logits({2, 2}, {big, big, big, big - 2});
  const double equal = std::log(2.0), near = std::log1p(std::exp(-2.0));
  Tensor<T, 2> grad({2, 2});
  CHECK(fovea::softmax_cross_entropy<T>(logits, Labels{0, 0}, grad) == Approx((equal + near) / 2));
  CHECK(fovea::softmax_cross_entropy<T>(logits, Labels{1, 1}, grad) == Approx((equal + 2 + near) / 2));
  CHECK(grad(0, 0) == Approx(0.25));
  CHECK(grad(0, 1) == Approx(-0.25));
  CHECK(grad(1, 1) == Approx((1 / (1 + std::exp(2.0)) - 1) / 2));

  // Soft targets: [0.5, 0.5] on row 0 is ln 2; one-hot [0, 1] on row 1 as label 1.
  const Tensor<T, 2> target({2, 2}, {0.5, 0.5, 0, 1});
  Tensor<T, 2> grad_from_target({2, 2});
  CHECK(fovea::softmax_cross_entropy<T>(logits, target, grad_from_target) == Approx((equal + 2 + near) / 2));
  CHECK(grad_from_target(0, 0) == Approx(0).margin(1e-7));
  CHECK(grad_from_target(1, 1) == Approx(grad(1, 1)));
}

TEST_CASE("labels and one-hot targets give the same loss and gradient", "[ops][loss]") {
  fovea::Rng rng(14);
  const auto output = Tensor<double, 2>::uniform({5, 4}, rng, 0.05, 1.0);
  const Labels labels = {3, 0, 1, 1, 2};
  const auto target = one_hot(labels, 4);
  Tensor<double, 2> a({5, 4}), b({5, 4});
  CHECK(fovea::softmax_cross_entropy<double>(output, labels, a) ==
        Approx(fovea::softmax_cross_entropy<double>(output, target, b)));
  CHECK(a.array().isApprox(b.array()));
  CHECK(fovea::cross_entropy<double>(output, labels, a) == Approx(fovea::cross_entropy<double>(output, target, b)));
  CHECK(a.array().isApprox(b.array()));
  CHECK(fovea::squared_error<double>(output, labels, a) == Approx(fovea::squared_error<double>(output, target, b)));
  CHECK(a.array().isApprox(b.array()));
}

TEST_CASE("loss gradients agree with finite differences", "[ops][loss]") {
  fovea::Rng rng(15);
  const Labels labels = {2, 0, 4};
  auto soft_target = Tensor<double, 2>::uniform({3, 5}, rng, 0, 1);
  for (Index n = 0; n < 3; ++n) soft_target.matrix().row(n) /= soft_target.matrix().row(n).sum();
  const auto logits = Tensor<double, 2>::uniform({3, 5}, rng, -4, 4);
  const auto probabilities = Tensor<double, 2>::uniform({3, 5}, rng, 0.05, 1);
  Tensor<double, 2> grad({3, 5});

  fovea::softmax_cross_entropy<double>(logits, labels, grad);
  check_close(grad,
              numeric_gradient([&](auto o) { return fovea::softmax_cross_entropy<double>(o, labels, {}); }, logits));
  fovea::softmax_cross_entropy<double>(logits, soft_target, grad);
  check_close(
      grad, numeric_gradient([&](auto o) { return fovea::softmax_cross_entropy<double>(o, soft_target, {}); }, logits));
  fovea::cross_entropy<double>(probabilities, labels, grad);
  check_close(grad,
              numeric_gradient([&](auto o) { return fovea::cross_entropy<double>(o, labels, {}); }, probabilities));
  fovea::cross_entropy<double>(probabilities, soft_target, grad);
  check_close(
      grad, numeric_gradient([&](auto o) { return fovea::cross_entropy<double>(o, soft_target, {}); }, probabilities));
  fovea::squared_error<double>(logits, labels, grad);
  check_close(grad, numeric_gradient([&](auto o) { return fovea::squared_error<double>(o, labels, {}); }, logits));
  fovea::squared_error<double>(logits, soft_target, grad);
  check_close(grad, numeric_gradient([&](auto o) { return fovea::squared_error<double>(o, soft_target, {}); }, logits));
}

TEMPLATE_TEST_CASE("cross-entropy on probabilities clamps instead of taking log(0)", "[ops][loss]", float, double) {
  using T = TestType;
  const Tensor<T, 2> probabilities({2, 2}, {0.25, 0.75, 1, 0});
  const Labels labels = {0, 1};
  Tensor<T, 2> grad({2, 2});
  const T loss = fovea::cross_entropy<T>(probabilities, labels, grad);
  const double floor = std::numeric_limits<T>::epsilon();
  CHECK(loss == Approx((-std::log(0.25) - std::log(floor)) / 2));
  CHECK(std::isfinite(loss));
  CHECK(grad(0, 0) == Approx(-1 / (0.25 * 2)));
  CHECK(grad(0, 1) == 0);
  CHECK(grad(1, 1) == Approx(-1 / (floor * 2)));
  for (T g : grad) CHECK(std::isfinite(g));
  CHECK(fovea::cross_entropy_floor<T>() == std::numeric_limits<T>::epsilon());
}

TEMPLATE_TEST_CASE("squared error is half the summed squares, averaged over the batch", "[ops][loss]", float, double) {
  using T = TestType;
  const Tensor<T, 2> output({2, 2}, {1, 2, 0, 0});
  const Tensor<T, 2> target({2, 2}, {0, 4, 3, 0});
  Tensor<T, 2> grad({2, 2});
  // Sample 0: (1 + 4) / 2 = 2.5; sample 1: 9 / 2 = 4.5; mean 3.5.
  CHECK(fovea::squared_error<T>(output, target, grad) == Approx(3.5));
  CHECK(std::vector<T>(grad.begin(), grad.end()) == std::vector<T>{0.5, -1, -1.5, 0});
  const Labels labels = {1, 0};
  // One-hot targets [0, 1], [1, 0]: (1 + 1) / 2 = 1 and 1 / 2 = 0.5; mean 0.75.
  CHECK(fovea::squared_error<T>(output, labels, grad) == Approx(0.75));
  CHECK(std::vector<T>(grad.begin(), grad.end()) == std::vector<T>{0.5, 0.5, -0.5, 0});
}

TEST_CASE("loss ops name the bad label, its index and the shapes", "[ops][loss]") {
  const Tensor<float, 2> output({4, 10});
  Tensor<float, 2> grad({4, 10});
  const Labels bad = {1, 2, 3, 12};
  CHECK_THROWS_AS(fovea::softmax_cross_entropy<float>(output, bad, grad), fovea::value_error);
  CHECK_THROWS_WITH(fovea::softmax_cross_entropy<float>(output, bad, grad),
                    "softmax_cross_entropy: label 12 at index 3 is out of range for 10 classes");
  const Labels negative = {1, -1, 3, 2};
  CHECK_THROWS_WITH(fovea::cross_entropy<float>(output, negative, grad),
                    "cross_entropy: label -1 at index 1 is out of range for 10 classes");
  const Labels three = {1, 2, 3};
  CHECK_THROWS_AS(fovea::squared_error<float>(output, three, grad), fovea::shape_error);
  CHECK_THROWS_WITH(fovea::squared_error<float>(output, three, grad), "squared_error: 3 labels for output [4, 10]");
  const Tensor<float, 2> target({4, 9});
  CHECK_THROWS_WITH(fovea::softmax_cross_entropy<float>(output, target, grad),
                    "softmax_cross_entropy: target [4, 9] does not match output [4, 10]");
  CHECK_THROWS_WITH(fovea::cross_entropy<float>(output, target, grad),
                    "cross_entropy: target [4, 9] does not match output [4, 10]");
  CHECK_THROWS_WITH(fovea::squared_error<float>(output, target, grad),
                    "squared_error: target [4, 9] does not match output [4, 10]");
  Tensor<float, 2> wrong_grad({4, 9});
  const Labels good = {1, 2, 3, 4};
  CHECK_THROWS_WITH(fovea::softmax_cross_entropy<float>(output, good, wrong_grad),
                    "softmax_cross_entropy: output gradient [4, 9] does not match output [4, 10]");
  const Tensor<float, 2> empty({0, 10});
  CHECK_THROWS_WITH(fovea::softmax_cross_entropy<float>(empty, Labels{}, {}),
                    "softmax_cross_entropy: output [0, 10] is empty");
  CHECK_THROWS_WITH(fovea::squared_error<float>(output, good, wrong_grad, "MyLoss"),
                    "MyLoss: output gradient [4, 9] does not match output [4, 10]");
}
