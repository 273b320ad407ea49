#pragma once

/// @file
/// Classification metrics: argmax predictions and a confusion matrix whose
/// rows are true classes and columns predicted classes.

#include <algorithm>
#include <cstdint>
#include <iomanip>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor.hpp"

namespace fovea {

/// Index of the largest score in each row of scores [N, K] (first on ties),
/// written to out, which must hold at least N entries.
template <class T>
void argmax_rows(TensorView<const T, 2> scores, std::span<std::int32_t> out) {
  for (Index i = 0; i < scores.dim(0); ++i) {
    const T* row = &scores(i, 0);
    out[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(std::max_element(row, row + scores.dim(1)) - row);
  }
}

/// Counts of (true class, predicted class) pairs for `classes` classes.
class ConfusionMatrix {
 public:
  /// An all-zero matrix for classes 0..classes-1.
  explicit ConfusionMatrix(Index classes = 0)
      : classes_(classes), counts_(static_cast<std::size_t>(classes * classes), 0) {}

  /// Counts one sample; throws value_error when either class is outside 0..classes-1.
  void add(std::int32_t truth, std::int32_t predicted) {
    if (truth < 0 || truth >= classes_ || predicted < 0 || predicted >= classes_) {
      throw value_error("ConfusionMatrix::add: class " + std::to_string(truth) + " -> " + std::to_string(predicted) +
                        " outside 0.." + std::to_string(classes_ - 1));
    }
    ++counts_[static_cast<std::size_t>(truth * classes_ + predicted)];
  }

  /// The number of classes.
  Index classes() const { return classes_; }
  /// Samples of class `truth` predicted as `predicted`; throws index_error when
  /// either is outside 0..classes-1.
  Index count(Index truth, Index predicted) const {
    if (truth < 0 || truth >= classes_ || predicted < 0 || predicted >= classes_) {
      throw index_error("ConfusionMatrix::count: class " + std::to_string(truth) + " -> " + std::to_string(predicted) +
                        " outside 0.." + std::to_string(classes_ - 1));
    }
    return counts_[static_cast<std::size_t>(truth * classes_ + predicted)];
  }
  /// All samples counted.
  Index total() const {
    Index n = 0;
    for (Index c : counts_) n += c;
    return n;
  }
  /// Samples predicted as their true class (the diagonal).
  Index correct() const {
    Index n = 0;
    for (Index k = 0; k < classes_; ++k) n += count(k, k);
    return n;
  }
  /// correct() / total(), or 0 when nothing was counted.
  double accuracy() const { return total() == 0 ? 0.0 : static_cast<double>(correct()) / static_cast<double>(total()); }
  /// Fraction of class k's samples predicted as k (0 when there are none).
  double recall(Index k) const {
    Index row = 0;
    for (Index p = 0; p < classes_; ++p) row += count(k, p);
    return row == 0 ? 0.0 : static_cast<double>(count(k, k)) / static_cast<double>(row);
  }

  /// A table with class names (or numbers) and per-class recall.
  std::string to_string(const std::vector<std::string>& names = {}) const {
    auto name = [&](Index k) {
      return k < static_cast<Index>(names.size()) ? names[static_cast<std::size_t>(k)] : std::to_string(k);
    };
    std::size_t width = 6;
    for (Index k = 0; k < classes_; ++k) width = std::max(width, name(k).size() + 1);
    std::ostringstream out;
    out << std::setw(static_cast<int>(width)) << "true\\pred";
    for (Index p = 0; p < classes_; ++p) out << std::setw(6) << p;
    out << "  recall\n";
    for (Index t = 0; t < classes_; ++t) {
      out << std::setw(static_cast<int>(width)) << name(t);
      for (Index p = 0; p < classes_; ++p) out << std::setw(6) << count(t, p);
      out << "  " << std::fixed << std::setprecision(1) << 100 * recall(t) << "%\n";
    }
    return out.str();
  }

 private:
  Index classes_;
  std::vector<Index> counts_;
};

}  // namespace fovea
