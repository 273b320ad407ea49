#include "fovea/train/fit.hpp"

#include <catch2/catch.hpp>
#include <limits>
#include <sstream>

#include "fovea/optim/adam.hpp"
#include "fovea/optim/sgd.hpp"
#include "support/quadrants.hpp"
#include "support/small_cnn.hpp"

using namespace fovea;

namespace {
FitOptions quiet(int epochs, std::uint64_t seed = 7) {
  return {.epochs = epochs, .batch_size = 32, .seed = seed, .progress = ProgressStyle::silent};
}
}  // namespace

TEST_CASE("a small CNN learns which quadrant the blob is in", "[train][fit]") {
  const auto train = test::quadrant_blobs<float>(1200, 1);
  const auto held_out = test::quadrant_blobs<float>(400, 2);
  auto net = test::small_cnn<float>(3);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.05, .momentum = 0.9});
  std::ostringstream log;
  FitOptions options = quiet(6);
  options.progress = ProgressStyle::lines;
  options.log = &log;
  const History history = fit(net, loss, sgd, train, held_out, options);

  REQUIRE(history.epochs.size() == 6);
  CHECK(history.epochs.back().train_loss < history.epochs.front().train_loss);
  CHECK(*history.epochs.back().validation_accuracy > 0.95);
  CHECK(history.epochs.back().images_per_second > 0);
  // One plain line per epoch when the output is not a terminal.
  const std::string lines = log.str();
  CHECK(std::count(lines.begin(), lines.end(), '\n') == 6);
  CHECK(lines.find("epoch 6/6") != std::string::npos);

  const Evaluation e = evaluate(net, loss, held_out);
  CHECK(e.accuracy == Approx(*history.epochs.back().validation_accuracy));
  CHECK(e.confusion.total() == 400);
  CHECK(e.confusion.correct() == static_cast<Index>(std::lround(e.accuracy * 400)));
  CHECK(e.confusion.to_string({"top-left", "top-right", "bottom-left", "bottom-right"}).find("bottom-right") !=
        std::string::npos);
}

TEST_CASE("the same seed, data and thread count give identical weights bit for bit", "[train][fit]") {
  const auto train = test::quadrant_blobs<float>(300, 4);
  const bool second_conv = GENERATE(false, true);  // true: a Conv2d on the few-input-channel path too
  INFO("second convolution: " << second_conv);
  auto run = [&](std::uint64_t seed) {
    auto net = test::small_cnn<float>(5, 16, /*dropout=*/true, second_conv);
    SoftmaxCrossEntropy<float> loss;
    Adam<float> adam(net.params(), {.learning_rate = 0.01});
    fit(net, loss, adam, train, quiet(2, seed));
    std::vector<float> weights;
    for (const auto& p : net.params()) weights.insert(weights.end(), p.value.begin(), p.value.end());
    return weights;
  };
  const auto a = run(11);
  const auto b = run(11);
  const auto c = run(12);
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("callbacks see every batch and epoch, and can stop training", "[train][fit]") {
  const auto train = test::quadrant_blobs<float>(100, 5);
  auto net = test::small_cnn<float>(6);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.01});
  int batches = 0;
  int epochs = 0;
  FitOptions options = quiet(5);
  options.on_batch_end = [&](const BatchReport& r) {
    ++batches;
    CHECK(r.batches == 4);  // 100 samples in batches of 32
  };
  options.on_epoch_end = [&](const EpochReport&) { return ++epochs < 2; };
  const History h = fit(net, loss, sgd, train, options);
  CHECK(epochs == 2);
  CHECK(batches == 8);
  CHECK(h.epochs.size() == 2);
}

TEST_CASE("early stopping ends training when the monitored metric stalls", "[train][fit]") {
  const auto train = test::quadrant_blobs<float>(64, 6);
  auto net = test::small_cnn<float>(7);
  SoftmaxCrossEntropy<float> loss;
  // A learning rate this small cannot move validation accuracy by 50 points.
  Sgd<float> sgd(net.params(), {.learning_rate = 1e-9});
  FitOptions options = quiet(20);
  options.early_stopping = {.patience = 2, .monitor = Monitor::validation_accuracy, .min_delta = 0.5};
  const History h = fit(net, loss, sgd, train, train, options);
  CHECK(h.stopped_early);
  CHECK(h.epochs.size() == 3);
}

TEST_CASE("learning-rate schedules are applied per epoch", "[train][fit]") {
  const auto train = test::quadrant_blobs<float>(64, 8);
  auto net = test::small_cnn<float>(9);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.1});
  FitOptions options = quiet(3);
  options.schedule = Schedule::step(1, 0.5);
  const History h = fit(net, loss, sgd, train, options);
  CHECK(h.epochs[0].learning_rate == Approx(0.1));
  CHECK(h.epochs[2].learning_rate == Approx(0.025));
  CHECK(sgd.learning_rate() == Approx(0.1));  // the base rate is restored
}

TEST_CASE("a diverging run stops with an error naming the epoch and batch", "[train][fit]") {
  const auto train = test::quadrant_blobs<float>(256, 9);
  auto net = test::small_cnn<float>(10);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 1e30});
  CHECK_THROWS_AS(fit(net, loss, sgd, train, quiet(3)), numeric_error);
  try {
    fit(net, loss, sgd, train, quiet(3));
  } catch (const numeric_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("at epoch 1, batch"));
  }
  for (const auto& p : net.params()) CHECK(p.value.array().allFinite());
}

TEST_CASE("fit and evaluate reject bad arguments", "[train][fit]") {
  const auto train = test::quadrant_blobs<float>(10, 1);
  const auto wrong = test::quadrant_blobs<float>(10, 1, 8);
  auto net = test::small_cnn<float>(1);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.1});
  FitOptions options = quiet(1);
  options.batch_size = 0;
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, options), "fit: batch_size must be positive, got 0");
  CHECK_THROWS_WITH(fit(net, loss, sgd, wrong, quiet(1)),
                    "fit: training samples [1, 8, 8] but the network takes [1, 16, 16]");
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, quiet(0)), "fit: epochs must be positive, got 0");
  CHECK_THROWS_AS(evaluate(net, loss, wrong), shape_error);
}

TEST_CASE("the trainer's checks and weight backup see every element of a parameter split across threads",
          "[train][fit]") {
  const int saved_threads = max_threads();
  // One large parameter (split into chunks) beside a small one (not split).
  const Index large = (Index{1} << 16) + 37, small = 10;
  Tensor<float, 1> value({large}), grad({large}), small_value({small}), small_grad({small});
  value.fill(1.0F);
  small_value.fill(2.0F);
  const std::vector<Parameter<float>> params = {{"weight", {large}, value, grad},
                                                {"bias", {small}, small_value, small_grad}};
  for (int threads : {1, 2, 3}) {
    INFO(threads << " threads");
    set_threads(threads);
    grad.fill(0.0F);
    CHECK(detail::gradients_finite(params));
    for (Index at : {Index{0}, large / 2 + 1, large - 1}) {
      grad(at) = std::numeric_limits<float>::quiet_NaN();
      CHECK_FALSE(detail::gradients_finite(params));
      grad(at) = 0.0F;
    }
    small_grad(small - 1) = std::numeric_limits<float>::infinity();
    CHECK_FALSE(detail::gradients_finite(params));
    small_grad(small - 1) = 0.0F;

    std::vector<float> backup(static_cast<std::size_t>(large + small));
    detail::copy_values(params, backup, true);
    CHECK(backup[static_cast<std::size_t>(large - 1)] == 1.0F);
    CHECK(backup[static_cast<std::size_t>(large)] == 2.0F);
    value(large - 1) = std::numeric_limits<float>::infinity();
    small_value(0) = -1.0F;
    CHECK_FALSE(detail::values_finite(params));
    detail::copy_values(params, backup, false);
    CHECK(detail::values_finite(params));
    CHECK(value(large - 1) == 1.0F);
    CHECK(small_value(0) == 2.0F);
    CHECK((value.array() == 1.0F).all());
  }
  set_threads(saved_threads);
}
