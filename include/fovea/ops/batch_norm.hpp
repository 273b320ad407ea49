#pragma once

/// @file
/// Batch normalisation over the channels of x: [N, C, H, W] (a feature vector
/// [N, F, 1, 1] is the case H = W = 1), forward and backward side by side.
/// Each channel c is normalised over its M = N*H*W values and then mapped by
/// its own scale and shift:
///   y = (x - mean[c]) * inv_std[c] * scale[c] + shift[c],  inv_std = 1 / sqrt(var + epsilon)
/// In training the mean and the biased variance are the batch's (the
/// statistics then depend on every sample, which the backward accounts for);
/// at inference they are the running averages, and the layer is a fixed
/// per-channel affine map. The running variance is updated with the unbiased
/// variance (M / (M - 1) times the biased one), as PyTorch does.
///
/// Sums are taken one feature map at a time in T and added up in double, so a
/// float batch of millions of values keeps its mean to float precision. Large
/// inputs split the channels across threads; each channel is computed by one
/// thread in a fixed order, so the bits do not depend on the thread count.

#include <cmath>
#include <optional>
#include <string>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/core/tensor_view.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/ops/clamp.hpp"

namespace fovea {

/// The settings of a batch normalisation layer.
struct BatchNormOptions {
  Index channels = 0;     ///< C, the channels (or features) normalised; must be positive.
  double momentum = 0.1;  ///< running = (1 - momentum) * running + momentum * batch statistic; in [0, 1].
  double epsilon = 1e-5;  ///< Added to the variance before the square root; positive.
  bool affine = true;     ///< Learn a scale (initially 1) and shift (initially 0) per channel.
  /// Equal when every setting is.
  bool operator==(const BatchNormOptions&) const = default;
};

/// Which statistics a batch normalisation used: the batch's own (training) or
/// the running averages (inference).
enum class BatchNormStatistics {
  batch,   ///< Mean and variance of the batch being normalised; backward differentiates through them.
  running  ///< Fixed running averages: a per-channel affine map.
};

/// Throws value_error, naming `layer`, for channels below 1, a momentum outside
/// [0, 1] or an epsilon that is not positive and finite.
inline void validate_batch_norm(const BatchNormOptions& options, const std::string& layer = "BatchNorm") {
  if (options.channels < 1) {
    throw value_error(layer + ": channels must be positive, got " + std::to_string(options.channels));
  }
  if (!(options.momentum >= 0 && options.momentum <= 1)) {
    throw value_error(layer + ": momentum must be in [0, 1], got " + detail::format_number(options.momentum));
  }
  if (!(options.epsilon > 0 && std::isfinite(options.epsilon))) {
    throw value_error(layer + ": epsilon must be positive and finite, got " + detail::format_number(options.epsilon));
  }
}

namespace detail {

// Calls body(begin, end) over blocks of the channels: across threads for a
// large input, on this thread for a small one (one block of the same loop, so
// that the body is compiled once).
template <class Body>
void for_each_channel_block(Index channels, Index elements, Body&& body) {
  const int blocks = elements < elementwise_parallel_min ? 1 : chunk_count(channels);
  parallel_blocks(channels, blocks, [&](const Block& block) { body(block.begin, block.end); });
}

// Every per-channel vector has C entries (an empty one is allowed where `optional`).
template <class V>
void require_channel_vector(const char* operation, const char* name, const V& v, Index channels, bool optional) {
  if (v.size() != channels && !(optional && v.size() == 0)) {
    throw shape_error(std::string(operation) + ": " + name + " " + to_string(v.shape()) + ", expected [" +
                      std::to_string(channels) + "] (one per channel)");
  }
}

}  // namespace detail

/// x: [N, C, H, W] -> mean, variance, inv_std: [C], the batch statistics of
/// each channel: its mean, its biased variance (divided by M = N*H*W) and
/// 1 / sqrt(variance + epsilon). Throws shape_error when a vector is not [C]
/// and value_error when M < 2 (a variance of one value is no statistic).
template <class T>
void batch_norm_statistics(TensorView<const T, 4> x, double epsilon, TensorView<T, 1> mean, TensorView<T, 1> variance,
                           TensorView<T, 1> inv_std) {
  const Index N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  detail::require_channel_vector("batch_norm_statistics", "mean", mean, C, false);
  detail::require_channel_vector("batch_norm_statistics", "variance", variance, C, false);
  detail::require_channel_vector("batch_norm_statistics", "inv_std", inv_std, C, false);
  if (N * HW < 2) {
    throw value_error("batch_norm_statistics: input " + to_string(x.shape()) +
                      " has one value per channel; batch statistics need at least 2");
  }
  const auto X = x.matrix(2);  // [N*C, H*W]: row n*C + c is sample n's map of channel c
  const auto count = static_cast<double>(N * HW);
  detail::for_each_channel_block(C, x.size(), [&](Index begin, Index end) {
    for (Index c = begin; c < end; ++c) {
      double sum = 0;
      for (Index n = 0; n < N; ++n) sum += static_cast<double>(X.row(n * C + c).sum());
      const T m = static_cast<T>(sum / count);
      // Two passes: the squared deviations from the mean, not E[x^2] - E[x]^2,
      // which cancels catastrophically when the mean is large.
      double squares = 0;
      for (Index n = 0; n < N; ++n) squares += static_cast<double>((X.row(n * C + c).array() - m).square().sum());
      const double var = squares / count;
      mean(c) = m;
      variance(c) = static_cast<T>(var);
      inv_std(c) = static_cast<T>(1.0 / std::sqrt(var + epsilon));
    }
  });
}

/// Running averages after one training batch of M values per channel:
/// running_mean = (1 - momentum) running_mean + momentum mean, and the same for
/// running_var with the unbiased variance M / (M - 1) * variance. All vectors [C].
template <class T>
void batch_norm_update_running(double momentum, Index count, TensorView<const T, 1> mean,
                               TensorView<const T, 1> variance, TensorView<T, 1> running_mean,
                               TensorView<T, 1> running_var) {
  const Index C = mean.size();
  detail::require_channel_vector("batch_norm_update_running", "variance", variance, C, false);
  detail::require_channel_vector("batch_norm_update_running", "running_mean", running_mean, C, false);
  detail::require_channel_vector("batch_norm_update_running", "running_var", running_var, C, false);
  const double unbiased = static_cast<double>(count) / static_cast<double>(count - 1);
  for (Index c = 0; c < C; ++c) {
    running_mean(c) = static_cast<T>((1 - momentum) * running_mean(c) + momentum * mean(c));
    running_var(c) = static_cast<T>((1 - momentum) * running_var(c) + momentum * unbiased * variance(c));
  }
}

/// x: [N, C, H, W] -> y: same shape, y = (x - mean[c]) * inv_std[c] * scale[c]
/// + shift[c], with whichever statistics the caller passes (the batch's from
/// batch_norm_statistics, or the running ones). All vectors [C]. Throws
/// shape_error when y is not x's shape or a vector is not [C]. With an
/// epilogue, y is clamped into its bounds as it is written (a ReLU or ReLU6
/// after the normalisation, in the same pass).
template <class T>
void batch_norm_forward(TensorView<const T, 4> x, TensorView<const T, 1> mean, TensorView<const T, 1> inv_std,
                        TensorView<const T, 1> scale, TensorView<const T, 1> shift, TensorView<T, 4> y,
                        std::optional<Clamp> epilogue = std::nullopt) {
  const Index N = x.dim(0), C = x.dim(1);
  if (y.shape() != x.shape()) {
    throw shape_error("batch_norm_forward: output " + to_string(y.shape()) + " does not match the input " +
                      to_string(x.shape()));
  }
  detail::require_channel_vector("batch_norm_forward", "mean", mean, C, false);
  detail::require_channel_vector("batch_norm_forward", "inv_std", inv_std, C, false);
  detail::require_channel_vector("batch_norm_forward", "scale", scale, C, false);
  detail::require_channel_vector("batch_norm_forward", "shift", shift, C, false);
  const auto X = x.matrix(2);  // [N*C, H*W]
  auto Y = y.matrix(2);
  const auto clamp = detail::OutputClamp<T>::of(epilogue);
  detail::for_each_channel_block(C, x.size(), [&](Index begin, Index end) {
    for (Index c = begin; c < end; ++c) {
      // One multiply-add per element: y = a x + b with a = scale * inv_std, b = shift - a * mean.
      const T a = scale(c) * inv_std(c);
      const T b = shift(c) - a * mean(c);
      for (Index n = 0; n < N; ++n) clamp.write(Y.row(n * C + c).array(), a * X.row(n * C + c).array() + b);
    }
  });
}

/// dy: [N, C, H, W] -> dx: same shape (written, unless dx is empty), and the
/// per-channel gradients dscale[c] += sum dy * x_hat, dshift[c] += sum dy,
/// x_hat = (x - mean) * inv_std (skipped where dscale, dshift are empty). mean
/// and inv_std are those the forward used. With batch statistics the mean and
/// variance depend on x, and
///   dx = scale * inv_std * (dy - mean_M(dy) - x_hat * mean_M(dy * x_hat)),
/// means over the channel's M values; with running statistics dx = scale *
/// inv_std * dy. With clamped_output (the forward's y with `epilogue`), dy
/// is the gradient after the clamp and counts only where low < y < high (y >
/// 0 for a ReLU): each channel's dy is masked (the clamp's backward) into dx
/// while it is in cache, and read from there. Throws shape_error when a
/// shape disagrees with x.
template <class T>
void batch_norm_backward(BatchNormStatistics statistics, TensorView<const T, 4> x, TensorView<const T, 1> mean,
                         TensorView<const T, 1> inv_std, TensorView<const T, 1> scale, TensorView<const T, 4> dy,
                         TensorView<T, 4> dx, TensorView<T, 1> dscale, TensorView<T, 1> dshift,
                         TensorView<const T, 4> clamped_output = {}, Clamp epilogue = Clamp::relu()) {
  const Index N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  if (dy.shape() != x.shape()) {
    throw shape_error("batch_norm_backward: gradient " + to_string(dy.shape()) + " does not match the input " +
                      to_string(x.shape()));
  }
  if (!dx.empty() && dx.shape() != x.shape()) {
    throw shape_error("batch_norm_backward: input gradient " + to_string(dx.shape()) + " does not match the input " +
                      to_string(x.shape()));
  }
  detail::require_channel_vector("batch_norm_backward", "mean", mean, C, false);
  detail::require_channel_vector("batch_norm_backward", "inv_std", inv_std, C, false);
  detail::require_channel_vector("batch_norm_backward", "scale", scale, C, false);
  detail::require_channel_vector("batch_norm_backward", "dscale", dscale, C, true);
  detail::require_channel_vector("batch_norm_backward", "dshift", dshift, C, true);
  const bool clamped = !clamped_output.empty();
  if (clamped && clamped_output.shape() != x.shape()) {
    throw shape_error("batch_norm_backward: clamped output " + to_string(clamped_output.shape()) +
                      " does not match the input " + to_string(x.shape()));
  }
  // With the clamp, the masked dy goes where dx will go (or, without a dx,
  // into a buffer of its own) and dY reads it from there.
  Tensor<T, 4> masked;
  TensorView<T, 4> masked_into = dx;
  if (clamped && dx.empty()) {
    masked.resize(dy.shape());
    masked_into = masked.view();
  }
  const auto X = x.matrix(2);  // [N*C, H*W]
  const auto dY = clamped ? MatrixMap<const T>(masked_into.data(), N * C, HW) : dy.matrix(2);
  const auto count = static_cast<double>(N * HW);
  detail::for_each_channel_block(C, x.size(), [&](Index begin, Index end) {
    for (Index c = begin; c < end; ++c) {
      if (clamped) {
        auto into = masked_into.matrix(2);
        const auto Y = clamped_output.matrix(2), unmasked = dy.matrix(2);
        for (Index n = 0; n < N; ++n)
          detail::clamp_mask(into.row(n * C + c), Y.row(n * C + c), unmasked.row(n * C + c), epilogue);
      }
      const T m = mean(c), s = inv_std(c);
      double sum_dy = 0, sum_dy_xhat = 0;  // the two sums every gradient here needs
      for (Index n = 0; n < N; ++n) {
        const auto g = dY.row(n * C + c).array();
        sum_dy += static_cast<double>(g.sum());
        sum_dy_xhat += static_cast<double>((g * ((X.row(n * C + c).array() - m) * s)).sum());
      }
      if (!dshift.empty()) dshift(c) += static_cast<T>(sum_dy);
      if (!dscale.empty()) dscale(c) += static_cast<T>(sum_dy_xhat);
      if (dx.empty()) continue;
      auto dX = dx.matrix(2);
      const T factor = scale(c) * s;
      if (statistics == BatchNormStatistics::running) {
        for (Index n = 0; n < N; ++n) dX.row(n * C + c).array() = factor * dY.row(n * C + c).array();
        continue;
      }
      const auto mean_dy = static_cast<T>(sum_dy / count);
      const auto mean_dy_xhat = static_cast<T>(sum_dy_xhat / count);
      for (Index n = 0; n < N; ++n) {
        const auto x_hat = (X.row(n * C + c).array() - m) * s;
        dX.row(n * C + c).array() = factor * (dY.row(n * C + c).array() - mean_dy - x_hat * mean_dy_xhat);
      }
    }
  });
}

}  // namespace fovea
