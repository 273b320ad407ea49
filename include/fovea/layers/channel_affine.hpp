#pragma once

/// @file
/// ChannelAffine: y[n, c, h, w] = x[n, c, h, w] * scale[c] + shift[c], a fixed
/// per-channel affine map. Imported models normalise their input this way
/// ((x - mean) / std as ONNX Sub and Div by constants). The scale and shift are
/// buffers, not parameters: they are part of the model (model files save them)
/// but the optimizer does not train them.

#include <string>
#include <vector>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/layers/layer.hpp"

namespace fovea {

/// x: [N, C, H, W] -> y = x * scale[c] + shift[c]: [N, C, H, W]; buffers
/// "scale" (initially 1) and "shift" (initially 0), [C] each.
template <class T>
class ChannelAffine final : public Layer<T> {
 public:
  /// The identity map on `channels` channels; throws value_error unless channels is positive.
  explicit ChannelAffine(Index channels) : name_("ChannelAffine(" + std::to_string(channels) + ")") {
    if (channels < 1) throw value_error("ChannelAffine: channels must be positive, got " + std::to_string(channels));
    scale_ = Tensor<T, 1>::full({channels}, T{1});
    shift_ = Tensor<T, 1>::full({channels}, T{0});
  }

  /// Setting "channels"; throws format_error for a spec of another type or a
  /// missing or malformed setting.
  static ChannelAffine from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "ChannelAffine");
    return ChannelAffine(spec.get_index("channels"));
  }
  /// The parameter values (scale and shift) a layer built from `spec` holds, from the spec
  /// alone: a model file is checked against it before the layer is built.
  static double declared_values(const LayerSpec& spec) { return 2 * static_cast<double>(spec.get_index("channels")); }
  std::string describe() const override { return name_; }
  LayerSpec spec() const override { return {"ChannelAffine", {{"channels", static_cast<double>(scale_.size())}}}; }

  /// The scale per channel, [C]; writable.
  TensorView<T, 1> scale() { return scale_.view(); }
  /// The shift per channel, [C]; writable.
  TensorView<T, 1> shift() { return shift_.view(); }

  /// [C, H, W] -> [C, H, W]; throws shape_error when C differs from the channel count.
  SampleShape output_shape(const SampleShape& input) const override {
    if (input[0] != scale_.size()) {
      throw shape_error(name_ + "::output_shape: input " + to_string(input) + ", expected " +
                        std::to_string(scale_.size()) + " channel(s)");
    }
    return input;
  }
  /// A multiply and an add per element.
  double flops_per_sample(const SampleShape& input) const override {
    return 2 * static_cast<double>(shape_size(output_shape(input)));
  }

  using Layer<T>::forward;
  using Layer<T>::backward;

  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    context.record.record(name_, x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    const Index N = x.dim(0), C = x.dim(1), plane = x.dim(2) * x.dim(3);
    for (Index n = 0; n < N; ++n) {
      for (Index c = 0; c < C; ++c) {
        const Index at = (n * C + c) * plane;
        y.flatten().slice(at, at + plane).array() = x.flatten().slice(at, at + plane).array() * scale_(c) + shift_(c);
      }
    }
  }
  /// dx = dy * scale[c]; nothing accumulates (no parameters).
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> /*y*/, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    context.record.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    if (dx.empty()) return;
    const Index N = x.dim(0), C = x.dim(1), plane = x.dim(2) * x.dim(3);
    for (Index n = 0; n < N; ++n) {
      for (Index c = 0; c < C; ++c) {
        const Index at = (n * C + c) * plane;
        dx.flatten().slice(at, at + plane).array() = dy.flatten().slice(at, at + plane).array() * scale_(c);
      }
    }
  }

  std::vector<Buffer<T>> buffers() override {
    return {{"scale", {scale_.size()}, scale_.flatten()}, {"shift", {shift_.size()}, shift_.flatten()}};
  }

 private:
  std::string name_;    // describe(), built once
  Tensor<T, 1> scale_;  // [C]
  Tensor<T, 1> shift_;  // [C]
};

}  // namespace fovea
