#pragma once

/// @file
/// Linear: a fully connected layer, a thin shell over ops/linear.hpp. Takes any
/// [N, C, H, W] batch with C*H*W == in (flattened in place: a row-major batch
/// already is [N, C*H*W]) and gives [N, out, 1, 1]. Weights [out, in] and bias
/// start uniform in +-1/sqrt(in), drawn from the `seed` argument
/// (layers/default_init.hpp); nn/init.hpp's initialisers replace that start.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/layers/default_init.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/linear.hpp"

namespace fovea {

/// A fully connected layer: y = x W^T + b per sample, with W: [out, in] and b: [out].
template <class T>
class Linear final : public Layer<T> {
 public:
  using Layer<T>::forward;
  using Layer<T>::backward;

  /// A layer from `in_features` to `out_features`, with a bias unless `bias` is
  /// false, its weights drawn from `seed`; throws value_error unless both
  /// counts are positive.
  Linear(Index in_features, Index out_features, bool bias = true, std::uint64_t seed = default_init_seed)
      : in_(in_features), out_(out_features), bias_on_(bias) {
    if (in_ <= 0) throw value_error(std::string("Linear: in_features must be positive, got ") + std::to_string(in_));
    if (out_ <= 0) throw value_error(std::string("Linear: out_features must be positive, got ") + std::to_string(out_));
    name_ =
        std::string("Linear(") + std::to_string(in_) + "->" + std::to_string(out_) + (bias_on_ ? ")" : ", no bias)");
    weight_.resize({out_, in_});
    weight_grad_.resize({out_, in_});
    if (bias_on_) {
      bias_.resize({out_});
      bias_grad_.resize({out_});
    }
    initialize_default<T>(weight_.flatten(), bias_.flatten(), in_, seed);
  }

  /// Rebuilds from spec() (settings in, out, bias); throws format_error for a
  /// spec of another type or a missing or malformed setting.
  static Linear from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Linear");
    return Linear(spec.get_index("in"), spec.get_index("out"), spec.get("bias") != 0);
  }
  /// The parameter values a layer built from `spec` holds, from the spec
  /// alone: a model file is checked against it before the layer is built.
  static double declared_values(const LayerSpec& spec) {
    const double out = static_cast<double>(spec.get_index("out"));
    return out * static_cast<double>(spec.get_index("in")) + (spec.get("bias") != 0 ? out : 0.0);
  }

  std::string describe() const override { return name_; }
  LayerSpec spec() const override {
    return {"Linear",
            {{"in", static_cast<double>(in_)}, {"out", static_cast<double>(out_)}, {"bias", bias_on_ ? 1.0 : 0.0}}};
  }

  /// [C, H, W] with C*H*W == in -> [out, 1, 1]; throws shape_error for any other feature count.
  SampleShape output_shape(const SampleShape& input) const override {
    if (shape_size(input) != in_) {
      throw shape_error(name_ + ": input has " + std::to_string(shape_size(input)) + " features");
    }
    return {out_, 1, 1};
  }

  std::unique_ptr<LayerContext<T>> make_context() const override { return std::make_unique<LinearContext>(); }
  /// Linear followed by a ReLU runs as one pass: each chunk of rows gets its
  /// ReLU while in cache.
  bool supports_epilogue(const Clamp& clamp) const override { return clamp.is_relu(); }

  /// x: [N, C, H, W] seen as [N, in] -> y: [N, out, 1, 1] seen as [N, out];
  /// with context.epilogue (a ReLU), y = max(x W^T + b, 0).
  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    auto& own = this->template context_as<LinearContext>(context);
    own.record.record(name_, x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    const Index N = x.dim(0);
    linear_forward<T>(x.reshape(Shape<2>{N, in_}), weight_, bias_, y.reshape(Shape<2>{N, out_}),
                      own.epilogue.has_value());
  }

  /// dy: [N, out, 1, 1] -> dx: [N, C, H, W]; weight and bias gradients
  /// accumulate into context.gradients. With context.epilogue, y and dy
  /// are after the ReLU and dy is first masked to y > 0.
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    auto& own = this->template context_as<LinearContext>(context);
    own.record.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    const Index N = x.dim(0);
    const TensorView<T, 2> dx_flat = dx.empty() ? TensorView<T, 2>() : dx.reshape(Shape<2>{N, in_});
    const TensorView<T, 2> dweight = weight_gradient(own);
    const TensorView<T, 1> dbias = bias_on_ && !own.gradients.empty() ? own.gradients[1] : TensorView<T, 1>();
    LinearReluGrad<T> relu;
    if (own.epilogue) {
      if (y.shape() != dy.shape()) {
        throw shape_error(name_ + "::backward: output " + to_string(y.shape()) + " does not match the gradient " +
                          to_string(dy.shape()));
      }
      own.masked_grad.resize({2, N, out_});  // keeps its capacity: no allocation after the first batch
      relu = {y.reshape(Shape<2>{N, out_}), own.masked_grad.item(0), own.masked_grad.item(1)};
    }
    linear_backward<T>(x.reshape(Shape<2>{N, in_}), weight_, dy.reshape(Shape<2>{N, out_}), dx_flat, dweight, dbias,
                       relu);
  }

  std::vector<Parameter<T>> params() override {
    std::vector<Parameter<T>> list;
    list.push_back({"weight", {out_, in_}, weight_.flatten(), weight_grad_.flatten()});
    if (bias_on_) list.push_back({"bias", {out_}, bias_.flatten(), bias_grad_.flatten()});
    return list;
  }

  double flops_per_sample(const SampleShape& input) const override {
    output_shape(input);
    return 2.0 * static_cast<double>(in_) * static_cast<double>(out_);
  }

  Index in_features() const { return in_; }                ///< Input features, `in`.
  Index out_features() const { return out_; }              ///< Output features, `out`.
  bool has_bias() const { return bias_on_; }               ///< Whether the layer adds a bias.
  TensorView<T, 2> weight() { return weight_; }            ///< The weights [out, in], writable.
  TensorView<T, 1> bias() { return bias_; }                ///< The bias [out], writable; empty without bias.
  TensorView<T, 2> weight_grad() { return weight_grad_; }  ///< Accumulated weight gradient [out, in].
  TensorView<T, 1> bias_grad() { return bias_grad_; }      ///< Accumulated bias gradient [out]; empty without bias.

 private:
  // What one execution writes: the forward's shapes and, with the ReLU
  // epilogue, backward's masked copies of dy.
  struct LinearContext : LayerContext<T> {
    Tensor<T, 3> masked_grad;  // dy masked by samples [0] and by features [1]
    // The weight gradient when the caller wants none (empty gradients):
    // computed beside dx, and left here unused.
    Tensor<T, 2> unused_weight_grad;
  };

  // Where backward accumulates the weight gradient: context.gradients[0] seen
  // as [out, in] (and [1] is the bias's), or scratch when the caller asked for
  // no parameter gradients.
  TensorView<T, 2> weight_gradient(LinearContext& context) const {
    if (!this->wants_gradients(context, bias_on_ ? 2 : 1)) {
      context.unused_weight_grad.resize(weight_.shape());  // keeps its storage: no allocation once sized
      return context.unused_weight_grad;
    }
    return context.gradients[0].reshape(weight_.shape());
  }

  Index in_;
  Index out_;
  bool bias_on_;
  std::string name_;  // describe(), built once: forward must not allocate
  Tensor<T, 2> weight_;
  Tensor<T, 2> weight_grad_;
  Tensor<T, 1> bias_;  // [out], or empty when bias is off
  Tensor<T, 1> bias_grad_;
};

}  // namespace fovea
