#pragma once

/// @file
/// Loss<T>: what training minimises. forward_backward takes the network output
/// [N, K] (a [N, K, 1, 1] activation reshaped) and the targets, returns the
/// MEAN loss over the batch and writes d(mean loss)/d(output) into doutput
/// (empty: the value only). The arithmetic is ops/loss.hpp.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor_view.hpp"
#include "fovea/ops/loss.hpp"

namespace fovea {

/// What the output should have been: N integer class labels in [0, K), or an
/// [N, K] tensor of one-hot rows or class probabilities. A view: the caller
/// keeps the labels or the tensor alive.
template <class T>
class Targets {
 public:
  /// N class labels, each in [0, K).
  explicit Targets(std::span<const std::int32_t> labels) : targets_(labels) {}
  /// Target rows [N, K]: one-hot or class probabilities.
  explicit Targets(TensorView<const T, 2> distribution) : targets_(distribution) {}

  /// Whether these are labels rather than a [N, K] tensor.
  bool has_labels() const { return std::holds_alternative<std::span<const std::int32_t>>(targets_); }
  /// Calls labels_case(span) or distribution_case(view), whichever this holds.
  template <class OnLabels, class OnDistribution>
  decltype(auto) visit(OnLabels&& labels_case, OnDistribution&& distribution_case) const {
    if (has_labels()) return labels_case(std::get<std::span<const std::int32_t>>(targets_));
    return distribution_case(std::get<TensorView<const T, 2>>(targets_));
  }
  /// The targets of samples [begin, end): a view of the same labels or rows.
  /// Throws index_error when the range is not within [0, count()].
  Targets slice(Index begin, Index end) const {
    if (begin < 0 || begin > end || end > count()) {
      throw index_error("Targets::slice: range [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " +
                        std::to_string(count()) + " targets");
    }
    return visit(
        [&](std::span<const std::int32_t> labels) {
          return Targets(labels.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin)));
        },
        [&](TensorView<const T, 2> rows) { return Targets(rows.slice(begin, end)); });
  }
  /// Samples in the batch.
  Index count() const {
    return has_labels() ? static_cast<Index>(std::get<std::span<const std::int32_t>>(targets_).size())
                        : std::get<TensorView<const T, 2>>(targets_).dim(0);
  }

 private:
  std::variant<std::span<const std::int32_t>, TensorView<const T, 2>> targets_;
};

/// The abstract base of every loss over element type T (see this file's overview).
template <class T>
class Loss {
 public:
  /// The base holds no state.
  Loss() = default;
  /// Defaulted, like the other copy and move members, so that subclasses keep
  /// their implicit copy and move despite the virtual destructor.
  Loss(const Loss&) = default;
  /// Defaulted: see the copy constructor.
  Loss& operator=(const Loss&) = default;
  /// Defaulted: see the copy constructor.
  Loss(Loss&&) noexcept = default;
  /// Defaulted: see the copy constructor.
  Loss& operator=(Loss&&) noexcept = default;
  /// Virtual: losses are used through Loss references.
  virtual ~Loss() = default;

  /// The loss's type name, e.g. "SoftmaxCrossEntropy"; error messages lead with it.
  virtual std::string name() const = 0;
  /// output: [N, K]; doutput: [N, K] or empty. Returns the mean loss. Throws
  /// shape_error when the output is empty or the targets or doutput do not
  /// match it, value_error for a label outside [0, K). DataParallel calls it
  /// from several threads at once on different samples: keep it free of
  /// shared mutable state, as the losses here are.
  virtual T forward_backward(TensorView<const T, 2> output, const Targets<T>& targets, TensorView<T, 2> doutput) = 0;

  /// The mean loss alone.
  T value(TensorView<const T, 2> output, const Targets<T>& targets) { return forward_backward(output, targets, {}); }
};

/// Softmax then cross-entropy, fused on the logits: the loss for a classifier
/// whose last layer is linear. Finite for logits of any size.
template <class T>
class SoftmaxCrossEntropy final : public Loss<T> {
 public:
  /// What name() returns.
  static constexpr std::string_view type_name = "SoftmaxCrossEntropy";
  std::string name() const override { return std::string(type_name); }
  T forward_backward(TensorView<const T, 2> output, const Targets<T>& targets, TensorView<T, 2> doutput) override {
    return targets.visit([&](auto labels) { return softmax_cross_entropy(output, labels, doutput, type_name); },
                         [&](auto target) { return softmax_cross_entropy(output, target, doutput, type_name); });
  }
};

/// Cross-entropy on probabilities (after a Softmax or Sigmoid layer).
/// Probabilities are clamped to the machine epsilon before the log; see
/// cross_entropy_floor in ops/loss.hpp.
template <class T>
class CrossEntropy final : public Loss<T> {
 public:
  /// What name() returns.
  static constexpr std::string_view type_name = "CrossEntropy";
  std::string name() const override { return std::string(type_name); }
  T forward_backward(TensorView<const T, 2> output, const Targets<T>& targets, TensorView<T, 2> doutput) override {
    return targets.visit([&](auto labels) { return cross_entropy(output, labels, doutput, type_name); },
                         [&](auto target) { return cross_entropy(output, target, doutput, type_name); });
  }
};

/// 1/2 sum over outputs of (target - output)^2, averaged over the batch; with
/// labels the target is one-hot.
template <class T>
class SquaredError final : public Loss<T> {
 public:
  /// What name() returns.
  static constexpr std::string_view type_name = "SquaredError";
  std::string name() const override { return std::string(type_name); }
  T forward_backward(TensorView<const T, 2> output, const Targets<T>& targets, TensorView<T, 2> doutput) override {
    return targets.visit([&](auto labels) { return squared_error(output, labels, doutput, type_name); },
                         [&](auto target) { return squared_error(output, target, doutput, type_name); });
  }
};

}  // namespace fovea
