#pragma once

/// @file
/// PReLU: a leaky ReLU whose negative slope is learned, one per channel or one
/// shared by all, x: [N, C, H, W] -> y: same shape; the arithmetic is
/// ops/prelu.hpp.
/// @code
/// PReLU<float> shared;          // one slope, 0.25 to start
/// PReLU<float> per_channel(64);  // one slope per channel of a 64-channel input
/// @endcode

#include <cmath>
#include <string>
#include <vector>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/prelu.hpp"

namespace fovea {

/// y = x for x > 0, slope[c] * x otherwise; parameter "weight": the slopes,
/// [slopes], where slopes is 1 (shared) or the input's channel count.
template <class T>
class PReLU final : public Layer<T> {
 public:
  /// `slopes` slopes (1: one for every channel), each starting at `initial`
  /// (PyTorch's 0.25). Throws value_error for slopes below 1 or an initial
  /// slope that is not finite.
  explicit PReLU(Index slopes = 1, double initial = 0.25)
      : initial_(initial), name_("PReLU(" + std::to_string(slopes) + ")") {
    if (slopes < 1) throw value_error("PReLU: slopes must be positive, got " + std::to_string(slopes));
    if (!std::isfinite(initial)) {
      throw value_error("PReLU: initial slope must be finite, got " + detail::format_number(initial));
    }
    slope_ = Tensor<T, 1>::full({slopes}, static_cast<T>(initial));
    slope_grad_ = Tensor<T, 1>::full({slopes}, T{0});
  }

  /// Settings "slopes" and "init"; throws format_error for a spec of another
  /// type or a missing or malformed setting.
  static PReLU from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "PReLU");
    return PReLU(spec.get_index("slopes"), spec.get("init"));
  }
  /// The parameter values a layer built from `spec` holds, from the spec
  /// alone: a model file is checked against it before the layer is built.
  static double declared_values(const LayerSpec& spec) { return static_cast<double>(spec.get_index("slopes")); }
  std::string describe() const override { return name_; }
  LayerSpec spec() const override {
    return {"PReLU", {{"slopes", static_cast<double>(slope_.size())}, {"init", initial_}}};
  }
  /// The learned slopes, [slopes].
  TensorView<const T, 1> slopes() const { return slope_.view(); }

  /// [C, H, W] -> [C, H, W]; throws shape_error when there is more than one
  /// slope and C differs from their count.
  SampleShape output_shape(const SampleShape& input) const override {
    if (slope_.size() != 1 && input[0] != slope_.size()) {
      throw shape_error(name_ + "::output_shape: input " + to_string(input) + ", expected " +
                        std::to_string(slope_.size()) + " channel(s), one per slope");
    }
    return input;
  }
  /// A comparison and a multiply per element.
  double flops_per_sample(const SampleShape& input) const override {
    return 2 * static_cast<double>(shape_size(output_shape(input)));
  }

  using Layer<T>::forward;
  using Layer<T>::backward;

  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    context.record.record(name_, x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    prelu_forward<T>(x, slope_, y);
  }
  /// dx = dy where x > 0, slope[c] * dy elsewhere; the slopes' gradient
  /// accumulates into context.gradients[0] (skipped when the context has none).
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> /*y*/, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    context.record.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    const TensorView<T, 1> dslope = this->wants_gradients(context, 1) ? context.gradients[0] : TensorView<T, 1>();
    prelu_backward<T>(x, slope_, dy, dx, dslope);
  }

  std::vector<Parameter<T>> params() override {
    return {{"weight", {slope_.size()}, slope_.flatten(), slope_grad_.flatten()}};
  }

 private:
  double initial_;
  std::string name_;         // describe(), built once
  Tensor<T, 1> slope_;       // [slopes]
  Tensor<T, 1> slope_grad_;  // [slopes]: the standalone path's gradient
};

}  // namespace fovea
