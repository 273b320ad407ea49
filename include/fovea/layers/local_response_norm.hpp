#pragma once

/// @file
/// LocalResponseNorm: AlexNet's normalisation across neighbouring channels,
/// x: [N, C, H, W] -> y: same shape, with PyTorch's semantics (alpha divided
/// by the window size); the arithmetic is ops/local_response_norm.hpp.
/// @code
/// LocalResponseNorm<float> lrn({.size = 5, .alpha = 1e-4, .beta = 0.75, .k = 2});  // AlexNet's
/// @endcode

#include <memory>
#include <string>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/local_response_norm.hpp"

namespace fovea {

/// y[c] = x[c] / (k + alpha / size * sum of x^2 over the size channels around c)^beta;
/// no parameters.
template <class T>
class LocalResponseNorm final : public Layer<T> {
 public:
  /// Throws value_error for invalid options (validate_local_response_norm).
  explicit LocalResponseNorm(const LocalResponseNormOptions& options = {})
      : options_(options),
        name_("LocalResponseNorm(" + std::to_string(options.size) + ", alpha=" + detail::format_number(options.alpha) +
              ", beta=" + detail::format_number(options.beta) + ", k=" + detail::format_number(options.k) + ")") {
    validate_local_response_norm(options_);
  }

  /// Settings size, alpha, beta, k; throws format_error for a spec of another
  /// type or a missing or malformed setting, value_error for invalid values.
  static LocalResponseNorm from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "LocalResponseNorm");
    return LocalResponseNorm(
        {.size = spec.get_index("size"), .alpha = spec.get("alpha"), .beta = spec.get("beta"), .k = spec.get("k")});
  }
  std::string describe() const override { return name_; }
  LayerSpec spec() const override {
    return {"LocalResponseNorm",
            {{"size", static_cast<double>(options_.size)},
             {"alpha", options_.alpha},
             {"beta", options_.beta},
             {"k", options_.k}}};
  }
  /// Size, alpha, beta and k.
  const LocalResponseNormOptions& options() const { return options_; }

  SampleShape output_shape(const SampleShape& input) const override { return input; }
  /// Per element: a square and an addition per window channel, then a
  /// multiply-add, a power (counted as 2) and a multiply.
  double flops_per_sample(const SampleShape& input) const override {
    return (2 * static_cast<double>(options_.size) + 5) * static_cast<double>(shape_size(input));
  }

  using Layer<T>::forward;
  using Layer<T>::backward;

  /// The shapes of the last forward and the scale s it computed.
  std::unique_ptr<LayerContext<T>> make_context() const override { return std::make_unique<Context>(); }

  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const override {
    auto& own = this->template context_as<Context>(context);
    own.record.record(name_, x.shape(), sample_shape(x.shape()), y.shape());
    own.scale.resize(x.shape());  // keeps its storage: no allocation once sized
    local_response_norm_forward<T>(options_, x, y, own.scale);
  }
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const override {
    const auto& own = this->template context_as<Context>(context);
    own.record.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    if (dx.empty()) return;
    local_response_norm_backward<T>(options_, x, y, own.scale.view(), dy, dx);
  }

 private:
  struct Context : LayerContext<T> {
    Tensor<T, 4> scale;  // s of the last forward, x's shape
  };

  LocalResponseNormOptions options_;
  std::string name_;  // describe(), built once
};

}  // namespace fovea
