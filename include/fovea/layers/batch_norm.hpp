#pragma once

/// @file
/// BatchNorm: batch normalisation of each channel, x: [N, C, H, W] -> y: same
/// shape (after a convolution, or after a Linear layer, whose [N, F, 1, 1]
/// output is the case H = W = 1). The arithmetic is ops/batch_norm.hpp.
/// @code
/// BatchNorm<float> norm({.channels = 16});  // momentum 0.1, epsilon 1e-5, learnable scale and shift
/// @endcode
/// Training forwards normalise with the batch's statistics and update the
/// running mean and variance; inference forwards use the running ones. The
/// running statistics are buffers(), not params(): the optimizer leaves them
/// alone, model files keep them.

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/batch_norm.hpp"

namespace fovea {

/// Normalises each channel to zero mean and unit variance, then scales and
/// shifts it: [N, C, H, W] -> [N, C, H, W]. Parameters "weight" (the scale,
/// initially 1) and "bias" (the shift, initially 0), [C] each, when affine;
/// buffers "running_mean" (initially 0) and "running_var" (initially 1), [C].
template <class T>
class BatchNorm final : public Layer<T> {
 public:
  using Layer<T>::forward;
  using Layer<T>::backward;

  /// Throws value_error for channels below 1, a momentum outside [0, 1] or an
  /// epsilon that is not positive and finite.
  explicit BatchNorm(const BatchNormOptions& options) : options_(options), name_(make_name(options)) {
    validate_batch_norm(options_);
    const Index C = options_.channels;
    scale_ = Tensor<T, 1>::full({C}, T{1});
    shift_ = Tensor<T, 1>::full({C}, T{0});
    scale_grad_ = Tensor<T, 1>::full({C}, T{0});
    shift_grad_ = Tensor<T, 1>::full({C}, T{0});
    running_mean_ = Tensor<T, 1>::full({C}, T{0});
    running_var_ = Tensor<T, 1>::full({C}, T{1});
  }

  /// Settings channels, momentum, epsilon, affine (0 or 1). Throws
  /// format_error for a spec of another type or a missing or malformed
  /// setting, value_error for invalid values.
  static BatchNorm from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "BatchNorm");
    return BatchNorm({.channels = spec.get_index("channels"),
                      .momentum = spec.get("momentum"),
                      .epsilon = spec.get("epsilon"),
                      .affine = spec.get("affine") != 0});
  }
  /// The parameter and buffer values a layer built from `spec` holds (the
  /// two running statistics, and scale and shift when affine), from the spec
  /// alone: a model file is checked against it before the layer is built.
  static double declared_values(const LayerSpec& spec) {
    return static_cast<double>(spec.get_index("channels")) * (spec.get("affine") != 0 ? 4 : 2);
  }

  std::string describe() const override { return name_; }
  LayerSpec spec() const override {
    return {"BatchNorm",
            {{"channels", static_cast<double>(options_.channels)},
             {"momentum", options_.momentum},
             {"epsilon", options_.epsilon},
             {"affine", options_.affine ? 1.0 : 0.0}}};
  }
  /// Channels, momentum, epsilon and affine.
  const BatchNormOptions& options() const { return options_; }

  /// [C, H, W] -> [C, H, W]; throws shape_error unless C is the layer's channel count.
  SampleShape output_shape(const SampleShape& input) const override {
    if (input[0] != options_.channels) {
      throw shape_error(name_ + "::output_shape: input " + to_string(input) + ", expected " +
                        std::to_string(options_.channels) + " channel(s)");
    }
    return input;
  }
  /// One multiply-add per element (the normalisation and the affine map fold
  /// into one); the statistics of a training batch cost about as much again.
  double flops_per_sample(const SampleShape& input) const override {
    return 2 * static_cast<double>(shape_size(output_shape(input)));
  }

  std::unique_ptr<LayerContext<T>> make_context() const override {
    auto context = std::make_unique<BatchNormContext>();
    const Index C = options_.channels;
    context->mean.resize({C});
    context->variance.resize({C});
    context->inv_std.resize({C});
    return context;
  }

  /// Any: a ReLU, ReLU6 or Clip right after it runs inside its passes.
  bool supports_epilogue(const Clamp& /*clamp*/) const override { return true; }

  /// Training: the batch's statistics (throws value_error for a batch with one
  /// value per channel), and the running ones move toward them unless the
  /// context says not to (LayerContext::update_buffers). Inference: the
  /// running statistics, only read.
  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    auto& own = this->template context_as<BatchNormContext>(context);
    own.record.record(name_, x.shape(), output_shape(sample_shape(x.shape())), y.shape());
    own.statistics = own.training ? BatchNormStatistics::batch : BatchNormStatistics::running;
    if (own.training) {
      if (x.dim(0) * x.dim(2) * x.dim(3) < 2) {
        throw value_error(name_ + "::forward: training on input " + to_string(x.shape()) +
                          " has one value per channel; batch statistics need at least 2 (use inference mode)");
      }
      batch_norm_statistics<T>(x, options_.epsilon, own.mean, own.variance, own.inv_std);
      if (own.update_buffers) {
        batch_norm_update_running<T>(options_.momentum, x.dim(0) * x.dim(2) * x.dim(3), own.mean, own.variance,
                                     running_mean_, running_var_);
      }
    } else {
      for (Index c = 0; c < options_.channels; ++c) {
        own.mean(c) = running_mean_(c);
        own.inv_std(c) = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var_(c)) + options_.epsilon));
      }
    }
    batch_norm_forward<T>(x, own.mean, own.inv_std, scale_, shift_, y, own.epilogue);
  }

  /// dy: [N, C, H, W] -> dx: same shape; with affine, the scale's and shift's
  /// gradients accumulate into context.gradients. With context.epilogue, y
  /// and dy are after the clamp.
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    const auto& own = this->template context_as<BatchNormContext>(context);
    own.record.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    // Without affine the gradients of the fixed scale and shift are not wanted.
    TensorView<T, 1> dscale, dshift;
    if (options_.affine && this->wants_gradients(own, 2)) {
      dscale = own.gradients[0];
      dshift = own.gradients[1];
    }
    batch_norm_backward<T>(own.statistics, x, own.mean, own.inv_std, scale_, dy, dx, dscale, dshift,
                           own.epilogue ? y : TensorView<const T, 4>{}, own.epilogue.value_or(Clamp::relu()));
  }

  std::vector<Parameter<T>> params() override {
    if (!options_.affine) return {};
    const Index C = options_.channels;
    return {{"weight", {C}, scale_.flatten(), scale_grad_.flatten()},
            {"bias", {C}, shift_.flatten(), shift_grad_.flatten()}};
  }
  std::vector<Buffer<T>> buffers() override {
    const Index C = options_.channels;
    return {{"running_mean", {C}, running_mean_.flatten()}, {"running_var", {C}, running_var_.flatten()}};
  }

  /// The running mean [C] that inference normalises with.
  TensorView<const T, 1> running_mean() const { return running_mean_.view(); }
  /// The running (unbiased) variance [C] that inference normalises with.
  TensorView<const T, 1> running_var() const { return running_var_.view(); }

 private:
  // What one execution writes: the forward's shapes and the statistics it
  // normalised with, which backward needs.
  struct BatchNormContext : LayerContext<T> {
    Tensor<T, 1> mean, variance, inv_std;  // [C]
    BatchNormStatistics statistics = BatchNormStatistics::batch;
  };

  // "BatchNorm(16)"; settings other than the defaults are shown:
  // "BatchNorm(16, momentum=0.01, eps=0.001, no affine)".
  static std::string make_name(const BatchNormOptions& o) {
    std::string text = "BatchNorm(" + std::to_string(o.channels);
    if (o.momentum != 0.1) text += ", momentum=" + detail::format_number(o.momentum);
    if (o.epsilon != 1e-5) text += ", eps=" + detail::format_number(o.epsilon);
    if (!o.affine) text += ", no affine";
    return text + ")";
  }

  BatchNormOptions options_;
  std::string name_;                      // describe(), built once
  Tensor<T, 1> scale_, shift_;            // [C]: the parameters (fixed at 1 and 0 without affine)
  Tensor<T, 1> scale_grad_, shift_grad_;  // [C]
  // [C]: the buffers. Mutable: a training forward (const, as every forward)
  // moves the model's running statistics toward the batch's. A network with
  // BatchNorm trains in one lane, so only one thread writes them; inference
  // forwards only read them.
  mutable Tensor<T, 1> running_mean_, running_var_;
};

}  // namespace fovea
