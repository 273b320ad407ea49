#pragma once

/// @file
/// What the training loop needs from a data set: its size, the shape of one
/// sample, and a way to fill a batch from a list of sample indices. The MNIST
/// reader's Dataset and the in-memory TensorDataset below both qualify; data
/// may stay in any form (bytes, files) until a batch is made.

#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/layers/layer.hpp"

namespace fovea {

/// A data set fit() and evaluate() can read batches of element type T from:
/// size() samples of shape sample_shape() [C, H, W], and make_batch(indices, x,
/// labels), which fills x [indices.size(), C, H, W] and one label per index.
template <class D, class T>
concept BatchSource = requires(const D& data, std::span<const Index> indices, TensorView<T, 4> x,
                               std::span<std::int32_t> labels) {
  { data.size() } -> std::convertible_to<Index>;
  { data.sample_shape() } -> std::convertible_to<SampleShape>;
  data.make_batch(indices, x, labels);
};

/// Samples already in memory as a tensor [N, C, H, W] with integer labels.
template <class T>
class TensorDataset {
 public:
  /// Takes the samples [N, C, H, W] and N labels; throws shape_error when the counts differ.
  TensorDataset(Tensor<T, 4> samples, std::vector<std::int32_t> labels)
      : samples_(std::move(samples)), labels_(std::move(labels)) {
    if (static_cast<Index>(labels_.size()) != samples_.dim(0)) {
      throw shape_error("TensorDataset: " + std::to_string(labels_.size()) + " labels for samples " +
                        to_string(samples_.shape()));
    }
  }

  Index size() const { return samples_.dim(0); }                                      ///< N, the sample count.
  SampleShape sample_shape() const { return fovea::sample_shape(samples_.shape()); }  ///< [C, H, W].
  const Tensor<T, 4>& samples() const { return samples_; }                            ///< All samples, [N, C, H, W].
  const std::vector<std::int32_t>& labels() const { return labels_; }                 ///< All N labels.

  /// x: [indices.size(), C, H, W]; labels: indices.size() entries. Copies the
  /// indexed samples and labels in order; throws shape_error when x or labels
  /// do not have those sizes.
  void make_batch(std::span<const Index> indices, TensorView<T, 4> x, std::span<std::int32_t> labels) const {
    const Index n = static_cast<Index>(indices.size());
    if (x.shape() != batch_shape(n, sample_shape()) || static_cast<Index>(labels.size()) != n) {
      throw shape_error("TensorDataset::make_batch: " + std::to_string(n) + " indices into batch " +
                        to_string(x.shape()) + " with " + std::to_string(labels.size()) + " labels");
    }
    for (Index i = 0; i < n; ++i) {
      const Index k = indices[static_cast<std::size_t>(i)];
      x.item(i).copy_from(samples_.item(k));
      labels[static_cast<std::size_t>(i)] = labels_[static_cast<std::size_t>(k)];
    }
  }

 private:
  Tensor<T, 4> samples_;
  std::vector<std::int32_t> labels_;
};

}  // namespace fovea
