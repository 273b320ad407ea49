#pragma once

/// @file
/// Loss functions as plain math. Each takes the network output [N, K] and the
/// targets, as N integer class labels or as an [N, K] tensor (one-hot rows or
/// any distribution), and returns the MEAN of the per-sample loss over the
/// batch. When `doutput` is not empty it receives d(mean loss)/d(output),
/// [N, K]; an empty one asks for the value only.
///
/// `operation` names the caller in error messages (a Loss class passes its
/// name); the messages give the label, its index, the class count and shapes.
/// Sums over the batch are kept in double, also for float tensors.
/// Every loss throws shape_error for an empty output or for a gradient, target
/// or label count that does not match it, and value_error for a label outside
/// [0, K).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor_view.hpp"

namespace fovea {
namespace detail {

inline void require_loss_shapes(std::string_view operation, const Shape<2>& output, const Shape<2>& doutput) {
  if (shape_size(output) == 0) {
    throw shape_error(std::string(operation) + ": output " + to_string(output) + " is empty");
  }
  if (shape_size(doutput) != 0 && doutput != output) {
    throw shape_error(std::string(operation) + ": output gradient " + to_string(doutput) + " does not match output " +
                      to_string(output));
  }
}

inline void require_labels(std::string_view operation, std::span<const std::int32_t> labels, const Shape<2>& output) {
  if (static_cast<Index>(labels.size()) != output[0]) {
    throw shape_error(std::string(operation) + ": " + std::to_string(labels.size()) + " labels for output " +
                      to_string(output));
  }
  for (std::size_t n = 0; n < labels.size(); ++n) {
    if (labels[n] < 0 || labels[n] >= output[1]) {
      throw value_error(std::string(operation) + ": label " + std::to_string(labels[n]) + " at index " +
                        std::to_string(n) + " is out of range for " + std::to_string(output[1]) + " classes");
    }
  }
}

inline void require_target(std::string_view operation, const Shape<2>& target, const Shape<2>& output) {
  if (target != output) {
    throw shape_error(std::string(operation) + ": target " + to_string(target) + " does not match output " +
                      to_string(output));
  }
}

// Row n's maximum and log(sum(exp(x - max))): logsumexp = max + log_sum.
// Callers subtract the maximum from the logits before adding log_sum, never
// form max + log_sum: at logits of 1e7 in float (1e16 in double) that sum
// rounds log_sum away (ln 2 < half a unit in the last place of the maximum).
template <class Row>
auto stable_log_sum_exp(const Row& row) {
  const auto row_max = row.maxCoeff();
  return std::pair{row_max, std::log((row.array() - row_max).exp().sum())};
}

}  // namespace detail

/// Softmax followed by cross-entropy, fused on the logits:
///   loss_n = logsumexp(x_n) - x_n[label_n],  d/dx_n = (softmax(x_n) - onehot) / N.
/// The row maximum m is subtracted before anything else: loss_n =
/// log(sum(exp(x_n - m))) - (x_n[label_n] - m), so logits of +-1e4 give a
/// finite loss and gradient, no log(0) can occur, and equal logits of 1e7 in
/// float (1e16 in double) still give ln K.
template <class T>
T softmax_cross_entropy(TensorView<const T, 2> logits, std::span<const std::int32_t> labels, TensorView<T, 2> dlogits,
                        std::string_view operation = "softmax_cross_entropy") {
  detail::require_loss_shapes(operation, logits.shape(), dlogits.shape());
  detail::require_labels(operation, labels, logits.shape());
  const auto X = logits.matrix();
  const bool want_gradient = !dlogits.empty();
  const T inv_n = T{1} / static_cast<T>(X.rows());
  double total = 0;
  for (Index n = 0; n < X.rows(); ++n) {
    const Index label = labels[static_cast<std::size_t>(n)];
    const auto [row_max, log_sum] = detail::stable_log_sum_exp(X.row(n));
    total += static_cast<double>(log_sum - (X(n, label) - row_max));
    if (want_gradient) {
      auto G = dlogits.matrix();
      G.row(n).array() = (X.row(n).array() - row_max - log_sum).exp() * inv_n;
      G(n, label) -= inv_n;
    }
  }
  return static_cast<T>(total / static_cast<double>(X.rows()));
}

/// The same against target distributions t: [N, K] (one-hot rows, or soft
/// labels; rows need not sum to 1):
///   loss_n = sum_k t_k (logsumexp(x_n) - x_nk),  d/dx_n = (softmax(x_n) sum_k t_k - t_n) / N,
/// computed as sum_k t_k (log_sum - (x_nk - m)) with m the row maximum (see above).
template <class T>
T softmax_cross_entropy(TensorView<const T, 2> logits, TensorView<const T, 2> target, TensorView<T, 2> dlogits,
                        std::string_view operation = "softmax_cross_entropy") {
  detail::require_loss_shapes(operation, logits.shape(), dlogits.shape());
  detail::require_target(operation, target.shape(), logits.shape());
  const auto X = logits.matrix();
  const auto t = target.matrix();
  const bool want_gradient = !dlogits.empty();
  const T inv_n = T{1} / static_cast<T>(X.rows());
  double total = 0;
  for (Index n = 0; n < X.rows(); ++n) {
    const auto [row_max, log_sum] = detail::stable_log_sum_exp(X.row(n));
    const T target_mass = t.row(n).sum();
    total += static_cast<double>(log_sum * target_mass - t.row(n).dot((X.row(n).array() - row_max).matrix()));
    if (want_gradient) {
      auto G = dlogits.matrix();
      G.row(n).array() = ((X.row(n).array() - row_max - log_sum).exp() * target_mass - t.row(n).array()) * inv_n;
    }
  }
  return static_cast<T>(total / static_cast<double>(X.rows()));
}

/// Cross-entropy on probabilities p (the output of a softmax or sigmoid layer).
/// log(0) is avoided by clamping: log(max(p, floor)) with floor = the machine
/// epsilon of T. The gradient is -t / max(p, floor): below the floor it is
/// the gradient at the floor, so a probability that collapsed to 0 is still
/// pushed up (the exact derivative of the clamped loss, 0, would stall it).
/// This function returns that floor.
template <class T>
constexpr T cross_entropy_floor() {
  return std::numeric_limits<T>::epsilon();
}

/// loss_n = -log p_n[label_n],  d/dp_n[label_n] = -1 / (p N), 0 elsewhere
/// (p clamped to cross_entropy_floor).
template <class T>
T cross_entropy(TensorView<const T, 2> probabilities, std::span<const std::int32_t> labels,
                TensorView<T, 2> dprobabilities, std::string_view operation = "cross_entropy") {
  detail::require_loss_shapes(operation, probabilities.shape(), dprobabilities.shape());
  detail::require_labels(operation, labels, probabilities.shape());
  const auto P = probabilities.matrix();
  const bool want_gradient = !dprobabilities.empty();
  const T inv_n = T{1} / static_cast<T>(P.rows());
  if (want_gradient) dprobabilities.fill(T{0});
  double total = 0;
  for (Index n = 0; n < P.rows(); ++n) {
    const Index label = labels[static_cast<std::size_t>(n)];
    const T p = std::max(P(n, label), cross_entropy_floor<T>());
    total -= std::log(static_cast<double>(p));
    if (want_gradient) dprobabilities(n, label) = -inv_n / p;
  }
  return static_cast<T>(total / static_cast<double>(P.rows()));
}

/// loss_n = -sum_k t_k log p_nk,  d/dp_nk = -t_k / (p_nk N) (p clamped to cross_entropy_floor).
template <class T>
T cross_entropy(TensorView<const T, 2> probabilities, TensorView<const T, 2> target, TensorView<T, 2> dprobabilities,
                std::string_view operation = "cross_entropy") {
  detail::require_loss_shapes(operation, probabilities.shape(), dprobabilities.shape());
  detail::require_target(operation, target.shape(), probabilities.shape());
  const auto P = probabilities.matrix();
  const auto t = target.matrix();
  const bool want_gradient = !dprobabilities.empty();
  const T inv_n = T{1} / static_cast<T>(P.rows());
  double total = 0;
  for (Index n = 0; n < P.rows(); ++n) {
    for (Index k = 0; k < P.cols(); ++k) {
      const T p = std::max(P(n, k), cross_entropy_floor<T>());
      total -= static_cast<double>(t(n, k)) * std::log(static_cast<double>(p));
      if (want_gradient) dprobabilities(n, k) = -t(n, k) * inv_n / p;
    }
  }
  return static_cast<T>(total / static_cast<double>(P.rows()));
}

/// Squared error summed over the K outputs, averaged over the batch:
///   loss_n = 1/2 sum_k (t_nk - o_nk)^2,  d/do_n = (o_n - t_n) / N.
/// With labels the target is one-hot.
template <class T>
T squared_error(TensorView<const T, 2> output, std::span<const std::int32_t> labels, TensorView<T, 2> doutput,
                std::string_view operation = "squared_error") {
  detail::require_loss_shapes(operation, output.shape(), doutput.shape());
  detail::require_labels(operation, labels, output.shape());
  const auto O = output.matrix();
  const bool want_gradient = !doutput.empty();
  const T inv_n = T{1} / static_cast<T>(O.rows());
  double total = 0;
  for (Index n = 0; n < O.rows(); ++n) {
    const Index label = labels[static_cast<std::size_t>(n)];
    for (Index k = 0; k < O.cols(); ++k) {
      const T difference = O(n, k) - (k == label ? T{1} : T{0});
      total += 0.5 * static_cast<double>(difference * difference);
      if (want_gradient) doutput(n, k) = difference * inv_n;
    }
  }
  return static_cast<T>(total / static_cast<double>(O.rows()));
}

/// The same against a target t: [N, K] of any values. doutput may share
/// output's memory.
template <class T>
T squared_error(TensorView<const T, 2> output, TensorView<const T, 2> target, TensorView<T, 2> doutput,
                std::string_view operation = "squared_error") {
  detail::require_loss_shapes(operation, output.shape(), doutput.shape());
  detail::require_target(operation, target.shape(), output.shape());
  // The loss is summed before the gradient is written, so doutput may share output's memory.
  const double total = 0.5 * (output.array() - target.array()).template cast<double>().square().sum();
  if (!doutput.empty()) doutput.array() = (output.array() - target.array()) / static_cast<T>(output.dim(0));
  return static_cast<T>(total / static_cast<double>(output.dim(0)));
}

}  // namespace fovea
