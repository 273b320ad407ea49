#pragma once

/// @file
/// Pool2d: max, min, average, sum or L2 pooling of each feature map,
/// x: [N, C, H, W] -> y: [N, C, OH, OW]; the arithmetic is ops/pool2d.hpp.
/// @code
/// Pool2d<float> pool({.kind = PoolKind::max, .window = {2, 2}, .stride = {2, 2}});
/// @endcode
/// Max and min pooling keep the winning cell of every window for backward.

#include <string>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/pool2d.hpp"

namespace fovea {

/// Pools each feature map in windows: [N, C, H, W] -> [N, C, OH, OW], no parameters.
template <class T>
class Pool2d final : public Layer<T> {
 public:
  /// Throws value_error for a window or stride below 1, negative padding, or
  /// padding of more than half the window. The default is 2x2 max pooling, stride 2.
  explicit Pool2d(const Pool2dOptions& options = {}) : options_(options), name_(fovea::to_string(options)) {
    validate_pool2d(options_);
  }

  /// Type "MaxPool2d", "AvgPool2d", "MinPool2d", "SumPool2d" or "L2Pool2d";
  /// settings kh, kw, sh, sw, ph, pw. Throws format_error for any other type
  /// or a missing or malformed setting.
  static Pool2d from_spec(const LayerSpec& spec) {
    for (PoolKind kind : {PoolKind::max, PoolKind::average, PoolKind::min, PoolKind::sum, PoolKind::l2}) {
      if (spec.type == pool2d_type_name(kind)) {
        return Pool2d({.kind = kind,
                       .window = {spec.get_index("kh"), spec.get_index("kw")},
                       .stride = {spec.get_index("sh"), spec.get_index("sw")},
                       .padding = {spec.get_index("ph"), spec.get_index("pw")}});
      }
    }
    throw format_error("Pool2d::from_spec: spec is for a '" + spec.type + "' layer");
  }

  std::string describe() const override { return name_; }
  LayerSpec spec() const override {
    const auto number = [](Index v) { return static_cast<double>(v); };
    return {pool2d_type_name(options_.kind),
            {{"kh", number(options_.window.h)},
             {"kw", number(options_.window.w)},
             {"sh", number(options_.stride.h)},
             {"sw", number(options_.stride.w)},
             {"ph", number(options_.padding.h)},
             {"pw", number(options_.padding.w)}}};
  }
  /// Kind, window, stride and padding.
  const Pool2dOptions& options() const { return options_; }

  SampleShape output_shape(const SampleShape& input) const override {
    return pool2d_output_shape(options_, input, name_);
  }
  double flops_per_sample(const SampleShape& input) const override {
    return pool2d_flops_per_sample(options_, output_shape(input));
  }

  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, bool /*training*/) override {
    record_.record(name_, x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    if (keeps_selected()) selected_.resize(y.shape());  // keeps its storage: no allocation once sized
    pool2d_forward(options_, x, y, selected_.view());
  }

  void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy,
                TensorView<T, 4> dx) override {
    record_.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    if (dx.empty()) return;
    pool2d_backward(options_, x, y, std::as_const(selected_).view(), dy, dx);
  }

 private:
  bool keeps_selected() const { return options_.kind == PoolKind::max || options_.kind == PoolKind::min; }

  Pool2dOptions options_;
  std::string name_;                  // describe(), built once
  Tensor<std::int32_t, 4> selected_;  // max/min: winning cell per output, [N, C, OH, OW]
  ForwardRecord record_;
};

}  // namespace fovea
