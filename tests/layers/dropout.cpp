#include "fovea/layers/dropout.hpp"

#include <catch2/catch.hpp>

#include "support/context_checks.hpp"
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
  const auto first = fovea::forward<double>(dropout, x);  // no key yet: one is drawn
  const auto second = fovea::forward<double>(dropout, x);
  CHECK(first.array().isApprox(second.array(), 0));
  // The frozen key gives a mask for any input shape: a batch of one sample
  // gets the first sample's mask.
  const auto other = Tensor<double, 4>::full({1, 3, 4, 4}, 1);
  const auto one = fovea::forward<double>(dropout, other);
  REQUIRE(one.shape() == other.shape());
  CHECK((one.array() == first.slice(0, 1).array()).all());
  dropout.freeze_mask(false);
  const auto third = fovea::forward<double>(dropout, other);
  const auto fourth = fovea::forward<double>(dropout, other);
  CHECK(!third.array().isApprox(fourth.array()));
}

TEMPLATE_TEST_CASE("Dropout masks do not depend on how a batch is cut into lanes", "[layers][dropout][context]", float,
                   double) {
  using T = TestType;
  fovea::Rng rng(6);
  const auto x = Tensor<T, 4>::uniform({8, 3, 5, 5}, rng, -1, 1);
  Dropout<T> dropout(0.5, 21);
  dropout.start_batch(8);
  // The whole batch in one context...
  auto whole = dropout.make_context();
  Tensor<T, 4> y_whole(x.shape());
  dropout.forward(x, y_whole, *whole);
  // ... and as two lanes of four samples, each in its own context at its offset.
  Tensor<T, 4> y_lanes(x.shape());
  for (Index offset : {0, 4}) {
    auto lane = dropout.make_context();
    lane->batch_offset = offset;
    dropout.forward(x.slice(offset, offset + 4), y_lanes.slice(offset, offset + 4), *lane);
  }
  CHECK((y_whole.array() == y_lanes.array()).all());
  CHECK((y_whole.array() == 0).count() > 0);  // something was dropped
  // The next batch draws a new key: a new mask.
  dropout.start_batch(8);
  Tensor<T, 4> y_next(x.shape());
  dropout.forward(x, y_next, *whole);
  CHECK(!(y_next.array() == y_whole.array()).all());
}

TEMPLATE_TEST_CASE("Dropout runs in two contexts at once as in one alone", "[layers][dropout][context]", float,
                   double) {
  using T = TestType;
  fovea::Rng rng(8);
  const auto xa = Tensor<T, 4>::uniform({3, 2, 4, 4}, rng, -1, 1);
  const auto xb = Tensor<T, 4>::uniform({2, 2, 4, 4}, rng, -1, 1);
  Dropout<T> dropout(0.3, 2);
  fovea::test::check_interleaved_contexts<T>(dropout, xa, xb);
  fovea::test::check_interleaved_contexts<T>(dropout, xa, xb, {.training = false});
}

TEST_CASE("a training Dropout forward needs a started batch", "[layers][dropout][errors]") {
  const Tensor<float, 4> x({2, 3, 2, 2});
  Tensor<float, 4> y(x.shape());
  Dropout<float> dropout(0.5, 1);
  auto context = dropout.make_context();
  CHECK_THROWS_AS(dropout.forward(x, y, *context), fovea::state_error);
  CHECK_THROWS_WITH(dropout.forward(x, y, *context),
                    "Dropout(0.5)::forward: a training forward before start_batch() drew a mask key");
  context->training = false;
  CHECK_NOTHROW(dropout.forward(x, y, *context));
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
