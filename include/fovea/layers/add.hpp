#pragma once

/// @file
/// Add: the element-wise sum of several tensors of one shape, as in a
/// residual block's y = F(x) + x. A thin shell over ops/merge.hpp.
///
/// @code
/// auto sum = net.add("sum", Add<float>{}, {branch, shortcut});
/// @endcode

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/merge.hpp"

namespace fovea {

/// y = x[0] + x[1] + ...: every input of the same per-sample shape [C, H, W].
/// With one input it passes it on unchanged. No parameters.
template <class T>
class Add final : public Layer<T> {
 public:
  /// Rebuilds from spec(); throws format_error for a spec of another type.
  static Add from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Add");
    return {};
  }

  std::string describe() const override { return "Add"; }
  LayerSpec spec() const override { return {"Add", {}}; }
  bool merges_inputs() const override { return true; }
  /// Any: the ReLU after a residual sum runs in the same pass.
  bool supports_epilogue(const Clamp& /*clamp*/) const override { return true; }

  /// [C, H, W] -> [C, H, W] (one input).
  SampleShape output_shape(const SampleShape& input) const override { return input; }
  /// Every input [C, H, W] -> [C, H, W]; throws shape_error naming the first
  /// input that differs from input 0, with both shapes.
  SampleShape merged_output_shape(std::span<const SampleShape> inputs) const override {
    if (inputs.empty()) throw shape_error("Add: needs at least one input");
    for (std::size_t i = 1; i < inputs.size(); ++i) {
      if (inputs[i] != inputs[0]) {
        throw shape_error("Add: input " + std::to_string(i) + " " + to_string(inputs[i]) + " differs from input 0 " +
                          to_string(inputs[0]));
      }
    }
    return inputs[0];
  }

  using Layer<T>::forward;
  using Layer<T>::backward;
  using Layer<T>::forward_merged;
  using Layer<T>::backward_merged;

  /// The shapes of the last forward, and its inputs' sample shapes.
  std::unique_ptr<LayerContext<T>> make_context() const override { return std::make_unique<Context>(); }

  /// x: [N, C, H, W] -> y = x.
  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    forward_merged(std::span(&x, 1), y, context);
  }
  /// dy -> dx = dy.
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    backward_merged(std::span(&x, 1), y, dy, std::span(&dx, 1), context);
  }

  /// x[i]: [N, C, H, W] -> y = sum_i x[i]: [N, C, H, W]
  void forward_merged(std::span<const TensorView<const T, 4>> x, TensorView<T, 4> y,
                      LayerContext<T>& context) const override {
    auto& own = this->template context_as<Context>(context);
    merged_sample_shapes<T>("Add", x, own.shapes);
    own.record.record("Add", x[0].shape(), merged_output_shape(own.shapes), y.shape());
    add_forward<T>(x, y, own.epilogue);
  }
  /// dy: [N, C, H, W] -> dx[i] = dy for every input. With context.epilogue,
  /// y and dy are after the clamp.
  void backward_merged(std::span<const TensorView<const T, 4>> x, TensorView<const T, 4> y, TensorView<const T, 4> dy,
                       std::span<const TensorView<T, 4>> dx, LayerContext<T>& context) const override {
    for (std::size_t i = 0; i < x.size(); ++i) {
      context.record.check_backward("Add", x[i].shape(), dy.shape(), dx[i].shape());
    }
    add_backward<T>(dy, dx, context.epilogue ? y : TensorView<const T, 4>{}, context.epilogue.value_or(Clamp::relu()));
  }

  double flops_per_sample(const SampleShape& input) const override { return static_cast<double>(shape_size(input)); }

 private:
  struct Context : LayerContext<T> {
    std::vector<SampleShape> shapes;  // the inputs' sample shapes (capacity kept: no allocation per step)
  };
};

}  // namespace fovea
