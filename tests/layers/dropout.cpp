#include "fovea/layers/dropout.hpp"

#include <catch2/catch.hpp>

#include "support/layer_checks.hpp"

using fovea::Dropout;
using fovea::Index;
using fovea::LayerSpec;
using fovea::Shape;
using fovea::Tensor;

TEMPLATE_TEST_CASE("Dropout is the identity at inference", "[layers][dropout]", float, double) {
  using T = TestType;
  fovea::Rng rng(4);
  const auto x = Tensor<T, 4>::uniform({3, 2, 4, 4}, rng, -1, 1);
  Dropout<T> dropout(0.5, 7);
  const auto y = fovea::forward<T>(dropout, x, false);
  CHECK(y.array().isApprox(x.array(), 0));
  const auto dy = Tensor<T, 4>::uniform(x.shape(), rng, -1, 1);
  const auto dx = fovea::backward<T>(dropout, x, y, dy);
  CHECK(dx.array().isApprox(dy.array(), 0));
}

TEMPLATE_TEST_CASE("Dropout in training zeroes about p of the units and scales the rest", "[layers][dropout]", float,
                   double) {
  using T = TestType;
  const auto x = Tensor<T, 4>::full({10, 10, 20, 50}, 1);  // 100000 ones
  Dropout<T> dropout(0.25, 3);
  const auto y = fovea::forward<T>(dropout, x, true);
  Index kept = 0;
  for (T v : y) {
    if (v != 0) {
      CHECK(v == static_cast<T>(1 / 0.75));
      ++kept;
    }
  }
  CHECK(static_cast<double>(kept) / static_cast<double>(x.size()) == Approx(0.75).margin(0.01));
  CHECK(y.array().template cast<double>().mean() == Approx(1).margin(0.015));

  // Backward passes the gradient through the kept units only, with the same scale.
  const auto dy = Tensor<T, 4>::full(x.shape(), 2);
  const auto dx = fovea::backward<T>(dropout, x, y, dy);
  CHECK((dx.array() == 2 * y.array()).all());
  CHECK((dropout.mask().array() == y.array()).all());

  // p = 0 keeps everything.
  Dropout<T> none(0.0, 3);
  CHECK((fovea::forward<T>(none, x, true).array() == 1).all());
}

TEMPLATE_TEST_CASE("Dropout masks are reproducible from the seed and new on every forward", "[layers][dropout]", float,
                   double) {
  using T = TestType;
  const auto x = Tensor<T, 4>::full({4, 3, 8, 8}, 1);
  Dropout<T> a(0.5, 42), b(0.5, 42), c(0.5, 43);
  const auto ya = fovea::forward<T>(a, x);
  const auto yb = fovea::forward<T>(b, x);
  const auto yc = fovea::forward<T>(c, x);
  CHECK(ya.array().isApprox(yb.array(), 0));
  CHECK(!ya.array().isApprox(yc.array()));
  const auto ya2 = fovea::forward<T>(a, x);
  const auto yb2 = fovea::forward<T>(b, x);
  CHECK(!ya2.array().isApprox(ya.array()));
  CHECK(ya2.array().isApprox(yb2.array(), 0));
  // Inference draws nothing: the sequence continues where training left it.
  fovea::forward<T>(a, x, false);
  CHECK(fovea::forward<T>(a, x).array().isApprox(fovea::forward<T>(b, x).array(), 0));
}

TEST_CASE("a frozen Dropout mask stays fixed across forwards", "[layers][dropout]") {
  const auto x = Tensor<double, 4>::full({2, 3, 4, 4}, 1);
  Dropout<double> dropout(0.5, 5);
  CHECK(!dropout.mask_frozen());
  dropout.freeze_mask(true);
  CHECK(dropout.mask_frozen());
  const auto first = fovea::forward<double>(dropout, x);  // no mask yet: one is drawn
  const auto second = fovea::forward<double>(dropout, x);
  CHECK(first.array().isApprox(second.array(), 0));
  // A new input shape needs a new mask, frozen or not.
  const auto other = Tensor<double, 4>::full({1, 3, 4, 4}, 1);
  CHECK(fovea::forward<double>(dropout, other).shape() == other.shape());
  dropout.freeze_mask(false);
  const auto third = fovea::forward<double>(dropout, other);
  const auto fourth = fovea::forward<double>(dropout, other);
  CHECK(!third.array().isApprox(fourth.array()));
}

TEST_CASE("Dropout gradients agree with finite differences under a frozen mask", "[layers][dropout][gradcheck]") {
  fovea::Rng rng(12);
  for (int trial = 0; trial < 4; ++trial) {
    const Shape<4> shape = {1 + rng.uniform_index(3), 1 + rng.uniform_index(3), 1 + rng.uniform_index(5),
                            1 + rng.uniform_index(5)};
    const auto x = Tensor<double, 4>::uniform(shape, rng, -1, 1);
    Dropout<double> dropout(0.4, 100 + static_cast<std::uint64_t>(trial));
    dropout.freeze_mask(true);
    fovea::test::check_layer_gradients(dropout, x);
    fovea::test::check_layer_gradients(dropout, x, {.training = false});
  }
}

TEST_CASE("Dropout describes itself, rebuilds from its spec and rejects a bad p", "[layers][dropout]") {
  Dropout<float> dropout(0.5, 17);
  CHECK(dropout.describe() == "Dropout(0.5)");
  CHECK(dropout.p() == 0.5);
  CHECK(dropout.output_shape({3, 4, 5}) == fovea::SampleShape{3, 4, 5});
  CHECK(dropout.flops_per_sample({3, 4, 5}) == 60);
  CHECK(dropout.spec() == LayerSpec{"Dropout", {{"p", 0.5}, {"seed", 17}}});
  fovea::test::check_spec_round_trip(dropout);
  CHECK_THROWS_WITH(Dropout<float>::from_spec({"ReLU", {}}), "Dropout::from_spec: spec is for a 'ReLU' layer");

  CHECK_THROWS_AS(Dropout<float>(1.5, 0), fovea::value_error);
  CHECK_THROWS_WITH(Dropout<float>(1.5, 0), "Dropout: p must be in [0, 1), got 1.5");
  CHECK_THROWS_WITH(Dropout<float>(1.0, 0), "Dropout: p must be in [0, 1), got 1");
  CHECK_THROWS_WITH(Dropout<float>(-0.1, 0), "Dropout: p must be in [0, 1), got -0.1");
}

TEST_CASE("Dropout keeps the forward record contract", "[layers][dropout]") {
  const Tensor<float, 4> x({2, 3, 2, 2});
  Dropout<float> dropout(0.3, 1);
  fovea::test::check_forward_record(dropout, x);
}
