// The bad-input catalogue, training: labels, NaN and infinity in inputs and in
// the loss, empty batches, and a learning rate so large that training
// diverges. Loss shape checks are in tests/ops/loss.cpp; softmax cross-entropy
// of logits +-1e4 is finite: tests/ops/loss.cpp ("... logits of +-1e4").

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <limits>

#include "fovea/io/model_file.hpp"
#include "fovea/optim/sgd.hpp"
#include "fovea/train/fit.hpp"
#include "fovea/train/loss.hpp"
#include "support/quadrants.hpp"
#include "support/small_cnn.hpp"
#include "support/temp_files.hpp"

using namespace fovea;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

constexpr float nan_value = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_value = std::numeric_limits<float>::infinity();

FitOptions quiet(int epochs) {
  return {.epochs = epochs, .batch_size = 16, .seed = 3, .progress = ProgressStyle::silent};
}

bool all_finite(Sequential<float>& net) {
  for (const auto& p : net.params()) {
    if (!p.value.array().allFinite()) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("bad input: labels out of range", "[bad_input][value]") {
  SoftmaxCrossEntropy<float> loss;
  const Tensor<float, 2> output({3, 4});
  const std::vector<std::int32_t> high = {0, 4, 1}, negative = {0, 1, -2};
  CHECK_THROWS_AS(loss.value(output, Targets<float>(high)), value_error);
  CHECK_THROWS_WITH(loss.value(output, Targets<float>(high)),
                    "SoftmaxCrossEntropy: label 4 at index 1 is out of range for 4 classes");
  CHECK_THROWS_WITH(loss.value(output, Targets<float>(negative)),
                    "SoftmaxCrossEntropy: label -2 at index 2 is out of range for 4 classes");

  // In training: fit stops at the first batch holding the label, and names
  // the sample by its index in the training set, not in the batch.
  auto data = test::quadrant_blobs<float>(32, 1, 8);
  std::vector<std::int32_t> labels = data.labels();
  labels[20] = 9;
  const TensorDataset<float> bad(data.samples(), labels);
  auto net = test::small_cnn<float>(1, 8);
  Sgd<float> sgd(net.params(), {.learning_rate = 0.01});
  CHECK_THROWS_AS(fit(net, loss, sgd, bad, quiet(1)), value_error);
  CHECK_THROWS_WITH(fit(net, loss, sgd, bad, quiet(1)),
                    StartsWith("fit: training sample 20 has label 9, out of range for 4 classes, at epoch 1, batch"));
}

TEST_CASE("bad input: NaN or infinity in the loss's input", "[bad_input][numeric]") {
  SoftmaxCrossEntropy<float> loss;
  const std::vector<std::int32_t> labels = {0, 1};
  // -inf at the true class's logit: probability 0, infinite loss. (-inf
  // elsewhere is legitimately finite: that class has probability 0.)
  for (const auto& [bad, at] : {std::pair{nan_value, 2}, std::pair{inf_value, 2}, std::pair{-inf_value, 0}}) {
    INFO("logit " << bad << " at " << at);
    Tensor<float, 2> output({2, 3}, {0.5F, 1, 2, 0, 0, 0});
    output(0, at) = bad;
    Tensor<float, 2> grad({2, 3});
    // The loss reports non-finite logits as a non-finite value; fit turns that into numeric_error.
    CHECK_FALSE(std::isfinite(loss.forward_backward(output, Targets<float>(labels), grad)));
  }
}

TEST_CASE("bad input: NaN or infinity in the training images stops fit with numeric_error", "[bad_input][numeric]") {
  for (const float bad : {nan_value, inf_value}) {
    INFO("pixel " << bad);
    auto data = test::quadrant_blobs<float>(48, 2, 8);
    Tensor<float, 4> images = data.samples();
    images(37, 0, 4, 4) = bad;  // in the third batch of 16 (order shuffled by seed 3)
    const TensorDataset<float> poisoned(std::move(images), data.labels());
    auto net = test::small_cnn<float>(2, 8);
    SoftmaxCrossEntropy<float> loss;
    Sgd<float> sgd(net.params(), {.learning_rate = 0.01});
    CHECK_THROWS_AS(fit(net, loss, sgd, poisoned, quiet(2)), numeric_error);
    CHECK_THROWS_WITH(fit(net, loss, sgd, poisoned, quiet(2)), StartsWith("fit: ") && Contains("at epoch 1, batch"));
    // The weights are what the last good batch left: finite.
    CHECK(all_finite(net));
  }
}

TEST_CASE("bad input: an empty batch or an empty training set", "[bad_input][shape]") {
  SoftmaxCrossEntropy<float> loss;
  const Tensor<float, 2> empty({0, 4});
  CHECK_THROWS_AS(loss.value(empty, Targets<float>(std::span<const std::int32_t>())), shape_error);
  CHECK_THROWS_WITH(loss.value(empty, Targets<float>(std::span<const std::int32_t>())),
                    "SoftmaxCrossEntropy: output [0, 4] is empty");

  const TensorDataset<float> nothing(Tensor<float, 4>({0, 1, 8, 8}), {});
  auto net = test::small_cnn<float>(1, 8);
  Sgd<float> sgd(net.params(), {.learning_rate = 0.01});
  CHECK_THROWS_AS(fit(net, loss, sgd, nothing, quiet(1)), value_error);
  CHECK_THROWS_WITH(fit(net, loss, sgd, nothing, quiet(1)), "fit: the training set is empty");
}

TEST_CASE("a learning rate so large that training diverges never reaches the model file", "[bad_input][numeric]") {
  const test::TempFolder folder("bad-input-diverge");
  const auto path = folder / "model.fovea";
  const auto data = test::quadrant_blobs<float>(128, 4, 8);
  auto net = test::small_cnn<float>(4, 8);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.05});
  fit(net, loss, sgd, data, quiet(1));
  save(net, path);
  const auto saved = test::read_file(path);

  // Saving after every epoch, as a training program does; the rate overflows float.
  sgd.set_learning_rate(1e38);
  FitOptions options = quiet(5);
  options.on_epoch_end = [&](const EpochReport&) {
    save(net, path);
    return true;
  };
  bool stopped = false;
  try {
    fit(net, loss, sgd, data, options);
  } catch (const numeric_error& e) {
    stopped = true;
    CHECK_THAT(e.what(), StartsWith("fit: ") && Contains("at epoch 1, batch") && Contains("training diverged"));
  }
  CHECK(stopped);
  CHECK(all_finite(net));
  CHECK(test::read_file(path) == saved);
  const auto reloaded = load<float>(path);
  for (const auto& p : reloaded.params()) CHECK(p.value.array().allFinite());

  // And save itself refuses non-finite weights, leaving the file as it was.
  net.params()[0].value(3) = nan_value;
  CHECK_THROWS_AS(save(net, path), numeric_error);
  CHECK_THROWS_WITH(save(net, path),
                    "save: parameter '0.weight' has the non-finite value nan at element 3; refusing "
                    "to overwrite model file '" +
                        path.string() + "'");
  CHECK(test::read_file(path) == saved);
}
