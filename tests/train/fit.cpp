#include "fovea/train/fit.hpp"

#include <catch2/catch.hpp>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

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

TEST_CASE("fit and evaluate name a bad label by the sample's index in the data set", "[train][fit]") {
  const auto data = test::quadrant_blobs<float>(48, 2, 8);
  std::vector<std::int32_t> labels = data.labels();
  labels[20] = 9;
  const TensorDataset<float> bad(data.samples(), labels);
  auto net = test::small_cnn<float>(1, 8);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.01});
  CHECK_THROWS_AS(fit(net, loss, sgd, bad, quiet(1)), value_error);
  CHECK_THROWS_WITH(fit(net, loss, sgd, bad, quiet(1)),
                    Catch::StartsWith("fit: training sample 20 has label 9, out of range for 4 classes, at epoch 1, "
                                      "batch "));
  CHECK_THROWS_WITH(evaluate(net, loss, bad, 16), "evaluate: sample 20 has label 9, out of range for 4 classes");
  CHECK_THROWS_WITH(fit(net, loss, sgd, data, bad, quiet(1)),
                    "fit: validation sample 20 has label 9, out of range for 4 classes");
}

TEST_CASE("fit and evaluate refuse samples holding NaN or infinity, by their index", "[train][fit]") {
  const auto data = test::quadrant_blobs<float>(48, 2, 8);
  Tensor<float, 4> images = data.samples();
  images(37, 0, 2, 3) = std::numeric_limits<float>::quiet_NaN();  // element 2 * 8 + 3 = 19 of sample 37
  const TensorDataset<float> poisoned(std::move(images), data.labels());
  auto net = test::small_cnn<float>(2, 8);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.01});
  // Validation data is refused, not reported as an accuracy.
  CHECK_THROWS_AS(evaluate(net, loss, poisoned), numeric_error);
  CHECK_THROWS_WITH(evaluate(net, loss, poisoned), "evaluate: sample 37 holds nan at element 19 of [1, 8, 8]");
  CHECK(net.training());  // the mode is restored when evaluate throws
  CHECK_THROWS_WITH(fit(net, loss, sgd, data, poisoned, quiet(1)),
                    "fit: validation sample 37 holds nan at element 19 of [1, 8, 8]");
  CHECK_THROWS_WITH(fit(net, loss, sgd, poisoned, quiet(1)),
                    Catch::StartsWith("fit: training sample 37 holds nan at element 19 of [1, 8, 8], at epoch 1, "
                                      "batch "));

  // Finite data through a network that gives NaN: refused too, not counted as a class.
  net.params()[2].value(0) = std::numeric_limits<float>::infinity();  // the Linear's first weight
  CHECK_THROWS_AS(evaluate(net, loss, data), numeric_error);
  CHECK_THROWS_WITH(evaluate(net, loss, data),
                    Catch::StartsWith("evaluate: sample 0 is finite but the network's output for it holds "));
}

TEST_CASE("fit checks its options, data and optimizer before training", "[train][fit]") {
  const auto train = test::quadrant_blobs<float>(64, 1);
  auto net = test::small_cnn<float>(1);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.1});
  int batches = 0;
  auto options_with = [&](auto change) {
    FitOptions options = quiet(3);
    options.on_batch_end = [&](const BatchReport&) { ++batches; };
    change(options);
    return options;
  };
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, options_with([](FitOptions& o) { o.start_epoch = -1; })),
                    "fit: start_epoch must be in [0, epochs = 3], got -1");
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, options_with([](FitOptions& o) { o.start_epoch = 4; })),
                    "fit: start_epoch must be in [0, epochs = 3], got 4");
  const std::string threads =
      "fit: threads must be 0 (keep the current count) or in [1, " + std::to_string(thread_limit()) + "], got ";
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, options_with([](FitOptions& o) { o.threads = -2; })), threads + "-2");
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, options_with([](FitOptions& o) { o.threads = 10000; })),
                    threads + "10000");
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, options_with([](FitOptions& o) { o.early_stopping.patience = -1; })),
                    "fit: early_stopping.patience must be >= 0 (0: off), got -1");
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, options_with([](FitOptions& o) {
                          o.early_stopping.min_delta = std::numeric_limits<double>::quiet_NaN();
                        })),
                    "fit: early_stopping.min_delta must be >= 0, got nan");
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, options_with([](FitOptions& o) { o.divergence_factor = 0.5; })),
                    "fit: divergence_factor must be 0 (off) or >= 1, got 0.5");
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, options_with([](FitOptions& o) {
                          o.peers.rank = 2;
                          o.peers.size = 2;
                        })),
                    "fit: peers.rank must be in [0, peers.size) with peers.size >= 1, got rank 2 of 2");
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, options_with([](FitOptions& o) { o.peers.size = 2; })),
                    "fit: peers.size is 2 but peers.reduce_gradients or peers.sum is not set");

  // Validation data of the wrong shape fails before the first batch, not after an epoch.
  const auto small = test::quadrant_blobs<float>(16, 1, 8);
  CHECK_THROWS_AS(fit(net, loss, sgd, train, small, options_with([](FitOptions&) {})), shape_error);
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, small, options_with([](FitOptions&) {})),
                    "fit: validation samples [1, 8, 8] but the network takes [1, 16, 16]");
  const TensorDataset<float> none(Tensor<float, 4>({0, 1, 16, 16}), {});
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, none, options_with([](FitOptions&) {})),
                    "fit: the validation set is empty");

  // An optimizer over another network's parameters would train nothing.
  auto other = test::small_cnn<float>(2);
  Sgd<float> foreign(other.params(), {.learning_rate = 0.1});
  CHECK_THROWS_AS(fit(net, loss, foreign, train, options_with([](FitOptions&) {})), value_error);
  CHECK_THROWS_WITH(fit(net, loss, foreign, train, options_with([](FitOptions&) {})),
                    "fit: the optimizer's parameter 0 ('0.weight', 36 values) is not one of the network's; build the "
                    "optimizer over net.params()");
  std::vector<Parameter<float>> twice = {net.params()[0], net.params()[1], net.params()[0]};
  Sgd<float> doubled(twice, {.learning_rate = 0.1});
  CHECK_THROWS_WITH(fit(net, loss, doubled, train, options_with([](FitOptions&) {})),
                    "fit: the optimizer updates parameter '0.weight' twice (entries 0 and 2)");
  CHECK(batches == 0);

  // A subset is fine: the other parameters stay frozen.
  const std::vector<Parameter<float>> last_layer(net.params().end() - 2, net.params().end());
  Sgd<float> head(last_layer, {.learning_rate = 0.1});
  const std::vector<float> first_weights(net.params()[0].value.begin(), net.params()[0].value.end());
  fit(net, loss, head, train, quiet(1));
  CHECK(std::vector<float>(net.params()[0].value.begin(), net.params()[0].value.end()) == first_weights);
}

TEST_CASE("a learning rate that makes the loss explode stops fit at that step with the weights before it",
          "[train][fit]") {
  const auto train = test::quadrant_blobs<float>(256, 9);
  auto net = test::small_cnn<float>(10);
  SoftmaxCrossEntropy<float> loss;
  std::vector<float> start;
  for (const auto& p : net.params()) start.insert(start.end(), p.value.begin(), p.value.end());
  // Finite all the way (weights near 1e10, losses near 1e9): only the size of the loss shows it.
  Sgd<float> sgd(net.params(), {.learning_rate = 1e6});
  CHECK_THROWS_AS(fit(net, loss, sgd, train, quiet(3)), numeric_error);
  std::vector<float> after;
  for (const auto& p : net.params()) after.insert(after.end(), p.value.begin(), p.value.end());
  CHECK(after == start);  // restored to before the update that blew the loss up

  Sgd<float> again(net.params(), {.learning_rate = 1e6});
  CHECK_THROWS_WITH(
      fit(net, loss, again, train, quiet(3)),
      Catch::StartsWith("fit: the loss rose to ") && Catch::Contains(", at epoch 1, batch 2 (step 2), above 1") &&
          Catch::Contains("(divergence_factor 1000) (learning rate 1e+06") && Catch::Contains("training diverged"));

  // divergence_factor = 0: only a non-finite loss stops training.
  Sgd<float> unchecked(net.params(), {.learning_rate = 1e6});
  FitOptions options = quiet(1);
  options.divergence_factor = 0;
  CHECK_NOTHROW(fit(net, loss, unchecked, train, options));
}

TEST_CASE("FitOptions::threads applies to the call only, also when fit throws", "[train][fit]") {
  const int saved = max_threads();
  const auto train = test::quadrant_blobs<float>(64, 3);
  auto net = test::small_cnn<float>(3);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.01});
  set_threads(1);
  FitOptions options = quiet(1);
  options.threads = 2;
  int inside = 0;
  options.on_batch_end = [&](const BatchReport&) { inside = max_threads(); };
  fit(net, loss, sgd, train, options);
  CHECK(inside == 2);
  CHECK(max_threads() == 1);

  options.on_batch_end = [](const BatchReport&) { throw std::runtime_error("stop"); };
  CHECK_THROWS_WITH(fit(net, loss, sgd, train, options), "stop");
  CHECK(max_threads() == 1);

  options.on_batch_end = {};
  options.threads = 0;  // keeps the current count
  set_threads(3);
  fit(net, loss, sgd, train, options);
  CHECK(max_threads() == 3);
  set_threads(saved);
}

TEST_CASE("a network that is never initialised explicitly still learns", "[train][fit]") {
  // The default start of Conv2d and Linear (layers/default_init.hpp); at zero
  // the convolution's gradient is zero and only the output bias would learn.
  const auto train = test::quadrant_blobs<float>(600, 11);
  const auto held_out = test::quadrant_blobs<float>(200, 12);
  Sequential<float> net({1, 16, 16});
  net.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 1, .out_channels = 4, .kernel = 3, .padding = Padding::same});
  net.emplace<ReLU<float>>();
  net.emplace<Pool2d<float>>(Pool2dOptions{.kind = PoolKind::max, .window = {2, 2}, .stride = {2, 2}});
  net.emplace<Flatten<float>>();
  net.emplace<Linear<float>>(4 * 8 * 8, 4);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.05, .momentum = 0.9});
  const History history = fit(net, loss, sgd, train, held_out, quiet(5));
  CHECK(*history.epochs.back().validation_accuracy > 0.9);
}
