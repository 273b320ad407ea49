#include "fovea/train/loss.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "fovea/core/random.hpp"
#include "fovea/core/tensor.hpp"

using fovea::Index;
using fovea::Targets;
using fovea::Tensor;
using Labels = std::vector<std::int32_t>;

TEMPLATE_TEST_CASE("losses take labels or target tensors through one interface", "[train][loss]", float, double) {
  using T = TestType;
  std::vector<std::unique_ptr<fovea::Loss<T>>> losses;
  losses.push_back(std::make_unique<fovea::SoftmaxCrossEntropy<T>>());
  losses.push_back(std::make_unique<fovea::CrossEntropy<T>>());
  losses.push_back(std::make_unique<fovea::SquaredError<T>>());
  CHECK(losses[0]->name() == "SoftmaxCrossEntropy");
  CHECK(losses[1]->name() == "CrossEntropy");
  CHECK(losses[2]->name() == "SquaredError");

  const Tensor<T, 2> output({3, 4}, {0.1, 0.2, 0.3, 0.4, 0.7, 0.1, 0.1, 0.1, 0.25, 0.25, 0.25, 0.25});
  const Labels labels = {3, 0, 2};
  Tensor<T, 2> one_hot({3, 4});
  for (Index n = 0; n < 3; ++n) one_hot(n, labels[static_cast<std::size_t>(n)]) = 1;
  const Targets<T> by_label{std::span<const std::int32_t>(labels)};
  const Targets<T> by_tensor{one_hot.view()};
  CHECK(by_label.has_labels());
  CHECK(!by_tensor.has_labels());
  CHECK(by_label.count() == 3);
  CHECK(by_tensor.count() == 3);

  for (auto& loss : losses) {
    INFO(loss->name());
    Tensor<T, 2> grad_label({3, 4}), grad_tensor({3, 4});
    const T from_labels = loss->forward_backward(output, by_label, grad_label);
    const T from_tensor = loss->forward_backward(output, by_tensor, grad_tensor);
    CHECK(from_labels == Approx(from_tensor));
    CHECK(grad_label.array().isApprox(grad_tensor.array()));
    CHECK(loss->value(output, by_label) == from_labels);
  }

  // Hand-worked values for this batch.
  CHECK(losses[1]->value(output, by_label) == Approx(-(std::log(0.4) + std::log(0.7) + std::log(0.25)) / 3));
  // SquaredError: sample 0: 0.01 + 0.04 + 0.09 + 0.36 = 0.5; sample 1: 0.09 + 0.03 = 0.12;
  // sample 2: 3 * 0.0625 + 0.5625 = 0.75; halves, then the mean.
  CHECK(losses[2]->value(output, by_label) == Approx((0.5 + 0.12 + 0.75) / 2 / 3));
}

TEST_CASE("SoftmaxCrossEntropy of uniform logits is log K with gradient (1/K - onehot)/N", "[train][loss]") {
  fovea::SoftmaxCrossEntropy<float> loss;
  const Tensor<float, 2> logits({2, 5});
  const Labels labels = {4, 1};
  Tensor<float, 2> grad({2, 5});
  CHECK(loss.forward_backward(logits, Targets<float>(labels), grad) == Approx(std::log(5.0)));
  CHECK(grad(0, 4) == Approx((0.2 - 1) / 2));
  CHECK(grad(1, 0) == Approx(0.2 / 2));
}

TEST_CASE("loss gradients from the classes agree with finite differences", "[train][loss]") {
  fovea::Rng rng(16);
  const auto output = Tensor<double, 2>::uniform({4, 3}, rng, 0.1, 1);
  const Labels labels = {2, 2, 0, 1};
  const Targets<double> targets(labels);
  fovea::SoftmaxCrossEntropy<double> softmax_ce;
  fovea::CrossEntropy<double> ce;
  fovea::SquaredError<double> se;
  for (fovea::Loss<double>* loss : std::vector<fovea::Loss<double>*>{&softmax_ce, &ce, &se}) {
    INFO(loss->name());
    Tensor<double, 2> grad({4, 3}), probe(output);
    loss->forward_backward(output, targets, grad);
    const double h = 1e-6;
    for (Index i = 0; i < output.size(); ++i) {
      probe.data()[i] = output.data()[i] + h;
      const double plus = loss->value(probe, targets);
      probe.data()[i] = output.data()[i] - h;
      const double minus = loss->value(probe, targets);
      probe.data()[i] = output.data()[i];
      CHECK(grad.data()[i] == Approx((plus - minus) / (2 * h)).epsilon(1e-6).margin(1e-8));
    }
  }
}

TEST_CASE("loss classes name themselves, the bad label, its index and the shapes", "[train][loss]") {
  const Tensor<float, 2> output({4, 10});
  Tensor<float, 2> grad({4, 10});
  const Labels bad = {1, 2, 3, 12};
  fovea::SoftmaxCrossEntropy<float> softmax_ce;
  fovea::CrossEntropy<float> ce;
  fovea::SquaredError<float> se;
  CHECK_THROWS_AS(softmax_ce.forward_backward(output, Targets<float>(bad), grad), fovea::value_error);
  CHECK_THROWS_WITH(softmax_ce.forward_backward(output, Targets<float>(bad), grad),
                    "SoftmaxCrossEntropy: label 12 at index 3 is out of range for 10 classes");
  CHECK_THROWS_WITH(ce.value(output, Targets<float>(bad)),
                    "CrossEntropy: label 12 at index 3 is out of range for 10 classes");
  CHECK_THROWS_WITH(se.value(output, Targets<float>(bad)),
                    "SquaredError: label 12 at index 3 is out of range for 10 classes");
  const Labels short_labels = {1, 2};
  CHECK_THROWS_AS(ce.value(output, Targets<float>(short_labels)), fovea::shape_error);
  CHECK_THROWS_WITH(ce.value(output, Targets<float>(short_labels)), "CrossEntropy: 2 labels for output [4, 10]");
  const Tensor<float, 2> target({3, 10});
  CHECK_THROWS_WITH(se.value(output, Targets<float>(target.view())),
                    "SquaredError: target [3, 10] does not match output [4, 10]");
  Tensor<float, 2> wrong_grad({10, 4});
  const Labels good = {0, 1, 2, 3};
  CHECK_THROWS_WITH(softmax_ce.forward_backward(output, Targets<float>(good), wrong_grad),
                    "SoftmaxCrossEntropy: output gradient [10, 4] does not match output [4, 10]");
}
