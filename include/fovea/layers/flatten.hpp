#pragma once

/// @file
/// Flatten: [C, H, W] -> [C*H*W, 1, 1], the feature-vector form fully connected
/// layers and losses read. Row-major order already is the flat order, so both
/// directions are plain copies.

#include <algorithm>
#include <string>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/layers/layer.hpp"

namespace fovea {

/// Reshapes each sample [C, H, W] to the feature vector [C*H*W, 1, 1]; no
/// parameters, no arithmetic.
template <class T>
class Flatten final : public Layer<T> {
 public:
  /// Rebuilds from spec(); throws format_error for a spec of another type.
  static Flatten from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Flatten");
    return {};
  }

  std::string describe() const override { return "Flatten"; }
  LayerSpec spec() const override { return {"Flatten", {}}; }

  /// [C, H, W] -> [C*H*W, 1, 1]
  SampleShape output_shape(const SampleShape& input) const override { return {shape_size(input), 1, 1}; }

  using Layer<T>::forward;
  using Layer<T>::backward;

  /// x: [N, C, H, W] -> y: [N, C*H*W, 1, 1]
  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    context.record.record(name, x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    std::copy(x.begin(), x.end(), y.begin());
  }

  /// dy: [N, C*H*W, 1, 1] -> dx: [N, C, H, W]
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> /*y*/, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    context.record.check_backward(name, x.shape(), dy.shape(), dx.shape());
    if (!dx.empty()) std::copy(dy.begin(), dy.end(), dx.begin());
  }

  double flops_per_sample(const SampleShape& /*input*/) const override { return 0; }
  /// Networks pass a reshaped view instead of copying.
  bool only_reshapes() const override { return true; }

 private:
  inline static const std::string name = "Flatten";
};

}  // namespace fovea
