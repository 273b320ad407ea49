#pragma once

/// @file
/// Pool2d: max, min, average, sum or L2 pooling of each feature map,
/// x: [N, C, H, W] -> y: [N, C, OH, OW]; the arithmetic is ops/pool2d.hpp.
/// @code
/// Pool2d<float> pool({.kind = PoolKind::max, .window = {2, 2}, .stride = {2, 2}});
/// @endcode
/// Max and min pooling keep the winning cell of every window for backward
/// in training; inference runs a faster loop that keeps none.
/// Padding may differ per side, the output size may round up (ceil_mode), and
/// an average may leave the padding out of its divisor (count_include_pad):
/// PyTorch's semantics, ops/pool2d.hpp.

#include <cstdint>
#include <memory>
#include <string>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/pool2d.hpp"

namespace fovea {

namespace detail {
// Pool2d::spec() for any element type (see there), written once; saving,
// copying and exporting a network call it, a training step never does.
[[gnu::cold]] inline LayerSpec pool2d_spec(const Pool2dOptions& options) {
  const auto number = [](Index v) { return static_cast<double>(v); };
  const Pool2dPadding& p = options.padding;
  LayerSpec spec{pool2d_type_name(options.kind),
                 {{"kh", number(options.window.h)},
                  {"kw", number(options.window.w)},
                  {"sh", number(options.stride.h)},
                  {"sw", number(options.stride.w)},
                  {"ph", number(p.top)},
                  {"pw", number(p.left)}}};
  // Only what differs from the defaults: a layer of earlier fovea's
  // settings keeps earlier fovea's spec, so its files still match.
  if (p.bottom != p.top) spec.values.emplace_back("pb", number(p.bottom));
  if (p.right != p.left) spec.values.emplace_back("pr", number(p.right));
  if (options.ceil_mode) spec.values.emplace_back("ceil", 1);
  if (!options.count_include_pad) spec.values.emplace_back("count_pad", 0);
  return spec;
}
}  // namespace detail

/// Pools each feature map in windows: [N, C, H, W] -> [N, C, OH, OW], no parameters.
template <class T>
class Pool2d final : public Layer<T> {
 public:
  using Layer<T>::forward;
  using Layer<T>::backward;

  /// Throws value_error for invalid options (validate_pool2d). The default is
  /// 2x2 max pooling, stride 2.
  explicit Pool2d(const Pool2dOptions& options = {}) : options_(options), name_(fovea::to_string(options)) {
    validate_pool2d(options_);
  }

  /// Type "MaxPool2d", "AvgPool2d", "MinPool2d", "SumPool2d" or "L2Pool2d";
  /// settings kh, kw, sh, sw, ph (top padding), pw (left padding), and where
  /// they differ from the defaults pb (bottom padding, else ph), pr (right,
  /// else pw), ceil (1: ceil_mode) and count_pad (0: an average without the
  /// padding), so files written before these settings existed still load.
  /// Throws format_error for any other type or a missing or malformed setting.
  static Pool2d from_spec(const LayerSpec& spec) {
    for (PoolKind kind : {PoolKind::max, PoolKind::average, PoolKind::min, PoolKind::sum, PoolKind::l2}) {
      if (spec.type == pool2d_type_name(kind)) {
        // Read in the order spec() writes, so a missing setting is named as before.
        const Size2 window{spec.get_index("kh"), spec.get_index("kw")};
        const Size2 stride{spec.get_index("sh"), spec.get_index("sw")};
        const Index top = spec.get_index("ph"), left = spec.get_index("pw");
        return Pool2d({.kind = kind,
                       .window = window,
                       .stride = stride,
                       .padding = {top, spec.get_index_or("pb", top), left, spec.get_index_or("pr", left)},
                       .ceil_mode = spec.get_or("ceil", 0) != 0,
                       .count_include_pad = spec.get_or("count_pad", 1) != 0});
      }
    }
    throw format_error("Pool2d::from_spec: spec is for a '" + spec.type + "' layer");
  }

  std::string describe() const override { return name_; }
  LayerSpec spec() const override { return detail::pool2d_spec(options_); }
  /// Kind, window, stride, padding, ceil_mode and count_include_pad.
  const Pool2dOptions& options() const { return options_; }

  SampleShape output_shape(const SampleShape& input) const override {
    return pool2d_output_shape(options_, input, name_);
  }
  double flops_per_sample(const SampleShape& input) const override {
    return pool2d_flops_per_sample(options_, output_shape(input));
  }

  std::unique_ptr<LayerContext<T>> make_context() const override { return std::make_unique<Pool2dContext>(); }

  /// x: [N, C, H, W] -> y: [N, C, OH, OW]; a training forward of max and
  /// min pooling keeps each window's winner in the context, an inference
  /// forward does not (backward then finds the winners in x again).
  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    auto& own = this->template context_as<Pool2dContext>(context);
    own.record.record(name_, x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    own.kept_selected = keeps_selected() && own.training;
    if (own.kept_selected) own.selected.resize(y.shape());  // keeps its storage: no allocation once sized
    pool2d_forward(options_, x, y, own.kept_selected ? own.selected.view() : TensorView<std::int32_t, 4>{});
  }

  /// dy: [N, C, OH, OW] -> dx: [N, C, H, W].
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    const auto& own = this->template context_as<Pool2dContext>(context);
    own.record.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    if (dx.empty()) return;
    pool2d_backward(options_, x, y, own.kept_selected ? own.selected.view() : TensorView<const std::int32_t, 4>{}, dy,
                    dx);
  }

 private:
  // What one execution writes: the forward's shapes and, for max and min
  // pooling, the winning cell of every window.
  struct Pool2dContext : LayerContext<T> {
    Tensor<std::int32_t, 4> selected;  // max/min: winning cell per output, [N, C, OH, OW]
    bool kept_selected = false;        // whether the last forward wrote `selected`
  };

  bool keeps_selected() const { return options_.kind == PoolKind::max || options_.kind == PoolKind::min; }

  Pool2dOptions options_;
  std::string name_;  // describe(), built once
};

}  // namespace fovea
