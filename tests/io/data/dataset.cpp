#include "fovea/io/data/dataset.hpp"

#include <catch2/catch.hpp>
#include <numeric>
#include <set>

#include "support/temp_files.hpp"

#include "fovea/core/parallel.hpp"
#include "fovea/train/data.hpp"
static_assert(fovea::BatchSource<fovea::Dataset, float>, "the trainer takes a Dataset");
static_assert(fovea::BatchSource<fovea::Dataset, double>, "the trainer takes a Dataset");

using fovea::Dataset;
using fovea::Index;
using fovea::MeanStd;
using fovea::MinibatchOrder;
using fovea::Shape;
using fovea::Tensor;
using fovea::test::Bytes;
using fovea::test::idx_file;

namespace {

const fovea::test::TempFolder folder("dataset");

std::string quoted(const std::filesystem::path& path) { return fovea::detail::quoted_path(path); }

// Six 1x2x2 images whose pixels are 10*n + {0, 1, 2, 3}, labelled n % 3.
Dataset six_samples() {
  Tensor<std::uint8_t, 4> images({6, 1, 2, 2});
  Tensor<std::int32_t, 1> labels({6});
  for (Index n = 0; n < 6; ++n) {
    for (Index j = 0; j < 4; ++j) images.data()[n * 4 + j] = static_cast<std::uint8_t>(10 * n + j);
    labels(n) = static_cast<std::int32_t>(n % 3);
  }
  return {std::move(images), std::move(labels), 3};
}

std::vector<Index> all_indices(Index n) {
  std::vector<Index> indices(static_cast<std::size_t>(n));
  std::iota(indices.begin(), indices.end(), Index{0});
  return indices;
}

}  // namespace

TEST_CASE("the real MNIST test set loads as a Dataset of [10000, 1, 28, 28] bytes", "[io][dataset][mnist]") {
  const std::filesystem::path mnist = std::filesystem::path(FOVEA_SHARED_DATA_DIR) / "mnist";
  const Dataset test_set =
      fovea::load_idx_dataset(mnist / "t10k-images-idx3-ubyte.gz", mnist / "t10k-labels-idx1-ubyte.gz");
  REQUIRE(test_set.size() == 10000);
  CHECK(test_set.classes() == 10);
  CHECK(test_set.sample_shape() == Shape<3>{1, 28, 28});
  CHECK(test_set.images().shape() == Shape<4>{10000, 1, 28, 28});

  const auto counts = test_set.class_counts();
  CHECK(std::accumulate(counts.begin(), counts.end(), Index{0}) == 10000);
  CHECK(counts == std::vector<Index>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009});

  // The whole set as floats: every pixel within [0, 1], both ends used.
  Tensor<float, 4> x;
  std::vector<std::int32_t> labels;
  const auto indices = all_indices(test_set.size());
  test_set.make_batch(indices, x, labels);
  CHECK(x.shape() == Shape<4>{10000, 1, 28, 28});
  CHECK(std::vector<std::int32_t>(labels.begin(), labels.begin() + 5) == std::vector<std::int32_t>{7, 2, 1, 0, 4});
  CHECK(x.array().minCoeff() == 0.0F);
  CHECK(x.array().maxCoeff() == 1.0F);

  // The statistics everyone normalises MNIST with (test split).
  const MeanStd stats = test_set.mean_std();
  CHECK(stats.mean == Approx(0.1325).margin(5e-4));
  CHECK(stats.stddev == Approx(0.3105).margin(5e-4));
  CHECK(stats.mean == Approx(x.array().cast<double>().mean()).epsilon(1e-6));  // x holds floats

  // Normalised by its own statistics the set has mean 0 and deviation 1.
  test_set.normalized(stats).make_batch(indices, x, labels);
  const double mean = x.array().cast<double>().mean();
  CHECK(mean == Approx(0).margin(1e-5));
  CHECK(std::sqrt((x.array().cast<double>() - mean).square().mean()) == Approx(1).epsilon(1e-5));
}

TEST_CASE("a batch large enough to split across threads is the one made on one thread", "[io][dataset][mnist]") {
  const std::filesystem::path mnist = std::filesystem::path(FOVEA_SHARED_DATA_DIR) / "mnist";
  const Dataset test_set =
      fovea::load_idx_dataset(mnist / "t10k-images-idx3-ubyte.gz", mnist / "t10k-labels-idx1-ubyte.gz")
          .normalized({0.1325, 0.3105});
  // 64 real images in a shuffled order: 50,176 pixels, over the split threshold.
  std::vector<Index> indices(64);
  for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<Index>((i * 7919) % 10000);
  const int saved = fovea::max_threads();
  const auto batch = [&](int threads) {
    fovea::set_threads(threads);
    std::pair<Tensor<float, 4>, std::vector<std::int32_t>> made;
    test_set.make_batch(indices, made.first, made.second);
    return made;
  };
  const auto one = batch(1);
  for (int threads : {2, 3}) {
    INFO(threads << " threads");
    const auto many = batch(threads);
    CHECK(many.first.vector() == one.first.vector());
    CHECK(many.second == one.second);
    // A bad index in a later chunk is still reported with its batch position.
    std::vector<Index> bad = indices;
    bad[50] = 10000;
    Tensor<float, 4> x({64, 1, 28, 28});
    std::vector<std::int32_t> labels(64);
    CHECK_THROWS_WITH(test_set.make_batch(bad, x.view(), std::span<std::int32_t>(labels)),
                      "Dataset::make_batch: index 10000 (batch position 50) out of range for 10000 samples");
  }
  fovea::set_threads(saved);
}

TEST_CASE("images and labels files that disagree on the count are a format_error", "[io][dataset][errors]") {
  const auto images = folder / "images.idx3";
  const auto labels = folder / "labels.idx1";
  fovea::test::write_file(images, idx_file(fovea::idx_images_magic, {3, 2, 2}, Bytes(12, 7)));
  fovea::test::write_file(labels, idx_file(fovea::idx_labels_magic, {4}, {0, 1, 2, 3}));
  CHECK_THROWS_AS(fovea::load_idx_dataset(images, labels), fovea::format_error);
  CHECK_THROWS_WITH(fovea::load_idx_dataset(images, labels), "load_idx_dataset: " + quoted(images) +
                                                                 " holds 3 images but " + quoted(labels) +
                                                                 " holds 4 labels, expected the same count");
}

TEST_CASE("a label outside 0..classes-1 is a format_error naming the index and the label", "[io][dataset][errors]") {
  const auto images = folder / "images3.idx3";
  const auto labels = folder / "labels-bad.idx1";
  fovea::test::write_file(images, idx_file(fovea::idx_images_magic, {3, 2, 2}, Bytes(12, 7)));
  fovea::test::write_file(labels, idx_file(fovea::idx_labels_magic, {3}, {0, 9, 10}));
  CHECK_THROWS_AS(fovea::load_idx_dataset(images, labels), fovea::format_error);
  CHECK_THROWS_WITH(fovea::load_idx_dataset(images, labels),
                    "load_idx_dataset: " + quoted(labels) + " has label 10 at index 2, expected 0..9");
  CHECK_THROWS_WITH(fovea::load_idx_dataset(images, labels, 5),
                    "load_idx_dataset: " + quoted(labels) + " has label 9 at index 1, expected 0..4");
  CHECK(fovea::load_idx_dataset(images, labels, 11).size() == 3);
  CHECK_THROWS_WITH(fovea::load_idx_dataset(images, labels, 0), "load_idx_dataset: classes must be at least 1, got 0");
}

TEST_CASE("a Dataset checks its images and labels agree", "[io][dataset][errors]") {
  CHECK_THROWS_AS(Dataset(Tensor<std::uint8_t, 4>({3, 1, 2, 2}), Tensor<std::int32_t, 1>({2}), 10), fovea::shape_error);
  CHECK_THROWS_WITH(Dataset(Tensor<std::uint8_t, 4>({3, 1, 2, 2}), Tensor<std::int32_t, 1>({2}), 10),
                    "Dataset: images [3, 1, 2, 2] but labels [2], expected one label per image");
  CHECK_THROWS_AS(Dataset(Tensor<std::uint8_t, 4>({2, 1, 2, 2}), Tensor<std::int32_t, 1>({2}, {0, -1}), 10),
                  fovea::value_error);
  CHECK_THROWS_WITH(Dataset(Tensor<std::uint8_t, 4>({2, 1, 2, 2}), Tensor<std::int32_t, 1>({2}, {0, -1}), 10),
                    "Dataset: label -1 at index 1 is outside 0..9");
  CHECK_THROWS_WITH(Dataset(Tensor<std::uint8_t, 4>({2, 1, 2, 2}), Tensor<std::int32_t, 1>({2}), 0),
                    "Dataset: classes must be at least 1, got 0");
}

TEMPLATE_TEST_CASE("make_batch scales bytes to [0, 1] and applies the normalisation", "[io][dataset]", float, double) {
  const Dataset data = six_samples();
  const std::vector<Index> indices = {4, 0, 4};
  Tensor<TestType, 4> x({3, 1, 2, 2});
  std::vector<std::int32_t> labels(3);
  data.make_batch<TestType>(indices, x.view(), labels);
  CHECK(labels == std::vector<std::int32_t>{1, 0, 1});
  CHECK(x(0, 0, 0, 0) == Approx(40.0 / 255));
  CHECK(x(0, 0, 1, 1) == Approx(43.0 / 255));
  CHECK(x(1, 0, 0, 1) == Approx(1.0 / 255));
  CHECK(x(2, 0, 1, 0) == Approx(42.0 / 255));

  const MeanStd norm{0.1, 0.5};
  data.normalized(norm).make_batch<TestType>(indices, x.view(), labels);
  CHECK(x(0, 0, 0, 0) == Approx((40.0 / 255 - 0.1) / 0.5));
  CHECK(x(1, 0, 0, 0) == Approx(-0.2));

  CHECK_THROWS_AS(data.make_batch<TestType>(indices, Tensor<TestType, 4>({2, 1, 2, 2}).view(), labels),
                  fovea::shape_error);
  CHECK_THROWS_WITH(
      data.make_batch<TestType>(indices, Tensor<TestType, 4>({3, 1, 3, 3}).view(), labels),
      "Dataset::make_batch: 3 indices into batch [3, 1, 3, 3] with 3 labels, expected batch [3, 1, 2, 2]");
  const std::vector<Index> bad = {0, 6};
  Tensor<TestType, 4> two({2, 1, 2, 2});
  CHECK_THROWS_AS(data.make_batch<TestType>(bad, two.view(), std::span<std::int32_t>(labels.data(), 2)),
                  fovea::index_error);
  CHECK_THROWS_WITH(data.make_batch<TestType>(bad, two.view(), std::span<std::int32_t>(labels.data(), 2)),
                    "Dataset::make_batch: index 6 (batch position 1) out of range for 6 samples");
  CHECK_THROWS_WITH(data.normalized({0.5, 0.0}),
                    "Dataset::normalized: mean 0.5, stddev 0, expected "
                    "finite values and stddev > 0");
}

TEST_CASE("make_batch into an owned tensor resizes it and reuses its storage", "[io][dataset]") {
  const Dataset data = six_samples();
  Tensor<float, 4> x;
  std::vector<std::int32_t> labels;
  data.make_batch(std::vector<Index>{0, 1, 2, 3}, x, labels);
  CHECK(x.shape() == Shape<4>{4, 1, 2, 2});
  const float* storage = x.data();
  data.make_batch(std::vector<Index>{5, 3}, x, labels);  // a short last batch
  CHECK(x.shape() == Shape<4>{2, 1, 2, 2});
  CHECK(x.data() == storage);
  CHECK(labels == std::vector<std::int32_t>{2, 0});
  CHECK(x(0, 0, 0, 0) == Approx(50.0 / 255));
}

TEST_CASE("split gives the first k samples and the rest as views of the same storage", "[io][dataset]") {
  const Dataset data = six_samples();
  const auto [train, validation] = data.split(4);
  CHECK(train.size() == 4);
  CHECK(validation.size() == 2);
  CHECK(train.classes() == 3);
  CHECK(train.images().data() == data.images().data());
  CHECK(validation.images().data() == data.images().data() + Index{4} * 4);  // no copy
  CHECK(validation.labels()(0) == 1);                                        // sample 4

  // Indices count within the subset.
  Tensor<float, 4> x;
  std::vector<std::int32_t> labels;
  validation.make_batch(std::vector<Index>{1}, x, labels);
  CHECK(x(0, 0, 0, 0) == Approx(50.0 / 255));
  CHECK(labels == std::vector<std::int32_t>{2});
  CHECK_THROWS_WITH(validation.make_batch(std::vector<Index>{2}, x, labels),
                    "Dataset::make_batch: index 2 (batch position 0) out of range for 2 samples");

  // A view outlives the Dataset it came from.
  Dataset tail;
  {
    const Dataset temporary = six_samples();
    tail = temporary.slice(5, 6);
  }
  tail.make_batch(std::vector<Index>{0}, x, labels);
  CHECK(x(0, 0, 1, 1) == Approx(53.0 / 255));

  CHECK(data.split(0).first.size() == 0);
  CHECK(data.split(6).second.size() == 0);
  CHECK_THROWS_WITH(data.split(7), "Dataset::split: cannot take the first 7 of 6 samples");
  CHECK_THROWS_WITH(data.slice(2, 9), "Dataset::slice: range [2, 9) out of range for 6 samples");
}

TEST_CASE("mean_std is the exact mean and deviation of the pixels on the [0, 1] scale", "[io][dataset]") {
  const Dataset data = six_samples();
  double sum = 0, sum_squares = 0;
  for (std::uint8_t pixel : data.images()) {
    sum += pixel / 255.0;
    sum_squares += (pixel / 255.0) * (pixel / 255.0);
  }
  const double mean = sum / 24;
  const MeanStd stats = data.mean_std();
  CHECK(stats.mean == Approx(mean).epsilon(1e-12));
  CHECK(stats.stddev == Approx(std::sqrt(sum_squares / 24 - mean * mean)).epsilon(1e-9));
  CHECK(data.slice(0, 1).mean_std().mean == Approx(6.0 / 4 / 255));
  CHECK(Dataset().mean_std().mean == 0);
  CHECK(data.class_counts() == std::vector<Index>{2, 2, 2});
}

TEST_CASE("MinibatchOrder visits every sample once per epoch in an order fixed by the seed", "[io][dataset]") {
  MinibatchOrder order(10, 4);
  CHECK(order.batch_count() == 3);
  CHECK(order.batch(0).size() == 4);
  CHECK(order.batch(2).size() == 2);  // the short last batch
  CHECK(std::vector<Index>(order.order().begin(), order.order().end()) == all_indices(10));

  fovea::Rng rng(7);
  order.shuffle(rng);
  std::vector<Index> seen;
  for (Index b = 0; b < order.batch_count(); ++b) seen.insert(seen.end(), order.batch(b).begin(), order.batch(b).end());
  const std::vector<Index> epoch1(order.order().begin(), order.order().end());
  CHECK(seen == epoch1);
  CHECK(std::set<Index>(seen.begin(), seen.end()).size() == 10);
  CHECK(epoch1 != all_indices(10));

  order.shuffle(rng);
  const std::vector<Index> epoch2(order.order().begin(), order.order().end());
  CHECK(epoch2 != epoch1);

  // Same generator state -> same order, whatever the order held before.
  fovea::Rng replay(7);
  MinibatchOrder fresh(10, 4);
  fresh.shuffle(replay);
  CHECK(std::vector<Index>(fresh.order().begin(), fresh.order().end()) == epoch1);

  CHECK_THROWS_WITH(order.batch(3), "MinibatchOrder::batch: batch 3 out of range for 3 batches");
  CHECK_THROWS_WITH(MinibatchOrder(10, 0),
                    "MinibatchOrder: 10 samples in batches of 0, expected a count >= 0 and a batch size >= 1");
  CHECK(MinibatchOrder(0, 4).batch_count() == 0);
}
