#pragma once

/// @file
/// An image classification data set kept as bytes: images [N, C, H, W] with
/// values 0..255 and labels [N] in 0..classes-1. Batches are converted to
/// floating point only when they are made, so the set costs one byte a pixel.
/// Subsets (a train/validation split) share the storage: no copy.
///
/// Dataset satisfies fovea::BatchSource (train/data.hpp): size(),
/// sample_shape() and make_batch(indices, x, labels).

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/random.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/detail/quoted_path.hpp"
#include "fovea/io/data/idx.hpp"

namespace fovea {

/// Mean and standard deviation of pixel values on the [0, 1] scale; applied in
/// make_batch as (pixel / 255 - mean) / stddev. The default changes nothing.
struct MeanStd {
  double mean = 0.0;    ///< Subtracted from pixel / 255.
  double stddev = 1.0;  ///< Divides the difference; must be positive and finite.
};

/// An image classification data set, or a subset of one, stored as bytes (see
/// this file's overview). Copies are cheap: they share the storage.
class Dataset {
 public:
  /// An empty data set: no samples, no classes.
  Dataset() = default;

  /// images: [N, C, H, W] bytes; labels: [N], each in 0..classes-1. Throws
  /// value_error when classes < 1 or a label is out of range, shape_error when
  /// the label count is not N.
  Dataset(Tensor<std::uint8_t, 4> images, Tensor<std::int32_t, 1> labels, Index classes) {
    if (classes < 1) throw value_error("Dataset: classes must be at least 1, got " + std::to_string(classes));
    if (labels.dim(0) != images.dim(0)) {
      throw shape_error("Dataset: images " + to_string(images.shape()) + " but labels " + to_string(labels.shape()) +
                        ", expected one label per image");
    }
    for (Index i = 0; i < labels.dim(0); ++i) {
      if (labels(i) < 0 || labels(i) >= classes) {
        throw value_error("Dataset: label " + std::to_string(labels(i)) + " at index " + std::to_string(i) +
                          " is outside 0.." + std::to_string(classes - 1));
      }
    }
    count_ = images.dim(0);
    classes_ = classes;
    storage_ = std::make_shared<const Storage>(Storage{std::move(images), std::move(labels)});
  }

  Index size() const { return count_; }       ///< Samples in this subset.
  Index classes() const { return classes_; }  ///< The number of classes; labels are in 0..classes()-1.
  /// [C, H, W] of one sample ({0, 0, 0} for an empty Dataset()).
  Shape<3> sample_shape() const {
    if (!storage_) return {0, 0, 0};
    const auto& shape = storage_->images.shape();
    return {shape[1], shape[2], shape[3]};
  }
  /// Values per sample, C*H*W.
  Index sample_size() const { return shape_size(sample_shape()); }

  /// This subset's samples, read-only and without copying.
  TensorView<const std::uint8_t, 4> images() const {
    if (!storage_) return {};
    return storage_->images.slice(first_, first_ + count_);
  }
  /// This subset's labels [size()], read-only and without copying.
  TensorView<const std::int32_t, 1> labels() const {
    if (!storage_) return {};
    return storage_->labels.slice(first_, first_ + count_);
  }

  /// Samples [begin, end) of this subset, sharing the storage; throws
  /// index_error unless 0 <= begin <= end <= size().
  Dataset slice(Index begin, Index end) const {
    if (begin < 0 || end < begin || end > count_) {
      throw index_error("Dataset::slice: range [" + std::to_string(begin) + ", " + std::to_string(end) +
                        ") out of range for " + std::to_string(count_) + " samples");
    }
    Dataset subset = *this;
    subset.first_ = first_ + begin;
    subset.count_ = end - begin;
    return subset;
  }

  /// The first `first_count` samples and the rest, e.g. 55,000 for training
  /// and 5,000 for validation. Deterministic: no shuffling, no copy. Throws
  /// value_error unless 0 <= first_count <= size().
  std::pair<Dataset, Dataset> split(Index first_count) const {
    if (first_count < 0 || first_count > count_) {
      throw value_error("Dataset::split: cannot take the first " + std::to_string(first_count) + " of " +
                        std::to_string(count_) + " samples");
    }
    return {slice(0, first_count), slice(first_count, count_)};
  }

  /// The same samples, with batches normalised by `normalization`; throws
  /// value_error unless mean and stddev are finite and stddev > 0.
  Dataset normalized(MeanStd normalization) const {
    if (!(normalization.stddev > 0) || !std::isfinite(normalization.stddev) || !std::isfinite(normalization.mean)) {
      throw value_error("Dataset::normalized: mean " + detail::format_number(normalization.mean) + ", stddev " +
                        detail::format_number(normalization.stddev) + ", expected finite values and stddev > 0");
    }
    Dataset result = *this;
    result.normalization_ = normalization;
    return result;
  }
  /// The normalisation make_batch applies.
  const MeanStd& normalization() const { return normalization_; }

  /// Mean and standard deviation of this subset's pixels on the [0, 1] scale,
  /// exact (from a 256-bin histogram): compute on the training part, then
  /// apply to every part with normalized().
  MeanStd mean_std() const {
    std::array<std::int64_t, 256> histogram{};
    for (std::uint8_t pixel : images()) ++histogram[pixel];
    double total = 0, sum = 0, sum_squares = 0;
    for (std::size_t value = 0; value < histogram.size(); ++value) {
      const auto count = static_cast<double>(histogram[value]);
      const double x = static_cast<double>(value) / 255.0;
      total += count;
      sum += count * x;
      sum_squares += count * x * x;
    }
    if (total == 0) return {};
    const double mean = sum / total;
    return {mean, std::sqrt(std::max(0.0, sum_squares / total - mean * mean))};
  }

  /// How many samples of each class this subset holds.
  std::vector<Index> class_counts() const {
    std::vector<Index> counts(static_cast<std::size_t>(classes_), 0);
    for (std::int32_t label : labels()) ++counts[static_cast<std::size_t>(label)];
    return counts;
  }

  /// x: [indices.size(), C, H, W] filled with (pixel / 255 - mean) / stddev;
  /// labels: one per index. Indices count within this subset. Throws
  /// shape_error when x or labels have the wrong size, index_error for an
  /// index outside 0..size()-1.
  template <std::floating_point T>
  void make_batch(std::span<const Index> indices, TensorView<T, 4> x, std::span<std::int32_t> labels) const {
    const auto n = static_cast<Index>(indices.size());
    const Shape<3> sample = sample_shape();
    if (x.shape() != Shape<4>{n, sample[0], sample[1], sample[2]} || static_cast<Index>(labels.size()) != n) {
      throw shape_error("Dataset::make_batch: " + std::to_string(n) + " indices into batch " + to_string(x.shape()) +
                        " with " + std::to_string(labels.size()) + " labels, expected batch " +
                        to_string(Shape<4>{n, sample[0], sample[1], sample[2]}));
    }
    // 256 possible inputs: convert through a table instead of dividing per pixel.
    std::array<T, 256> table{};
    for (std::size_t value = 0; value < table.size(); ++value) {
      table[value] = static_cast<T>((static_cast<double>(value) / 255.0 - normalization_.mean) / normalization_.stddev);
    }
    const Index per_sample = sample_size();
    const std::uint8_t* pixels = storage_ ? storage_->images.data() : nullptr;
    const std::int32_t* all_labels = storage_ ? storage_->labels.data() : nullptr;
    const auto convert = [&](Index begin, Index end) {
      for (Index i = begin; i < end; ++i) {
        const Index k = indices[static_cast<std::size_t>(i)];
        if (k < 0 || k >= count_) {
          throw index_error("Dataset::make_batch: index " + std::to_string(k) + " (batch position " +
                            std::to_string(i) + ") out of range for " + std::to_string(count_) + " samples");
        }
        const std::uint8_t* source = pixels + (first_ + k) * per_sample;
        T* destination = x.data() + i * per_sample;
        for (Index j = 0; j < per_sample; ++j) destination[j] = table[source[j]];
        labels[static_cast<std::size_t>(i)] = all_labels[first_ + k];
      }
    };
    // Split by samples like the first layer's parallel_for, so each core
    // writes the samples it convolves next (and the threads stay awake
    // between training steps). The lowest bad index is reported either way.
    if (n * per_sample < detail::elementwise_parallel_min) {
      convert(0, n);
    } else {
      parallel_for(n, [&](Index begin, Index end, int /*chunk*/) { convert(begin, end); });
    }
  }

  /// Convenience for callers that own the batch: resizes x (no allocation once
  /// it has held a batch this large) and labels.
  template <std::floating_point T>
  void make_batch(std::span<const Index> indices, Tensor<T, 4>& x, std::vector<std::int32_t>& labels) const {
    const Shape<3> sample = sample_shape();
    x.resize({static_cast<Index>(indices.size()), sample[0], sample[1], sample[2]});
    labels.resize(indices.size());
    make_batch(indices, x.view(), std::span<std::int32_t>(labels));
  }

 private:
  struct Storage {
    Tensor<std::uint8_t, 4> images;
    Tensor<std::int32_t, 1> labels;
  };

  std::shared_ptr<const Storage> storage_;
  Index first_ = 0;  // this subset's first sample in the storage
  Index count_ = 0;
  Index classes_ = 0;
  MeanStd normalization_;
};

/// The order in which an epoch visits the samples, cut into minibatches. Each
/// shuffle() starts again from 0, 1, ..., N-1, so an epoch's order depends on
/// the generator's state alone (a checkpoint that saves the Rng resumes it).
/// Holds N indices; nothing else is copied per epoch. The last batch is
/// shorter when batch_size does not divide N.
class MinibatchOrder {
 public:
  /// The order 0, 1, ..., sample_count-1; throws value_error for a negative
  /// count or a batch size below 1.
  MinibatchOrder(Index sample_count, Index batch_size) : batch_size_(batch_size) {
    if (sample_count < 0 || batch_size < 1) {
      throw value_error("MinibatchOrder: " + std::to_string(sample_count) + " samples in batches of " +
                        std::to_string(batch_size) + ", expected a count >= 0 and a batch size >= 1");
    }
    order_.resize(static_cast<std::size_t>(sample_count));
    std::iota(order_.begin(), order_.end(), Index{0});
  }

  /// Resets the order to 0, 1, ..., N-1, then shuffles it with `rng`.
  void shuffle(Rng& rng) {
    std::iota(order_.begin(), order_.end(), Index{0});
    rng.shuffle(std::span<Index>(order_));
  }

  Index sample_count() const { return static_cast<Index>(order_.size()); }  ///< N.
  Index batch_size() const { return batch_size_; }  ///< Samples per batch (the last may hold fewer).
  Index batch_count() const { return (sample_count() + batch_size_ - 1) / batch_size_; }  ///< ceil(N / batch_size).
  std::span<const Index> order() const { return order_; }  ///< All N sample indices in visiting order.

  /// The sample indices of batch b; throws index_error unless 0 <= b < batch_count().
  std::span<const Index> batch(Index b) const {
    if (b < 0 || b >= batch_count()) {
      throw index_error("MinibatchOrder::batch: batch " + std::to_string(b) + " out of range for " +
                        std::to_string(batch_count()) + " batches");
    }
    const Index begin = b * batch_size_;
    const Index end = std::min(begin + batch_size_, sample_count());
    return std::span<const Index>(order_).subspan(static_cast<std::size_t>(begin),
                                                  static_cast<std::size_t>(end - begin));
  }

 private:
  std::vector<Index> order_;
  Index batch_size_;
};

/// Images and labels from a pair of idx files (raw or .gz) as a Dataset with
/// images [N, 1, rows, cols]. The pixels are read straight into the dataset's
/// storage. Throws format_error when the files disagree on N or a label is not
/// in 0..classes-1 (and as read_idx_images and read_idx_labels do, with
/// `limits`); value_error when classes < 1.
inline Dataset load_idx_dataset(const std::filesystem::path& images_path, const std::filesystem::path& labels_path,
                                Index classes = 10, const ReadLimits& limits = {}) {
  constexpr const char* operation = "load_idx_dataset";
  if (classes < 1) {
    throw value_error(std::string(operation) + ": classes must be at least 1, got " + std::to_string(classes));
  }
  Tensor<std::uint8_t, 1> raw_labels = read_idx_labels(labels_path, limits);
  detail::IdxReader<3> reader(images_path, idx_images_magic, operation, "images", limits);
  const Shape<3> dims = reader.dims();
  if (dims[0] != raw_labels.dim(0)) {
    throw format_error(std::string(operation) + ": " + detail::quoted_path(images_path) + " holds " +
                       std::to_string(dims[0]) + " images but " + detail::quoted_path(labels_path) + " holds " +
                       std::to_string(raw_labels.dim(0)) + " labels, expected the same count");
  }
  Tensor<std::int32_t, 1> labels({raw_labels.dim(0)});
  for (Index i = 0; i < raw_labels.dim(0); ++i) {
    if (raw_labels(i) >= classes) {
      throw format_error(std::string(operation) + ": " + detail::quoted_path(labels_path) + " has label " +
                         std::to_string(raw_labels(i)) + " at index " + std::to_string(i) + ", expected 0.." +
                         std::to_string(classes - 1));
    }
    labels(i) = raw_labels(i);
  }
  Tensor<std::uint8_t, 4> images({dims[0], 1, dims[1], dims[2]});
  reader.read_data(images.data());
  return {std::move(images), std::move(labels), classes};
}

}  // namespace fovea
