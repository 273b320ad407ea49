#pragma once

/// @file
/// Softmax and log-softmax over the last axis of [N, K] (one row per sample),
/// forward and backward side by side. Both subtract each row's maximum before
/// exponentiating: the largest exponent is then 0, so nothing overflows and
/// the sum is at least 1, so the log never sees 0.
/// Every function throws shape_error when its views' shapes differ or K is 0
/// with N > 0.

#include <cmath>
#include <string>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor_view.hpp"

namespace fovea {
namespace detail {
template <class A, class B>
void require_softmax_shapes(const char* operation, const char* first, const A& a, const char* second, const B& b) {
  if (a.shape() != b.shape()) {
    throw shape_error(std::string(operation) + ": " + second + " " + to_string(b.shape()) + " does not match " + first +
                      " " + to_string(a.shape()));
  }
  if (a.dim(0) > 0 && a.dim(1) == 0) {
    throw shape_error(std::string(operation) + ": " + first + " " + to_string(a.shape()) + " has no classes");
  }
}
}  // namespace detail

/// x: [N, K] -> y: [N, K], y = exp(x - max) / sum(exp(x - max)) per row.
template <class T>
void softmax_forward(TensorView<const T, 2> x, TensorView<T, 2> y) {
  detail::require_softmax_shapes("softmax_forward", "x", x, "y", y);
  const auto X = x.matrix();
  auto Y = y.matrix();
  for (Index n = 0; n < X.rows(); ++n) {
    const T row_max = X.row(n).maxCoeff();
    Y.row(n).array() = (X.row(n).array() - row_max).exp();
    Y.row(n) /= Y.row(n).sum();
  }
}
/// dx = y * (dy - <dy, y>) per row: the Jacobian diag(y) - y y^T applied to dy.
template <class T>
void softmax_backward(TensorView<const T, 2> y, TensorView<const T, 2> dy, TensorView<T, 2> dx) {
  detail::require_softmax_shapes("softmax_backward", "y", y, "dy", dy);
  detail::require_softmax_shapes("softmax_backward", "y", y, "dx", dx);
  const auto Y = y.matrix();
  const auto dY = dy.matrix();
  auto dX = dx.matrix();
  for (Index n = 0; n < Y.rows(); ++n) {
    const T dot = Y.row(n).dot(dY.row(n));
    dX.row(n).array() = Y.row(n).array() * (dY.row(n).array() - dot);
  }
}

/// x: [N, K] -> y: [N, K], y = (x - max) - log(sum(exp(x - max))) per row.
/// The maximum is subtracted first: max + log(sum) would round the log away
/// at logits of 1e7 in float (1e16 in double), and backward, which reads
/// softmax(x) as exp(y), would go wrong with it.
template <class T>
void log_softmax_forward(TensorView<const T, 2> x, TensorView<T, 2> y) {
  detail::require_softmax_shapes("log_softmax_forward", "x", x, "y", y);
  const auto X = x.matrix();
  auto Y = y.matrix();
  for (Index n = 0; n < X.rows(); ++n) {
    const T row_max = X.row(n).maxCoeff();
    const T log_sum = std::log((X.row(n).array() - row_max).exp().sum());
    Y.row(n).array() = (X.row(n).array() - row_max) - log_sum;
  }
}
/// dx = dy - softmax(x) * sum(dy) per row, with softmax(x) = exp(y).
template <class T>
void log_softmax_backward(TensorView<const T, 2> y, TensorView<const T, 2> dy, TensorView<T, 2> dx) {
  detail::require_softmax_shapes("log_softmax_backward", "y", y, "dy", dy);
  detail::require_softmax_shapes("log_softmax_backward", "y", y, "dx", dx);
  const auto Y = y.matrix();
  const auto dY = dy.matrix();
  auto dX = dx.matrix();
  for (Index n = 0; n < Y.rows(); ++n) {
    const T dy_sum = dY.row(n).sum();
    dX.row(n).array() = dY.row(n).array() - Y.row(n).array().exp() * dy_sum;
  }
}

}  // namespace fovea
