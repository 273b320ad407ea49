#pragma once

/// @file
/// Concat: several tensors stacked along the channels, as an Inception module
/// joins its branches and a DenseNet block grows its features. A thin shell
/// over ops/merge.hpp.
///
/// @code
/// auto joined = net.add("mixed", Concat<float>{}, {branch1, branch3, branch5, pool});
/// @endcode

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/merge.hpp"

namespace fovea {

/// x[i]: [C_i, H, W] -> y: [C_0 + C_1 + ..., H, W]: every input of the same
/// height and width. With one input it passes it on unchanged. No parameters.
template <class T>
class Concat final : public Layer<T> {
 public:
  /// Rebuilds from spec(); throws format_error for a spec of another type.
  static Concat from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Concat");
    return {};
  }

  std::string describe() const override { return "Concat"; }
  LayerSpec spec() const override { return {"Concat", {}}; }
  bool merges_inputs() const override { return true; }

  /// [C, H, W] -> [C, H, W] (one input).
  SampleShape output_shape(const SampleShape& input) const override { return input; }
  /// [C_i, H, W] for each input -> [sum C_i, H, W]; throws shape_error naming
  /// the first input whose height or width differs from input 0's, with both shapes.
  SampleShape merged_output_shape(std::span<const SampleShape> inputs) const override {
    if (inputs.empty()) throw shape_error("Concat: needs at least one input");
    SampleShape out = inputs[0];
    for (std::size_t i = 1; i < inputs.size(); ++i) {
      if (inputs[i][1] != inputs[0][1] || inputs[i][2] != inputs[0][2]) {
        throw shape_error("Concat: input " + std::to_string(i) + " " + to_string(inputs[i]) +
                          " differs in height or width from input 0 " + to_string(inputs[0]));
      }
      out[0] += inputs[i][0];
    }
    return out;
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

  /// x[i]: [N, C_i, H, W] -> y: [N, sum C_i, H, W]
  void forward_merged(std::span<const TensorView<const T, 4>> x, TensorView<T, 4> y,
                      LayerContext<T>& context) const override {
    auto& own = this->template context_as<Context>(context);
    merged_sample_shapes<T>("Concat", x, own.shapes);
    own.record.record("Concat", x[0].shape(), merged_output_shape(own.shapes), y.shape());
    concat_forward<T>(x, y);
  }
  /// dy: [N, sum C_i, H, W] -> dx[i]: [N, C_i, H, W], each its block of dy.
  void backward_merged(std::span<const TensorView<const T, 4>> x, TensorView<const T, 4> /*y*/,
                       TensorView<const T, 4> dy, std::span<const TensorView<T, 4>> dx,
                       LayerContext<T>& context) const override {
    // A forward ran in this context and dy is of its output; the inputs' gradients are checked below.
    context.record.check_backward("Concat", x[0].shape(), dy.shape(), Shape<4>{});
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!dx[i].empty() && dx[i].shape() != x[i].shape()) {
        throw shape_error("Concat::backward: input gradient buffer " + to_string(dx[i].shape()) + ", expected " +
                          to_string(x[i].shape()));
      }
    }
    concat_backward<T>(x, dy, dx);
  }

  double flops_per_sample(const SampleShape& /*input*/) const override { return 0; }

 private:
  struct Context : LayerContext<T> {
    std::vector<SampleShape> shapes;  // the inputs' sample shapes (capacity kept: no allocation per step)
  };
};

}  // namespace fovea
