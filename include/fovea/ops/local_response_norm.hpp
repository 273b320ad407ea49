#pragma once

/// @file
/// Local response normalisation across channels (AlexNet's, with PyTorch's
/// LocalResponseNorm semantics), forward and backward side by side:
///   x: [N, C, H, W] -> y: same shape,  y[c] = x[c] / s[c]^beta,
///   s[c] = k + alpha / size * sum of x[j]^2 over j in [c - size/2, c + (size-1)/2]
/// at each position (n, h, w), channels outside [0, C) counting as zeros: the
/// window is centred on c, one channel longer before c than after it when
/// size is even. alpha is divided by the window size, as PyTorch does (the
/// AlexNet paper's alpha is PyTorch's alpha / size).
///
/// Forward keeps s for backward. With t[c] = dy[c] * y[c] / s[c]:
///   dx[j] = dy[j] / s[j]^beta - 2 alpha beta / size * x[j] * sum of t[c] over
///           the channels c whose window holds j, c in [j - (size-1)/2, j + size/2].
/// Samples are split across threads for a large input, each computed by one
/// thread: the same bits for any thread count.

#include <algorithm>
#include <cmath>
#include <string>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/tensor_view.hpp"
#include "fovea/detail/number_format.hpp"

namespace fovea {

/// The settings of a local response normalisation; PyTorch's defaults.
struct LocalResponseNormOptions {
  Index size = 5;       ///< Channels in each window, the centre included; at least 1.
  double alpha = 1e-4;  ///< Scale of the sum of squares (divided by size); finite, not negative.
  double beta = 0.75;   ///< Exponent; finite.
  double k = 1.0;       ///< Added before the power; positive and finite, so the base is positive.
  /// Equal when every setting is.
  bool operator==(const LocalResponseNormOptions&) const = default;
};

/// Throws value_error naming "LocalResponseNorm" for a size below 1, a
/// negative or non-finite alpha, a non-finite beta, or a k that is not
/// positive and finite.
inline void validate_local_response_norm(const LocalResponseNormOptions& o) {
  const auto fail = [](const std::string& what) { throw value_error("LocalResponseNorm: " + what); };
  if (o.size < 1) fail("size must be positive, got " + std::to_string(o.size));
  if (!(o.alpha >= 0 && std::isfinite(o.alpha))) {
    fail("alpha must be finite and not negative, got " + detail::format_number(o.alpha));
  }
  if (!std::isfinite(o.beta)) fail("beta must be finite, got " + detail::format_number(o.beta));
  if (!(o.k > 0 && std::isfinite(o.k))) fail("k must be positive and finite, got " + detail::format_number(o.k));
}

namespace detail {

// Calls body(n) for every sample: across threads for a large input (a small
// one is one block of the same loop, so that the body is compiled once).
template <class Body>
void for_each_sample(Index samples, Index elements, Body&& body) {
  const int blocks = elements < elementwise_parallel_min ? 1 : chunk_count(samples);
  parallel_blocks(samples, blocks, [&](const Block& block) {
    for (Index n = block.begin; n < block.end; ++n) body(n);
  });
}

inline void require_same_shape(const char* operation, const char* what, const Shape<4>& got, const Shape<4>& x) {
  if (got != x) {
    throw shape_error(std::string(operation) + ": " + what + " " + to_string(got) + " does not match the input " +
                      to_string(x));
  }
}

}  // namespace detail

/// x: [N, C, H, W] -> y and scale: same shape; scale gets s (kept for
/// backward). Throws value_error for invalid options, shape_error when y or
/// scale is not x's shape.
template <class T>
void local_response_norm_forward(const LocalResponseNormOptions& o, TensorView<const T, 4> x, TensorView<T, 4> y,
                                 TensorView<T, 4> scale) {
  validate_local_response_norm(o);
  detail::require_same_shape("local_response_norm_forward", "output", y.shape(), x.shape());
  detail::require_same_shape("local_response_norm_forward", "scale", scale.shape(), x.shape());
  const Index C = x.dim(1);
  const T a = static_cast<T>(o.alpha / static_cast<double>(o.size)), k = static_cast<T>(o.k);
  const T beta = static_cast<T>(o.beta);
  detail::for_each_sample(x.dim(0), x.size(), [&](Index n) {
    const auto X = x.slice(n, n + 1).matrix(2);  // [C, H*W]: one row per channel
    auto Y = y.slice(n, n + 1).matrix(2);
    auto S = scale.slice(n, n + 1).matrix(2);
    for (Index c = 0; c < C; ++c) {
      const Index first = std::max<Index>(0, c - o.size / 2), last = std::min(C - 1, c + (o.size - 1) / 2);
      S.row(c).setZero();
      for (Index j = first; j <= last; ++j) S.row(c).array() += X.row(j).array().square();
      S.row(c).array() = k + a * S.row(c).array();
      Y.row(c).array() = X.row(c).array() * S.row(c).array().pow(-beta);
    }
  });
}

/// dy: [N, C, H, W] -> dx: same shape (overwritten). x, y and scale are the
/// forward's. Throws value_error for invalid options, shape_error when a shape
/// differs from x's.
template <class T>
void local_response_norm_backward(const LocalResponseNormOptions& o, TensorView<const T, 4> x, TensorView<const T, 4> y,
                                  TensorView<const T, 4> scale, TensorView<const T, 4> dy, TensorView<T, 4> dx) {
  validate_local_response_norm(o);
  detail::require_same_shape("local_response_norm_backward", "output", y.shape(), x.shape());
  detail::require_same_shape("local_response_norm_backward", "scale", scale.shape(), x.shape());
  detail::require_same_shape("local_response_norm_backward", "gradient", dy.shape(), x.shape());
  detail::require_same_shape("local_response_norm_backward", "input gradient", dx.shape(), x.shape());
  const Index C = x.dim(1);
  const T factor = static_cast<T>(2 * o.alpha * o.beta / static_cast<double>(o.size));
  const T beta = static_cast<T>(o.beta);
  detail::for_each_sample(x.dim(0), x.size(), [&](Index n) {
    const auto X = x.slice(n, n + 1).matrix(2);  // [C, H*W]
    const auto Y = y.slice(n, n + 1).matrix(2);
    const auto S = scale.slice(n, n + 1).matrix(2);
    const auto dY = dy.slice(n, n + 1).matrix(2);
    auto dX = dx.slice(n, n + 1).matrix(2);
    for (Index j = 0; j < C; ++j) {
      // The channels whose windows hold j: [j - (size-1)/2, j + size/2].
      const Index first = std::max<Index>(0, j - (o.size - 1) / 2), last = std::min(C - 1, j + o.size / 2);
      dX.row(j).setZero();
      for (Index c = first; c <= last; ++c)
        dX.row(j).array() += dY.row(c).array() * Y.row(c).array() / S.row(c).array();
      dX.row(j).array() =
          dY.row(j).array() * S.row(j).array().pow(-beta) - factor * X.row(j).array() * dX.row(j).array();
    }
  });
}

}  // namespace fovea
