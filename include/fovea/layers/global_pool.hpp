#pragma once

/// @file
/// GlobalPool2d: one pooling window over each whole feature map,
/// x: [N, C, H, W] -> y: [N, C, 1, 1] for any H, W. Average and max are the
/// usual choices (the head of a fully convolutional network); min, sum and L2
/// come free from the same kernels in ops/pool2d.hpp.

#include <cstdint>
#include <memory>
#include <string>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/pool2d.hpp"

namespace fovea {

/// Pools each whole feature map to one value: [N, C, H, W] -> [N, C, 1, 1].
template <class T>
class GlobalPool2d final : public Layer<T> {
 public:
  using Layer<T>::forward;
  using Layer<T>::backward;

  /// Pools with `kind`: average (the default), max, min, sum or L2.
  explicit GlobalPool2d(PoolKind kind = PoolKind::average)
      : kind_(kind), name_(std::string("Global") + pool2d_type_name(kind)) {}

  /// Type "GlobalAvgPool2d", "GlobalMaxPool2d", ... with no settings. Throws
  /// format_error for any other type.
  static GlobalPool2d from_spec(const LayerSpec& spec) {
    for (PoolKind kind : {PoolKind::max, PoolKind::average, PoolKind::min, PoolKind::sum, PoolKind::l2}) {
      if (spec.type == std::string("Global") + pool2d_type_name(kind)) return GlobalPool2d(kind);
    }
    throw format_error("GlobalPool2d::from_spec: spec is for a '" + spec.type + "' layer");
  }

  std::string describe() const override { return name_; }
  LayerSpec spec() const override { return {name_, {}}; }
  /// Which pooling this layer does.
  PoolKind kind() const { return kind_; }

  SampleShape output_shape(const SampleShape& input) const override {
    return pool2d_output_shape(options_for(input), input, name_);
  }
  double flops_per_sample(const SampleShape& input) const override {
    return pool2d_flops_per_sample(options_for(input), output_shape(input));
  }

  std::unique_ptr<LayerContext<T>> make_context() const override { return std::make_unique<GlobalPool2dContext>(); }

  /// x: [N, C, H, W] -> y: [N, C, 1, 1]; max and min pooling keep each map's
  /// winner in the context.
  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    auto& own = this->template context_as<GlobalPool2dContext>(context);
    own.record.record(name_, x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    if (kind_ == PoolKind::max || kind_ == PoolKind::min) own.selected.resize(y.shape());
    pool2d_forward(options_for(sample_shape(x.shape())), x, y, own.selected.view());
  }

  /// dy: [N, C, 1, 1] -> dx: [N, C, H, W].
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    const auto& own = this->template context_as<GlobalPool2dContext>(context);
    own.record.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    if (dx.empty()) return;
    pool2d_backward(options_for(sample_shape(x.shape())), x, y, own.selected.view(), dy, dx);
  }

 private:
  // What one execution writes: the forward's shapes and, for max and min
  // pooling, the winning cell of every map.
  struct GlobalPool2dContext : LayerContext<T> {
    Tensor<std::int32_t, 4> selected;  // max/min: winning cell per map, [N, C, 1, 1]
  };

  // input: [C, H, W]: a window of H x W.
  Pool2dOptions options_for(const SampleShape& input) const { return global_pool2d_options(kind_, input[1], input[2]); }

  PoolKind kind_;
  std::string name_;  // describe(), built once
};

}  // namespace fovea
