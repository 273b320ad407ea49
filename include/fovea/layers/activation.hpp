#pragma once

/// @file
/// Activation layers: ReLU, LeakyReLU(slope), Sigmoid, Tanh, ELU(alpha),
/// ReLU6, Clip(min, max) and Softplus. Each
/// maps x: [N, C, H, W] -> y: [N, C, H, W] elementwise with the function of the
/// same name in ops/activation.hpp. The shared base does the shape bookkeeping;
/// a subclass names itself and picks its two ops functions.

#include <cmath>
#include <string>
#include <utility>

#include "fovea/detail/layer_spec.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/activation.hpp"

namespace fovea {

/// The shared base of the elementwise activation layers: any input shape, the
/// output of the same shape, no parameters; forward and backward run on the
/// flattened batch with one virtual call each. They keep nothing between
/// forward and backward but the shapes, so the plain LayerContext serves.
template <class T>
class Activation : public Layer<T> {
 public:
  std::string describe() const final { return name_; }
  SampleShape output_shape(const SampleShape& input) const final { return input; }
  double flops_per_sample(const SampleShape& input) const final {
    return flops_per_element() * static_cast<double>(shape_size(input));
  }

  using Layer<T>::forward;
  using Layer<T>::backward;

  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const final {
    context.record.record(name_, x.shape(), sample_shape(x.shape()), y.shape());
    apply_forward(x.flatten(), y.flatten());
  }
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy, TensorView<T, 4> dx,
                LayerContext<T>& context) const final {
    context.record.check_backward(name_, x.shape(), dy.shape(), dx.shape());
    if (dx.empty()) return;
    apply_backward(x.flatten(), y.flatten(), dy.flatten(), dx.flatten());
  }

 protected:
  /// `name` is what describe() returns and what error messages lead with.
  explicit Activation(std::string name) : name_(std::move(name)) {}

  /// Requires a finite hyperparameter ("LeakyReLU: slope must be finite, got nan"):
  /// returns `value`, or throws value_error.
  static double finite(double value, const char* layer, const char* setting) {
    if (!std::isfinite(value)) {
      throw value_error(std::string(layer) + ": " + setting + " must be finite, got " + detail::format_number(value));
    }
    return value;
  }

 private:
  // A comparison, an arithmetic operation or an exp each count as one FLOP.
  virtual double flops_per_element() const = 0;
  // One virtual call per batch; the loops are inside the ops functions.
  virtual void apply_forward(TensorView<const T, 1> x, TensorView<T, 1> y) const = 0;
  virtual void apply_backward(TensorView<const T, 1> x, TensorView<const T, 1> y, TensorView<const T, 1> dy,
                              TensorView<T, 1> dx) const = 0;

  std::string name_;  // describe(), built once: forward must not allocate
};

/// y = max(0, x); the gradient at x = 0 is taken as 0.
template <class T>
class ReLU final : public Activation<T> {
 public:
  /// A ReLU layer; it has no settings.
  ReLU() : Activation<T>("ReLU") {}
  /// Rebuilds from spec(); throws format_error for a spec of another type.
  static ReLU from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "ReLU");
    return ReLU();
  }
  LayerSpec spec() const override { return {"ReLU", {}}; }
  std::optional<Clamp> clamp() const override { return Clamp::relu(); }

 private:
  double flops_per_element() const override { return 1; }
  void apply_forward(TensorView<const T, 1> x, TensorView<T, 1> y) const override { relu_forward(x, y); }
  void apply_backward(TensorView<const T, 1> x, TensorView<const T, 1> /*y*/, TensorView<const T, 1> dy,
                      TensorView<T, 1> dx) const override {
    relu_backward(x, dy, dx);
  }
};

/// y = x for x > 0, slope * x otherwise.
template <class T>
class LeakyReLU final : public Activation<T> {
 public:
  /// `slope` is the factor for negative inputs; throws value_error unless it is finite.
  explicit LeakyReLU(double slope = 0.01)
      : Activation<T>("LeakyReLU(" + detail::format_number(slope) + ")"),
        slope_(Activation<T>::finite(slope, "LeakyReLU", "slope")) {}
  /// Rebuilds from spec() (setting "slope"); throws format_error for a spec of
  /// another type or without the setting.
  static LeakyReLU from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "LeakyReLU");
    return LeakyReLU(spec.get("slope"));
  }
  LayerSpec spec() const override { return {"LeakyReLU", {{"slope", slope_}}}; }
  /// The factor for negative inputs.
  double slope() const { return slope_; }

 private:
  double flops_per_element() const override { return 2; }
  void apply_forward(TensorView<const T, 1> x, TensorView<T, 1> y) const override {
    leaky_relu_forward(x, y, static_cast<T>(slope_));
  }
  void apply_backward(TensorView<const T, 1> x, TensorView<const T, 1> /*y*/, TensorView<const T, 1> dy,
                      TensorView<T, 1> dx) const override {
    leaky_relu_backward(x, dy, dx, static_cast<T>(slope_));
  }

  double slope_;
};

/// y = 1 / (1 + exp(-x)).
template <class T>
class Sigmoid final : public Activation<T> {
 public:
  /// A Sigmoid layer; it has no settings.
  Sigmoid() : Activation<T>("Sigmoid") {}
  /// Rebuilds from spec(); throws format_error for a spec of another type.
  static Sigmoid from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Sigmoid");
    return Sigmoid();
  }
  LayerSpec spec() const override { return {"Sigmoid", {}}; }

 private:
  double flops_per_element() const override { return 4; }  // negate, exp, add, divide
  void apply_forward(TensorView<const T, 1> x, TensorView<T, 1> y) const override { sigmoid_forward(x, y); }
  void apply_backward(TensorView<const T, 1> /*x*/, TensorView<const T, 1> y, TensorView<const T, 1> dy,
                      TensorView<T, 1> dx) const override {
    sigmoid_backward(y, dy, dx);
  }
};

/// y = tanh(x).
template <class T>
class Tanh final : public Activation<T> {
 public:
  /// A Tanh layer; it has no settings.
  Tanh() : Activation<T>("Tanh") {}
  /// Rebuilds from spec(); throws format_error for a spec of another type.
  static Tanh from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Tanh");
    return Tanh();
  }
  LayerSpec spec() const override { return {"Tanh", {}}; }

 private:
  double flops_per_element() const override { return 4; }  // counted like the sigmoid it is a rescaling of
  void apply_forward(TensorView<const T, 1> x, TensorView<T, 1> y) const override { tanh_forward(x, y); }
  void apply_backward(TensorView<const T, 1> /*x*/, TensorView<const T, 1> y, TensorView<const T, 1> dy,
                      TensorView<T, 1> dx) const override {
    tanh_backward(y, dy, dx);
  }
};

/// y = x for x > 0, alpha * (exp(x) - 1) otherwise.
template <class T>
class ELU final : public Activation<T> {
 public:
  /// `alpha` scales the negative branch; throws value_error unless it is finite.
  explicit ELU(double alpha = 1.0)
      : Activation<T>("ELU(" + detail::format_number(alpha) + ")"),
        alpha_(Activation<T>::finite(alpha, "ELU", "alpha")) {}
  /// Rebuilds from spec() (setting "alpha"); throws format_error for a spec of
  /// another type or without the setting.
  static ELU from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "ELU");
    return ELU(spec.get("alpha"));
  }
  LayerSpec spec() const override { return {"ELU", {{"alpha", alpha_}}}; }
  /// The scale of the negative branch.
  double alpha() const { return alpha_; }

 private:
  double flops_per_element() const override { return 3; }  // compare, expm1, multiply
  void apply_forward(TensorView<const T, 1> x, TensorView<T, 1> y) const override {
    elu_forward(x, y, static_cast<T>(alpha_));
  }
  void apply_backward(TensorView<const T, 1> x, TensorView<const T, 1> y, TensorView<const T, 1> dy,
                      TensorView<T, 1> dx) const override {
    elu_backward(x, y, dy, dx, static_cast<T>(alpha_));
  }

  double alpha_;
};

/// y = min(max(x, min), max): clips every value into [min, max] (PyTorch's
/// Hardtanh); the gradient passes only strictly inside the range.
template <class T>
class Clip final : public Activation<T> {
 public:
  /// Clips into [min, max]; throws value_error unless both are finite and min < max.
  Clip(double min, double max)
      : Activation<T>("Clip(" + detail::format_number(min) + ", " + detail::format_number(max) + ")"),
        min_(Activation<T>::finite(min, "Clip", "min")),
        max_(Activation<T>::finite(max, "Clip", "max")) {
    if (!(min_ < max_)) {
      throw value_error("Clip: min must be below max, got min " + detail::format_number(min_) + ", max " +
                        detail::format_number(max_));
    }
  }
  /// Rebuilds from spec() (settings "min", "max"); throws format_error for a
  /// spec of another type or without the settings.
  static Clip from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Clip");
    return Clip(spec.get("min"), spec.get("max"));
  }
  LayerSpec spec() const override { return {"Clip", {{"min", min_}, {"max", max_}}}; }
  std::optional<Clamp> clamp() const override { return Clamp{min_, max_}; }
  /// The lower bound.
  double min() const { return min_; }
  /// The upper bound.
  double max() const { return max_; }

 private:
  double flops_per_element() const override { return 2; }  // two comparisons
  void apply_forward(TensorView<const T, 1> x, TensorView<T, 1> y) const override {
    clip_forward(x, y, static_cast<T>(min_), static_cast<T>(max_));
  }
  void apply_backward(TensorView<const T, 1> x, TensorView<const T, 1> /*y*/, TensorView<const T, 1> dy,
                      TensorView<T, 1> dx) const override {
    clip_backward(x, dy, dx, static_cast<T>(min_), static_cast<T>(max_));
  }

  double min_;
  double max_;
};

/// y = min(max(x, 0), 6) (MobileNet's activation): Clip(0, 6) under its own
/// type name; the gradient is 0 at 0 and at 6.
template <class T>
class ReLU6 final : public Activation<T> {
 public:
  /// A ReLU6 layer; it has no settings.
  ReLU6() : Activation<T>("ReLU6") {}
  /// Rebuilds from spec(); throws format_error for a spec of another type.
  static ReLU6 from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "ReLU6");
    return ReLU6();
  }
  LayerSpec spec() const override { return {"ReLU6", {}}; }
  std::optional<Clamp> clamp() const override { return Clamp{0, 6}; }

 private:
  double flops_per_element() const override { return 2; }
  void apply_forward(TensorView<const T, 1> x, TensorView<T, 1> y) const override { clip_forward(x, y, T{0}, T{6}); }
  void apply_backward(TensorView<const T, 1> x, TensorView<const T, 1> /*y*/, TensorView<const T, 1> dy,
                      TensorView<T, 1> dx) const override {
    clip_backward(x, dy, dx, T{0}, T{6});
  }
};

/// y = log(1 + e^x), a smooth ReLU (ONNX's Softplus, PyTorch's with beta 1).
template <class T>
class Softplus final : public Activation<T> {
 public:
  /// A Softplus layer; it has no settings.
  Softplus() : Activation<T>("Softplus") {}
  /// Rebuilds from spec(); throws format_error for a spec of another type.
  static Softplus from_spec(const LayerSpec& spec) {
    detail::require_spec_type(spec, "Softplus");
    return Softplus();
  }
  LayerSpec spec() const override { return {"Softplus", {}}; }

 private:
  double flops_per_element() const override { return 4; }  // abs, exp, log1p, add
  void apply_forward(TensorView<const T, 1> x, TensorView<T, 1> y) const override { softplus_forward(x, y); }
  void apply_backward(TensorView<const T, 1> x, TensorView<const T, 1> /*y*/, TensorView<const T, 1> dy,
                      TensorView<T, 1> dx) const override {
    softplus_backward(x, dy, dx);
  }
};

}  // namespace fovea
