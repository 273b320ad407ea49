// Integration: LeNet-5 trained on real MNIST images (the test set shipped in
// shared/data/mnist), saved, reloaded, and checked for identical predictions.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "fovea/io/data/dataset.hpp"
#include "fovea/io/model_file.hpp"
#include "fovea/nn/lenet.hpp"
#include "fovea/optim/adam.hpp"
#include "fovea/train/fit.hpp"

using namespace fovea;
namespace fs = std::filesystem;

TEST_CASE("LeNet-5 learns real MNIST digits and survives a save and reload", "[integration][mnist]") {
  const fs::path folder = fs::path(FOVEA_SHARED_DATA_DIR) / "mnist";
  const fs::path images = folder / "t10k-images-idx3-ubyte.gz";
  const fs::path labels = folder / "t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(images) || !fs::exists(labels)) {
    WARN("no MNIST data in " << folder << ": integration test not run");
    return;
  }
  const Dataset all = load_idx_dataset(images, labels);
  REQUIRE(all.size() == 10000);
  const Dataset train = all.slice(0, 2000);
  const Dataset held_out = all.slice(9000, 10000);

  auto net = make_lenet5<float>({.seed = 1});
  SoftmaxCrossEntropy<float> loss;
  Adam<float> adam(net.params(), {.learning_rate = 0.002});
  const History history = fit(net, loss, adam, train, held_out,
                              {.epochs = 2, .batch_size = 8, .seed = 2, .progress = ProgressStyle::silent});
  REQUIRE(history.epochs.size() == 2);
  INFO("held-out accuracy " << *history.epochs.back().validation_accuracy);
  CHECK(*history.epochs.back().validation_accuracy > 0.90);

  const fs::path path = fs::temp_directory_path() / ("fovea_lenet_" + std::to_string(::getpid()) + ".fovea");
  save(net, path);
  auto reloaded = load<float>(path);
  fs::remove(path);

  Tensor<float, 4> x({1000, 1, 28, 28});
  std::vector<std::int32_t> y(1000);
  std::vector<Index> order(1000);
  std::iota(order.begin(), order.end(), Index{0});
  held_out.make_batch(order, x.view(), y);
  const auto before = net.predict(x);
  const auto after = reloaded.predict(x);
  CHECK(std::equal(before.begin(), before.end(), after.begin()));
  const Evaluation e = evaluate(reloaded, loss, held_out);
  CHECK(e.accuracy == Approx(*history.epochs.back().validation_accuracy));
}
